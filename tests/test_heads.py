"""Tests for :mod:`lecture_lib.heads`.

Oracles: scipy.special.log_softmax in float64 and the smoothed target
written out entry by entry for the loss; hand-derived exact values for
logits 1e4 and 1e300 apart; central differences
(:mod:`lecture_lib.gradcheck`, float64) for every gradient; the forward
pass written out with numpy; a chi-square goodness-of-fit test for the
sampled labels; torch, when it is installed. Warnings are errors, so any
overflow or invalid-value warning fails a test.
"""

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lecture_lib.gradcheck import gradcheck
from lecture_lib.heads import (
    MLPSoftmaxHead,
    cross_entropy,
    cross_entropy_grad,
    load_digits_split,
)
from tests.helpers import import_torch

pytestmark = pytest.mark.filterwarnings("error")

REDUCTIONS = ["mean", "sum", "none"]
SMOOTHINGS = [0.0, 0.1, 0.5, 1.0]
PROPERTY = settings(
    max_examples=60, deadline=None, database=None, derandomize=True
)


@st.composite
def problems(draw):
    """Finite logits of shape (batch, n), labels and a smoothing a."""
    batch, n = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    logits = draw(
        arrays(
            np.float64,
            (batch, n),
            elements=st.floats(-1e6, 1e6, allow_nan=False),
        )
    )
    labels = np.array(
        draw(st.lists(st.integers(0, n - 1), min_size=batch, max_size=batch))
    )
    a = draw(st.sampled_from([0.0, 0.1, 1.0]) | st.floats(0.0, 1.0))
    return logits, labels, a


def random_problem(seed, batch=6, n=5, scale=3.0, dtype=np.float64):
    """Seeded logits of shape (batch, n) and labels of shape (batch,)."""
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((batch, n))).astype(dtype)
    labels = rng.integers(0, n, size=batch)
    return logits, labels


def oracle_losses(logits, labels, a=0.0):
    """-sum_j t_j log p_j per example, float64, target built entry-wise."""
    z = np.asarray(logits, dtype=np.float64)
    batch, n = z.shape
    log_p = scipy.special.log_softmax(z, axis=1)
    out = np.empty(batch)
    for i in range(batch):
        total = 0.0
        for j in range(n):
            t = (1.0 - a) * (1.0 if j == labels[i] else 0.0) + a / n
            total -= t * log_p[i, j]
        out[i] = total
    return out


def reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def small_head(seed, hidden_sizes=(6,), activation="tanh", dtype=None):
    kwargs = {} if dtype is None else {"dtype": dtype}
    return MLPSoftmaxHead(
        5,
        4,
        hidden_sizes=hidden_sizes,
        activation=activation,
        rng=seed,
        **kwargs,
    )


def small_data(seed, batch=7, n_features=5, n_labels=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, n_features))
    y = rng.integers(0, n_labels, size=batch)
    return X, y


@pytest.fixture(scope="module")
def digits():
    return load_digits_split(test_size=0.25, rng=0)


class TestCrossEntropy:
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("a", SMOOTHINGS)
    def test_matches_oracle(self, reduction, a):
        logits, labels = random_problem(1)
        got = cross_entropy(logits, labels, a, reduction)
        expected = reduce(oracle_losses(logits, labels, a), reduction)
        assert got.shape == np.shape(expected)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)

    def test_known_value(self):
        # p = (1/4, 3/4): -log(1/4) = log 4.
        got = cross_entropy(np.array([[0.0, np.log(3.0)]]), [0])
        np.testing.assert_allclose(got, np.log(4.0), rtol=1e-15)

    def test_uniform_logits_give_log_n(self):
        got = cross_entropy(np.zeros((3, 7)), [0, 3, 6], reduction="none")
        np.testing.assert_allclose(got, np.full(3, np.log(7.0)), rtol=1e-15)

    def test_smoothing_formula_written_out(self):
        # loss = (1 - a) * (-log p_y) + (a / n) * sum_j (-log p_j).
        logits, labels = random_problem(2, batch=4, n=3)
        a = 0.2
        log_p = scipy.special.log_softmax(logits, axis=1)
        nll = -log_p[np.arange(4), labels]
        expected = (1 - a) * nll - (a / 3) * log_p.sum(axis=1)
        got = cross_entropy(logits, labels, a, reduction="none")
        np.testing.assert_allclose(got, expected, rtol=1e-14)

    def test_reductions_agree(self):
        logits, labels = random_problem(3, batch=9)
        per = cross_entropy(logits, labels, reduction="none")
        assert per.shape == (9,)
        np.testing.assert_allclose(
            cross_entropy(logits, labels, reduction="sum"), per.sum()
        )
        np.testing.assert_allclose(cross_entropy(logits, labels), per.mean())

    def test_shift_invariance_per_row(self):
        logits, labels = random_problem(4)
        shifts = np.arange(6.0)[:, None] * 100.0
        np.testing.assert_allclose(
            cross_entropy(logits + shifts, labels, 0.1, "none"),
            cross_entropy(logits, labels, 0.1, "none"),
            rtol=1e-12,
        )

    @pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
    def test_dtype_is_kept(self, dtype):
        logits, labels = random_problem(5, dtype=dtype)
        for reduction in REDUCTIONS:
            got = cross_entropy(logits, labels, 0.1, reduction)
            assert got.dtype == dtype
        rtol = {np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-13}
        np.testing.assert_allclose(
            cross_entropy(logits, labels, 0.1, "none").astype(np.float64),
            oracle_losses(logits, labels, 0.1),
            rtol=rtol[dtype],
        )

    def test_int_logits_give_float64(self):
        got = cross_entropy([[0, 0], [1, 1]], [0, 1])
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, np.log(2.0), rtol=1e-15)

    def test_inputs_not_modified(self):
        logits, labels = random_problem(6)
        before = logits.copy(), labels.copy()
        logits.setflags(write=False)
        labels.setflags(write=False)
        cross_entropy(logits, labels, 0.3, "none")
        cross_entropy_grad(logits, labels, 0.3, "mean")
        np.testing.assert_array_equal(logits, before[0])
        np.testing.assert_array_equal(labels, before[1])

    # -- extreme logits --------------------------------------------------

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_logits_1e4_apart_are_exact(self, dtype):
        # -log p = 1e4 + log(1 + exp(-1e4)), which is 1e4 in any float.
        logits = np.array([[0.0, 1e4], [1e4, 0.0]], dtype=dtype)
        got = cross_entropy(logits, [0, 1], reduction="none")
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, np.array([1e4, 1e4], dtype))
        right = cross_entropy(logits, [1, 0], reduction="none")
        np.testing.assert_array_equal(right, np.zeros(2, dtype))

    def test_logits_1e4_apart_with_smoothing(self):
        # n = 2, a = 0.1: 0.9 * 1e4 + 0.05 * (1e4 + 0) = 9500.
        got = cross_entropy(np.array([[0.0, 1e4]]), [0], 0.1, "none")
        np.testing.assert_allclose(got, [9500.0], rtol=1e-15)
        # a clipped probability would give about -log(1e-12) = 27.6 at most
        assert got[0] > 1e3

    def test_logits_1e300_apart_are_exact(self):
        logits = np.array([[1e300, 0.0, -1e300]])
        got = [
            float(cross_entropy(logits, [y], reduction="none")[0])
            for y in range(3)
        ]
        assert got == [0.0, 1e300, 2e300]
        # a = 0.3, n = 3: 0.7 * 1e300 + 0.1 * (0 + 1e300 + 2e300)
        smooth = cross_entropy(logits, [1], 0.3, "none")[0]
        assert math.isclose(smooth, 1e300, rel_tol=1e-15)

    def test_extreme_gradient_is_exact(self):
        logits = np.array([[1e300, 0.0, -1e300], [0.0, 1e4, 0.0]])
        grad = cross_entropy_grad(logits, [1, 1], reduction="sum")
        np.testing.assert_array_equal(grad, [[1.0, -1.0, 0.0], [0, 0, 0]])

    def test_minus_inf_logit_elsewhere_is_fine(self):
        logits = np.array([[0.0, -np.inf, 0.0]])
        got = cross_entropy(logits, [0])
        np.testing.assert_allclose(got, np.log(2.0), rtol=1e-15)
        grad = cross_entropy_grad(logits, [0])
        np.testing.assert_allclose(grad, [[-0.5, 0.0, 0.5]], rtol=1e-15)

    def test_minus_inf_logit_with_smoothing_gives_inf_not_nan(self):
        logits = np.array([[0.0, -np.inf, 0.0]])
        assert np.isposinf(cross_entropy(logits, [0], 0.1))
        assert np.isposinf(cross_entropy(logits, [1], 0.0))
        # a = 1 ignores the label entirely: no 0 * inf.
        assert np.isposinf(cross_entropy(logits, [1], 1.0))
        assert np.isfinite(cross_entropy_grad(logits, [1], 0.1)).all()

    # -- against torch, when installed -----------------------------------

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("a", [0.0, 0.1])
    def test_matches_torch(self, reduction, a):
        torch = import_torch()
        logits, labels = random_problem(7)
        z = torch.tensor(logits, requires_grad=True)
        loss = torch.nn.functional.cross_entropy(
            z, torch.tensor(labels), label_smoothing=a, reduction=reduction
        )
        loss.sum().backward()
        np.testing.assert_allclose(
            cross_entropy(logits, labels, a, reduction),
            loss.detach().numpy(),
            rtol=1e-12,
        )
        np.testing.assert_allclose(
            cross_entropy_grad(logits, labels, a, reduction),
            z.grad.numpy(),
            rtol=1e-12,
            atol=1e-15,
        )

    # -- errors ----------------------------------------------------------

    @pytest.mark.parametrize("func", [cross_entropy, cross_entropy_grad])
    @pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
    def test_labels_out_of_range(self, func, labels):
        with pytest.raises(
            ValueError,
            match=rf"^{func.__name__}: expected labels in \[0, 3\) for n = "
            r"3 labels, got 1 out of range .*np\.unique",
        ):
            func(np.zeros((2, 3)), labels)

    @pytest.mark.parametrize("func", [cross_entropy, cross_entropy_grad])
    @pytest.mark.parametrize(
        "labels",
        [
            pytest.param(np.array([0.0, 1.0]), id="float"),
            pytest.param(np.array([True, False]), id="bool"),
            pytest.param(["0", "1"], id="str"),
        ],
    )
    def test_non_integer_labels(self, func, labels):
        with pytest.raises(
            ValueError,
            match=r"expected labels to be integers \(class indices\), got "
            r"an array of dtype .*Convert them",
        ):
            func(np.zeros((2, 3)), labels)

    @pytest.mark.parametrize("func", [cross_entropy, cross_entropy_grad])
    @pytest.mark.parametrize(
        "labels", [[0, 1, 2], [[0], [1]], 0], ids=["long", "2-D", "0-D"]
    )
    def test_labels_shape_mismatch(self, func, labels):
        with pytest.raises(
            ValueError,
            match=r"expected labels of shape \(batch,\) = \(2,\), one label "
            r"per row, got shape",
        ):
            func(np.zeros((2, 3)), labels)

    @pytest.mark.parametrize("func", [cross_entropy, cross_entropy_grad])
    @pytest.mark.parametrize(
        "logits", [np.zeros(3), np.zeros((1, 2, 3)), np.zeros((0, 3))]
    )
    def test_logits_not_batch_by_n(self, func, logits):
        with pytest.raises(
            ValueError,
            match=r"expected logits of shape \(batch, n\) with batch >= 1 "
            r"and n >= 1, got shape .*logits\[None, :\]",
        ):
            func(logits, [0])

    @pytest.mark.parametrize("func", [cross_entropy, cross_entropy_grad])
    @pytest.mark.parametrize(
        "a", [-0.1, 1.5, float("nan"), True, "0.1", None, np.array([0.1])]
    )
    def test_bad_smoothing(self, func, a):
        with pytest.raises(
            ValueError,
            match=r"expected label_smoothing to be a real number in "
            r"\[0, 1\], got .*Pass 0\.0",
        ):
            func(np.zeros((2, 3)), [0, 1], label_smoothing=a)

    @pytest.mark.parametrize("func", [cross_entropy, cross_entropy_grad])
    @pytest.mark.parametrize("reduction", ["avg", "MEAN", None])
    def test_bad_reduction(self, func, reduction):
        with pytest.raises(
            ValueError,
            match=r"expected reduction to be one of 'mean', 'sum' or "
            r"'none', got",
        ):
            func(np.zeros((2, 3)), [0, 1], reduction=reduction)

    @PROPERTY
    @given(problems())
    def test_property_matches_oracle_and_is_non_negative(self, problem):
        logits, labels, a = problem
        got = cross_entropy(logits, labels, a, reduction="none")
        expected = oracle_losses(logits, labels, a)
        # Rounding of logsumexp(z) - z_y is relative to the logits' size.
        atol = 1e-14 * max(1.0, float(np.abs(logits).max()))
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=atol)
        assert np.all(got >= 0.0)

    def test_nan_logits_raise(self):
        with pytest.raises(ValueError, match=r"contains NaN"):
            cross_entropy(np.array([[0.0, np.nan]]), [0])


class TestCrossEntropyGrad:
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("a", SMOOTHINGS)
    def test_matches_gradcheck(self, reduction, a):
        logits, labels = random_problem(11)

        def f():
            return float(np.sum(cross_entropy(logits, labels, a, reduction)))

        grad = cross_entropy_grad(logits, labels, a, reduction)
        assert grad.shape == logits.shape
        report = gradcheck(f, {"logits": logits}, {"logits": grad})
        assert report.passed, str(report)

    @pytest.mark.parametrize("a", SMOOTHINGS)
    def test_is_softmax_minus_target(self, a):
        logits, labels = random_problem(12, batch=4, n=3)
        p = scipy.special.softmax(logits, axis=1)
        target = np.full((4, 3), a / 3)
        target[np.arange(4), labels] += 1 - a
        np.testing.assert_allclose(
            cross_entropy_grad(logits, labels, a, "sum"),
            p - target,
            rtol=1e-14,
            atol=1e-16,
        )
        np.testing.assert_allclose(
            cross_entropy_grad(logits, labels, a, "mean"),
            (p - target) / 4,
            rtol=1e-14,
            atol=1e-16,
        )

    def test_none_is_each_rows_own_gradient(self):
        logits, labels = random_problem(13)
        grad = cross_entropy_grad(logits, labels, 0.2, "none")
        for i in range(6):
            row = cross_entropy_grad(logits[i : i + 1], labels[i : i + 1], 0.2)
            np.testing.assert_allclose(grad[i], row[0], rtol=1e-15)

    def test_rows_sum_to_zero(self):
        logits, labels = random_problem(14, batch=20, n=9)
        grad = cross_entropy_grad(logits, labels, 0.1, "sum")
        np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)

    @pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
    def test_dtype_is_kept(self, dtype):
        logits, labels = random_problem(15, dtype=dtype)
        for reduction in REDUCTIONS:
            assert cross_entropy_grad(
                logits, labels, 0.1, reduction
            ).dtype == (dtype)


class TestMLPSoftmaxHead:
    def test_parameters_names_shapes_and_dtype(self):
        head = MLPSoftmaxHead(5, 4, hidden_sizes=(6, 3), rng=0)
        shapes = {k: v.shape for k, v in head.parameters.items()}
        assert shapes == {
            "W1": (5, 6),
            "b1": (6,),
            "W2": (6, 3),
            "b2": (3,),
            "U": (4, 3),
            "b": (4,),
        }
        assert head.d == 3
        assert head.label_embeddings is head.parameters["U"]
        assert all(v.dtype == np.float64 for v in head.parameters.values())

    def test_parameters_are_the_models_own_arrays(self):
        head = small_head(1)
        X, _ = small_data(1)
        before = head.forward(X)
        head.parameters["b"][2] += 1.0
        np.testing.assert_allclose(head.forward(X)[:, 2], before[:, 2] + 1)

    def test_seeded_init_is_reproducible(self):
        a, b, c = small_head(3), small_head(3), small_head(4)
        for name in a.parameters:
            np.testing.assert_array_equal(
                a.parameters[name], b.parameters[name]
            )
        assert not np.array_equal(a.parameters["W1"], c.parameters["W1"])

    @pytest.mark.parametrize("activation", ["relu", "tanh"])
    def test_forward_matches_numpy_formula(self, activation):
        head = small_head(5, hidden_sizes=(6, 4), activation=activation)
        X, _ = small_data(5)
        P = head.parameters
        act = (
            (lambda z: np.maximum(z, 0.0)) if activation == "relu" else np.tanh
        )
        q = act(act(X @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"])
        expected = q @ P["U"].T + P["b"]
        np.testing.assert_allclose(head.forward(X), expected, rtol=1e-14)
        np.testing.assert_allclose(head.hidden_state(X), q, rtol=1e-14)

    @pytest.mark.parametrize("activation", ["relu", "tanh"])
    @pytest.mark.parametrize("hidden_sizes", [(6,), (6, 4)])
    @pytest.mark.parametrize(
        ("a", "lam"), [(0.0, 0.0), (0.1, 0.0), (0.0, 0.05), (0.2, 0.01)]
    )
    def test_backward_matches_gradcheck(
        self, activation, hidden_sizes, a, lam
    ):
        head = small_head(7, hidden_sizes=hidden_sizes, activation=activation)
        X, y = small_data(7)
        loss, grads = head.loss_and_grads(X, y, a, weight_decay=lam)
        assert set(grads) == set(head.parameters)

        def f():
            return float(head.loss_and_grads(X, y, a, weight_decay=lam)[0])

        report = gradcheck(f, head.parameters, grads)
        assert report.passed, str(report)
        assert set(report.per_parameter) == set(head.parameters)

    def test_backward_of_any_upstream_gradient(self):
        # d(sum(G * logits)) / d params, for a fixed random G.
        head = small_head(8, hidden_sizes=(5, 4))
        X, _ = small_data(8)
        G = np.random.default_rng(8).standard_normal((7, 4))
        head.forward(X)
        grads = head.backward(G)
        report = gradcheck(
            lambda: float(np.sum(G * head.forward(X))), head.parameters, grads
        )
        assert report.passed, str(report)

    def test_loss_is_cross_entropy_plus_penalty(self):
        head = small_head(9)
        X, y = small_data(9)
        loss, _ = head.loss_and_grads(X, y, 0.1, weight_decay=0.3)
        P = head.parameters
        penalty = 0.15 * sum(np.sum(P[k] ** 2) for k in ("W1", "U"))
        expected = oracle_losses(head.forward(X), y, 0.1).mean() + penalty
        np.testing.assert_allclose(loss, expected, rtol=1e-13)

    def test_float32_keeps_dtype_everywhere(self, digits):
        X_train, X_test, y_train, _ = digits
        head = MLPSoftmaxHead(
            64, 10, hidden_sizes=(16, 8), dtype=np.float32, rng=0
        )
        X = X_train[:50]  # float64 input is cast to the model's dtype
        assert head.forward(X).dtype == np.float32
        assert head.hidden_state(X).dtype == np.float32
        loss, grads = head.loss_and_grads(
            X, y_train[:50], 0.1, weight_decay=1e-3
        )
        assert loss.dtype == np.float32
        assert all(g.dtype == np.float32 for g in grads.values())
        assert head.predict_proba(X, temperature=2.0).dtype == np.float32
        params = head.parameters
        history = head.fit(
            X_train[:200],
            y_train[:200],
            epochs=2,
            weight_decay=1e-3,
            label_smoothing=0.1,
            validation_data=(X_test, digits[3]),
            rng=0,
            progress=False,
        )
        for name, value in head.parameters.items():
            assert value.dtype == np.float32, name
            assert value is params[name], f"{name} was replaced, not updated"
        assert all(np.isfinite(history["train_loss"]))

    def test_float32_training_tracks_float64(self, digits):
        X_train, _, y_train, _ = digits
        heads = [
            MLPSoftmaxHead(64, 10, hidden_sizes=(16,), dtype=dt, rng=1)
            for dt in (np.float32, np.float64)
        ]
        losses = [
            h.fit(X_train, y_train, epochs=2, rng=1, progress=False)
            for h in heads
        ]
        np.testing.assert_allclose(
            losses[0]["train_loss"], losses[1]["train_loss"], rtol=1e-4
        )

    def test_predict_proba_and_predict(self):
        head = small_head(10)
        X, _ = small_data(10)
        logits = head.forward(X)
        p = head.predict_proba(X)
        np.testing.assert_allclose(
            p, scipy.special.softmax(logits, axis=1), rtol=1e-14
        )
        np.testing.assert_allclose(
            head.predict_proba(X, temperature=0.5),
            scipy.special.softmax(2 * logits, axis=1),
            rtol=1e-13,
        )
        np.testing.assert_array_equal(head.predict(X), logits.argmax(axis=1))
        hard = head.predict_proba(X, temperature=0)
        np.testing.assert_array_equal(hard, np.eye(4)[head.predict(X)])

    @pytest.mark.parametrize("temperature", [1.0, 2.5, 0.5])
    def test_sampled_labels_follow_predict_proba(self, temperature):
        # Chi-square goodness of fit per example, 3 examples, each at level
        # alpha = 1e-6 / 3 (Bonferroni): for a correct sampler, a seed that
        # makes this test fail has probability at most 1e-6.
        head = small_head(11)
        X, _ = small_data(11, batch=3)
        p = head.predict_proba(X, temperature=temperature)
        draws = 20_000
        samples = head.sample_labels(
            X, temperature=temperature, size=draws, rng=12
        )
        assert samples.shape == (draws, 3)
        assert samples.dtype.kind == "i"
        expected = draws * p
        assert expected.min() >= 5, "too few expected counts for chi-square"
        for i in range(3):
            counts = np.bincount(samples[:, i], minlength=4)
            result = scipy.stats.chisquare(counts, expected[i])
            assert result.pvalue > 1e-6 / 3, (i, counts, expected[i])

    def test_chi_square_detects_the_wrong_temperature(self):
        # The same test has power: samples at T = 0.5 are not p at T = 1.
        head = small_head(11)
        X, _ = small_data(11, batch=3)
        p = head.predict_proba(X)
        samples = head.sample_labels(X, temperature=0.5, size=20_000, rng=12)
        counts = np.bincount(samples[:, 0], minlength=4)
        assert scipy.stats.chisquare(counts, 20_000 * p[0]).pvalue < 1e-6

    def test_sample_labels_seeded_and_shaped(self):
        head = small_head(13)
        X, _ = small_data(13)
        one = head.sample_labels(X, rng=5)
        assert one.shape == (7,)
        np.testing.assert_array_equal(one, head.sample_labels(X, rng=5))
        assert head.sample_labels(X, size=(2, 3), rng=5).shape == (2, 3, 7)
        np.testing.assert_array_equal(
            head.sample_labels(X, temperature=0, rng=5), head.predict(X)
        )

    def test_fit_reaches_97_5_percent_on_digits(self, digits):
        # The recipe of lecture 3: one hidden layer of 128, label smoothing.
        X_train, X_test, y_train, y_test = digits
        head = MLPSoftmaxHead(64, 10, hidden_sizes=(128,), rng=0)
        history = head.fit(
            X_train,
            y_train,
            epochs=20,
            batch_size=32,
            lr=0.003,
            label_smoothing=0.1,
            validation_data=(X_test, y_test),
            rng=0,
            progress=False,
        )
        accuracy = float(np.mean(head.predict(X_test) == y_test))
        assert accuracy >= 0.975, accuracy
        assert history["val_accuracy"][-1] == accuracy
        assert len(history["train_loss"]) == 20
        assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]

    def test_fit_is_reproducible(self, digits):
        X_train, _, y_train, _ = digits
        runs = []
        for _ in range(2):
            head = MLPSoftmaxHead(64, 10, hidden_sizes=(8,), rng=3)
            head.fit(
                X_train[:300], y_train[:300], epochs=2, rng=4, progress=False
            )
            runs.append(head.parameters)
        for name in runs[0]:
            np.testing.assert_array_equal(runs[0][name], runs[1][name])

    def test_progress_bar_only_when_asked(self, digits, capsys):
        X_train, _, y_train, _ = digits
        head = MLPSoftmaxHead(64, 10, hidden_sizes=(4,), rng=0)
        head.fit(X_train[:64], y_train[:64], epochs=2, rng=0, progress=False)
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == ""
        head.fit(X_train[:64], y_train[:64], epochs=2, rng=0, progress=True)
        assert "epochs" in capsys.readouterr().err

    def test_history_without_validation(self, digits):
        X_train, _, y_train, _ = digits
        head = MLPSoftmaxHead(64, 10, hidden_sizes=(4,), rng=0)
        history = head.fit(
            X_train[:64], y_train[:64], epochs=3, rng=0, progress=False
        )
        assert list(history) == ["train_loss"]
        assert len(history["train_loss"]) == 3

    # -- errors ----------------------------------------------------------

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"n_features": 0}, r"expected n_features to be an int >= 1"),
            ({"n_labels": 1}, r"expected n_labels to be an int >= 2"),
            ({"hidden_sizes": ()}, r"expected hidden_sizes to be a non-empty"),
            (
                {"hidden_sizes": (4, 0)},
                r"expected every hidden size to be an int",
            ),
            ({"activation": "gelu"}, r"expected activation 'relu' or 'tanh'"),
            ({"dtype": np.float16}, r"expected dtype float32 or float64"),
            ({"dtype": "banana"}, r"expected dtype float32 or float64"),
            ({"dtype": None}, r"expected dtype float32 or float64"),
            ({"hidden_sizes": (4.0,)}, r"expected every hidden size"),
            ({"rng": -1}, r"expected rng to be a non-negative int seed"),
        ],
    )
    def test_bad_constructor_arguments(self, kwargs, match):
        args = {"n_features": 3, "n_labels": 2} | kwargs
        with pytest.raises(ValueError, match=r"^MLPSoftmaxHead: " + match):
            MLPSoftmaxHead(**args)

    @pytest.mark.parametrize(
        "X", [np.zeros((2, 4)), np.zeros(5), np.zeros((0, 5))]
    )
    def test_bad_X_shape(self, X):
        with pytest.raises(ValueError, match=r"MLPSoftmaxHead\.forward: "):
            small_head(0).forward(X)

    def test_non_finite_X(self):
        X = np.zeros((2, 5))
        X[1, 3] = np.nan
        with pytest.raises(ValueError, match=r"expected finite inputs, got 1"):
            small_head(0).predict(X)

    def test_backward_before_forward(self):
        with pytest.raises(ValueError, match=r"Call forward\(X\) first"):
            small_head(0).backward(np.zeros((2, 4)))

    def test_backward_shape_mismatch(self):
        head = small_head(0)
        head.forward(np.zeros((2, 5)))
        with pytest.raises(
            ValueError,
            match=r"expected dlogits of shape \(batch, n\) = "
            r"\(2, 4\), .*got \(3, 4\)",
        ):
            head.backward(np.zeros((3, 4)))

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"epochs": 0}, r"expected epochs to be an int >= 1"),
            ({"batch_size": 2.5}, r"expected batch_size to be an int >= 1"),
            ({"lr": -1.0}, r"expected lr to be a finite real number > 0"),
            (
                {"weight_decay": -1e-3},
                r"expected weight_decay to be a finite real",
            ),
            (
                {"label_smoothing": 2.0},
                r"expected label_smoothing to be a real",
            ),
            (
                {"validation_data": np.zeros(3)},
                r"expected validation_data to be a pair",
            ),
            ({"rng": "seed"}, r"expected rng to be a np\.random\.Generator"),
        ],
    )
    def test_bad_fit_arguments(self, kwargs, match):
        X, y = small_data(0)
        with pytest.raises(
            ValueError, match=r"^MLPSoftmaxHead\.fit: " + match
        ):
            small_head(0).fit(X, y, progress=False, **kwargs)

    def test_fit_labels_out_of_range(self):
        X, _ = small_data(0)
        with pytest.raises(ValueError, match=r"expected y in \[0, 4\)"):
            small_head(0).fit(X, np.full(7, 4), progress=False)

    def test_loss_and_grads_label_shape(self):
        X, y = small_data(0)
        with pytest.raises(ValueError, match=r"expected y of shape"):
            small_head(0).loss_and_grads(X, y[:-1])


class TestLoadDigitsSplit:
    def test_shapes_scaling_and_dtypes(self, digits):
        X_train, X_test, y_train, y_test = digits
        assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
        assert y_train.dtype == np.int64 and y_test.dtype == np.int64
        assert X_train.min() == 0.0 and X_train.max() == 1.0
        assert X_test.min() >= 0.0 and X_test.max() <= 1.0

    def test_is_a_partition_of_the_dataset(self, digits):
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = digits
        ours = np.concatenate([X_train, X_test]) * 16
        labels = np.concatenate([y_train, y_test])
        order = np.lexsort(np.column_stack([ours, labels]).T)
        ref = np.lexsort(np.column_stack([X, y]).T)
        np.testing.assert_array_equal(ours[order], X[ref])
        np.testing.assert_array_equal(labels[order], y[ref])

    def test_stratified(self, digits):
        _, _, y_train, y_test = digits
        total = np.bincount(y_train) + np.bincount(y_test)
        assert np.all(np.abs(np.bincount(y_test) - 0.25 * total) <= 1)

    def test_seeded(self, digits):
        again = load_digits_split(rng=0)
        for a, b in zip(digits, again, strict=True):
            np.testing.assert_array_equal(a, b)
        other = load_digits_split(rng=1)
        assert not np.array_equal(other[3], digits[3])
        from_generator = load_digits_split(rng=np.random.default_rng(0))
        np.testing.assert_array_equal(from_generator[3], digits[3])

    @pytest.mark.parametrize("test_size", [0.0, 1.0, -0.5, 2, True, "0.25"])
    def test_bad_test_size(self, test_size):
        with pytest.raises(
            ValueError,
            match=r"^load_digits_split: expected test_size to be a fraction "
            r"in \(0, 1\)",
        ):
            load_digits_split(test_size=test_size)
