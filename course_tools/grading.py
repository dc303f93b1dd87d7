"""Release, autograde, feedback and grade export on top of nbgrader.

Each function works on a :class:`~course_tools.course.Course` and logs one
line per student with the outcome. Scores come from nbgrader's gradebook;
flags are read from the autograded notebooks, so that an instructor sees
why a student scored 0 (a blank notebook, an error, a time-out) rather
than a bare number.
"""

import csv
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from .course import CourseError

log = logging.getLogger("course")

__all__ = [
    "GradeResult",
    "autograde",
    "collect_submissions",
    "export_grades",
    "format_table",
    "generate_feedback",
    "release",
    "submitted_students",
]

#: Exceptions that mean "the answer is wrong or missing", not "it crashed".
EXPECTED_FAILURES = {"AssertionError", "NotImplementedError"}
#: What a cell that ran past the time limit shows: the interrupt that
#: stopped it and nbgrader's own note.
TIMEOUT_NAMES = {"CellTimeoutError", "KeyboardInterrupt"}
#: Text nbgrader puts at the top of a test cell it had to restore.
RESTORED_MARK = "was missing from the submission"


@dataclass
class GradeResult:
    """The outcome of grading one student's submission of one assignment.

    ``status`` is ``"graded"``, ``"missing"`` (nothing submitted) or
    ``"failed"`` (the submission could not be graded: see ``message``).
    ``flags`` explain a low score: ``blank`` (no answer cell changed),
    ``error`` (an answer raised something other than a failed test),
    ``timeout`` (a cell hit the time limit), ``restored`` (a deleted test
    cell was put back), ``manual`` (a cell needs manual grading).
    """

    assignment: str
    student: str
    status: str
    score: float | None
    max_score: float
    flags: list[str] = field(default_factory=list)
    message: str = ""

    def row(self):
        return {
            "assignment": self.assignment,
            "student": self.student,
            "status": self.status,
            "score": "" if self.score is None else f"{self.score:g}",
            "max_score": f"{self.max_score:g}",
            "flags": ";".join(self.flags),
            "message": self.message,
        }


def _check_result(result, what):
    """Raise ``CourseError`` with nbgrader's log if a step failed."""
    if not result.get("success", False):
        detail = (result.get("error") or result.get("log") or "").strip()
        raise CourseError(f"{what} failed:\n{detail}")


def _last_line(text):
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "unknown error"


def release(course, assignments=None):
    """Generate the student version of each assignment.

    Solutions and hidden tests are removed; the result goes to the
    course's release folder (``notebooks/exercises/<assignment>/``) and the
    assignment is recorded in the gradebook.

    Returns
    -------
    list of Path
        The released notebooks.
    """
    assignments = assignments or course.assignments()
    for assignment in assignments:
        course.check_assignment(assignment)
    api = course.api()
    released = []
    for assignment in assignments:
        _check_result(
            api.generate_assignment(assignment, force=True, create=True),
            f"releasing {assignment}",
        )
        notebooks = sorted((course.release_dir / assignment).glob("*.ipynb"))
        for path in notebooks:
            _normalise_release(path)
        released.extend(notebooks)
        log.info("released %s: %d notebook(s)", assignment, len(notebooks))
    return released


def _normalise_release(path):
    """Keep a released notebook byte-stable across releases."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


def submitted_students(course, assignment):
    """Students with a submission folder for ``assignment``, sorted."""
    root = course.submitted_dir
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir()
        and not p.name.startswith(".")
        and (p / assignment).is_dir()
    )


def collect_submissions(course, source, assignment):
    """Copy ``source/<student>/<assignment>/`` into the submitted folder.

    ``source`` has nbgrader's layout: one folder per student, inside it one
    folder per assignment. Existing copies are replaced.

    Returns
    -------
    list of str
        The students copied.
    """
    source = Path(source)
    if not source.is_dir():
        raise CourseError(
            f"submissions folder {source} does not exist; expected a folder "
            f"with one sub-folder per student, each holding {assignment}/."
        )
    students = []
    for student_dir in sorted(source.iterdir()):
        src = student_dir / assignment
        if student_dir.name.startswith(".") or not src.is_dir():
            continue
        dest = course.submitted_dir / student_dir.name / assignment
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest)
        students.append(student_dir.name)
    if not students:
        raise CourseError(
            f"no submissions of {assignment!r} in {source}; expected "
            f"{source}/<student>/{assignment}/<notebook>.ipynb."
        )
    log.info("collected %d submission(s) of %s", len(students), assignment)
    return students


def _answer_sources(path):
    """Map grade_id to source for the solution cells of a notebook."""
    nb = nbformat.read(path, as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def _flags(course, assignment, student):
    """Read the autograded notebooks of one submission for flags."""
    flags = set()
    graded = course.autograded_dir / student / assignment
    for path in sorted(graded.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if RESTORED_MARK in cell.source:
                flags.add("restored")
            for out in cell.get("outputs", []):
                if out.get("output_type") != "error":
                    continue
                name = out.get("ename", "")
                if name in TIMEOUT_NAMES:
                    flags.add("timeout")
                elif name not in EXPECTED_FAILURES:
                    flags.add("error")
        released = course.release_dir / assignment / path.name
        submitted = course.submitted_dir / student / assignment / path.name
        if released.is_file() and submitted.is_file():
            try:
                answers = _answer_sources(submitted)
            except Exception:  # unreadable: autograde reported it already
                continue
            stubs = _answer_sources(released)
            if stubs and all(
                answers.get(k, v).strip() == v.strip()
                for k, v in stubs.items()
            ):
                flags.add("blank")
    if "blank" in flags:
        flags.discard("error")
    return sorted(flags)


def _gradebook(course):
    from nbgrader.api import Gradebook

    cfg = course.config().CourseDirectory
    return Gradebook(cfg.db_url, cfg.course_id)


def _result_from_gradebook(course, assignment, student):
    from nbgrader.api import MissingEntry

    with _gradebook(course) as gb:
        max_score = gb.find_assignment(assignment).max_score
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return GradeResult(assignment, student, "missing", None, max_score)
        score, needs_manual = sub.score, sub.needs_manual_grade
    flags = _flags(course, assignment, student)
    if needs_manual:
        flags.append("manual")
    return GradeResult(assignment, student, "graded", score, max_score, flags)


def autograde(course, assignment, students=None, progress=True):
    """Autograde every submission of ``assignment`` (or only ``students``).

    One student's failure never stops the class: a submission nbgrader
    cannot grade is reported with status ``failed`` and the reason.

    Returns
    -------
    list of GradeResult
        One per student, in the order graded.
    """
    course.check_assignment(assignment)
    api = course.api()
    with _gradebook(course) as gb:
        known = {a.name for a in gb.assignments}
    if assignment not in known:
        raise CourseError(
            f"{assignment!r} is not in the gradebook yet; release it first "
            f"with `course release {assignment}`."
        )
    students = students or submitted_students(course, assignment)
    results = []
    bar = tqdm(
        students,
        desc=f"autograde {assignment}",
        unit="student",
        disable=not progress,
    )
    logs = course.grading_dir / "logs" / assignment
    logs.mkdir(parents=True, exist_ok=True)
    for student in bar:
        outcome = api.autograde(assignment, student, force=True, create=True)
        (logs / f"{student}.log").write_text(
            (outcome.get("log") or "") + (outcome.get("error") or "")
        )
        if outcome.get("success", False):
            result = _result_from_gradebook(course, assignment, student)
        else:
            with _gradebook(course) as gb:
                max_score = gb.find_assignment(assignment).max_score
            result = GradeResult(
                assignment,
                student,
                "failed",
                None,
                max_score,
                message=_last_line(outcome.get("error") or outcome.get("log")),
            )
        results.append(result)
        _log_result(result)
    return results


def _log_result(result):
    score = "-" if result.score is None else f"{result.score:g}"
    extra = f" [{', '.join(result.flags)}]" if result.flags else ""
    msg = f": {result.message}" if result.message else ""
    log.info(
        "%s %s: %s %s/%g%s%s",
        result.assignment,
        result.student,
        result.status,
        score,
        result.max_score,
        extra,
        msg,
    )


def generate_feedback(course, assignment, students=None, progress=True):
    """Write one HTML feedback file per autograded student.

    The feedback shows the student's notebook with the points of each test
    cell and the messages of failed tests; hidden tests are removed.

    Returns
    -------
    list of Path
        The feedback files written.
    """
    api = course.api()
    graded = course.autograded_dir
    if students is None:
        found = sorted(graded.iterdir()) if graded.is_dir() else []
        students = [p.name for p in found if (p / assignment).is_dir()]
    written = []
    for student in tqdm(
        students,
        desc=f"feedback {assignment}",
        unit="student",
        disable=not progress,
    ):
        outcome = api.generate_feedback(assignment, student, force=True)
        if not outcome.get("success", False):
            log.error(
                "feedback %s %s: failed: %s",
                assignment,
                student,
                _last_line(outcome.get("error") or outcome.get("log")),
            )
            continue
        files = sorted(
            (course.feedback_dir / student / assignment).glob("*.html")
        )
        written.extend(files)
        log.info("feedback %s %s: %d file(s)", assignment, student, len(files))
    return written


CSV_FIELDS = [
    "assignment",
    "student",
    "status",
    "score",
    "max_score",
    "flags",
    "message",
]


def export_grades(course, path=None, failed=()):
    """Write every student's grade for every assignment to a CSV file.

    Students without a submission get status ``missing`` and an empty
    score, never a silent 0. ``failed`` holds results of submissions that
    could not be graded in this run; they are written with their reason.

    Returns
    -------
    (Path, list of GradeResult)
    """
    path = Path(path or course.grading_dir / "grades.csv")
    failures = {(r.assignment, r.student): r for r in failed}
    with _gradebook(course) as gb:
        assignments = sorted(a.name for a in gb.assignments)
        students = sorted(s.id for s in gb.students)
    results = []
    for assignment in assignments:
        for student in students:
            result = failures.get((assignment, student))
            if result is None:
                result = _result_from_gradebook(course, assignment, student)
            results.append(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for result in results:
            writer.writerow(result.row())
    log.info("grades of %d student(s) written to %s", len(students), path)
    return path, results


def format_table(results, notes=None):
    """A plain-text table: assignment, student, score, max, flags.

    ``notes`` maps ``(assignment, student)`` to a text shown in a last
    column (the demo uses it to say what each sample submission is).
    """
    header = ["assignment", "student", "score", "max", "flags"]
    if notes:
        header.append("submission")
    rows = [header]
    for r in results:
        score = "-" if r.score is None else f"{r.score:g}"
        flags = [r.status] if r.status != "graded" else []
        row = [
            r.assignment,
            r.student,
            score,
            f"{r.max_score:g}",
            ", ".join(flags + r.flags),
        ]
        if notes:
            row.append(notes.get((r.assignment, r.student), ""))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for i, row in enumerate(rows):
        cells = [
            row[j].rjust(widths[j]) if j in (2, 3) else row[j].ljust(widths[j])
            for j in range(len(header))
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
