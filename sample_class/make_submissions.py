"""Write the sample class: one submission per student and assignment.

Each sample student stands for a kind of submission an instructor meets:
a full answer, a blank notebook, a typical mistake earning partial credit,
code that raises, code that never stops, and so on. The submissions are
made from the released notebooks in ``notebooks/exercises/`` by replacing
the answer cells, so they stay in step with the exercises. Run from the
course root after changing an exercise:

    python sample_class/make_submissions.py

It rewrites ``sample_class/submitted/`` and ``sample_class/expected.json``
(the score and flags each submission must get; the course's tests check
them against a real grading run). ``--out DIR`` writes both to DIR
instead.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RELEASE = ROOT / "notebooks" / "exercises"

# -- softmax ---------------------------------------------------------------

SOFTMAX_FULL = """
def stable_softmax(x, axis=-1):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
"""

LOG_SOFTMAX_FULL = """
def stable_log_softmax(x, axis=-1):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
"""

SOFTMAX_NAIVE = """
def stable_softmax(x, axis=-1):
    # the textbook formula, without subtracting the maximum
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)
"""

LOG_SOFTMAX_NAIVE = """
def stable_log_softmax(x, axis=-1):
    return np.log(stable_softmax(x, axis=axis))
"""

SOFTMAX_RAISES = """
def stable_softmax(x, axis=-1):
    # arrays have no softmax method: this raises AttributeError
    return x.softmax(axis)
"""

LOG_SOFTMAX_RAISES = """
def stable_log_softmax(x, axis=-1):
    return np.log(stable_softmax(x, axis))
"""

SOFTMAX_LOOPS = """
def stable_softmax(x, axis=-1):
    # renormalise "until the sum is exactly one"; the counter is never
    # advanced, so the loop never ends
    p = np.exp(x - np.max(x, axis=axis, keepdims=True))
    i = 0
    while i < 1:
        p = p / p.sum(axis=axis, keepdims=True)
    return p
"""

SOFTMAX_WARNS = """
import warnings


def _old_helper(z):
    warnings.warn("_old_helper is deprecated", DeprecationWarning)
    return np.exp(z)


def stable_softmax(x, axis=-1):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    e = _old_helper(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
"""

# student -> (answers by grade_id, test cells the student deleted,
#             expected score, expected flags)
SOFTMAX_CLASS = {
    "alice_full": (
        {
            "stable_softmax": SOFTMAX_FULL,
            "stable_log_softmax": LOG_SOFTMAX_FULL,
        },
        [],
        6,
        [],
    ),
    "bob_blank": ({}, [], 0, ["blank"]),
    "carol_naive": (
        {
            "stable_softmax": SOFTMAX_NAIVE,
            "stable_log_softmax": LOG_SOFTMAX_NAIVE,
        },
        [],
        3,
        [],
    ),
    "dan_raises": (
        {
            "stable_softmax": SOFTMAX_RAISES,
            "stable_log_softmax": LOG_SOFTMAX_RAISES,
        },
        [],
        0,
        ["error"],
    ),
    "erin_loops": ({"stable_softmax": SOFTMAX_LOOPS}, [], 0, ["timeout"]),
    "frank_warns": (
        {
            "stable_softmax": SOFTMAX_WARNS,
            "stable_log_softmax": LOG_SOFTMAX_FULL,
        },
        [],
        6,
        [],
    ),
    "grace_deletes_a_test": (
        {
            "stable_softmax": SOFTMAX_FULL,
            "stable_log_softmax": LOG_SOFTMAX_FULL,
        },
        ["test_softmax_stable"],
        6,
        ["restored"],
    ),
}

CLASSES = {"softmax": SOFTMAX_CLASS}


def make_submission(released, answers, deleted):
    """A copy of the released notebook with answers filled in."""
    nb = nbformat.read(released, as_version=4)
    kept = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id in deleted:
            continue
        if meta.get("solution") and grade_id in answers:
            cell.source = answers[grade_id].strip("\n")
        kept.append(cell)
    nb.cells = kept
    return nb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE,
        help="folder to write submitted/ and expected.json "
        "to (default: beside this script)",
    )
    out_dir = parser.parse_args(argv).out
    out = out_dir / "submitted"
    if out.exists():
        shutil.rmtree(out)
    expected = {}
    for assignment, students in CLASSES.items():
        folder = RELEASE / assignment
        notebooks = sorted(folder.glob("*.ipynb"))
        if len(notebooks) != 1:
            sys.exit(
                f"expected one released notebook in {folder}, found "
                f"{len(notebooks)}; run `course release` first."
            )
        released = notebooks[0]
        expected[assignment] = {}
        for student, (answers, deleted, score, flags) in students.items():
            nb = make_submission(released, answers, deleted)
            dest = out / student / assignment / released.name
            dest.parent.mkdir(parents=True)
            nbformat.write(nb, dest)
            expected[assignment][student] = {"score": score, "flags": flags}
    (out_dir / "expected.json").write_text(
        json.dumps(expected, indent=2, sort_keys=True) + "\n"
    )


if __name__ == "__main__":
    main()
