"""Grading runs: parallel equals serial, reruns, interruptions, backups."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_tools import sandbox
from course_tools.cli import main
from course_tools.course import Course, CourseError
from course_tools.grading import (
    _nbgrader_error,
    autograde,
    backup_gradebook,
    cell_scores,
    collect_submissions,
    export_grades,
    restore_gradebook,
)
from tests.helpers import ROOT, require_sandbox

SAMPLE = ROOT / "sample_class" / "submitted"
ASSIGNMENT = "selection"
INTERRUPTED_CLASS = ("alice", "bob", "carol", "heidi", "trudy")


@pytest.fixture(scope="module")
def make_course(fresh_release, tmp_path_factory):
    """Make a course in a new folder, released, with the class collected.

    The release and its gradebook are copies of the session's
    ``fresh_release``: releasing runs nbgrader for seconds, copying takes
    milliseconds. ``students`` collects only those students' submissions.
    """

    def make(workspace, students=None, **kwargs):
        shutil.copytree(
            fresh_release.grading_dir, workspace, dirs_exist_ok=True
        )
        source = SAMPLE
        if students is not None:
            source = tmp_path_factory.mktemp("class")
            for student in students:
                shutil.copytree(SAMPLE / student, source / student)
        course = Course(
            ROOT,
            workspace=workspace,
            release=workspace / "release",
            cell_timeout=5,
            **kwargs,
        )
        collect_submissions(course, source, ASSIGNMENT)
        return course

    return make


def _snapshot(course, results):
    return {
        r.student: (
            r.status,
            r.score,
            tuple(r.flags),
            tuple(sorted(cell_scores(course, ASSIGNMENT, r.student).items())),
        )
        for r in results
    }


@pytest.fixture(scope="module")
def serial_and_parallel(tmp_path_factory, make_course):
    require_sandbox()
    serial = make_course(tmp_path_factory.mktemp("serial"))
    parallel = make_course(tmp_path_factory.mktemp("parallel"))
    first = autograde(serial, ASSIGNMENT, progress=False, workers=1)
    second = autograde(parallel, ASSIGNMENT, progress=False, workers=2)
    return serial, first, parallel, second


def test_parallel_grading_gives_the_serial_scores(serial_and_parallel):
    serial, first, parallel, second = serial_and_parallel
    assert [r.student for r in first] == [r.student for r in second]
    assert _snapshot(serial, first) == _snapshot(parallel, second)
    assert {r.status for r in second} == {"graded"}
    assert len({r.score for r in second}) > 2, "expected a spread of scores"


def test_a_second_run_keeps_every_grade(serial_and_parallel, caplog):
    _, _, parallel, second = serial_and_parallel
    before = _snapshot(parallel, second)
    caplog.set_level("INFO", logger="course")
    again = autograde(parallel, ASSIGNMENT, progress=False, workers=2)
    assert _snapshot(parallel, again) == before
    kept = [r for r in caplog.records if "unchanged since graded" in r.message]
    assert len(kept) == len(second), "nothing should be graded twice"


def test_forced_regrading_gives_the_same_grades(serial_and_parallel):
    serial, first, _, _ = serial_and_parallel
    subset = [r.student for r in first[:3]]
    again = autograde(
        serial, ASSIGNMENT, subset, progress=False, workers=1, force=True
    )
    assert _snapshot(serial, again) == {
        k: v for k, v in _snapshot(serial, first).items() if k in subset
    }


def test_a_changed_submission_is_graded_again(tmp_path, make_course):
    require_sandbox()
    course = make_course(tmp_path)
    autograde(course, ASSIGNMENT, ["alice"], progress=False)
    path = course.submitted_dir / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    blank = SAMPLE / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    path.write_bytes(blank.read_bytes())
    (result,) = autograde(course, ASSIGNMENT, ["alice"], progress=False)
    assert result.score == 0 and "blank" in result.flags


def _add_student(course, name):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.db_path}") as gb:
        gb.add_student(name)


def test_automatic_backups_rotate_and_spare_the_others(tmp_path, make_course):
    require_sandbox()
    course = make_course(tmp_path)
    manual = backup_gradebook(course)
    folder = course.grading_dir / "backups"
    autograde(course, ASSIGNMENT, ["alice"], progress=False)
    autograde(course, ASSIGNMENT, ["alice"], progress=False)
    assert len(list(folder.glob("auto-gradebook-*.db"))) == 2
    # Nothing changed since the last copy: no new one.
    autograde(course, ASSIGNMENT, ["alice"], progress=False)
    assert len(list(folder.glob("auto-gradebook-*.db"))) == 2
    for i in range(11):
        _add_student(course, f"extra{i}")
        autograde(course, ASSIGNMENT, ["alice"], progress=False)
    assert len(list(folder.glob("auto-gradebook-*.db"))) == 10
    saved = restore_gradebook(course, sorted(folder.glob("auto-*.db"))[0])
    for i in range(3):
        _add_student(course, f"later{i}")
        autograde(course, ASSIGNMENT, ["alice"], progress=False)
    assert manual.is_file(), "a backup made by hand must never be rotated"
    assert saved.is_file() and saved.name.startswith("before-restore-")


def test_after_a_restore_every_submission_is_graded_again(
    tmp_path, caplog, make_course
):
    require_sandbox()
    course = make_course(tmp_path)
    empty = backup_gradebook(course)
    autograde(course, ASSIGNMENT, ["alice", "bob"], progress=False)
    restore_gradebook(course, empty)
    caplog.set_level("INFO", logger="course")
    results = autograde(course, ASSIGNMENT, ["alice", "bob"], progress=False)
    assert [r.score for r in results] == [6, 0]
    assert not [r for r in caplog.records if "unchanged" in r.message]


def test_backup_and_restore_bring_grades_back(tmp_path, make_course):
    require_sandbox()
    course = make_course(tmp_path)
    (graded,) = autograde(course, ASSIGNMENT, ["alice"], progress=False)
    saved = backup_gradebook(course, tmp_path / "saved.db")
    course.db_path.write_bytes(b"overwritten by accident")
    previous = restore_gradebook(course, saved)
    assert previous.is_file(), "the replaced gradebook must be kept"
    (_, results) = export_grades(course, tmp_path / "grades.csv")
    alice = [
        r
        for r in results
        if r.student == "alice" and r.assignment == ASSIGNMENT
    ]
    assert alice[0].score == graded.score == 6


def test_restore_refuses_a_file_that_is_not_a_gradebook(tmp_path, make_course):
    require_sandbox()
    course = make_course(tmp_path)
    before = course.db_path.read_bytes()
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    with pytest.raises(CourseError, match="not a readable SQLite"):
        restore_gradebook(course, junk)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(CourseError, match="not an nbgrader gradebook"):
        restore_gradebook(course, other)
    assert course.db_path.read_bytes() == before


def test_gradebook_command_backs_up_and_restores(
    tmp_path, capsys, make_course
):
    require_sandbox()
    course = make_course(tmp_path)
    common = ["--course-dir", str(ROOT), "--grading-dir", str(tmp_path)]
    target = tmp_path / "copy.db"
    assert main(["gradebook", "backup", str(target), *common]) == 0
    assert target.is_file()
    assert main(["gradebook", "restore", str(target), *common]) == 0
    assert "restored" in capsys.readouterr().out
    assert main(["gradebook", "restore", *common]) == 2
    assert "needs the backup" in capsys.readouterr().err
    assert course.db_path.is_file()


def test_after_a_restore_export_and_feedback_say_not_graded_yet(
    tmp_path, caplog, make_course
):
    require_sandbox()
    course = make_course(tmp_path)
    empty = backup_gradebook(course)
    autograde(course, ASSIGNMENT, ["alice"], progress=False)
    common = ["--course-dir", str(ROOT), "--grading-dir", str(tmp_path)]
    assert main(["feedback", ASSIGNMENT, *common]) == 0
    page = course.feedback_dir / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    assert page.is_file()
    restore_gradebook(course, empty)
    _, results = export_grades(course, tmp_path / "grades.csv")
    (alice,) = [
        r
        for r in results
        if (r.student, r.assignment) == ("alice", ASSIGNMENT)
    ]
    assert (alice.status, alice.score) == ("ungraded", None)
    assert f"course autograde {ASSIGNMENT}" in alice.message
    assert main(["feedback", ASSIGNMENT, *common]) == 1
    assert "alice: ungraded: not graded yet" in caplog.text
    assert not page.exists(), "its score is no longer in the gradebook"


def test_a_failed_feedback_is_named_logged_and_exits_1(
    tmp_path, caplog, monkeypatch, make_course
):
    from nbgrader.apps import NbGraderAPI

    require_sandbox()
    course = make_course(tmp_path)
    autograde(course, ASSIGNMENT, ["alice"], progress=False)
    log = "Traceback ...\nRecursionError: too deep\n[ERROR] it failed\n"
    monkeypatch.setattr(
        NbGraderAPI,
        "generate_feedback",
        lambda *a, **k: {"success": False, "log": log},
    )
    common = ["--course-dir", str(ROOT), "--grading-dir", str(tmp_path)]
    assert main(["feedback", ASSIGNMENT, *common]) == 1
    assert "alice: failed: RecursionError: too deep" in caplog.text
    saved = course.grading_dir / "logs" / ASSIGNMENT / "alice.feedback.log"
    assert saved.read_text() == log


def test_a_failed_feedback_names_nbgraders_exception():
    log = """Traceback (most recent call last):
      File "api.py", line 2665, in find_comment
        raise MissingEntry("No such taskcomment")
    nbgrader.api.MissingEntry: No such taskcomment: a/b/c for bob

[ERROR] There was an error processing assignment 'a' for student 'bob'
[ERROR] Please see the the above traceback for details
"""
    assert _nbgrader_error(log) == (
        "nbgrader.api.MissingEntry: No such taskcomment: a/b/c for bob"
    )
    assert _nbgrader_error("") == "unknown error"


def test_feedback_command_works_with_a_grading_folder_elsewhere(
    tmp_path, capsys, make_course
):
    require_sandbox()
    course = make_course(tmp_path)
    autograde(course, ASSIGNMENT, ["alice"], progress=False)
    common = ["--course-dir", str(ROOT), "--grading-dir", str(tmp_path)]
    assert main(["feedback", ASSIGNMENT, *common]) == 0
    assert str(tmp_path) in capsys.readouterr().out


def test_grading_refuses_to_run_without_a_sandbox(tmp_path, monkeypatch):
    course = Course(ROOT, workspace=tmp_path, release=tmp_path / "release")
    monkeypatch.setattr(
        sandbox, "_probe", lambda: (False, "bwrap is not installed")
    )
    with pytest.raises(sandbox.SandboxUnavailable, match="--unsafe"):
        autograde(course, ASSIGNMENT, progress=False)


def test_unsafe_grades_without_the_sandbox(tmp_path, monkeypatch, make_course):
    course = make_course(tmp_path, unsafe=True)
    monkeypatch.setattr(
        sandbox, "_probe", lambda: (False, "bwrap is not installed")
    )
    (result,) = autograde(course, ASSIGNMENT, ["alice"], progress=False)
    assert (result.status, result.score) == ("graded", 6)


def _outcomes(course):
    folder = course.grading_dir / "outcomes" / ASSIGNMENT
    return {
        p.stem: json.loads(p.read_text()).get("status")
        for p in folder.glob("*.json")
    }


def _start_cli(course, *extra):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "course_tools",
            "autograde",
            ASSIGNMENT,
            "--course-dir",
            str(ROOT),
            "--grading-dir",
            str(course.grading_dir),
            "--cell-timeout",
            "5",
            "-q",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_graded(course, proc, n, limit=240):
    end = time.monotonic() + limit
    while time.monotonic() < end and proc.poll() is None:
        if list(_outcomes(course).values()).count("graded") >= n:
            return
        time.sleep(0.2)
    pytest.fail(f"{n} submissions were not graded in {limit} s")


def _processes_working_in(folder, wait=10):
    """Command lines of live processes that name ``folder``, after a grace
    period for killed ones to be gone."""
    end = time.monotonic() + wait
    while True:
        found = []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone while looked at
            if state[0] != "Z" and str(folder).encode() in b" ".join(argv):
                found.append(b" ".join(argv)[:200].decode(errors="replace"))
        if not found or time.monotonic() > end:
            return found
        time.sleep(0.2)


@pytest.fixture(scope="module")
def uninterrupted_scores(serial_and_parallel):
    """Scores of the class graded in one run, for the resumed runs."""
    _, _, _, parallel = serial_and_parallel
    return {r.student: r.score for r in parallel}


@pytest.mark.parametrize(
    ("how", "workers"),
    [(signal.SIGINT, "2"), (signal.SIGINT, "1"), (signal.SIGKILL, "2")],
)
def test_an_interrupted_run_resumes_and_loses_nothing(
    tmp_path, how, workers, uninterrupted_scores, make_course
):
    require_sandbox()
    # Five students, among them the blank and the hostile one, are enough
    # to interrupt a run halfway.
    course = make_course(tmp_path, students=INTERRUPTED_CLASS)
    proc = _start_cli(course, "--workers", workers)
    _wait_for_graded(course, proc, 2)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    if how == signal.SIGINT:
        assert proc.returncode == 130
        assert "run the same command again" in err
    done = {s for s, status in _outcomes(course).items() if status == "graded"}
    assert len(done) >= 2
    # Workers and their sandboxed kernels went with the grader.
    assert not _processes_working_in(tmp_path)
    # The gradebook survived: readable, and the finished grades are there.
    with sqlite3.connect(course.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for student in done:
        assert cell_scores(course, ASSIGNMENT, student)
    # Submissions the run cut short, or never reached, are exported as
    # such, never with an old score.
    _, exported = export_grades(course, tmp_path / "partial.csv")
    for r in exported:
        if r.assignment == ASSIGNMENT and r.student not in done:
            assert r.score is None
            assert r.status in ("failed", "ungraded") or (
                r.student not in INTERRUPTED_CLASS and r.status == "missing"
            )
    resumed = _start_cli(course)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert set(_outcomes(course).values()) == {"graded"}
    _, exported = export_grades(course, tmp_path / "grades.csv")
    got = {r.student: r.score for r in exported if r.assignment == ASSIGNMENT}
    assert got == {s: uninterrupted_scores[s] for s in INTERRUPTED_CLASS}


def test_workers_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        main(["autograde", ASSIGNMENT, "--workers", "0"])
    assert "number of worker processes" in capsys.readouterr().err


def test_sandbox_limits_reach_the_command():
    argv = sandbox.command(
        ["python", "-c", "pass"],
        limits=sandbox.Limits(memory=123456789, cpu_seconds=7),
        uid=61005,
    )
    assert "--as=123456789" in argv and "--cpu=7" in argv
    assert "--unshare-net" in argv and "--clearenv" in argv
    assert "--reuid=61005" in argv
    assert os.fspath(ROOT / "solutions") not in " ".join(argv)


def test_the_sandbox_is_what_stops_a_hostile_student(
    tmp_path, monkeypatch, make_course
):
    """oscar looks for the solutions and the gradebook above the folders
    he can see. Without the sandbox he finds both: he copies the answers
    and wipes the gradebook. With it he finds neither."""
    require_sandbox()
    sandboxed = make_course(tmp_path / "sandboxed")
    unsafe = make_course(tmp_path / "unsafe", unsafe=True)
    for course in (sandboxed, unsafe):
        collect_submissions(course, SAMPLE, "attention")
    (caught,) = autograde(sandboxed, "attention", ["oscar"], progress=False)
    assert (caught.status, caught.score) == ("graded", 4)
    assert (
        cell_scores(sandboxed, "attention", "oscar")[
            "test_attention_weights_values"
        ]
        == 0
    )
    size = unsafe.db_path.stat().st_size
    autograde(unsafe, "attention", ["oscar"], progress=False, workers=1)
    assert unsafe.db_path.stat().st_size < size, (
        "without the sandbox the hostile notebook should reach the gradebook; "
        "if it no longer does, this test no longer shows what the sandbox "
        "prevents"
    )
    backups = sorted((unsafe.grading_dir / "backups").glob("*.db"))
    assert backups and backups[-1].stat().st_size == size


def test_links_in_a_submission_are_removed_not_followed(tmp_path, make_course):
    require_sandbox()
    course = make_course(tmp_path / "ws")
    subs = tmp_path / "subs"
    for student in ("alice", "bob"):
        shutil.copytree(
            SAMPLE / student / ASSIGNMENT, subs / student / ASSIGNMENT
        )
    eve = subs / "alice" / ASSIGNMENT
    (eve / "peek.ipynb.txt").symlink_to(subs / "bob" / ASSIGNMENT)
    (eve / "again").symlink_to(eve)
    (eve / "zeros").symlink_to("/dev/zero")
    collect_submissions(course, subs, ASSIGNMENT)
    alice, bob = autograde(
        course, ASSIGNMENT, ["alice", "bob"], progress=False
    )
    assert (alice.status, alice.score, alice.flags) == ("graded", 6, ["links"])
    assert (bob.status, bob.score) == ("graded", 0)
    folder = course.submitted_dir / "alice" / ASSIGNMENT
    assert not [p for p in folder.rglob("*") if p.is_symlink()]


def test_submissions_folder_must_not_be_the_graders_own(tmp_path):
    course = Course(ROOT, workspace=tmp_path, release=tmp_path / "release")
    course.submitted_dir.mkdir(parents=True)
    with pytest.raises(CourseError, match="grading folder's own"):
        collect_submissions(course, course.submitted_dir, ASSIGNMENT)


def test_export_refuses_to_overwrite_the_gradebook(tmp_path, make_course):
    course = make_course(tmp_path)
    with pytest.raises(CourseError, match="the gradebook itself"):
        export_grades(course, course.db_path)


def test_two_runs_on_one_grading_folder_are_refused(tmp_path, make_course):
    require_sandbox()
    from course_tools.grading import _exclusive

    course = make_course(tmp_path)
    with _exclusive(course):
        with pytest.raises(CourseError, match="another `course autograde`"):
            autograde(course, ASSIGNMENT, ["alice"], progress=False)
    (result,) = autograde(course, ASSIGNMENT, ["alice"], progress=False)
    assert result.score == 6
