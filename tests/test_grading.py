"""End to end: the sample class graded by nbgrader through our tooling."""

import csv
import html
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import nbformat
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
from tests.browser import (
    launch_chromium,
    offline_page,
    page_problems,
    require_browser,
    serve_folder,
)
from tests.helpers import GRADING_WORKERS, MARKERS, ROOT, secret_lines

SAMPLE = ROOT / "sample_class"
EXPECTED = json.loads((SAMPLE / "expected.json").read_text())


#: Cell time limits shorter than the usual 5 s, for exercises whose cells
#: take milliseconds: the student whose loop never ends runs into the
#: limit five times, and waits less for each.
FAST_TIMEOUTS = {"softmax": 2}


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
        results += autograde(
            replace(course, cell_timeout=FAST_TIMEOUTS.get(assignment, 5)),
            assignment,
            progress=False,
            workers=GRADING_WORKERS,
        )
        _, problems = generate_feedback(course, assignment, progress=False)
        assert not problems, problems
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


def test_feedback_pages_load_nothing_from_the_web(graded_class):
    course, results, _, _ = graded_class
    pages = sorted(course.feedback_dir.rglob("*.html"))
    assert len(pages) >= len(results) - 12, "feedback is missing"
    for path in pages:
        text = path.read_text()
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), path
        assert not re.search(r"<script[^>]*\ssrc=", text), path
        assert "<math " in text, f"{path}: no formula rendered"


# What a student sees: the formulas drawn, every one of them, with no
# request leaving the page.
FORMULAS_JS = """() => {
  const all = [...document.querySelectorAll('math')];
  return {
    math: all.length,
    undrawn: all.filter(m => m.getBoundingClientRect().height < 5).length,
    tex: document.querySelectorAll('code.tex-source').length,
  };
}"""


def test_feedback_reads_offline_in_a_browser(graded_class):
    chromium = require_browser()
    course, _, _, _ = graded_class
    folder = course.feedback_dir
    # carol loses points in every assignment: her pages show failures too.
    names = [f"carol/{a}/{a}.html" for a in EXPECTED]
    problems = []
    with serve_folder(folder) as base, launch_chromium(chromium) as browser:
        for name in names:
            with offline_page(browser, base, name) as (page, traffic):
                formulas = page.evaluate(FORMULAS_JS)
                report = page_problems(page, traffic)
            report["no formulas"] = [] if formulas["math"] else ["none"]
            report["formulas not drawn"] = formulas["undrawn"]
            report["formulas left as TeX"] = formulas["tex"]
            problems += [f"{name}: {k}: {v}" for k, v in report.items() if v]
    assert not problems, "\n".join(problems)


def test_grades_csv_never_shows_hidden_tests(graded_class):
    _, _, csv_path, _ = graded_class
    text = " ".join(csv_path.read_text().split())
    for assignment in EXPECTED:
        for line in secret_lines(assignment, MARKERS[1:]):
            assert " ".join(line.split()) not in text


def test_feedback_says_which_part_failed_a_hidden_test(graded_class):
    course, _, _, _ = graded_class
    path = course.feedback_dir / "dan" / "selection" / "selection.html"
    text = html.unescape(path.read_text())
    assert "HiddenTestFailed" in text
    assert "a hidden test of this part failed" in text


def test_feedback_shows_the_failed_test_message(graded_class):
    course, _, _, _ = graded_class
    path = course.feedback_dir / "carol" / "softmax" / "softmax.html"
    assert "Subtract the maximum" in path.read_text()


def _validate(path):
    return Validator().validate(str(path))


def test_validator_passes_the_full_answer_and_fails_the_blank():
    sub = SAMPLE / "submitted"
    assert _validate(sub / "alice" / "softmax" / "softmax.ipynb") == {}
    blank_path = sub / "bob" / "softmax" / "softmax.ipynb"
    tests = [
        c
        for c in nbformat.read(blank_path, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    ]
    blank = _validate(blank_path)
    assert len(blank.get("failed", [])) == len(tests) > 0
    naive = _validate(sub / "carol" / "softmax" / "softmax.ipynb")
    assert len(naive.get("failed", [])) == 2


@pytest.fixture(scope="module")
def odd_class(tmp_path_factory):
    """A class with submissions nbgrader cannot grade as they are."""
    root = tmp_path_factory.mktemp("odd")
    workspace, submissions = root / "grading", root / "incoming"
    full = SAMPLE / "submitted" / "alice" / "softmax" / "softmax.ipynb"
    for student in ("ok", "renamed", "corrupt", "empty", "later_broken"):
        (submissions / student / "softmax").mkdir(parents=True)
    folder = submissions / "{}" / "softmax"
    shutil.copy(full, str(folder).format("ok"))
    shutil.copy(full, str(folder).format("later_broken"))
    shutil.copy(full, str(folder).format("renamed") + "/softmax (1).ipynb")
    (Path(str(folder).format("corrupt")) / "softmax.ipynb").write_text("{")
    for student, nb in _variants_of(full).items():
        (submissions / student / "softmax").mkdir(parents=True)
        nbformat.write(nb, str(folder).format(student) + "/softmax.ipynb")
    course = Course(
        ROOT,
        workspace=workspace,
        release=workspace / "release",
        cell_timeout=5,
    )
    release(course, ["softmax"])
    collect_submissions(course, submissions, "softmax")
    first = {
        r.student: r for r in autograde(course, "softmax", progress=False)
    }
    # The student who scored 6 resubmits a damaged file.
    broken = course.submitted_dir / "later_broken" / "softmax"
    (broken / "softmax.ipynb").write_text("not a notebook")
    second = autograde(course, "softmax", ["later_broken"], progress=False)
    _, exported = export_grades(course)
    return first, second, {r.student: r for r in exported}


def _variants_of(full):
    """Correct answers written in ways stock nbgrader mis-scores."""
    noisy = nbformat.read(full, as_version=4)
    for cell in noisy.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == (
            "stable_softmax"
        ):
            cell.source = "import logging\nimport sys\n" + cell.source.replace(
                "def stable_softmax(x, axis=-1):\n",
                "def stable_softmax(x, axis=-1):\n"
                "    logging.warning('called')\n"
                "    print('debug', file=sys.stderr)\n",
            )
    released = nbformat.read(
        ROOT / "notebooks" / "exercises" / "softmax" / "softmax.ipynb",
        as_version=4,
    )
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nbformat.read(full, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    # Stubs left as released, each answer in a new cell right after it.
    elsewhere = nbformat.v4.new_notebook(metadata=released.metadata)
    for cell in released.cells:
        elsewhere.cells.append(cell)
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            new = nbformat.v4.new_code_cell(answers[grade_id])
            elsewhere.cells.append(new)
    return {"noisy": noisy, "answers_elsewhere": elsewhere}


def test_stderr_output_costs_a_correct_answer_nothing(odd_class):
    first, _, _ = odd_class
    assert "stderr" not in first["noisy"].message
    assert (first["noisy"].score, first["noisy"].flags) == (6, [])


def test_answers_outside_the_stub_cells_are_not_blank(odd_class):
    first, _, _ = odd_class
    result = first["answers_elsewhere"]
    assert result.flags == [] and result.score > 0


def test_odd_submissions_get_a_status_and_a_reason(odd_class):
    first, _, _ = odd_class
    assert (first["ok"].status, first["ok"].score) == ("graded", 6)
    assert first["renamed"].score == 6
    assert first["renamed"].flags == ["renamed"]
    assert first["corrupt"].status == "failed"
    assert "not valid JSON" in first["corrupt"].message
    assert first["empty"].status == "failed"
    assert "no notebook to grade" in first["empty"].message
    assert "softmax.ipynb" in first["empty"].message


def test_a_failed_regrade_is_never_exported_as_the_old_score(odd_class):
    _, second, exported = odd_class
    assert second[0].status == "failed"
    assert exported["later_broken"].status == "failed"
    assert exported["later_broken"].score is None


def test_every_failed_student_is_exported(odd_class):
    _, _, exported = odd_class
    assert {"ok", "renamed", "corrupt", "empty", "later_broken"} <= set(
        exported
    )
    assert exported["empty"].status == "failed"
