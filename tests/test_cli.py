"""The `course` command line: help, errors an instructor can act on."""

import subprocess
import sys
from pathlib import Path

import pytest

from course_tools.cli import build_parser, main
from course_tools.course import Course, CourseError, find_course_root
from course_tools.grading import release
from tests.helpers import ROOT

COMMANDS = [
    "release",
    "autograde",
    "gradebook",
    "feedback",
    "export",
    "execute",
    "demo",
]


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "--course-dir" in capsys.readouterr().out


def test_the_installed_entry_point_runs():
    done = subprocess.run(
        [sys.executable, "-m", "course_tools", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "autograde" in done.stdout


def test_unknown_assignment_is_a_clear_error(capsys):
    code = main(["release", "--course-dir", str(ROOT), "no_such_thing"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown assignment 'no_such_thing'" in err
    assert "softmax" in err


def test_outside_a_course_the_error_says_what_to_do(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CourseError, match="--course-dir"):
        find_course_root()
    assert main(["export"]) == 2
    assert "nbgrader_config.py" in capsys.readouterr().err


def test_missing_submissions_folder_is_a_clear_error(tmp_path, capsys):
    nowhere = str(tmp_path / "nowhere")
    argv = ["autograde", "softmax", "--course-dir", str(ROOT)]
    assert main([*argv, "--submissions", nowhere]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_command_is_required():
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([])
    assert exit_info.value.code == 2


def test_feedback_for_an_unknown_assignment_is_an_error(capsys):
    assert main(["feedback", "softmx", "--course-dir", str(ROOT)]) == 2
    assert "unknown assignment 'softmx'" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["0", "-1", "ten"])
def test_cell_timeout_must_be_a_positive_number(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["autograde", "softmax", "--cell-timeout", bad])
    assert exit_info.value.code == 2
    assert "whole number of seconds" in capsys.readouterr().err


def test_autograde_exits_1_when_a_submission_cannot_be_graded(
    tmp_path, capsys
):
    broken = tmp_path / "incoming" / "zed" / "softmax"
    broken.mkdir(parents=True)
    (broken / "softmax.ipynb").write_text("{")
    course = Course(
        ROOT, workspace=tmp_path / "grading", release=tmp_path / "release"
    )
    release(course, ["softmax"])
    code = main(
        [
            "autograde",
            "softmax",
            "--course-dir",
            str(ROOT),
            "--grading-dir",
            str(tmp_path / "grading"),
            "--submissions",
            str(tmp_path / "incoming"),
            "-q",
        ]
    )
    assert code == 1
    out, err = capsys.readouterr()
    assert "not valid JSON" in out
    assert "could not be graded" in err


def test_feedback_with_nothing_autograded_says_so_and_makes_no_folder(
    tmp_path, capsys
):
    folder = tmp_path / "typo"
    common = ["--course-dir", str(ROOT), "--grading-dir", str(folder)]
    assert main(["feedback", "softmax", *common]) == 2
    assert "run `course autograde softmax` first" in capsys.readouterr().err
    assert not folder.exists()


def test_a_grading_folder_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "grading"
    path.write_text("not a folder")
    common = ["--course-dir", str(ROOT), "--grading-dir", str(path)]
    assert main(["export", *common]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


def test_a_new_grading_folder_works_without_the_venv_on_path(tmp_path):
    # nbgrader creates a gradebook with `alembic` from PATH; `course`
    # must find its own even when its environment is not activated.
    course = str(Path(sys.executable).parent / "course")
    folder = tmp_path / "grading"
    submissions = tmp_path / "class"
    (submissions / "alice" / "softmax").mkdir(parents=True)
    run = subprocess.run(
        [course, "autograde", "softmax", "--course-dir", str(ROOT)]
        + ["--grading-dir", str(folder), "--submissions", str(submissions)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert f"course release softmax --grading-dir {folder}" in run.stderr
