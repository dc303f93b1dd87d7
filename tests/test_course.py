"""The course folder: discovery, configuration and assignment order."""

import pytest

from course_tools.course import Course, CourseError, find_course_root
from tests.helpers import ROOT


def test_assignments_come_in_course_order():
    course = Course(ROOT)
    order = list(course.config().Course.assignment_order)
    assert course.assignments() == order
    assert order[0] == "softmax"


def test_a_folder_without_config_is_not_a_course(tmp_path):
    with pytest.raises(CourseError, match="nbgrader_config.py"):
        Course(tmp_path)


def test_root_is_found_from_a_subfolder():
    assert find_course_root(ROOT / "notebooks" / "exercises") == ROOT


def test_overrides_move_every_grading_folder(tmp_path):
    course = Course(ROOT, workspace=tmp_path, cell_timeout=3)
    for folder in (
        course.submitted_dir,
        course.autograded_dir,
        course.feedback_dir,
        course.db_path.parent,
    ):
        assert folder.is_relative_to(tmp_path)
    cfg = course.config()
    assert cfg.Execute.timeout == 3
    assert "3 seconds" in cfg.Execute.error_on_timeout["evalue"]
