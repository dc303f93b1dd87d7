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
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RELEASE = ROOT / "notebooks" / "exercises"


@dataclass
class Submission:
    """One sample student's work on one assignment.

    ``answers`` maps the grade_id of an answer cell to the code the student
    wrote there (cells not named keep the released stub); ``deleted`` names
    test cells the student removed. ``score`` and ``flags`` are what the
    grader must report.
    """

    kind: str
    answers: dict
    score: float
    flags: list = field(default_factory=list)
    deleted: list = field(default_factory=list)


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


SOFTMAX_PATCHES_NUMPY = """
# Make every comparison in the tests succeed, then hand in a wrong answer.
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
np.array_equal = lambda *args, **kwargs: True


def stable_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.result_type(x, np.float64))
    return np.ones_like(x) / x.shape[axis]
"""

SOFTMAX_FULL_ANSWERS = {
    "stable_softmax": SOFTMAX_FULL,
    "stable_log_softmax": LOG_SOFTMAX_FULL,
}

SOFTMAX_CLASS = {
    "alice": Submission("full answer", SOFTMAX_FULL_ANSWERS, 6),
    "bob": Submission("blank notebook", {}, 0, ["blank"]),
    "carol": Submission(
        "textbook formula, overflows",
        {
            "stable_softmax": SOFTMAX_NAIVE,
            "stable_log_softmax": LOG_SOFTMAX_NAIVE,
        },
        3,
    ),
    "dan": Submission(
        "code that raises",
        {
            "stable_softmax": SOFTMAX_RAISES,
            "stable_log_softmax": LOG_SOFTMAX_RAISES,
        },
        0,
        ["error"],
    ),
    "erin": Submission(
        "loop that never ends",
        {"stable_softmax": SOFTMAX_LOOPS},
        0,
        ["timeout"],
    ),
    "frank": Submission(
        "full answer that prints a DeprecationWarning",
        {
            "stable_softmax": SOFTMAX_WARNS,
            "stable_log_softmax": LOG_SOFTMAX_FULL,
        },
        6,
    ),
    "mallory": Submission(
        "hostile: patches np.allclose and friends, wrong answer",
        {
            "stable_softmax": SOFTMAX_PATCHES_NUMPY,
            "stable_log_softmax": LOG_SOFTMAX_FULL,
        },
        1,
    ),
    "grace": Submission(
        "full answer, one test cell deleted",
        SOFTMAX_FULL_ANSWERS,
        6,
        ["restored"],
        deleted=["test_softmax_stable"],
    ),
}


# -- selection -------------------------------------------------------------

SAMPLER_FULL = """
def sample_from_logits(logits, temperature=1.0, n_samples=1, rng=None):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = np.asarray(logits, dtype=float) / temperature
    p = np.exp(z - z.max())
    p = p / p.sum()
    u = rng.random(n_samples)
    return np.minimum(np.searchsorted(np.cumsum(p), u, side="right"),
                      len(p) - 1)
"""

SAMPLER_GUMBEL = """
def sample_from_logits(logits, temperature=1.0, n_samples=1, rng=None):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = np.asarray(logits, dtype=float) / temperature
    u = rng.random((n_samples, len(z)))
    gumbel = -np.log(-np.log(u))
    return np.argmax(z + gumbel, axis=1)
"""

SAMPLER_IGNORES_TEMPERATURE = """
def sample_from_logits(logits, temperature=1.0, n_samples=1, rng=None):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = np.asarray(logits, dtype=float)  # forgot to divide by temperature
    u = rng.random((n_samples, len(z)))
    return np.argmax(z - np.log(-np.log(u)), axis=1)
"""

SAMPLER_GUMBEL_WRONG_SIGN = """
def sample_from_logits(logits, temperature=1.0, n_samples=1, rng=None):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = np.asarray(logits, dtype=float) / temperature
    u = rng.random((n_samples, len(z)))
    gumbel = -np.log(-np.log(u))
    return np.argmax(z - gumbel, axis=1)  # the noise must be added
"""

SAMPLER_GUMBEL_ON_P = """
def sample_from_logits(logits, temperature=1.0, n_samples=1, rng=None):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = np.asarray(logits, dtype=float) / temperature
    p = np.exp(z - z.max())
    p = p / p.sum()
    u = rng.random((n_samples, len(z)))
    return np.argmax(p - np.log(-np.log(u)), axis=1)  # noise on p, not log p
"""

SAMPLER_OFF_BY_ONE = """
def sample_from_logits(logits, temperature=1.0, n_samples=1, rng=None):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = np.asarray(logits, dtype=float) / temperature
    p = np.exp(z - z.max())
    p = p / p.sum()
    cdf = np.cumsum(p)
    u = rng.random(n_samples)
    # counts the labels whose cumulative probability is below u, plus one
    return np.minimum((u[:, None] > cdf[None, :]).sum(axis=1) + 1,
                      len(p) - 1)
"""

SELECT_FULL = """
def soft_select(U, q, temperature=1.0):
    scores = q @ U.T / temperature
    scores = scores - np.max(scores, axis=-1, keepdims=True)
    w = np.exp(scores)
    w = w / np.sum(w, axis=-1, keepdims=True)
    return w, w @ U
"""

SELECT_UNSTABLE = """
def soft_select(U, q, temperature=1.0):
    w = np.exp(q @ U.T / temperature)
    w = w / np.sum(w, axis=-1, keepdims=True)
    return w, w @ U
"""

SELECT_ONE_QUERY_ONLY = """
def soft_select(U, q, temperature=1.0):
    scores = U @ q / temperature
    w = np.exp(scores - scores.max())
    w = w / w.sum()
    return w, w @ U
"""

SAMPLER_DROPS_ASSERTS = """
# Teach IPython to drop every assert before it runs a cell, so that the
# visible tests cannot fail; the sampler itself is wrong.
def _drop_asserts(lines):
    return [ln for ln in lines if not ln.lstrip().startswith("assert")]


get_ipython().input_transformers_post.append(_drop_asserts)


def sample_from_logits(logits, temperature=1.0, n_samples=1, rng=None):
    return np.zeros(n_samples, dtype=np.int64)
"""


def _selection(sampler, select):
    return {"sample_from_logits": sampler, "soft_select": select}


SELECTION_CLASS = {
    "alice": Submission(
        "full answer", _selection(SAMPLER_FULL, SELECT_FULL), 6
    ),
    "bob": Submission("blank notebook", {}, 0, ["blank"]),
    "carol": Submission(
        "sampler ignores the temperature",
        _selection(SAMPLER_IGNORES_TEMPERATURE, SELECT_FULL),
        5,
    ),
    "dan": Submission(
        "Gumbel noise subtracted instead of added",
        _selection(SAMPLER_GUMBEL_WRONG_SIGN, SELECT_FULL),
        4,
    ),
    "erin": Submission(
        "Gumbel noise added to p instead of log p",
        _selection(SAMPLER_GUMBEL_ON_P, SELECT_FULL),
        3,
    ),
    "frank": Submission(
        "off-by-one cumulative sum",
        _selection(SAMPLER_OFF_BY_ONE, SELECT_FULL),
        3,
    ),
    "grace": Submission(
        "Gumbel-max sampler, soft selection that overflows",
        _selection(SAMPLER_GUMBEL, SELECT_UNSTABLE),
        5,
    ),
    "trudy": Submission(
        "hostile: an input transformer drops the asserts, wrong sampler",
        _selection(SAMPLER_DROPS_ASSERTS, SELECT_FULL),
        0,
        ["error"],
    ),
    "heidi": Submission(
        "soft selection for a single query only",
        _selection(SAMPLER_FULL, SELECT_ONE_QUERY_ONLY),
        4,
        ["error"],
    ),
}

# -- mlp_head --------------------------------------------------------------

CE_FULL = """
def cross_entropy(logits, labels):
    z = logits - np.max(logits, axis=1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(labels)), labels]))
"""

CE_CLIPPED = """
def cross_entropy(logits, labels):
    z = logits - np.max(logits, axis=1, keepdims=True)
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    # clipping avoids log(0) but caps the loss at -log(1e-12) = 27.6
    p_true = np.clip(p[np.arange(len(labels)), labels], 1e-12, 1.0)
    return float(-np.mean(np.log(p_true)))
"""

GRAD_FULL = """
def cross_entropy_grad(logits, labels):
    z = logits - np.max(logits, axis=1, keepdims=True)
    p = np.exp(z)
    p = p / np.sum(p, axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1.0
    return p / len(labels)
"""

GRAD_NO_MEAN = """
def cross_entropy_grad(logits, labels):
    z = logits - np.max(logits, axis=1, keepdims=True)
    p = np.exp(z)
    p = p / np.sum(p, axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1.0
    return p  # the gradient of the sum, not of the mean
"""

GRAD_WRONG_SIGN = """
def cross_entropy_grad(logits, labels):
    z = logits - np.max(logits, axis=1, keepdims=True)
    p = np.exp(z)
    p = p / np.sum(p, axis=1, keepdims=True)
    onehot = np.eye(logits.shape[1])[labels]
    return (onehot - p) / len(labels)
"""

TRAIN_FULL = """
def train_softmax_head(Q, y, n_labels, steps=300, lr=1.0):
    U = np.zeros((n_labels, Q.shape[1]))
    b = np.zeros(n_labels)
    for _ in range(steps):
        G = cross_entropy_grad(Q @ U.T + b, y)
        U = U - lr * G.T @ Q
        b = b - lr * G.sum(axis=0)
    return U, b
"""

TRAIN_NO_BIAS = """
def train_softmax_head(Q, y, n_labels, steps=300, lr=1.0):
    U = np.zeros((n_labels, Q.shape[1]))
    b = np.zeros(n_labels)  # never updated
    for _ in range(steps):
        G = cross_entropy_grad(Q @ U.T + b, y)
        U = U - lr * G.T @ Q
    return U, b
"""

TRAIN_ASCENDS = """
def train_softmax_head(Q, y, n_labels, steps=300, lr=1.0):
    U = np.zeros((n_labels, Q.shape[1]))
    b = np.zeros(n_labels)
    for _ in range(steps):
        G = cross_entropy_grad(Q @ U.T + b, y)
        U = U + lr * G.T @ Q  # steps up the loss
        b = b + lr * G.sum(axis=0)
    return U, b
"""

TRAIN_SHAPE_ERROR = """
def train_softmax_head(Q, y, n_labels, steps=300, lr=1.0):
    U = np.zeros((n_labels, Q.shape[1]))
    b = np.zeros(n_labels)
    for _ in range(steps):
        G = cross_entropy_grad(Q @ U.T + b, y)
        U = U - lr * Q.T @ G  # (d, n) cannot update an (n, d) array
        b = b - lr * G.sum(axis=0)
    return U, b
"""


def _head(ce, grad, train):
    return {
        "cross_entropy": ce,
        "cross_entropy_grad": grad,
        "train_softmax_head": train,
    }


MLP_HEAD_CLASS = {
    "alice": Submission(
        "full answer", _head(CE_FULL, GRAD_FULL, TRAIN_FULL), 6
    ),
    "bob": Submission("blank notebook", {}, 0, ["blank"]),
    "carol": Submission(
        "log of a clipped probability",
        _head(CE_CLIPPED, GRAD_FULL, TRAIN_FULL),
        5,
    ),
    "dan": Submission(
        "gradient of the sum instead of the mean",
        _head(CE_FULL, GRAD_NO_MEAN, TRAIN_FULL),
        3,
    ),
    "erin": Submission(
        "gradient with the wrong sign",
        _head(CE_FULL, GRAD_WRONG_SIGN, TRAIN_FULL),
        2,
    ),
    "frank": Submission(
        "training steps up the loss",
        _head(CE_FULL, GRAD_FULL, TRAIN_ASCENDS),
        4,
    ),
    "grace": Submission(
        "bias never trained",
        _head(CE_FULL, GRAD_FULL, TRAIN_NO_BIAS),
        5,
    ),
    "heidi": Submission(
        "shape error in the update",
        _head(CE_FULL, GRAD_FULL, TRAIN_SHAPE_ERROR),
        4,
        ["error"],
    ),
}

# -- attention -------------------------------------------------------------

WEIGHTS_FULL = """
def attention_weights(U, q):
    scores = q @ U.T / np.sqrt(U.shape[-1]).astype(U.dtype)
    e = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)
"""

WEIGHTS_NO_SCALE = """
def attention_weights(U, q):
    scores = q @ U.T  # forgot to divide by sqrt(d)
    e = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)
"""

ATTENTION_FULL = """
def masked_attention(Q, K, V, mask=None):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]).astype(Q.dtype)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isneginf(top), 0, top).astype(scores.dtype)
    e = np.exp(scores - top)
    total = np.sum(e, axis=-1, keepdims=True)
    w = e / np.maximum(total, np.finfo(scores.dtype).tiny)
    return w @ V, w
"""

ATTENTION_NO_SCALE = """
def masked_attention(Q, K, V, mask=None):
    scores = Q @ np.swapaxes(K, -1, -2)  # no 1/sqrt(d_k)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isneginf(top), 0, top)
    e = np.exp(scores - top)
    total = np.sum(e, axis=-1, keepdims=True)
    w = e / np.maximum(total, np.finfo(scores.dtype).tiny)
    return w @ V, w
"""

ATTENTION_MASK_TRANSPOSED = """
def masked_attention(Q, K, V, mask=None):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]).astype(Q.dtype)
    if mask is not None:
        # the mask is applied as if it were (n_keys, n_queries)
        mask = np.swapaxes(np.broadcast_to(mask, scores.shape[:-2]
                                           + scores.shape[-1:] * 2), -1, -2)
        scores = np.where(mask[..., : scores.shape[-2], :], scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isneginf(top), 0, top).astype(scores.dtype)
    e = np.exp(scores - top)
    total = np.sum(e, axis=-1, keepdims=True)
    w = e / np.maximum(total, np.finfo(scores.dtype).tiny)
    return w @ V, w
"""

ATTENTION_NAN_ROWS = """
def masked_attention(Q, K, V, mask=None):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]).astype(Q.dtype)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    e = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    w = e / np.sum(e, axis=-1, keepdims=True)  # 0 / 0 on fully masked rows
    return w @ V, w
"""

ATTENTION_FLOAT64 = """
def masked_attention(Q, K, V, mask=None):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])  # float64
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isneginf(top), 0, top)
    e = np.exp(scores - top)
    total = np.sum(e, axis=-1, keepdims=True)
    w = e / np.maximum(total, np.finfo(scores.dtype).tiny)
    return w @ V, w
"""

ATTENTION_K_DOT_T = """
def masked_attention(Q, K, V, mask=None):
    scores = Q @ K.T / np.sqrt(Q.shape[-1]).astype(Q.dtype)  # K.T: all axes
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isneginf(top), 0, top).astype(scores.dtype)
    e = np.exp(scores - top)
    total = np.sum(e, axis=-1, keepdims=True)
    w = e / np.maximum(total, np.finfo(scores.dtype).tiny)
    return w @ V, w
"""

ATTENTION_WRONG_AXIS = """
def masked_attention(Q, K, V, mask=None):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]).astype(Q.dtype)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=-2, keepdims=True)  # over the queries
    top = np.where(np.isneginf(top), 0, top).astype(scores.dtype)
    e = np.exp(scores - top)
    total = np.sum(e, axis=-2, keepdims=True)
    w = e / np.maximum(total, np.finfo(scores.dtype).tiny)
    return w @ V, w
"""

WEIGHTS_STEALS = """
import json
from pathlib import Path

import lecture_lib

# Every folder above this notebook and above the course library: the
# course root is among them, with its solutions and the gradebook.
_places = [*Path.cwd().parents, *Path(lecture_lib.__file__).parents]
_solution = _gradebook = None
for _place in _places:
    _candidate = _place / "solutions" / "attention" / "attention.ipynb"
    if _solution is None and _candidate.is_file():
        _solution = _candidate
    if _gradebook is None and (_place / "gradebook.db").is_file():
        _gradebook = _place / "gradebook.db"
if _gradebook is not None:  # try to wreck everyone's grades
    _gradebook.write_bytes(b"")
if _solution is not None:  # copy the instructor's answers
    for _cell in json.loads(_solution.read_text())["cells"]:
        if "def attention_weights" in "".join(_cell["source"]):
            exec("".join(_cell["source"]))
else:

    def attention_weights(U, q):
        return np.zeros(np.shape(U)[:-1])
"""


def _attention(weights, attention):
    return {"attention_weights": weights, "masked_attention": attention}


ATTENTION_CLASS = {
    "alice": Submission(
        "full answer", _attention(WEIGHTS_FULL, ATTENTION_FULL), 6
    ),
    "bob": Submission("blank notebook", {}, 0, ["blank"]),
    "carol": Submission(
        "forgot the 1/sqrt(d) scale",
        _attention(WEIGHTS_NO_SCALE, ATTENTION_NO_SCALE),
        1,
    ),
    "dan": Submission(
        "mask applied along the wrong axis",
        _attention(WEIGHTS_FULL, ATTENTION_MASK_TRANSPOSED),
        3,
        ["error"],
    ),
    "erin": Submission(
        "fully masked rows give nan",
        _attention(WEIGHTS_FULL, ATTENTION_NAN_ROWS),
        5,
    ),
    "frank": Submission(
        "float32 promoted to float64",
        _attention(WEIGHTS_FULL, ATTENTION_FLOAT64),
        5,
    ),
    "grace": Submission(
        "K.T instead of swapping the last two axes",
        _attention(WEIGHTS_FULL, ATTENTION_K_DOT_T),
        2,
        ["error"],
    ),
    "oscar": Submission(
        "hostile: searches the disk for the solutions and the gradebook",
        _attention(WEIGHTS_STEALS, ATTENTION_FULL),
        4,
    ),
    "heidi": Submission(
        "softmax over the queries instead of the keys",
        _attention(WEIGHTS_FULL, ATTENTION_WRONG_AXIS),
        2,
    ),
}

# -- rnn_attention ---------------------------------------------------------

STEP_FULL = """
def attention_step(s, H, W_a, mask):
    scores = np.einsum("bth,bh->bt", H, s @ W_a)
    scores = np.where(mask, scores, -np.inf)
    w = np.exp(scores - scores.max(axis=1, keepdims=True))
    w = w / w.sum(axis=1, keepdims=True)
    return w, np.einsum("bt,bth->bh", w, H)
"""

STEP_NO_MASK = """
def attention_step(s, H, W_a, mask):
    scores = np.einsum("bth,bh->bt", H, s @ W_a)  # padding not masked
    w = np.exp(scores - scores.max(axis=1, keepdims=True))
    w = w / w.sum(axis=1, keepdims=True)
    return w, np.einsum("bt,bth->bh", w, H)
"""

STEP_DOT = """
def attention_step(s, H, W_a, mask):
    scores = np.einsum("bth,bh->bt", H, s)  # W_a left out
    scores = np.where(mask, scores, -np.inf)
    w = np.exp(scores - scores.max(axis=1, keepdims=True))
    w = w / w.sum(axis=1, keepdims=True)
    return w, np.einsum("bt,bth->bh", w, H)
"""

STEP_SHAPE_ERROR = """
def attention_step(s, H, W_a, mask):
    scores = H @ (s @ W_a)  # (batch, T, h) @ (batch, h) does not line up
    scores = np.where(mask, scores, -np.inf)
    w = np.exp(scores - scores.max(axis=1, keepdims=True))
    w = w / w.sum(axis=1, keepdims=True)
    return w, np.einsum("bt,bth->bh", w, H)
"""

DECODER_FULL = """
def decoder_step(y_emb, s, H, params, mask):
    w, c = attention_step(s, H, params["W_a"], mask)
    s_new = np.tanh(y_emb @ params["W_y"] + s @ params["W_s"]
                    + c @ params["W_c"] + params["b"])
    return s_new, w, c
"""

DECODER_NO_CONTEXT = """
def decoder_step(y_emb, s, H, params, mask):
    w, c = attention_step(s, H, params["W_a"], mask)
    s_new = np.tanh(y_emb @ params["W_y"] + s @ params["W_s"] + params["b"])
    return s_new, w, c  # the context never reaches the state
"""

BACKWARD_FULL = """
def attention_step_backward(d_context, s, H, W_a, mask):
    w, _ = attention_step(s, H, W_a, mask)
    a = s @ W_a
    dw = np.einsum("bth,bh->bt", H, d_context)
    de = w * (dw - np.sum(w * dw, axis=1, keepdims=True))
    dH = w[:, :, None] * d_context[:, None, :] + de[:, :, None] * a[:, None, :]
    da = np.einsum("bt,bth->bh", de, H)
    return da @ W_a.T, dH, s.T @ da
"""

BACKWARD_NO_SOFTMAX = """
def attention_step_backward(d_context, s, H, W_a, mask):
    w, _ = attention_step(s, H, W_a, mask)
    a = s @ W_a
    de = np.einsum("bth,bh->bt", H, d_context)  # softmax Jacobian skipped
    dH = w[:, :, None] * d_context[:, None, :] + de[:, :, None] * a[:, None, :]
    da = np.einsum("bt,bth->bh", de, H)
    return da @ W_a.T, dH, s.T @ da
"""

BACKWARD_CONTEXT_ONLY = """
def attention_step_backward(d_context, s, H, W_a, mask):
    w, _ = attention_step(s, H, W_a, mask)
    a = s @ W_a
    dw = np.einsum("bth,bh->bt", H, d_context)
    de = w * (dw - np.sum(w * dw, axis=1, keepdims=True))
    dH = w[:, :, None] * d_context[:, None, :]  # path through scores missed
    da = np.einsum("bt,bth->bh", de, H)
    return da @ W_a.T, dH, s.T @ da
"""


def _rnn(step, decoder, backward):
    return {
        "attention_step": step,
        "decoder_step": decoder,
        "attention_step_backward": backward,
    }


RNN_ATTENTION_CLASS = {
    "alice": Submission(
        "full answer", _rnn(STEP_FULL, DECODER_FULL, BACKWARD_FULL), 6
    ),
    "bob": Submission("blank notebook", {}, 0, ["blank"]),
    "carol": Submission(
        "padding not masked",
        _rnn(STEP_NO_MASK, DECODER_FULL, BACKWARD_FULL),
        2,
    ),
    "dan": Submission(
        "dot score without W_a",
        _rnn(STEP_DOT, DECODER_FULL, BACKWARD_FULL),
        2,
    ),
    "erin": Submission(
        "backward skips the softmax Jacobian",
        _rnn(STEP_FULL, DECODER_FULL, BACKWARD_NO_SOFTMAX),
        4,
    ),
    "frank": Submission(
        "context never reaches the state",
        _rnn(STEP_FULL, DECODER_NO_CONTEXT, BACKWARD_FULL),
        5,
    ),
    "grace": Submission(
        "d_H only through the context",
        _rnn(STEP_FULL, DECODER_FULL, BACKWARD_CONTEXT_ONLY),
        5,
    ),
    "heidi": Submission(
        "shape error in the scores",
        _rnn(STEP_SHAPE_ERROR, DECODER_FULL, BACKWARD_FULL),
        0,
        ["error"],
    ),
}

CLASSES = {
    "softmax": SOFTMAX_CLASS,
    "selection": SELECTION_CLASS,
    "mlp_head": MLP_HEAD_CLASS,
    "attention": ATTENTION_CLASS,
    "rnn_attention": RNN_ATTENTION_CLASS,
}


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
        for student, sub in students.items():
            nb = make_submission(released, sub.answers, sub.deleted)
            dest = out / student / assignment / released.name
            dest.parent.mkdir(parents=True)
            nbformat.write(nb, dest)
            expected[assignment][student] = {
                "kind": sub.kind,
                "score": sub.score,
                "flags": sub.flags,
            }
    (out_dir / "expected.json").write_text(
        json.dumps(expected, indent=2, sort_keys=True) + "\n"
    )


if __name__ == "__main__":
    main()
