"""Write the corpus of broken and hostile submissions the grader must survive.

The sample class (``make_submissions.py``) holds the submissions an
instructor meets every term: full answers, blanks, typical mistakes. This
corpus holds the ones a grader must *survive*: notebooks that crash, hang,
flood the output or kill their kernel; notebooks whose test cells were
deleted, edited or disguised; and code that tries to cheat (patching numpy,
rewriting test cells on the fly, reading the solutions, the gradebook or a
classmate's work, writing to the gradebook, reaching the network).

Each case is one student's submission of one assignment; the student is
named after the case (``patch_allclose``, ``os_exit``, ...). What a fair
grader must do with it is written to ``expected.json`` next to the
submissions:

* a hostile trick gains nothing: the parts it targets score what the answer
  is worth without the trick (cheating cases answer wrongly unless the
  trick works, so that a hole in the sandbox *raises* their score);
* a crash costs only the parts it breaks: hostile code sits next to correct
  answers, whose points must survive it;
* one student never stops the class: every case gets a result, and the
  gradebook, the course files and the network are untouched.

The submissions are made from the released notebooks in
``notebooks/exercises/`` and the answers in ``solutions/``, so they stay in
step with the exercises. Run from the course root after changing one:

    python sample_class/make_corpus.py

It rewrites ``tests/corpus/`` (``--out DIR`` writes elsewhere);
``tests/test_corpus.py`` grades every case through the real grader and
checks the outcome, and checks that the folder is what this script writes.
The output is byte-for-byte reproducible: cells added here get fixed ids
and nothing records a time.

The corpus is hostile for real: never run its notebooks yourself, and
never grade it with ``--unsafe``. Outside the sandbox its code deletes any
gradebook it finds above its folder, fills memory and kills its kernel.
The folder gets a ``conftest.py`` that keeps pytest (whose settings run
every notebook with nbval) out of it, and a ``ruff.toml`` that keeps the
students' code out of the course's lint.
"""

import argparse
import json
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RELEASE = ROOT / "notebooks" / "exercises"
SOLUTIONS = ROOT / "solutions"
DEFAULT_OUT = ROOT / "tests" / "corpus"

#: Name of the files hostile code tries to leave outside its sandbox.
CANARY = "CORPUS-CANARY"
#: File the test writes into the ``network`` student's submission folder:
#: the port of a server it runs on 127.0.0.1, for student code to find.
PORT_FILE = "server_port.txt"
#: Course order; every assignment has cases.
ASSIGNMENTS = [
    "softmax",
    "selection",
    "mlp_head",
    "attention",
    "rnn_attention",
]

# -- what the folder holds besides the submissions -------------------------

#: The corpus notebooks are hostile; pytest must never run them itself
#: (the course's pytest settings run every notebook with nbval, outside
#: any sandbox, and import every module for doctests).
CONFTEST = '''\
"""Keep pytest away from the corpus: it is graded, never run directly.

The submissions under ``submitted/`` are hostile on purpose (they kill
their kernel, exhaust memory, read and write files). The course's pytest
settings would run every notebook with nbval and import every module for
its doctests, outside any sandbox; ``tests/test_corpus.py`` grades them
inside the grader's sandbox instead. Never grade them with --unsafe.
Written by sample_class/make_corpus.py.
"""

collect_ignore_glob = ["submitted"]
'''

#: Student code is not held to the course's lint rules.
RUFF_TOML = """\
# Student submissions are not held to the course's lint rules.
# Written by sample_class/make_corpus.py.
extend = "../../pyproject.toml"
extend-exclude = ["submitted"]
"""


# -- answers ---------------------------------------------------------------


def solution_answers(assignment):
    """The instructor's answer to each answer cell, markers removed.

    Returns
    -------
    dict
        grade_id of an answer cell -> source.
    """
    path = SOLUTIONS / assignment / f"{assignment}.ipynb"
    answers = {}
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            lines = [
                line
                for line in cell.source.splitlines()
                if "### BEGIN SOLUTION" not in line
                and "### END SOLUTION" not in line
            ]
            answers[meta["grade_id"]] = "\n".join(lines)
    return answers


#: Wrong answers that fail every test of their part (visible and hidden)
#: with an AssertionError, never a crash, so that a case built on one
#: loses exactly that part. They keep plausible shapes, so that a trick
#: defeating the value checks would make them pass.
WRONG = {
    "softmax": {
        "stable_softmax": """
def stable_softmax(x, axis=-1):
    # wrong: every label gets the same probability
    x = np.asarray(x, dtype=float)
    return np.full(x.shape, 1.0 / x.shape[axis])
""",
        "stable_log_softmax": """
def stable_log_softmax(x, axis=-1):
    # wrong: log(1) everywhere
    return np.zeros(np.shape(x))
""",
    },
    "selection": {
        "sample_from_logits": """
def sample_from_logits(logits, temperature=1.0, n_samples=1, rng=None):
    # wrong: always label 0, and as floats
    return np.zeros(n_samples)
""",
        "soft_select": """
def soft_select(U, q, temperature=1.0):
    # wrong: the same weight for every row, whatever the query
    n = U.shape[0]
    w = np.full(np.shape(q)[:-1] + (n,), 1.0 / n)
    return w, w @ U
""",
    },
    "mlp_head": {
        "cross_entropy": """
def cross_entropy(logits, labels):
    # wrong: the loss of a uniform guess, whatever the logits
    return float(np.log(logits.shape[1]))
""",
        "cross_entropy_grad": """
def cross_entropy_grad(logits, labels):
    # wrong: no gradient at all
    return np.zeros(np.shape(logits))
""",
        "train_softmax_head": """
def train_softmax_head(Q, y, n_labels, steps=300, lr=1.0):
    # wrong: never trains
    return np.zeros((n_labels, Q.shape[1])), np.zeros(n_labels)
""",
    },
    "attention": {
        "attention_weights": """
def attention_weights(U, q):
    # wrong: the same weight for every row, whatever the query
    n = U.shape[0]
    return np.full(np.shape(q)[:-1] + (n,), 1.0 / n)
""",
        "masked_attention": """
def masked_attention(Q, K, V, mask=None):
    # wrong: the same weight for every key; the mask is ignored
    n_keys = K.shape[-2]
    w = np.full(Q.shape[:-1] + (n_keys,), 1.0 / n_keys, dtype=Q.dtype)
    return w @ V, w
""",
    },
    "rnn_attention": {
        "attention_step": """
def attention_step(s, H, W_a, mask):
    # wrong: the same weight for every position; the mask is ignored
    w = np.full(H.shape[:2], 1.0 / H.shape[1])
    return w, np.einsum("bt,bth->bh", w, H)
""",
        "decoder_step": """
def decoder_step(y_emb, s, H, params, mask):
    # wrong: the state never changes
    w, c = attention_step(s, H, params["W_a"], mask)
    return s, w, c
""",
        "attention_step_backward": """
def attention_step_backward(d_context, s, H, W_a, mask):
    # wrong: made-up gradients
    return np.ones(s.shape), np.ones(H.shape), np.ones(W_a.shape)
""",
    },
}


# -- hostile code ----------------------------------------------------------
# Snippets added to answer cells or to new cells. Each is plain Python as a
# student would write it in a notebook cell.

RAISES = """
def sample_from_logits(logits, temperature=1.0, n_samples=1, rng=None):
    z = np.asarray(logits, dtype=float) / temperature
    p = np.exp(z - z.max())
    u = rng.random(n_samples) * p.sum()
    # a typo in a keyword argument: TypeError
    return np.searchsorted(np.cumsum(p), u, sid="right")
"""

INFINITE_LOOP = """
def attention_weights(U, q):
    scores = q @ U.T / np.sqrt(U.shape[-1])
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    # "renormalise until the rows sum to one": the counter never moves
    i = 0
    while i < 1:
        p = p / p.sum(axis=-1, keepdims=True)
    return p
"""

IGNORE_SIGINT = """

import signal

# The grader interrupts a cell that runs too long; ignore it and spin.
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
"""

FLOOD = """

# Two million lines of output (about 14 MB).
print("\\n".join(str(i) for i in range(2_000_000)))
"""

PATCH_NUMPY = """
import numpy as np

# Every comparison the tests make now says "equal".
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
"""

INPUT_TRANSFORMER = '''
def _skip_tests(lines):
    """Replace every test cell (they open with "Check ...") by `pass`."""
    if lines and lines[0].startswith('"""Check'):
        return ["pass\\n"]
    return lines


get_ipython().input_transformers_post.append(_skip_tests)
'''

#: Helpers the cheating cases share: find files, read notebooks, pull a
#: function out of source code.
FIND_FILES = '''
import ast
import json
import sys
from pathlib import Path


def _look_for(*patterns):
    """Files matching `patterns` in the working folder, every folder above
    it, and a few places where courses are often kept."""
    here = Path.cwd()
    roots = [here, *here.parents, Path(sys.prefix).parent]
    roots += [Path(p) for p in ("/work", "/srv", "/home", "/root", "/opt")]
    found = []
    for root in roots:
        for pattern in patterns:
            try:
                found += [p for p in sorted(root.glob(pattern)) if p.is_file()]
            except OSError:
                pass
    return found


def _code_cells(path):
    """The code cells of a notebook file ([] if it cannot be read)."""
    try:
        cells = json.loads(Path(path).read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _find_def(name, sources):
    """Source of the first `def name(...)` in `sources` that is no stub."""
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                code = ast.get_source_segment(source, node)
                if "NotImplementedError" not in code:
                    return code
    return None
'''

READ_SOLUTIONS = """

# If the instructor's solutions are in reach, answer with theirs.
_notebooks = _look_for(
    "solutions/selection/*.ipynb",
    "*/solutions/selection/*.ipynb",
    "*/*/solutions/selection/*.ipynb",
    "source/selection/*.ipynb",
    "*/source/selection/*.ipynb",
)
_stolen = _find_def(
    "sample_from_logits", [s for p in _notebooks for s in _code_cells(p)]
)
if _stolen:
    exec(_stolen)
"""

READ_OTHER_STUDENT = """

# If a classmate's submission is in reach (nbgrader keeps them side by
# side), answer with theirs.
_mine = Path.cwd().resolve()
_notebooks = [
    p
    for p in _look_for("*/selection/*.ipynb", "*/*/selection/*.ipynb")
    if _mine not in p.resolve().parents
]
_stolen = _find_def(
    "sample_from_logits", [s for p in _notebooks for s in _code_cells(p)]
)
if _stolen:
    exec(_stolen)
"""

USE_REFERENCE = """
if _reference:
    # The hidden test's reference attention, used as the answer.
    _namespace = {"np": np}
    exec(_reference, _namespace)

    def masked_attention(Q, K, V, mask=None):
        return _namespace["reference"](Q, K, V, mask)
"""

READ_GRADEBOOK = (
    """
import sqlite3

# nbgrader's gradebook stores the test cells, hidden tests included; one
# defines a reference attention. If a gradebook is in reach, use it.
_sources = []
for _db in _look_for("*.db", "*/*.db", "*/*/*.db"):
    try:
        _con = sqlite3.connect(f"file:{_db}?mode=ro", uri=True)
        _rows = _con.execute("SELECT source FROM source_cell")
        _sources += [row[0] for row in _rows]
        _con.close()
    except sqlite3.Error:
        pass
_reference = _find_def("reference", _sources)
"""
    + USE_REFERENCE
)

READ_HIDDEN_TESTS = (
    """

# The notebook being graded, hidden tests and all, may lie in the working
# folder or above; one hidden test defines a reference attention.
_reference = _find_def(
    "reference", [s for p in _look_for("*.ipynb") for s in _code_cells(p)]
)
"""
    + USE_REFERENCE
)

TAMPER = f"""
import os
import sqlite3

import lecture_lib

# Give everyone full marks in any gradebook in reach, then delete it.
_gradebooks = _look_for("gradebook.db", "*/gradebook.db")
for _db in _gradebooks:
    try:
        _con = sqlite3.connect(_db)
        _con.execute("UPDATE grade SET manual_score = 1")
        _con.commit()
        _con.close()
    except sqlite3.Error:
        pass
    try:
        os.remove(_db)
    except OSError:
        pass

# Leave a file wherever one can be written.
_places = [
    Path.cwd(),
    *Path.cwd().parents,
    Path.home(),
    Path(sys.prefix),
    Path(sys.prefix).parent,
    Path(lecture_lib.__file__).parent,
    Path(np.__file__).parent,
    Path("/tmp"),
    *Path("/tmp").glob("*"),
    Path("/var/tmp"),
    Path("/dev/shm"),
    Path("/root"),
    *[p.parent for p in _gradebooks],
]
for _place in _places:
    try:
        (_place / "{CANARY}").write_text("written by student code\\n")
    except OSError:
        pass
"""

NETWORK = f"""
import socket
from pathlib import Path

# The port of a server on this machine, left in the submission folder.
try:
    _port = int(Path("{PORT_FILE}").read_text())
    with socket.create_connection(("127.0.0.1", _port), timeout=2) as _s:
        _s.sendall(b"{CANARY}")
except (OSError, ValueError):
    pass
"""

SYS_EXIT = """

import sys

sys.exit("done")
"""

OS_EXIT = """

import os

os._exit(0)  # ends the kernel's process at once
"""

SIGKILL = """

import os
import signal

os.kill(os.getpid(), signal.SIGKILL)
"""

HUGE_ARRAY = """

all_ones = np.ones(10**12)  # 8 TB
"""

#: np.zeros reserves memory that is only written when used. Arrays written
#: at once (np.ones) would fill the sandbox's 3 GiB cap too, but touching
#: that much memory takes seconds on a loaded machine: the cell would hit
#: the corpus's 3-second limit or not depending on the machine's speed.
GROWING_LIST = """


def _hoard():
    chunks, n = [], 2**27
    while True:
        chunks.append(np.zeros(n))  # 1 GiB, then 2, 4, 8, ... until it fails
        n *= 2


_hoard()
"""


# -- notebooks -------------------------------------------------------------


class Draft:
    """A student's copy of a released notebook, changed step by step.

    Cells are found by their nbgrader ``grade_id``. Cells added here get
    the ids ``corpus-1``, ``corpus-2``, ... so that the output is the same
    on every run.
    """

    def __init__(self, assignment):
        path = RELEASE / assignment / f"{assignment}.ipynb"
        self.nb = nbformat.read(path, as_version=4)
        self.added = 0

    def _index(self, grade_id):
        for i, cell in enumerate(self.nb.cells):
            if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                return i
        raise KeyError(f"no cell {grade_id!r}")

    def cell(self, grade_id):
        """The cell with this grade_id."""
        return self.nb.cells[self._index(grade_id)]

    def answer(self, grade_id, source):
        """Write ``source`` into an answer cell."""
        self.cell(grade_id).source = source.strip("\n")

    def _new(self, source):
        self.added += 1
        cell = nbformat.v4.new_code_cell(source.strip("\n"))
        cell.id = f"corpus-{self.added}"
        return cell

    def insert_after(self, grade_id, source):
        """A new code cell right after the cell ``grade_id``."""
        self.nb.cells.insert(self._index(grade_id) + 1, self._new(source))

    def append(self, source):
        """A new code cell at the end of the notebook."""
        self.nb.cells.append(self._new(source))

    def delete(self, grade_id):
        """Remove a cell."""
        del self.nb.cells[self._index(grade_id)]

    def to_markdown(self, grade_id):
        """Turn a code cell into a markdown cell, metadata kept."""
        cell = self.cell(grade_id)
        cell.cell_type = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)

    def strip_metadata(self, grade_id):
        """Remove the nbgrader metadata (and the lock) from a cell."""
        cell = self.cell(grade_id)
        for key in ("nbgrader", "deletable", "editable"):
            cell.metadata.pop(key, None)

    def text(self):
        """The notebook as it is written to disk."""
        return nbformat.writes(self.nb)


def answered(
    assignment, wrong=(), stub=(), replace=None, before=None, after=None
):
    """A released notebook with the answer cells filled in.

    Every answer cell gets the instructor's answer unless told otherwise.

    Parameters
    ----------
    assignment : str
    wrong : iterable of str
        Answer cells (grade_ids) that get the wrong answer of :data:`WRONG`.
    stub : iterable of str
        Answer cells left as released.
    replace : dict or None
        grade_id -> the whole source of that answer cell.
    before, after : dict or None
        grade_id -> code put before, or after, the answer in that cell.

    Returns
    -------
    Draft
    """
    draft = Draft(assignment)
    for grade_id, source in solution_answers(assignment).items():
        if grade_id in stub:
            continue
        if grade_id in wrong:
            source = WRONG[assignment][grade_id]
        source = (replace or {}).get(grade_id, source).strip("\n")
        if before and grade_id in before:
            source = before[grade_id].strip("\n") + "\n\n" + source
        if after and grade_id in after:
            source = source + after[grade_id]
        draft.answer(grade_id, source)
    return draft


def notebook_file(assignment, draft):
    """The files of a submission holding one notebook."""
    return {f"{assignment}.ipynb": draft.text()}


# -- cases -----------------------------------------------------------------

#: ``lost`` value meaning "every test cell".
EVERYTHING = ("*",)


@dataclass
class Case:
    """One corpus submission and what a fair grader does with it.

    Parameters
    ----------
    student : str
        The case's name, used as the student's name.
    assignment : str
    description : str
        One line: what the submission does.
    files : callable
        Returns the submission's files, ``{file name: text}``.
    lost : tuple of str
        What scores 0: answer cell ids (every test cell of that part, the
        test cells between it and the next answer cell), test cell ids, or
        :data:`EVERYTHING`. Every other test cell scores its points.
    flags : tuple of str
        The flags of ``course_tools.grading.GradeResult`` expected.
    status : str
        ``"graded"``, or ``"failed"`` for a submission that cannot be
        graded (it then scores nothing).
    extra : dict
        More keys for the case's entry in ``expected.json`` (the
        ``network`` case's ``port_file``).
    """

    student: str
    assignment: str
    description: str
    files: Callable[[], dict]
    lost: tuple = ()
    flags: tuple = ()
    status: str = "graded"
    extra: dict = field(default_factory=dict)

    def expected(self):
        """The case's entry of ``expected.json``."""
        tests = graded_cells(self.assignment)
        if self.status == "failed" or self.lost == EVERYTHING:
            lost = set(tests)
        else:
            lost = {
                test
                for test, (part, _) in tests.items()
                if test in self.lost or part in self.lost
            }
        return {
            "assignment": self.assignment,
            "student": self.student,
            "description": self.description,
            "status": self.status,
            "scores": {
                test: 0.0 if test in lost else points
                for test, (_, points) in tests.items()
            },
            "flags": sorted(self.flags),
            **self.extra,
        }


def graded_cells(assignment):
    """grade_id of each test cell -> (its part's answer cell, points)."""
    part, tests = None, {}
    for cell in Draft(assignment).nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            part = meta["grade_id"]
        elif meta.get("grade"):
            tests[meta["grade_id"]] = (part, float(meta.get("points", 0)))
    return tests


def _moved_after_stub():
    draft = Draft("softmax")
    for grade_id, source in solution_answers("softmax").items():
        draft.insert_after(grade_id, source)
    return notebook_file("softmax", draft)


def _moved_after_tests():
    draft = answered("softmax", stub=["stable_log_softmax"])
    draft.append(solution_answers("softmax")["stable_log_softmax"])
    return notebook_file("softmax", draft)


def _network():
    draft = answered("softmax")
    draft.insert_after("setup", NETWORK)
    return notebook_file("softmax", draft)


def _test_deleted_softmax():
    draft = answered("softmax", wrong=["stable_log_softmax"])
    draft.delete("test_log_softmax_values")
    draft.delete("test_log_softmax_extreme")
    return notebook_file("softmax", draft)


def _invalid_json():
    text = answered("softmax").text()
    return {"softmax.ipynb": text[: len(text) // 2]}


def _test_edited():
    draft = answered("selection", wrong=["soft_select"])
    for grade_id in (
        "test_soft_select_single",
        "test_soft_select_batch",
        "test_soft_select_stable",
    ):
        cell = draft.cell(grade_id)
        lines = cell.source.splitlines()
        first_assert = next(
            i for i, line in enumerate(lines) if line.startswith("assert")
        )
        cell.source = "\n".join(lines[:first_assert] + ["pass"])
    return notebook_file("selection", draft)


def _renamed():
    return {"selection (1).ipynb": answered("selection").text()}


def _test_deleted_mlp_head():
    draft = answered("mlp_head", wrong=["train_softmax_head"])
    draft.delete("test_training_accuracy")
    return notebook_file("mlp_head", draft)


def _no_notebook():
    code = textwrap.dedent(
        '''\
        """My answers: I wrote them in a script instead of the notebook."""

        import numpy as np


        def cross_entropy(logits, labels):
            z = logits - logits.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            return float(-log_p[np.arange(len(labels)), labels].mean())
        '''
    )
    return {"answers.py": code}


def _test_to_markdown():
    draft = answered("attention", wrong=["masked_attention"])
    for grade_id in graded_cells("attention"):
        if graded_cells("attention")[grade_id][0] == "masked_attention":
            draft.to_markdown(grade_id)
    return notebook_file("attention", draft)


def _extra_notebooks():
    scratch = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("import numpy as np\n\nnp.ones(3)")
    cell.id = "scratch-1"
    scratch.cells.append(cell)
    return {
        "attention.ipynb": answered("attention").text(),
        "attention-Copy1.ipynb": Draft("attention").text(),
        "scratch.ipynb": nbformat.writes(scratch),
    }


def _input_transformer():
    draft = answered("rnn_attention", wrong=WRONG["rnn_attention"])
    draft.insert_after("setup", INPUT_TRANSFORMER)
    return notebook_file("rnn_attention", draft)


def _tamper_gradebook():
    draft = answered(
        "rnn_attention", stub=["decoder_step", "attention_step_backward"]
    )
    draft.insert_after("setup", FIND_FILES + TAMPER)
    return notebook_file("rnn_attention", draft)


def _test_metadata_removed():
    draft = answered("rnn_attention", wrong=["attention_step_backward"])
    draft.strip_metadata("test_backward_numeric")
    draft.strip_metadata("test_backward_padding")
    return notebook_file("rnn_attention", draft)


def _simple(assignment, **kwargs):
    """``files`` for a one-notebook submission built by :func:`answered`."""
    return lambda: notebook_file(assignment, answered(assignment, **kwargs))


def _correct(assignment):
    return Case(
        "correct",
        assignment,
        "the instructor's answers: full marks",
        _simple(assignment),
    )


def _patch_allclose(assignment):
    first = next(iter(WRONG[assignment]))
    return Case(
        "patch_allclose",
        assignment,
        "wrong answers; np.allclose, np.isclose, np.array_equal and "
        "np.testing.assert_allclose replaced by functions that pass",
        _simple(
            assignment,
            wrong=WRONG[assignment],
            before={first: PATCH_NUMPY},
        ),
        lost=EVERYTHING,
    )


CASES = [
    # -- softmax --
    _correct("softmax"),
    Case(
        "blank",
        "softmax",
        "the released notebook, unchanged",
        _simple("softmax", stub=WRONG["softmax"]),
        lost=EVERYTHING,
        flags=("blank",),
    ),
    Case(
        "moved_after_stub",
        "softmax",
        "stubs left as released; each answer in a new cell right after "
        "its stub",
        _moved_after_stub,
    ),
    Case(
        "moved_after_tests",
        "softmax",
        "stable_log_softmax answered in a new cell after the test cells, "
        "so its visible tests ran on the stub",
        _moved_after_tests,
        lost=("stable_log_softmax",),
    ),
    Case(
        "test_deleted",
        "softmax",
        "stable_log_softmax wrong and both of its test cells deleted",
        _test_deleted_softmax,
        lost=("stable_log_softmax",),
        flags=("restored",),
    ),
    _patch_allclose("softmax"),
    Case(
        "network",
        "softmax",
        "full answers; a cell connects to a server on 127.0.0.1 whose port "
        f"it reads from {PORT_FILE} in its folder",
        _network,
        extra={"port_file": PORT_FILE},
    ),
    Case(
        "sys_exit",
        "softmax",
        "full answers; sys.exit() at the end of the first answer cell",
        _simple("softmax", after={"stable_softmax": SYS_EXIT}),
        flags=("error",),
    ),
    Case(
        "growing_list",
        "softmax",
        "full answers; the last answer cell grows a list of ever larger "
        "arrays (1 GiB, 2 GiB, ...) until memory runs out",
        _simple("softmax", after={"stable_log_softmax": GROWING_LIST}),
        flags=("error",),
    ),
    Case(
        "invalid_json",
        "softmax",
        "the notebook file cut in half: not valid JSON",
        _invalid_json,
        status="failed",
    ),
    # -- selection --
    _correct("selection"),
    Case(
        "raises",
        "selection",
        "sample_from_logits raises TypeError; soft_select correct",
        _simple("selection", replace={"sample_from_logits": RAISES}),
        lost=("sample_from_logits",),
        flags=("error",),
    ),
    Case(
        "flood",
        "selection",
        "full answers; an answer cell prints two million lines",
        _simple("selection", after={"sample_from_logits": FLOOD}),
    ),
    Case(
        "test_edited",
        "selection",
        "soft_select wrong and the asserts of its test cells removed",
        _test_edited,
        lost=("soft_select",),
    ),
    Case(
        "read_solutions",
        "selection",
        "sample_from_logits wrong unless the solution notebook can be found "
        "on disk, in which case its answer is used; soft_select correct",
        _simple(
            "selection",
            replace={
                "sample_from_logits": FIND_FILES
                + WRONG["selection"]["sample_from_logits"]
                + READ_SOLUTIONS
            },
        ),
        lost=("sample_from_logits",),
    ),
    Case(
        "read_other_student",
        "selection",
        "sample_from_logits wrong unless another student's notebook can be "
        "found on disk, in which case their answer is used; soft_select "
        "correct",
        _simple(
            "selection",
            replace={
                "sample_from_logits": FIND_FILES
                + WRONG["selection"]["sample_from_logits"]
                + READ_OTHER_STUDENT
            },
        ),
        lost=("sample_from_logits",),
    ),
    Case(
        "os_exit",
        "selection",
        "full answers; os._exit(0) at the end of the last answer cell kills "
        "the kernel, so the tests after it cannot run",
        _simple("selection", after={"soft_select": OS_EXIT}),
        lost=("soft_select",),
        flags=("error",),
    ),
    Case(
        "renamed",
        "selection",
        "full answers in a notebook renamed 'selection (1).ipynb'",
        _renamed,
        flags=("renamed",),
    ),
    # -- mlp_head --
    _correct("mlp_head"),
    Case(
        "test_deleted",
        "mlp_head",
        "train_softmax_head wrong and its first test cell (the one after "
        "the locked data cell) deleted",
        _test_deleted_mlp_head,
        lost=("train_softmax_head",),
        flags=("restored",),
    ),
    _patch_allclose("mlp_head"),
    Case(
        "no_notebook",
        "mlp_head",
        "no notebook: the answers handed in as a Python script",
        _no_notebook,
        status="failed",
    ),
    # -- attention --
    _correct("attention"),
    Case(
        "infinite_loop",
        "attention",
        "attention_weights never returns; masked_attention correct",
        _simple("attention", replace={"attention_weights": INFINITE_LOOP}),
        lost=("attention_weights",),
        flags=("timeout",),
    ),
    _patch_allclose("attention"),
    Case(
        "huge_array",
        "attention",
        "full answers; the last answer cell allocates np.ones(10**12) (8 TB)",
        _simple("attention", after={"masked_attention": HUGE_ARRAY}),
        flags=("error",),
    ),
    Case(
        "read_gradebook",
        "attention",
        "masked_attention wrong unless a gradebook can be found on disk, in "
        "which case the reference attention of its hidden tests is used; "
        "attention_weights correct",
        _simple(
            "attention",
            replace={
                "masked_attention": FIND_FILES
                + WRONG["attention"]["masked_attention"]
                + READ_GRADEBOOK
            },
        ),
        lost=("masked_attention",),
    ),
    Case(
        "read_hidden_tests",
        "attention",
        "masked_attention wrong unless a notebook with the hidden tests can "
        "be found on disk, in which case their reference attention is used; "
        "attention_weights correct",
        _simple(
            "attention",
            replace={
                "masked_attention": FIND_FILES
                + WRONG["attention"]["masked_attention"]
                + READ_HIDDEN_TESTS
            },
        ),
        lost=("masked_attention",),
    ),
    Case(
        "test_to_markdown",
        "attention",
        "masked_attention wrong and its test cells turned into markdown",
        _test_to_markdown,
        lost=("masked_attention",),
    ),
    Case(
        "extra_notebooks",
        "attention",
        "full answers, plus a blank copy 'attention-Copy1.ipynb' and a "
        "'scratch.ipynb'",
        _extra_notebooks,
    ),
    # -- rnn_attention --
    _correct("rnn_attention"),
    Case(
        "ignore_sigint",
        "rnn_attention",
        "full answers; the last answer cell ignores SIGINT and loops "
        "forever, so the tests after it cannot run (they raise NameError)",
        _simple(
            "rnn_attention", after={"attention_step_backward": IGNORE_SIGINT}
        ),
        lost=("attention_step_backward",),
        flags=("error", "timeout"),
    ),
    Case(
        "sigkill_self",
        "rnn_attention",
        "full answers; the last answer cell sends SIGKILL to its own "
        "kernel, so the tests after it cannot run",
        _simple("rnn_attention", after={"attention_step_backward": SIGKILL}),
        lost=("attention_step_backward",),
        flags=("error",),
    ),
    Case(
        "input_transformer",
        "rnn_attention",
        "wrong answers; an IPython input transformer turns every test cell "
        "into `pass`",
        _input_transformer,
        lost=EVERYTHING,
    ),
    Case(
        "tamper_gradebook",
        "rnn_attention",
        "attention_step correct, the rest left blank; a cell gives everyone "
        "full marks in any gradebook it finds, deletes it, and writes "
        f"{CANARY} files wherever it can",
        _tamper_gradebook,
        lost=("decoder_step", "attention_step_backward"),
    ),
    Case(
        "test_metadata_removed",
        "rnn_attention",
        "attention_step_backward wrong and the nbgrader metadata of its "
        "test cells removed",
        _test_metadata_removed,
        lost=("attention_step_backward",),
        flags=("restored",),
    ),
]


# -- writing ---------------------------------------------------------------


def write_corpus(out):
    """Write the corpus into the folder ``out``.

    ``out/submitted/<student>/<assignment>/`` gets each case's files, in
    the layout :func:`course_tools.grading.collect_submissions` reads;
    ``out/expected.json`` the expected outcomes; ``out/conftest.py`` and
    ``out/ruff.toml`` keep pytest and ruff out of the submissions. Only
    these are replaced; other files in ``out`` are left alone.
    """
    out = Path(out)
    missing = set(ASSIGNMENTS) - {case.assignment for case in CASES}
    if missing:
        raise ValueError(f"no cases for {sorted(missing)}")
    seen = set()
    for case in CASES:
        key = (case.assignment, case.student)
        if key in seen:
            raise ValueError(f"two cases for {key}")
        seen.add(key)
    submitted = out / "submitted"
    if submitted.exists():
        shutil.rmtree(submitted)
    for case in CASES:
        folder = submitted / case.student / case.assignment
        folder.mkdir(parents=True)
        for name, text in case.files().items():
            (folder / name).write_text(text)
    expected = {
        "about": (
            "Expected outcome of grading each submission under submitted/ "
            "(written by sample_class/make_corpus.py; checked by "
            "tests/test_corpus.py)."
        ),
        "canary": CANARY,
        "port_file": PORT_FILE,
        "cases": [case.expected() for case in CASES],
    }
    (out / "expected.json").write_text(
        json.dumps(expected, indent=2, sort_keys=True) + "\n"
    )
    (out / "conftest.py").write_text(CONFTEST)
    (out / "ruff.toml").write_text(RUFF_TOML)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder to write submitted/ and expected.json to "
        "(default: tests/corpus/)",
    )
    write_corpus(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
