"""End to end: the sample class graded by nbgrader through our tooling."""

import csv
import html
import json
import re

import pytest
from nbgrader.validator import Validator

from course_tools.course import Course
from course_tools.grading import (
    autograde,
    collect_submissions,
    export_grades,
    generate_feedback,
    release,
)
from tests.helpers import MARKERS, ROOT, secret_lines

SAMPLE = ROOT / "sample_class"
EXPECTED = json.loads((SAMPLE / "expected.json").read_text())


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Release, autograde and give feedback to the whole sample class."""
    workspace = tmp_path_factory.mktemp("grading")
    course = Course(
        ROOT,
        workspace=workspace,
        release=workspace / "release",
        cell_timeout=5,
    )
    release(course)
    results = []
    for assignment in sorted(EXPECTED):
        collect_submissions(course, SAMPLE / "submitted", assignment)
        results += autograde(course, assignment, progress=False)
        generate_feedback(course, assignment, progress=False)
    csv_path, exported = export_grades(course)
    return course, results, csv_path, exported


def test_every_sample_student_gets_the_expected_score(graded_class):
    _, results, _, _ = graded_class
    got = {(r.assignment, r.student): (r.score, r.flags) for r in results}
    want = {
        (a, s): (e["score"], e["flags"])
        for a, students in EXPECTED.items()
        for s, e in students.items()
    }
    assert got == want


def test_no_sample_submission_needs_manual_grading(graded_class):
    _, results, _, _ = graded_class
    assert all(r.status == "graded" for r in results)
    assert not [r for r in results if "manual" in r.flags]


def test_grades_csv_lists_every_student_and_assignment(graded_class):
    _, results, csv_path, _ = graded_class
    with csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    students = {r.student for r in results}
    assert {(r["assignment"], r["student"]) for r in rows} == {
        (a, s) for a in EXPECTED for s in students
    }, "expected one row per student and assignment"
    missing = 0
    for row in rows:
        want = EXPECTED[row["assignment"]].get(row["student"])
        if want is None:  # on the roster, but submitted nothing
            assert (row["status"], row["score"]) == ("missing", "")
            missing += 1
            continue
        assert row["status"] == "graded"
        assert float(row["score"]) == want["score"]
        assert row["flags"] == ";".join(want["flags"])
    assert missing, "the sample class should include a missing submission"


def test_feedback_exists_and_never_shows_hidden_tests(graded_class):
    course, results, _, _ = graded_class
    for r in results:
        files = sorted(
            (course.feedback_dir / r.student / r.assignment).glob("*.html")
        )
        assert files, f"no feedback for {r.student}"
        for path in files:
            text = html.unescape(path.read_text())
            # Strip markup so that highlighted code reads as plain text.
            plain = " ".join(re.sub(r"<[^>]+>", "", text).split())
            assert "HIDDEN TESTS" not in plain
            # The student's own answer may resemble the reference
            # solution; only hidden tests must never show.
            for line in secret_lines(r.assignment, MARKERS[1:]):
                assert " ".join(line.split()) not in plain, (
                    f"feedback of {r.student} shows hidden line {line!r}"
                )


def test_feedback_shows_the_failed_test_message(graded_class):
    course, _, _, _ = graded_class
    path = course.feedback_dir / "carol" / "softmax" / "softmax.html"
    assert "Subtract the maximum" in path.read_text()


def _validate(path):
    return Validator().validate(str(path))


def test_validator_passes_the_full_answer_and_fails_the_blank():
    sub = SAMPLE / "submitted"
    assert _validate(sub / "alice" / "softmax" / "softmax.ipynb") == {}
    blank = _validate(sub / "bob" / "softmax" / "softmax.ipynb")
    assert len(blank.get("failed", [])) == 5
    naive = _validate(sub / "carol" / "softmax" / "softmax.ipynb")
    assert len(naive.get("failed", [])) == 2
