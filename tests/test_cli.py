"""The `course` command line: help, errors an instructor can act on."""

import subprocess
import sys

import pytest

from course_tools.cli import build_parser, main
from course_tools.course import CourseError, find_course_root
from tests.helpers import ROOT

COMMANDS = ["release", "autograde", "feedback", "export", "execute", "demo"]


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
