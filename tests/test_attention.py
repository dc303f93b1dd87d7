"""Tests for :mod:`lecture_lib.attention`.

Oracles are independent of the code under test: attention written out in
float64 with explicit loops over the batch and head axes, the queries and
the keys (:func:`naive_attention`), and
``torch.nn.functional.scaled_dot_product_attention`` when torch is
installed (skipped with a printed reason otherwise). Properties that need
no oracle are tested too: rows of weights sum to 1, masked keys get
exactly 0, permuting the keys permutes the weights and leaves the output
unchanged, and multi-head attention equals single-head attention applied
to each head's slice of the projections.

The whole module runs with warnings turned into errors, so an overflow,
an invalid value or a division by zero anywhere fails a test.
"""

import math
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lecture_lib import attention
from lecture_lib.attention import (
    MultiHeadAttention,
    attend,
    attention_weights,
    causal_mask,
    masked_softmax,
    multi_hop_attention,
    padding_mask,
    scaled_dot_product_attention,
)
from lecture_lib.selection import soft_select
from tests.helpers import import_torch

pytestmark = pytest.mark.filterwarnings("error")

PROPERTY = settings(
    max_examples=40, deadline=None, database=None, derandomize=True
)
FLOATS = [np.float16, np.float32, np.float64]


# -- oracles ---------------------------------------------------------------


def naive_attention(Q, K, V, mask=None, scale=None):
    """Masked scaled dot-product attention with loops, in float64.

    Loops over every index of the batch axes (batch and heads), every
    query and every key. A query with no allowed key gets zero weights and
    a zero output. Returns ``(output, weights)``.
    """
    Q, K, V = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
    batch = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    n_q, d_k = Q.shape[-2:]
    n_k, d_v = V.shape[-2:]
    Q = np.broadcast_to(Q, (*batch, n_q, d_k))
    K = np.broadcast_to(K, (*batch, n_k, d_k))
    V = np.broadcast_to(V, (*batch, n_k, d_v))
    allowed = np.ones((*batch, n_q, n_k), dtype=bool)
    if mask is not None:
        allowed = np.broadcast_to(mask, allowed.shape)
    c = 1.0 / math.sqrt(d_k) if scale is None else scale
    out = np.zeros((*batch, n_q, d_v))
    weights = np.zeros((*batch, n_q, n_k))
    for b in np.ndindex(*batch):
        for i in range(n_q):
            keys = [j for j in range(n_k) if allowed[b][i, j]]
            if not keys:
                continue
            s = {
                j: c * sum(Q[b][i, t] * K[b][j, t] for t in range(d_k))
                for j in keys
            }
            top = max(s.values())
            e = {j: math.exp(s[j] - top) for j in keys}
            total = sum(e.values())
            for j in keys:
                weights[b][i, j] = e[j] / total
                for t in range(d_v):
                    out[b][i, t] += weights[b][i, j] * V[b][j, t]
    return out, weights


def naive_single(U, q, scale):
    """Weights and summary of one query over the rows of U, with loops."""
    out, w = naive_attention(
        np.asarray(q)[None, :], U, U, scale=scale
    )  # one query
    return out[0], w[0]


def random_qkv(seed, batch=(2, 3), n_q=4, n_k=5, d_k=3, d_v=2, dtype=None):
    """Seeded queries, keys and values of the given shapes."""
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(*batch, n_q, d_k))
    K = rng.normal(size=(*batch, n_k, d_k))
    V = rng.normal(size=(*batch, n_k, d_v))
    if dtype is not None:
        Q, K, V = (a.astype(dtype) for a in (Q, K, V))
    return Q, K, V


def close(a, b, rtol=1e-12, atol=1e-14):
    """assert_allclose with tolerances for float64 results."""
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# -- attention_weights -----------------------------------------------------


class TestAttentionWeights:
    U = np.random.default_rng(0).normal(size=(6, 4))
    q = np.random.default_rng(1).normal(size=4)

    def test_matches_loops_with_default_scale(self):
        _, expected = naive_single(self.U, self.q, scale=1 / 2.0)  # d = 4
        close(attention_weights(self.U, self.q), expected)

    def test_default_scale_is_one_over_sqrt_d(self):
        # Explicit scaling of the query by 1 / sqrt(d) with scale=1 must
        # give the same weights; 1 / d (a classic slip) must not.
        got = attention_weights(self.U, self.q)
        close(got, attention_weights(self.U, self.q / 2.0, scale=1.0))
        wrong = attention_weights(self.U, self.q / 4.0, scale=1.0)
        assert not np.allclose(got, wrong)

    @pytest.mark.parametrize("scale", [0.0, 0.3, 1.0, 7.5])
    def test_explicit_scale(self, scale):
        _, expected = naive_single(self.U, self.q, scale=scale)
        close(attention_weights(self.U, self.q, scale=scale), expected)

    def test_equals_soft_select_with_temperature(self):
        # Lecture 2's soft selection divides by T; attention multiplies by
        # the scale. scale = 1 / T gives the same weights.
        w_soft, _ = soft_select(self.U, self.q, temperature=0.5)
        close(attention_weights(self.U, self.q, scale=2.0), w_soft)

    @pytest.mark.parametrize(
        ("u_shape", "q_shape", "out_shape"),
        [
            ((6, 4), (3, 4), (3, 6)),
            ((2, 6, 4), (4,), (2, 6)),
            ((2, 6, 4), (2, 4), (2, 6)),
            ((2, 1, 6, 4), (3, 4), (2, 3, 6)),
        ],
    )
    def test_batches_broadcast(self, u_shape, q_shape, out_shape):
        rng = np.random.default_rng(2)
        U, q = rng.normal(size=u_shape), rng.normal(size=q_shape)
        got = attention_weights(U, q)
        assert got.shape == out_shape
        Ub = np.broadcast_to(U, (*out_shape[:-1], 6, 4))
        qb = np.broadcast_to(q, (*out_shape[:-1], 4))
        for b in np.ndindex(*out_shape[:-1]):
            close(got[b], naive_single(Ub[b], qb[b], scale=0.5)[1])

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_dtype_kept(self, dtype):
        got = attention_weights(self.U.astype(dtype), self.q.astype(dtype))
        assert got.dtype == dtype
        tol = 1e-2 if dtype == np.float16 else 1e-5
        np.testing.assert_allclose(
            got, attention_weights(self.U, self.q), rtol=tol, atol=tol
        )

    def test_integers_give_float64(self):
        got = attention_weights(np.eye(3, dtype=int), np.array([1, 0, 0]))
        assert got.dtype == np.float64

    def test_extreme_scores_one_hot_without_warning(self):
        U = np.array([[1e2, 0.0], [-1e2, 0.0], [0.0, 1e2]])
        q = np.array([1e2, 0.0])  # scores 1e4, -1e4, 0
        for dtype in (np.float32, np.float64):
            got = attention_weights(U.astype(dtype), q.astype(dtype), 1.0)
            np.testing.assert_array_equal(got, [1.0, 0.0, 0.0])

    @pytest.mark.parametrize(
        ("U", "q", "match"),
        [
            (np.ones(3), np.ones(3), r"expected U of shape \(n, d\)"),
            (np.ones((0, 3)), np.ones(3), r"with n >= 1 rows"),
            (np.ones((4, 3)), np.ones(2), r"q of shape \(2,\)"),
            (np.ones((2, 4, 3)), np.ones((3, 3)), r"broadcast"),
            (np.full((4, 3), np.nan), np.ones(3), r"U to hold finite"),
            (np.ones((4, 3)), [np.inf, 0, 0], r"q to hold finite"),
        ],
    )
    def test_rejects_bad_input(self, U, q, match):
        with pytest.raises(
            ValueError, match=rf"^attention_weights: .*{match}"
        ):
            attention_weights(U, q)

    def test_shapes_named_in_d_mismatch(self):
        with pytest.raises(ValueError) as info:
            attention_weights(np.ones((4, 3)), np.ones((5, 2)))
        assert "(4, 3)" in str(info.value) and "(5, 2)" in str(info.value)

    @pytest.mark.parametrize("scale", [-1.0, np.inf, np.nan, True, "1"])
    def test_rejects_bad_scale(self, scale):
        with pytest.raises(ValueError, match=r"expected scale to be None"):
            attention_weights(self.U, self.q, scale=scale)


# -- attend ----------------------------------------------------------------


class TestAttend:
    U = np.random.default_rng(3).normal(size=(5, 3))
    q = np.random.default_rng(4).normal(size=3)

    def test_matches_loops(self):
        summary, weights = attend(self.U, self.q)
        expected_summary, expected_weights = naive_single(
            self.U, self.q, scale=1 / math.sqrt(3)
        )
        close(weights, expected_weights)
        close(summary, expected_summary)

    def test_summary_is_weights_times_U(self):
        summary, weights = attend(self.U, self.q, scale=2.0)
        close(summary, sum(weights[j] * self.U[j] for j in range(5)))

    def test_equals_soft_select_swapped(self):
        w_soft, z_soft = soft_select(self.U, self.q, temperature=0.25)
        summary, weights = attend(self.U, self.q, scale=4.0)
        close(summary, z_soft)
        close(weights, w_soft)

    def test_permuting_rows_permutes_weights_only(self):
        perm = np.array([3, 0, 4, 1, 2])
        summary, weights = attend(self.U, self.q)
        summary_p, weights_p = attend(self.U[perm], self.q)
        close(weights_p, weights[perm])
        close(summary_p, summary)

    def test_batched_u_and_q(self):
        rng = np.random.default_rng(5)
        U, q = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 2))
        summary, weights = attend(U, q)
        assert summary.shape == (3, 2) and weights.shape == (3, 5)
        for b in range(3):
            z, w = naive_single(U[b], q[b], scale=1 / math.sqrt(2))
            close(summary[b], z)
            close(weights[b], w)

    def test_float32_kept(self):
        summary, weights = attend(
            self.U.astype(np.float32), self.q.astype(np.float32)
        )
        assert summary.dtype == weights.dtype == np.float32

    def test_rejects_mismatch(self):
        with pytest.raises(ValueError, match=r"^attend: expected q of shape"):
            attend(self.U, np.ones(4))


# -- masked_softmax --------------------------------------------------------


def masked_softmax_loops(scores, mask):
    """Softmax over the allowed entries of each row, with loops (float64)."""
    scores = np.asarray(scores, dtype=np.float64)
    mask = np.broadcast_to(mask, scores.shape)
    out = np.zeros(scores.shape)
    for r in np.ndindex(*scores.shape[:-1]):
        keys = [j for j in range(scores.shape[-1]) if mask[r][j]]
        if keys:
            top = max(scores[r][j] for j in keys)
            e = {j: math.exp(scores[r][j] - top) for j in keys}
            for j in keys:
                out[r][j] = e[j] / sum(e.values())
    return out


class TestMaskedSoftmax:
    scores = np.array([[1.0, 2.0, 3.0, 0.5], [0.0, -1.0, 4.0, 2.0]])
    mask = np.array([[True, False, True, True], [False, True, True, False]])

    def test_matches_loops(self):
        got = masked_softmax(self.scores, self.mask)
        close(got, masked_softmax_loops(self.scores, self.mask))

    def test_masked_entries_exactly_zero_rows_sum_to_one(self):
        got = masked_softmax(self.scores, self.mask)
        assert (got[~self.mask] == 0).all()
        close(got.sum(axis=-1), [1.0, 1.0])

    def test_fully_masked_row_is_zero_without_nan(self):
        mask = self.mask.copy()
        mask[1] = False
        got = masked_softmax(self.scores, mask)
        np.testing.assert_array_equal(got[1], np.zeros(4))
        close(got[0], masked_softmax_loops(self.scores[0], mask[0]))
        assert np.isfinite(got).all()

    def test_everything_masked(self):
        got = masked_softmax(self.scores, np.zeros((2, 4), dtype=bool))
        np.testing.assert_array_equal(got, np.zeros((2, 4)))

    def test_masked_entries_are_never_read(self):
        scores = self.scores.copy()
        scores[~self.mask] = [np.nan, np.inf, -np.inf]
        close(
            masked_softmax(scores, self.mask),
            masked_softmax(self.scores, self.mask),
        )

    def test_input_not_modified(self):
        scores = self.scores.copy()
        masked_softmax(scores, self.mask)
        np.testing.assert_array_equal(scores, self.scores)

    @pytest.mark.parametrize(
        "mask",
        [
            np.array([True, False, True, True]),  # the same for every row
            np.array([[True], [False]]),  # whole rows
            np.array(True),
        ],
    )
    def test_mask_broadcasts(self, mask):
        got = masked_softmax(self.scores, mask)
        close(got, masked_softmax_loops(self.scores, mask))

    def test_axis_zero(self):
        mask = np.array([[True], [False]])  # the second row is masked
        got = masked_softmax(self.scores, mask, axis=0)
        np.testing.assert_array_equal(got, [[1, 1, 1, 1], [0, 0, 0, 0]])
        got = masked_softmax(self.scores, self.mask, axis=0)
        close(got, masked_softmax_loops(self.scores.T, self.mask.T).T)

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_dtype_kept(self, dtype):
        got = masked_softmax(self.scores.astype(dtype), self.mask)
        assert got.dtype == dtype

    def test_extreme_scores(self):
        scores = np.array([[1e4, -1e4, 1e4 - 1.0], [1e300, -1e300, 0.0]])
        mask = np.array([[True, True, True], [False, True, True]])
        got = masked_softmax(scores, mask)
        e = math.exp(-1.0)  # the third score is 1 below the first
        close(got[0], [1 / (1 + e), 0.0, e / (1 + e)])
        np.testing.assert_array_equal(got[1], [0.0, 0.0, 1.0])

    @pytest.mark.parametrize(
        "mask",
        [
            pytest.param(np.array([[1, 0, 1, 1], [0, 1, 1, 0]]), id="int"),
            pytest.param(
                np.where([True, False, True, True], 0.0, -np.inf),
                id="additive",
            ),
            pytest.param(np.ones((2, 4)), id="float"),
            pytest.param([["yes"]], id="str"),
        ],
    )
    def test_rejects_non_boolean_mask(self, mask):
        with pytest.raises(
            ValueError,
            match=r"^masked_softmax: expected mask to be a boolean array.*"
            r"Use a boolean array, True = may attend",
        ):
            masked_softmax(self.scores, mask)

    @pytest.mark.parametrize(
        "shape", [(3,), (2, 3), (3, 4), (2, 2, 4), (1, 2, 4)]
    )
    def test_rejects_mask_that_does_not_broadcast(self, shape):
        # (2, 2, 4) and (1, 2, 4) would enlarge the scores: refused too.
        with pytest.raises(ValueError, match=r"^masked_softmax: .*") as info:
            masked_softmax(self.scores, np.ones(shape, dtype=bool))
        message = str(info.value)
        assert "(2, 4)" in message and str(shape) in message

    def test_bad_axis(self):
        with pytest.raises(np.exceptions.AxisError):
            masked_softmax(self.scores, self.mask, axis=2)

    @PROPERTY
    @given(st.data())
    def test_property_matches_loops(self, data):
        rows = data.draw(st.integers(1, 4))
        n = data.draw(st.integers(1, 6))
        scores = data.draw(
            arrays(np.float64, (rows, n), elements=st.floats(-1e4, 1e4))
        )
        mask = data.draw(arrays(np.bool_, (rows, n)))
        got = masked_softmax(scores, mask)
        close(got, masked_softmax_loops(scores, mask), atol=1e-12)
        some = mask.any(axis=-1)
        close(got.sum(axis=-1)[some], np.ones(int(some.sum())))
        assert (got[~mask] == 0).all()


# -- scaled_dot_product_attention ------------------------------------------


SHAPES = [
    pytest.param((), 3, 3, 2, 2, id="2-D"),
    pytest.param((2,), 4, 5, 3, 2, id="batch"),
    pytest.param((2, 3), 4, 6, 3, 5, id="batch-heads"),
    pytest.param((2, 3), 1, 1, 1, 1, id="one-of-each"),
]


class TestScaledDotProductAttention:
    @pytest.mark.parametrize(("batch", "n_q", "n_k", "d_k", "d_v"), SHAPES)
    def test_matches_loops(self, batch, n_q, n_k, d_k, d_v):
        Q, K, V = random_qkv(6, batch, n_q, n_k, d_k, d_v)
        out, w = scaled_dot_product_attention(Q, K, V)
        assert out.shape == (*batch, n_q, d_v)
        assert w.shape == (*batch, n_q, n_k)
        expected_out, expected_w = naive_attention(Q, K, V)
        close(w, expected_w)
        close(out, expected_out)

    @pytest.mark.parametrize(("batch", "n_q", "n_k", "d_k", "d_v"), SHAPES)
    def test_matches_loops_with_random_mask(self, batch, n_q, n_k, d_k, d_v):
        Q, K, V = random_qkv(7, batch, n_q, n_k, d_k, d_v)
        mask = np.random.default_rng(8).random((*batch, n_q, n_k)) < 0.6
        out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
        expected_out, expected_w = naive_attention(Q, K, V, mask=mask)
        close(w, expected_w)
        close(out, expected_out)

    def test_query_attends_only_to_allowed_keys(self):
        Q, K, V = random_qkv(9, (2,), 4, 5)
        mask = np.random.default_rng(10).random((2, 4, 5)) < 0.5
        out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
        assert (w[~mask] == 0).all()
        assert (w[mask] > 0).all()
        # Changing a masked key's value changes no output.
        V2 = V.copy()
        V2[0, ~mask[0].any(axis=0)] = 1e6
        close(scaled_dot_product_attention(Q, K, V2, mask=mask)[0], out)

    def test_mask_over_batch_and_heads_axes(self):
        # A (batch, 1, 1, n_keys) mask is shared by heads and queries; a
        # (1, heads, n_q, n_k) mask by the batch.
        Q, K, V = random_qkv(11, (2, 3), 4, 5)
        for shape in [(2, 1, 1, 5), (1, 3, 4, 5), (4, 5), (3, 1, 5)]:
            mask = np.random.default_rng(12).random(shape) < 0.7
            out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
            expected_out, expected_w = naive_attention(Q, K, V, mask=mask)
            close(w, expected_w)
            close(out, expected_out)

    def test_fully_masked_rows_zero_weights_and_output(self):
        Q, K, V = random_qkv(13, (2,), 3, 4)
        mask = np.ones((2, 3, 4), dtype=bool)
        mask[0, 1] = False  # query 1 of example 0 may attend to nothing
        mask[1] = False  # example 1: nothing at all
        out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
        np.testing.assert_array_equal(w[0, 1], np.zeros(4))
        np.testing.assert_array_equal(out[0, 1], np.zeros(2))
        np.testing.assert_array_equal(w[1], np.zeros((3, 4)))
        np.testing.assert_array_equal(out[1], np.zeros((3, 2)))
        assert np.isfinite(out).all() and np.isfinite(w).all()
        close(w[0, [0, 2]].sum(axis=-1), [1.0, 1.0])

    def test_rows_sum_to_one(self):
        Q, K, V = random_qkv(14, (2, 3), 6, 7)
        _, w = scaled_dot_product_attention(Q, K, V)
        close(w.sum(axis=-1), np.ones((2, 3, 6)))
        assert (w > 0).all()

    def test_default_scale_is_one_over_sqrt_d_k(self):
        Q, K, V = random_qkv(15, (2,), 3, 4, d_k=9)
        out, w = scaled_dot_product_attention(Q, K, V)
        out1, w1 = scaled_dot_product_attention(Q / 3.0, K, V, scale=1.0)
        close(w, w1)
        close(out, out1)
        out2, _ = scaled_dot_product_attention(Q, K, V, scale=1 / 3.0)
        close(out, out2)
        # Not 1 / d_k, and not unscaled.
        for wrong in (1 / 9.0, 1.0):
            _, w3 = scaled_dot_product_attention(Q, K, V, scale=wrong)
            assert not np.allclose(w, w3)

    def test_scale_uses_d_k_not_d_v(self):
        Q, K, V = random_qkv(16, (), 3, 4, d_k=4, d_v=9)
        _, w = scaled_dot_product_attention(Q, K, V)
        close(w, naive_attention(Q, K, V, scale=0.5)[1])

    def test_permuting_keys_and_values(self):
        Q, K, V = random_qkv(17, (2,), 3, 5)
        perm = np.array([4, 2, 0, 1, 3])
        mask = np.random.default_rng(18).random((2, 3, 5)) < 0.7
        out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
        out_p, w_p = scaled_dot_product_attention(
            Q, K[:, perm], V[:, perm], mask=mask[..., perm]
        )
        close(w_p, w[..., perm])
        close(out_p, out)

    def test_permuting_queries_permutes_outputs(self):
        Q, K, V = random_qkv(19, (2,), 4, 5)
        perm = np.array([2, 0, 3, 1])
        out, w = scaled_dot_product_attention(Q, K, V)
        out_p, w_p = scaled_dot_product_attention(Q[:, perm], K, V)
        close(out_p, out[:, perm])
        close(w_p, w[:, perm])

    def test_float32_end_to_end(self):
        Q, K, V = random_qkv(20, (2, 2), 3, 4, dtype=np.float32)
        mask = causal_mask(3, 4)
        out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
        assert out.dtype == w.dtype == np.float32
        expected_out, expected_w = naive_attention(Q, K, V, mask=mask)
        np.testing.assert_allclose(w, expected_w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out, expected_out, rtol=1e-5, atol=1e-6)
        out, w = scaled_dot_product_attention(Q, K, V, scale=0.1)
        assert out.dtype == w.dtype == np.float32

    @pytest.mark.parametrize(
        ("dtypes", "expected"),
        [
            ((np.float16,) * 3, np.float16),
            ((np.float32, np.float32, np.float64), np.float64),
            ((np.int64,) * 3, np.float64),
        ],
    )
    def test_dtype_of_results(self, dtypes, expected):
        Q, K, V = random_qkv(21, (2,), 3, 4)
        Q, K, V = (
            np.round(a).astype(t)
            for a, t in zip((Q, K, V), dtypes, strict=True)
        )
        out, w = scaled_dot_product_attention(Q, K, V)
        assert out.dtype == w.dtype == expected

    def test_broadcast_batch_axes(self):
        # Keys and values shared by every head: K, V of shape (2, 1, n, d).
        Q, _, _ = random_qkv(22, (2, 3), 4, 5)
        _, K, V = random_qkv(23, (2, 1), 4, 5)
        out, w = scaled_dot_product_attention(Q, K, V)
        assert out.shape == (2, 3, 4, 2) and w.shape == (2, 3, 4, 5)
        expected_out, expected_w = naive_attention(Q, K, V)
        close(out, expected_out)
        close(w, expected_w)

    def test_extreme_scores_stable(self):
        # Scores of 1e4 and -1e4: one-hot weights, no overflow warning.
        Q = np.array([[[100.0, 0.0], [0.0, 100.0], [0.0, 0.0]]])
        K = np.array([[[100.0, 0.0], [-100.0, 0.0], [0.0, 100.0]]])
        V = np.array([[[1.0], [2.0], [3.0]]])
        for dtype in (np.float32, np.float64):
            out, w = scaled_dot_product_attention(
                Q.astype(dtype), K.astype(dtype), V.astype(dtype), scale=1.0
            )
            assert w.dtype == out.dtype == dtype
            np.testing.assert_array_equal(w[0, :2], [[1, 0, 0], [0, 0, 1]])
            np.testing.assert_allclose(w[0, 2], np.full(3, 1 / 3), rtol=1e-6)
            np.testing.assert_allclose(out[0, :, 0], [1.0, 3.0, 2.0])

    def test_extreme_scores_with_fully_masked_rows(self):
        Q, K, V = random_qkv(24, (2,), 3, 4)
        Q, K = 1e2 * Q, 1e2 * K  # scores of order 1e4
        mask = np.array([True, True, False, False])
        mask = np.stack(
            [np.broadcast_to(mask, (3, 4)), np.zeros((3, 4), bool)]
        )
        out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
        assert np.isfinite(out).all() and np.isfinite(w).all()
        np.testing.assert_array_equal(out[1], 0.0)
        close(w[0].sum(axis=-1), np.ones(3))

    # -- errors --------------------------------------------------------

    def test_rejects_d_k_mismatch_naming_both_shapes(self):
        with pytest.raises(
            ValueError,
            match=r"^scaled_dot_product_attention: expected Q of shape .*"
            r"same d_k.* got Q of shape \(2, 3, 4\) and K of shape "
            r"\(2, 5, 3\)",
        ):
            scaled_dot_product_attention(
                np.ones((2, 3, 4)), np.ones((2, 5, 3)), np.ones((2, 5, 2))
            )

    def test_rejects_n_keys_mismatch_naming_both_shapes(self):
        with pytest.raises(
            ValueError,
            match=r"same n_keys, got K of shape \(5, 3\) and V of shape "
            r"\(4, 2\)",
        ):
            scaled_dot_product_attention(
                np.ones((3, 3)), np.ones((5, 3)), np.ones((4, 2))
            )

    def test_rejects_batch_mismatch(self):
        with pytest.raises(ValueError, match=r"batch axes .*\(2, 3, 4\)"):
            scaled_dot_product_attention(
                np.ones((2, 3, 4)), np.ones((3, 5, 4)), np.ones((3, 5, 2))
            )

    @pytest.mark.parametrize(
        "shape", [(3, 5), (2, 5, 4), (4, 1, 1), (3, 2, 4, 1), (2, 1, 4, 5)]
    )
    def test_rejects_mask_not_broadcasting_naming_both_shapes(self, shape):
        Q, K, V = random_qkv(25, (2,), 4, 5)
        with pytest.raises(
            ValueError,
            match=r"^scaled_dot_product_attention: expected mask to "
            r"broadcast to the shape of the weights",
        ) as info:
            scaled_dot_product_attention(
                Q, K, V, mask=np.ones(shape, dtype=bool)
            )
        assert "(2, 4, 5)" in str(info.value)
        assert str(shape) in str(info.value)

    def test_rejects_non_boolean_mask(self):
        Q, K, V = random_qkv(26, (), 3, 3)
        with pytest.raises(
            ValueError, match=r"Use a boolean array, True = may attend"
        ):
            scaled_dot_product_attention(
                Q, K, V, mask=np.tril(np.ones((3, 3)))
            )

    @pytest.mark.parametrize(
        ("Q", "K", "V", "match"),
        [
            (np.ones(3), np.ones((2, 3)), np.ones((2, 1)), r"Q of shape"),
            (np.ones((1, 3)), np.ones(3), np.ones((2, 1)), r"K of shape"),
            (np.ones((1, 0)), np.ones((2, 0)), np.ones((2, 1)), r"d_k >= 1"),
            (
                np.full((1, 3), np.nan),
                np.ones((2, 3)),
                np.ones((2, 1)),
                r"Q to hold finite",
            ),
            (
                np.ones((1, 3)),
                np.ones((2, 3)),
                np.array([[1.0], [np.inf]]),
                r"V to hold finite",
            ),
        ],
    )
    def test_rejects_bad_input(self, Q, K, V, match):
        with pytest.raises(
            ValueError, match=rf"^scaled_dot_product_attention: .*{match}"
        ):
            scaled_dot_product_attention(Q, K, V)

    # -- property test and torch ------------------------------------------

    @PROPERTY
    @given(st.data())
    def test_property_matches_loops(self, data):
        batch = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
        n_q, n_k = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))
        d_k, d_v = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3))
        values = st.floats(-10.0, 10.0)
        Q = data.draw(arrays(np.float64, (*batch, n_q, d_k), elements=values))
        K = data.draw(arrays(np.float64, (*batch, n_k, d_k), elements=values))
        V = data.draw(arrays(np.float64, (*batch, n_k, d_v), elements=values))
        mask = data.draw(arrays(np.bool_, (*batch, n_q, n_k)))
        out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
        expected_out, expected_w = naive_attention(Q, K, V, mask=mask)
        close(w, expected_w, atol=1e-12)
        close(out, expected_out, rtol=1e-10, atol=1e-10)
        some = mask.any(axis=-1)
        close(w.sum(axis=-1)[some], np.ones(int(some.sum())))
        assert (w[~some] == 0).all() and (out[~some] == 0).all()

    def test_matches_torch(self):
        torch = import_torch()
        Q, K, V = random_qkv(27, (2, 3), 4, 5)
        mask = np.random.default_rng(28).random((2, 3, 4, 5)) < 0.6
        mask[..., 0] = True  # torch gives NaN for a fully masked row
        tq, tk, tv = (torch.tensor(a) for a in (Q, K, V))
        for m in (None, mask):
            expected = torch.nn.functional.scaled_dot_product_attention(
                tq, tk, tv, attn_mask=None if m is None else torch.tensor(m)
            )
            out, _ = scaled_dot_product_attention(Q, K, V, mask=m)
            close(out, expected.numpy(), rtol=1e-10, atol=1e-12)

    def test_float32_in_blocks_matches_torch(self):
        torch = import_torch()
        Q, K, V = random_qkv(29, (2, 4), 64, 48, 16, 8, dtype=np.float32)
        mask = causal_mask(64, 48)
        t = [torch.from_numpy(a) for a in (Q, K, V, mask)]
        for m, tm in ((None, None), (mask, t[3])):
            expected = torch.nn.functional.scaled_dot_product_attention(
                *t[:3], attn_mask=tm
            )
            out = scaled_dot_product_attention(
                Q, K, V, mask=m, return_weights=False
            )
            assert out.dtype == np.float32
            np.testing.assert_allclose(
                out, expected.numpy(), rtol=1e-5, atol=1e-6
            )


# -- causal_mask -----------------------------------------------------------


class TestAttentionInBlocks:
    """Without the weights, queries go in blocks: same output, less memory."""

    @pytest.fixture(params=[64, 1024, 2**20], autouse=True)
    def block_bytes(self, request, monkeypatch):
        monkeypatch.setattr(attention, "ATTENTION_BLOCK_BYTES", request.param)

    @pytest.fixture(params=["one thread", "two threads"], autouse=True)
    def threads(self, request, monkeypatch):
        # Large problems are shared among threads; make small ones too.
        if request.param == "two threads":
            monkeypatch.setattr(attention, "_THREADED_WORK", 0)
            monkeypatch.setattr(attention, "ATTENTION_THREADS", 2)

    # Small scores skip the shift by the row maximum; large ones need it.
    @pytest.mark.parametrize("spread", [1.0, 1e4])
    @pytest.mark.parametrize(
        "mask",
        [
            None,
            "causal",  # one mask shared by every batch entry
            "padding",  # (batch, 1, n_keys): shared by the queries
            "per_head",  # a mask for every batch entry and head
            "keys",  # 1-D, over the keys only
            "empty_row",  # a query that may attend to no key
        ],
    )
    def test_output_matches_the_loops(self, mask, spread):
        Q, K, V = random_qkv(4, batch=(2, 3), n_q=9, n_k=7, d_k=3, d_v=2)
        Q = Q * spread
        rng = np.random.default_rng(5)
        masks = {
            None: None,
            "causal": causal_mask(9, 7),
            "padding": padding_mask([7, 3], 7)[:, None],
            "per_head": rng.random((2, 3, 9, 7)) < 0.7,
            "keys": np.array([True, False, True, True, False, True, True]),
            "empty_row": np.ones((9, 7), dtype=bool),
        }
        m = masks[mask]
        if mask == "empty_row":
            m[4] = False
        out = scaled_dot_product_attention(Q, K, V, m, return_weights=False)
        close(out, naive_attention(Q, K, V, m)[0])
        # The one-piece computation, to rounding (BLAS may sum the
        # products of a smaller matrix in another order).
        whole, _ = scaled_dot_product_attention(Q, K, V, m)
        close(out, whole, rtol=1e-14, atol=1e-15)

    def test_batch_axes_broadcast(self):
        Q, _, _ = random_qkv(6, batch=(2, 1), n_q=5)
        _, K, V = random_qkv(7, batch=(1, 3), n_q=5)
        out = scaled_dot_product_attention(Q, K, V, return_weights=False)
        assert out.shape == (2, 3, 5, 2)
        close(out, naive_attention(Q, K, V)[0])

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_dtype_is_kept(self, dtype):
        Q, K, V = random_qkv(8, dtype=dtype)
        out = scaled_dot_product_attention(Q, K, V, return_weights=False)
        assert out.dtype == dtype

    def test_refuses_a_flag_that_is_not_a_bool(self):
        Q, K, V = random_qkv(9)
        with pytest.raises(ValueError, match="return_weights=True or"):
            scaled_dot_product_attention(Q, K, V, return_weights="no")


@pytest.mark.parametrize("return_weights", [True, False])
@pytest.mark.parametrize("k_row", [[-1e20], [1e20]])
def test_scores_that_overflow_are_refused_not_nan(return_weights, k_row):
    # Finite float32 inputs whose products leave float32's range.
    Q = np.array([[1e20]], dtype=np.float32)
    K = np.array([[-1e20], k_row], dtype=np.float32)
    V = np.array([[1.0], [2.0]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"\+?inf"):
        scaled_dot_product_attention(
            Q, K, V, scale=1.0, return_weights=return_weights
        )


def test_a_call_never_changes_blas_threads_another_call_changed(monkeypatch):
    # BLAS's thread count is one setting per process. Two calls that both
    # set and restore it can restore it out of order and leave BLAS on one
    # thread for good: while one call holds the setting, another must run
    # without touching it, and still be right.
    monkeypatch.setattr(attention, "_THREADED_WORK", 0)
    monkeypatch.setattr(attention, "ATTENTION_THREADS", 2)
    changes = []
    real = attention._one_blas_thread

    def recorded():
        changes.append(threading.get_ident())
        return real()

    monkeypatch.setattr(attention, "_one_blas_thread", recorded)
    Q = np.random.default_rng(0).normal(size=(4, 64, 16))
    expected = naive_attention(Q, Q, Q)[0]
    with attention._BLAS_SETTING:  # as if another call were running
        out = scaled_dot_product_attention(Q, Q, Q, return_weights=False)
    assert changes == []
    close(out, expected)
    # Alone, a call does set BLAS to one thread, and restores it.
    out = scaled_dot_product_attention(Q, Q, Q, return_weights=False)
    assert len(changes) == 1
    close(out, expected)


def test_calls_from_several_threads_at_once_are_right(monkeypatch):
    monkeypatch.setattr(attention, "_THREADED_WORK", 0)
    monkeypatch.setattr(attention, "ATTENTION_THREADS", 2)
    Q = np.random.default_rng(1).normal(size=(4, 64, 16))
    expected = naive_attention(Q, Q, Q)[0]
    results = []

    def call_often():
        results.extend(
            scaled_dot_product_attention(Q, Q, Q, return_weights=False)
            for _ in range(30)
        )

    workers = [threading.Thread(target=call_often) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(results) == 90
    for out in results:
        close(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_within_the_no_shift_bound_keep_exp_in_range(dtype):
    n = 512
    b = dtype(attention._no_shift_bound(n, dtype))
    with np.errstate(over="raise", under="raise"):
        # The largest row: no overflow in the terms or in their sum.
        assert np.isfinite(np.exp(np.full(n, b, dtype=dtype)).sum())
        # The smallest maximum: a term that underflows next to it would
        # weigh less than eps.
        smallest = np.exp(-b)
    info = np.finfo(dtype)
    assert smallest * info.eps >= info.tiny


def test_attention_without_weights_needs_memory_for_one_block():
    import tracemalloc

    # All weights would take 2 * 2 * 2048 * 2048 * 4 bytes = 64 MiB.
    rng = np.random.default_rng(10)
    Q, K, V = (
        rng.normal(size=(2, 2, 2048, 16)).astype(np.float32) for _ in range(3)
    )
    output_bytes = Q.nbytes
    tracemalloc.start()
    scaled_dot_product_attention(Q, K, V, return_weights=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The output, plus one block of scores (1 MiB) per thread, plus the
    # input checks' temporaries (a few MiB): far from the 64 MiB.
    blocks = attention._threads_for(Q.size // 16 * 2048) * 2**20
    assert peak < output_bytes + blocks + 4 * 2**20, (
        f"peak {peak / 2**20:.1f} MiB"
    )


class TestCausalMask:
    @pytest.mark.parametrize(
        ("n_q", "n_k"), [(1, None), (4, None), (2, 5), (5, 3), (3, 3)]
    )
    def test_entries(self, n_q, n_k):
        got = causal_mask(n_q, n_k)
        n_k = n_q if n_k is None else n_k
        assert got.shape == (n_q, n_k) and got.dtype == bool
        offset = n_k - n_q  # the queries are the last n_q positions
        for i in range(n_q):
            for j in range(n_k):
                assert got[i, j] == (j <= i + offset)

    def test_no_weight_above_the_diagonal(self):
        Q, K, V = random_qkv(29, (2, 3), 5, 5)
        _, w = scaled_dot_product_attention(Q, K, V, mask=causal_mask(5))
        assert (np.triu(w, k=1) == 0).all()
        assert (w[..., causal_mask(5)] > 0).all()
        close(w.sum(axis=-1), np.ones((2, 3, 5)))

    def test_output_does_not_depend_on_the_future(self):
        Q, K, V = random_qkv(30, (2,), 5, 5)
        out, _ = scaled_dot_product_attention(Q, K, V, mask=causal_mask(5))
        for i in range(5):
            K2, V2 = K.copy(), V.copy()
            K2[:, i + 1 :] += 3.0
            V2[:, i + 1 :] -= 7.0
            out2, _ = scaled_dot_product_attention(
                Q, K2, V2, mask=causal_mask(5)
            )
            close(out2[:, : i + 1], out[:, : i + 1])

    def test_more_queries_than_keys_gives_zero_rows(self):
        Q, K, V = random_qkv(31, (), 4, 2)
        out, w = scaled_dot_product_attention(Q, K, V, mask=causal_mask(4, 2))
        np.testing.assert_array_equal(w[:2], 0.0)
        np.testing.assert_array_equal(out[:2], 0.0)
        close(w[2:].sum(axis=-1), [1.0, 1.0])

    @pytest.mark.parametrize("bad", [0, -1, 2.0, True, None])
    def test_rejects_bad_sizes(self, bad):
        with pytest.raises(ValueError, match=r"^causal_mask: expected n_"):
            causal_mask(bad)
        if bad is not None:
            with pytest.raises(ValueError, match=r"expected n_keys to be"):
                causal_mask(3, bad)


# -- padding_mask ----------------------------------------------------------


class TestPaddingMask:
    def test_entries_and_shape(self):
        lengths = [3, 0, 5, 1]
        got = padding_mask(lengths, 5)
        assert got.shape == (4, 1, 5) and got.dtype == bool
        for b, length in enumerate(lengths):
            for j in range(5):
                assert got[b, 0, j] == (j < length)

    def test_no_weight_on_padded_keys(self):
        lengths = np.array([4, 2, 6])
        Q, K, V = random_qkv(32, (3,), 5, 6)
        mask = padding_mask(lengths, 6)
        out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
        for b, length in enumerate(lengths):
            assert (w[b, :, length:] == 0).all()
            close(w[b].sum(axis=-1), np.ones(5))
        # The padding's keys and values do not matter.
        K2, V2 = K.copy(), V.copy()
        K2[1, 2:], V2[1, 2:] = 50.0, -50.0
        out2, _ = scaled_dot_product_attention(Q, K2, V2, mask=mask)
        close(out2, out)

    def test_with_heads_axis(self):
        lengths = np.array([3, 1])
        Q, K, V = random_qkv(33, (2, 4), 3, 5)
        mask = padding_mask(lengths, 5)[:, None]  # (batch, 1, 1, n_keys)
        assert mask.shape == (2, 1, 1, 5)
        out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
        expected_out, expected_w = naive_attention(Q, K, V, mask=mask)
        close(w, expected_w)
        close(out, expected_out)
        assert (w[0, ..., 3:] == 0).all() and (w[1, ..., 1:] == 0).all()

    def test_length_zero_gives_zero_output(self):
        Q, K, V = random_qkv(34, (2,), 3, 4)
        out, w = scaled_dot_product_attention(
            Q, K, V, mask=padding_mask([0, 4], 4)
        )
        np.testing.assert_array_equal(w[0], 0.0)
        np.testing.assert_array_equal(out[0], 0.0)

    def test_combined_with_causal(self):
        mask = padding_mask([2, 4], 4) & causal_mask(4)
        assert mask.shape == (2, 4, 4)
        np.testing.assert_array_equal(mask[0, 3], [True, True, False, False])
        np.testing.assert_array_equal(mask[1, 1], [True, True, False, False])

    @pytest.mark.parametrize(
        ("lengths", "match"),
        [
            (
                [1, 6],
                r"expected every length in \[0, n_keys\] = \[0, 5\], "
                r"got 6",
            ),
            ([-1, 2], r"got -1"),
            ([1.0, 2.0], r"1-D array of ints"),
            ([True, False], r"1-D array of ints"),
            ([[1, 2]], r"1-D array of ints"),
            (3, r"1-D array of ints"),
        ],
    )
    def test_rejects_bad_lengths(self, lengths, match):
        with pytest.raises(ValueError, match=rf"^padding_mask: .*{match}"):
            padding_mask(lengths, 5)

    def test_rejects_bad_n_keys(self):
        with pytest.raises(ValueError, match=r"expected n_keys to be an int"):
            padding_mask([1], 0)


# -- MultiHeadAttention ----------------------------------------------------


def per_head_reference(mha, X_q, X_kv, mask, attention):
    """Each head's slice of the projections through ``attention``, the
    outputs concatenated and projected by W_o."""
    dh = mha.d_head
    outs, weights = [], []
    for h in range(mha.n_heads):
        cols = slice(h * dh, (h + 1) * dh)
        out, w = attention(
            X_q @ mha.W_q[:, cols],
            X_kv @ mha.W_k[:, cols],
            X_kv @ mha.W_v[:, cols],
            mask=mask,
        )
        outs.append(out)
        weights.append(w)
    return np.concatenate(outs, axis=-1) @ mha.W_o, np.stack(weights, 1)


class TestMultiHeadAttention:
    @pytest.mark.parametrize("n_heads", [1, 2, 4])
    @pytest.mark.parametrize("masking", ["none", "causal", "padding"])
    def test_equals_single_head_per_head(self, n_heads, masking):
        rng = np.random.default_rng(35)
        mha = MultiHeadAttention(8, n_heads, rng=rng)
        X = rng.normal(size=(3, 5, 8))
        mask = {
            "none": None,
            "causal": causal_mask(5),
            "padding": padding_mask([5, 2, 4], 5),
        }[masking]
        out, w = mha(X, mask=mask)
        assert out.shape == (3, 5, 8) and w.shape == (3, n_heads, 5, 5)
        ref_out, ref_w = per_head_reference(
            mha, X, X, mask, scaled_dot_product_attention
        )
        close(out, ref_out)
        close(w, ref_w)
        loop_out, loop_w = per_head_reference(mha, X, X, mask, naive_attention)
        close(out, loop_out)
        close(w, loop_w)

    def test_cross_attention(self):
        rng = np.random.default_rng(36)
        mha = MultiHeadAttention(6, 3, rng=rng)
        X_q, X_kv = rng.normal(size=(2, 4, 6)), rng.normal(size=(2, 7, 6))
        mask = padding_mask([7, 3], 7)
        out, w = mha(X_q, X_kv, mask=mask)
        assert out.shape == (2, 4, 6) and w.shape == (2, 3, 4, 7)
        ref_out, ref_w = per_head_reference(
            mha, X_q, X_kv, mask, naive_attention
        )
        close(out, ref_out)
        close(w, ref_w)
        assert (w[1, ..., 3:] == 0).all()

    def test_one_mask_per_head(self):
        rng = np.random.default_rng(37)
        mha = MultiHeadAttention(4, 2, rng=rng)
        X = rng.normal(size=(1, 3, 4))
        mask = np.stack([causal_mask(3), causal_mask(3).T])[None]  # 4-D
        _, w = mha(X, mask=mask)
        assert (np.triu(w[0, 0], 1) == 0).all()
        assert (np.tril(w[0, 1], -1) == 0).all()

    def test_self_attention_is_permutation_equivariant(self):
        rng = np.random.default_rng(38)
        mha = MultiHeadAttention(8, 2, rng=rng)
        X = rng.normal(size=(2, 6, 8))
        perm = rng.permutation(6)
        out, w = mha(X)
        out_p, w_p = mha(X[:, perm])
        close(out_p, out[:, perm])
        close(w_p, w[:, :, perm][..., perm])

    def test_seeded_init(self):
        a = MultiHeadAttention(8, 2, rng=0)
        b = MultiHeadAttention(8, 2, rng=np.random.default_rng(0))
        c = MultiHeadAttention(8, 2, rng=1)
        for name, value in a.parameters.items():
            assert value.shape == (8, 8)
            np.testing.assert_array_equal(value, b.parameters[name])
            assert not np.array_equal(value, c.parameters[name])
        assert not np.array_equal(a.W_q, a.W_k)
        limit = math.sqrt(3 / 8)
        assert all(np.abs(v).max() <= limit for v in a.parameters.values())

    def test_float32(self):
        mha = MultiHeadAttention(8, 4, dtype=np.float32, rng=0)
        assert all(v.dtype == np.float32 for v in mha.parameters.values())
        X = np.random.default_rng(39).normal(size=(2, 3, 8))  # float64
        out, w = mha(X, mask=causal_mask(3))
        assert out.dtype == w.dtype == np.float32
        mha64 = MultiHeadAttention(8, 4, rng=0)
        out64, _ = mha64(X, mask=causal_mask(3))
        np.testing.assert_allclose(out, out64, rtol=1e-4, atol=1e-5)

    def test_repr_and_d_head(self):
        mha = MultiHeadAttention(12, 3, dtype=np.float32, rng=0)
        assert mha.d_head == 4
        assert repr(mha) == (
            "MultiHeadAttention(d_model=12, n_heads=3, dtype=float32)"
        )

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            ((10, 3), r"n_heads to divide d_model.*\[1, 2, 5, 10\]"),
            ((0, 1), r"d_model to be an int >= 1, got 0"),
            ((8, 0), r"n_heads to be an int >= 1, got 0"),
            ((8, 2.0), r"n_heads to be an int >= 1, got 2.0"),
        ],
    )
    def test_rejects_bad_sizes(self, args, match):
        with pytest.raises(
            ValueError, match=rf"^MultiHeadAttention: expected {match}"
        ):
            MultiHeadAttention(*args)

    @pytest.mark.parametrize("dtype", [np.float16, np.int64, "float", None])
    def test_rejects_bad_dtype(self, dtype):
        if dtype == "float":  # np.dtype("float") is float64: accepted
            assert MultiHeadAttention(4, 2, dtype=dtype).dtype == np.float64
            return
        with pytest.raises(ValueError, match=r"expected dtype float32 or"):
            MultiHeadAttention(4, 2, dtype=dtype)

    @pytest.mark.parametrize(
        ("X_q", "X_kv", "mask", "match"),
        [
            (np.ones((3, 4)), None, None, r"X_q of shape \(batch, n, d_m"),
            (np.ones((1, 3, 5)), None, None, r"d_model = 4 .* \(1, 3, 5\)"),
            (np.ones((2, 3, 4)), np.ones((1, 3, 4)), None, r"same batch"),
            (np.ones((1, 3, 4)), None, np.ones((3, 3)), r"boolean array"),
            (
                np.ones((1, 3, 4)),
                np.ones((1, 5, 4)),
                causal_mask(3),
                r"mask to broadcast .*\(1, 3, 5\).*\(3, 3\)",
            ),
            (
                np.ones((1, 3, 4)),
                None,
                np.ones((1, 3, 3, 3), dtype=bool),
                r"mask to broadcast .*\(1, 2, 3, 3\).*\(1, 3, 3, 3\)",
            ),
            (np.full((1, 3, 4), np.nan), None, None, r"X_q to hold finite"),
        ],
    )
    def test_rejects_bad_input(self, X_q, X_kv, mask, match):
        mha = MultiHeadAttention(4, 2, rng=0)
        with pytest.raises(
            ValueError, match=rf"^MultiHeadAttention: .*{match}"
        ):
            mha(X_q, X_kv, mask=mask)


# -- multi_hop_attention ---------------------------------------------------


def pointer_memory(parents, gain):
    """Slots u_j = [e_j, e_parent(j)] of one-hot items, and a follow rule.

    Reading slot j returns (about) [e_j, e_parent(j)]; the update moves the
    pointer half into the key half, so the next hop reads slot parent(j).
    """
    n = len(parents)
    eye = np.eye(n)
    U = np.concatenate([eye, eye[parents]], axis=1)  # (n, 2n)

    def follow(q, summary):
        return gain * np.concatenate(
            [summary[..., n:], np.zeros_like(summary[..., n:])], axis=-1
        )

    return U, follow


class TestMultiHopAttention:
    U = np.random.default_rng(40).normal(size=(6, 4))
    q = np.random.default_rng(41).normal(size=4)

    def test_shapes(self):
        final_q, summaries, weights = multi_hop_attention(self.U, self.q, 5)
        assert final_q.shape == (4,)
        assert summaries.shape == (5, 4)
        assert weights.shape == (5, 6)
        close(weights.sum(axis=-1), np.ones(5))

    def test_batched_shapes(self):
        U = np.broadcast_to(self.U, (3, 6, 4))
        final_q, summaries, weights = multi_hop_attention(U, self.q, 2)
        assert final_q.shape == (3, 4)
        assert summaries.shape == (2, 3, 4) and weights.shape == (2, 3, 6)
        single = multi_hop_attention(self.U, self.q, 2)
        for b in range(3):
            close(final_q[b], single[0])
            close(summaries[:, b], single[1])
            close(weights[:, b], single[2])

    def test_residual_rule_step_by_step(self):
        final_q, summaries, weights = multi_hop_attention(self.U, self.q, 4)
        q_t = self.q
        for t in range(4):
            z, w = naive_single(self.U, q_t, scale=0.5)
            close(summaries[t], z)
            close(weights[t], w)
            q_t = q_t + z
        close(final_q, q_t)
        close(final_q, self.q + summaries.sum(axis=0))

    def test_replace_rule(self):
        final_q, summaries, _ = multi_hop_attention(
            self.U, self.q, 3, update="replace", scale=1.0
        )
        close(summaries[1], attend(self.U, summaries[0], scale=1.0)[0])
        close(summaries[2], attend(self.U, summaries[1], scale=1.0)[0])
        close(final_q, summaries[2])

    def test_unchanged_query_repeats_the_same_weights(self):
        _, summaries, weights = multi_hop_attention(
            self.U, self.q, 4, update=lambda q, summary: q
        )
        for t in range(1, 4):
            np.testing.assert_array_equal(weights[t], weights[0])
            np.testing.assert_array_equal(summaries[t], summaries[0])
        close(weights[0], attention_weights(self.U, self.q))

    def test_residual_sharpens_on_the_nearest_row(self):
        U = 2.0 * np.eye(3)
        _, _, weights = multi_hop_attention(U, np.array([0.5, 0.4, 0.1]), 6)
        top = weights.max(axis=-1)
        assert (np.argmax(weights, axis=-1) == 0).all()
        assert (np.diff(top) > 0).all() and top[-1] > 0.95

    def test_callable_follows_pointers_to_the_root(self):
        # A chain 0 -> 1 -> 2 -> 3, and 3 points to itself (the root).
        U, follow = pointer_memory([1, 2, 3, 3], gain=10.0)
        q = np.concatenate([10.0 * np.eye(4)[0], np.zeros(4)])
        final_q, _, weights = multi_hop_attention(U, q, 6, follow, scale=1.0)
        np.testing.assert_array_equal(
            np.argmax(weights, axis=-1), [0, 1, 2, 3, 3, 3]
        )
        assert weights.max(axis=-1).min() > 0.99
        assert np.argmax(final_q[:4]) == 3
        close(weights[-1], weights[-2], atol=1e-12)  # converged

    def test_callable_gets_copies_and_float32_is_kept(self):
        seen = []

        def update(q, summary):
            seen.append((q.dtype, summary.dtype, q.shape, summary.shape))
            summary[:] = 0.0  # must not change the returned summaries
            return (q + 1.0).astype(np.float64)

        U, q = self.U.astype(np.float32), self.q.astype(np.float32)
        final_q, summaries, weights = multi_hop_attention(U, q, 2, update)
        assert final_q.dtype == summaries.dtype == weights.dtype
        assert final_q.dtype == np.float32
        assert seen == [(np.float32, np.float32, (4,), (4,))] * 2
        assert (summaries != 0).any()
        np.testing.assert_allclose(final_q, q + 2.0, rtol=1e-6)

    @pytest.mark.parametrize("hops", [0, -1, 1.5, True])
    def test_rejects_bad_hops(self, hops):
        with pytest.raises(ValueError, match=r"expected hops to be an int"):
            multi_hop_attention(self.U, self.q, hops)

    @pytest.mark.parametrize("update", ["sum", None, 3])
    def test_rejects_bad_update(self, update):
        with pytest.raises(
            ValueError, match=r"expected update to be 'residual', 'replace'"
        ):
            multi_hop_attention(self.U, self.q, 2, update=update)

    def test_rejects_update_of_wrong_shape(self):
        with pytest.raises(
            ValueError, match=r"shape of q, \(4,\), got shape \(2,\) at hop 0"
        ):
            multi_hop_attention(
                self.U, self.q, 2, update=lambda q, summary: q[:2]
            )

    def test_rejects_non_finite_update(self):
        with pytest.raises(ValueError, match=r"return a finite query"):
            multi_hop_attention(
                self.U, self.q, 2, update=lambda q, summary: q * np.nan
            )

    def test_extreme_query_stable(self):
        # Residual hops on scores of order 1e4 stay finite and silent.
        U = np.array([[100.0, 0.0], [0.0, 100.0]])
        q = np.array([100.0, 99.0])
        final_q, _, weights = multi_hop_attention(U, q, 3, scale=1.0)
        assert np.isfinite(final_q).all()
        np.testing.assert_array_equal(weights[-1], [1.0, 0.0])
