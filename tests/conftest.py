"""Fixtures shared by the tests of the course tooling."""

import pytest

from course_tools.course import Course
from course_tools.grading import release
from tests.helpers import ROOT


@pytest.fixture(scope="session")
def root():
    """The course folder of this repository."""
    return ROOT


@pytest.fixture(scope="session")
def fresh_release(tmp_path_factory):
    """A course whose release, gradebook and grading live in a temp folder.

    Every assignment is released from ``solutions/`` into that folder, so
    tests see what a fresh generation gives without touching the repo.
    """
    workspace = tmp_path_factory.mktemp("course")
    course = Course(ROOT, workspace=workspace, release=workspace / "release")
    release(course)
    return course
