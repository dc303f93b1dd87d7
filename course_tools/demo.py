"""The demo: grade the bundled sample class from scratch.

Everything is written under ``grading/demo/`` (release, submissions,
autograded notebooks, feedback, gradebook, grades CSV), which is wiped
first, so the demo never touches an instructor's own ``grading/`` files.
"""

import json
import logging
import shutil
from pathlib import Path

from .course import Course
from .grading import (
    autograde,
    collect_submissions,
    export_grades,
    format_table,
    generate_feedback,
    release,
)

log = logging.getLogger("course")

#: Seconds per cell in the demo. The sample answers run in milliseconds;
#: only the student whose loop never ends waits for the limit.
DEMO_CELL_TIMEOUT = 5
SAMPLE_CLASS = Path("sample_class")


def load_expected(root):
    """The scores and flags the sample class must get, by assignment."""
    path = Path(root) / SAMPLE_CLASS / "expected.json"
    return json.loads(path.read_text())


def mismatches(results, expected):
    """Describe every result whose score or flags differ from expected."""
    problems = []
    for r in results:
        want = expected.get(r.assignment, {}).get(r.student)
        if want is None:
            if r.status != "missing":
                problems.append(
                    f"{r.assignment} {r.student}: got {r.status}, expected "
                    f"missing (no sample submission)"
                )
            continue
        if r.score != want["score"] or sorted(r.flags) != want["flags"]:
            problems.append(
                f"{r.assignment} {r.student}: got {r.score} {r.flags}, "
                f"expected {want['score']} {want['flags']}"
            )
    return problems


def run_demo(root, cell_timeout=None, progress=True):
    """Release, autograde, give feedback and export for the sample class.

    Returns 0 when every sample student gets the expected score and flags,
    1 otherwise (the differences are printed).
    """
    root = Path(root).resolve()
    workspace = root / "grading" / "demo"
    if workspace.exists():
        shutil.rmtree(workspace)
    course = Course(
        root,
        workspace=workspace,
        release=workspace / "release",
        cell_timeout=cell_timeout or DEMO_CELL_TIMEOUT,
    )
    expected = load_expected(root)
    release(course)
    no_feedback = []
    for assignment in [a for a in course.assignments() if a in expected]:
        collect_submissions(
            course, root / SAMPLE_CLASS / "submitted", assignment
        )
        autograde(course, assignment, progress=progress)
        _, failed = generate_feedback(course, assignment, progress=progress)
        no_feedback += [f"{assignment} {line}" for line in failed]
    csv_path, results = export_grades(course)

    print()
    kinds = {
        (a, s): e.get("kind", "")
        for a, students in expected.items()
        for s, e in students.items()
    }
    print(format_table(results, notes=kinds))
    print()
    print(
        f"feedback: {course.feedback_dir.relative_to(root)}/"
        "<student>/<assignment>/*.html"
    )
    print(f"grades:   {csv_path.relative_to(root)}")
    problems = mismatches(results, expected)
    problems += [f"no feedback for {line}" for line in no_feedback]
    if problems:
        print("\nNOT as expected:\n  " + "\n  ".join(problems))
        return 1
    print("\nEvery sample student got the expected score and flags.")
    return 0
