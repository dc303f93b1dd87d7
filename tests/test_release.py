"""The released student notebooks: fresh, free of solutions, and failing
exactly where the student's code is needed."""

import re

import nbformat
import pytest
from nbclient import NotebookClient

from course_tools.course import Course
from tests.helpers import MARKERS, ROOT, secret_lines

ASSIGNMENTS = Course(ROOT).assignments()
COMMITTED = ROOT / "notebooks" / "exercises"
#: Tag for a non-test cell that calls the student's code.
NEEDS_SOLUTION = "needs-solution"


def _notebooks(folder):
    return sorted(p.name for p in folder.glob("*.ipynb"))


def test_there_are_assignments():
    assert "softmax" in ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_matches_fresh_generation(fresh_release, assignment):
    fresh = fresh_release.release_dir / assignment
    committed = COMMITTED / assignment
    assert _notebooks(committed) == _notebooks(fresh), (
        "released notebooks differ from the sources: run `course release`"
    )
    for name in _notebooks(fresh):
        assert (committed / name).read_text() == (fresh / name).read_text(), (
            f"notebooks/exercises/{assignment}/{name} is stale: run "
            f"`course release {assignment}` and commit the result"
        )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solution_or_hidden_test(assignment):
    secrets = secret_lines(assignment)
    assert secrets, "expected solution and hidden-test lines to look for"
    for path in sorted((COMMITTED / assignment).glob("*.ipynb")):
        text = path.read_text()
        for begin, end in MARKERS:
            assert begin not in text and end not in text
        released = nbformat.read(path, as_version=4)
        released_text = "\n".join(c.source for c in released.cells)
        leaked = [s for s in secrets if s in released_text]
        assert not leaked, f"release shows solution or hidden lines: {leaked}"


def _expected_to_fail(cell):
    meta = cell.metadata.get("nbgrader", {})
    is_test = meta.get("grade") and not meta.get("solution")
    return bool(is_test) or NEEDS_SOLUTION in cell.metadata.get("tags", [])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_fails_exactly_where_the_student_must_work(assignment):
    """Strict expected failures: a test that passes on the blank release
    means a test checks nothing, or the release leaks the solution."""
    folder = COMMITTED / assignment
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(
            nb,
            timeout=60,
            allow_errors=True,
            resources={"metadata": {"path": str(folder)}},
        ).execute()
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert any(_expected_to_fail(c) for c in code)
        for i, cell in enumerate(code):
            errors = [
                o.ename for o in cell.outputs if o.output_type == "error"
            ]
            where = f"{path.name}, code cell {i}:\n{cell.source[:200]}"
            if _expected_to_fail(cell):
                assert errors == ["NotImplementedError"], (
                    f"expected only NotImplementedError from the missing "
                    f"answer, got {errors or 'no error'} in {where}"
                )
            else:
                assert not errors, f"unexpected {errors} in {where}"


NBVAL_ESCAPES = re.compile(
    r"NBVAL_(RAISES_EXCEPTION|SKIP|IGNORE_OUTPUT)|raises-exception"
)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "notebooks").glob("*.ipynb"))
    + sorted((ROOT / "solutions").glob("*/*.ipynb")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_checked_notebooks_hide_no_failure(path):
    """nbval's raises-exception means "may raise": in a lecture or a
    solution it would let a broken cell pass, so none may use it."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = " ".join(cell.metadata.get("tags", []))
        assert not NBVAL_ESCAPES.search(tags + "\n" + cell.source), (
            f"{path.name}: remove the nbval escape from cell "
            f"{cell.source[:80]!r}"
        )
