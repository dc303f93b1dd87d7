"""Helpers shared by the tests of the course tooling."""

import os
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

#: Grading workers for the tests that grade a whole class: one per core.
#: The grader's default adds one, but here test processes already share
#: the cores, and more kernels at once would only bring cells nearer to
#: their time limit.
GRADING_WORKERS = os.cpu_count() or 1

MARKERS = [
    ("BEGIN SOLUTION", "END SOLUTION"),
    ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"),
]


def split_secret(source, markers=MARKERS):
    """Split cell source into (public lines, secret lines).

    Secret lines are those between any pair of ``markers``.
    """
    public, secret, inside = [], [], None
    for line in source.splitlines():
        stripped = line.strip()
        opened = [end for begin, end in markers if begin in line]
        if inside is None and opened:
            inside = opened[0]
        elif inside is not None and inside in line:
            inside = None
        elif inside is not None:
            secret.append(stripped)
        else:
            public.append(stripped)
    return public, secret


def secret_lines(assignment, markers=MARKERS, min_length=20):
    """Lines between ``markers`` (solutions and hidden tests by default)
    that appear nowhere else in the source notebooks: if one of them shows
    up in a release or a feedback file, a secret leaked."""
    public, secret = set(), []
    for path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            pub, sec = split_secret(cell.source, markers)
            public.update(pub)
            secret += sec
    return sorted(
        {s for s in secret if len(s) >= min_length and s not in public}
    )


def skip_or_fail(reason):
    """Skip a test whose tool is missing; under ``CI=true``, fail it.

    CI installs every tool the tests need, so there a missing one is a
    broken set-up, not a reason to pass as skipped. Elsewhere the reason
    is printed and the test skipped.
    """
    import os

    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but this test cannot run: {reason}")
    print(f"skipping: {reason}")
    pytest.skip(reason)


def import_torch():
    """Import torch for a comparison test, or skip it with the reason.

    torch is an optional oracle. Where it is missing the test is skipped
    with a printed reason; under CI (``CI=true``), which installs torch
    before running the tests, a missing torch fails the test instead, so
    that a broken install cannot pass as skipped comparisons.
    """
    import os

    import pytest

    try:
        import torch
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but torch is not installed: see .ci/run")
        print("torch is not installed: skipping the torch comparison")
        pytest.skip("torch is not installed")
    return torch


def require_sandbox():
    """Skip a test that grades student code where bubblewrap is missing.

    Grading refuses to run student code without the sandbox. On a laptop
    without bubblewrap the test is skipped with the reason printed; under
    CI (``CI=true``), whose set-up installs bubblewrap, a missing or
    broken bubblewrap fails the test instead.
    """
    import os

    import pytest

    from course_tools import sandbox

    ok, reason = sandbox._probe()
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the grading sandbox is unusable: {reason}")
    print(f"skipping: the grading sandbox is unusable here: {reason}")
    pytest.skip(f"no grading sandbox: {reason}")
