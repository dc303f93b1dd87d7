"""Tests for :mod:`lecture_lib.gradcheck`.

The oracles are gradients derived by hand and written out in float64 here:
a quadratic form, an elementwise cubic (whose central difference has the
known error ``h**2``), and the softmax cross-entropy of a linear model,
with the softmax spelt out in numpy rather than taken from ``lecture_lib``.
Wrong gradients (doubled, transposed, NaN, one bad entry) must make
``gradcheck`` fail, and every parameter must come back bit for bit.
"""

import numpy as np
import pytest

from lecture_lib.gradcheck import (
    GradcheckReport,
    gradcheck,
    numerical_gradient,
)

pytestmark = pytest.mark.filterwarnings("error")


def softmax64(z):
    """Softmax along the last axis, written out in float64."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy(logits, labels):
    """Mean of -log softmax(logits)[y] over a batch, in float64."""
    m = logits.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))[:, 0]
    picked = logits[np.arange(len(labels)), labels]
    return float(np.mean(lse - picked))


def bits(x):
    """The raw bytes of ``x``, to compare arrays bit for bit."""
    return np.ascontiguousarray(x).tobytes()


@pytest.fixture
def linear_model():
    """A linear classifier: logits = X W^T + b, batch = 4, n = 3, d = 5."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 5))
    W = rng.normal(size=(3, 5))
    b = rng.normal(size=3)
    y = np.array([0, 2, 1, 2])

    def loss():
        return cross_entropy(X @ W.T + b, y)

    # dL/dlogits = (softmax(logits) - onehot(y)) / batch.
    delta = (softmax64(X @ W.T + b) - np.eye(3)[y]) / 4
    return loss, {"W": W, "b": b}, {"W": delta.T @ X, "b": delta.sum(0)}


class TestNumericalGradient:
    def test_quadratic_form(self):
        rng = np.random.default_rng(1)
        A = rng.normal(size=(4, 4))
        c = rng.normal(size=4)
        x = rng.normal(size=4)
        got = numerical_gradient(lambda v: float(v @ A @ v + c @ v), x)
        # No truncation error for a quadratic: only rounding, ~eps / h.
        np.testing.assert_allclose(got, (A + A.T) @ x + c, atol=1e-8)

    def test_softmax_cross_entropy(self):
        rng = np.random.default_rng(2)
        logits = rng.normal(scale=3.0, size=(4, 6))
        y = np.array([5, 0, 3, 3])
        got = numerical_gradient(lambda z: cross_entropy(z, y), logits)
        expected = (softmax64(logits) - np.eye(6)[y]) / 4
        assert got.shape == logits.shape
        np.testing.assert_allclose(got, expected, atol=1e-9)

    def test_error_is_that_of_a_central_difference(self):
        # For f(x) = x**3, (f(x + h) - f(x - h)) / 2h = 3x**2 + h**2
        # exactly; a forward difference would be off by 3xh instead.
        x = np.array([1.0, -2.0, 0.5])
        h = 1e-3
        got = numerical_gradient(lambda v: float(np.sum(v**3)), x, h=h)
        np.testing.assert_allclose(got - 3 * x**2, h**2, rtol=1e-3)

    def test_elementwise_sin(self):
        x = np.linspace(-3.0, 3.0, 12).reshape(3, 2, 2)
        got = numerical_gradient(lambda v: float(np.sin(v).sum()), x)
        np.testing.assert_allclose(got, np.cos(x), atol=1e-9)

    def test_zero_dimensional_x(self):
        x = np.array(1.5)
        got = numerical_gradient(lambda v: float(v**2), x)
        assert got.shape == ()
        np.testing.assert_allclose(got, 3.0, rtol=1e-9)

    def test_empty_x_gives_empty_gradient(self):
        got = numerical_gradient(lambda v: 0.0, np.zeros((2, 0)))
        assert got.shape == (2, 0) and got.dtype == np.float64

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_dtype_kept_and_actual_step_used(self, dtype):
        # In float32, 1 + 1e-6 rounds to 1 + 9.5e-7; dividing by 2e-6
        # instead of the step taken would give 2.85 instead of 3.
        x = np.array([1.0, 4.0], dtype=dtype)
        got = numerical_gradient(lambda v: 3.0 * float(v[0]) - float(v[1]), x)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, [3.0, -1.0], rtol=1e-6)

    def test_step_too_small_for_the_dtype_raises(self):
        x = np.array([0.5, 1.0], dtype=np.float16)
        with pytest.raises(
            ValueError,
            match=r"^numerical_gradient: the step h=1e-06 does not move "
            r"x\[0\] = 0\.5 in float16: x \+ h rounds to x\. Use a larger h, "
            r"or check in float64",
        ):
            numerical_gradient(lambda v: float(v.sum()), x)

    def test_step_lost_in_a_huge_entry_raises(self):
        # 1e300 + 1e-6 == 1e300: a silent zero before the fix.
        with pytest.raises(
            ValueError, match=r"does not move x\[1\] = 1e\+300"
        ):
            numerical_gradient(lambda v: float(v[0]), np.array([1.0, 1e300]))

    def test_f_is_called_twice_per_entry(self):
        calls = []
        x = np.zeros((2, 3))
        numerical_gradient(lambda v: calls.append(1) or 0.0, x)
        assert len(calls) == 2 * x.size

    def test_x_restored_bit_for_bit(self):
        x = np.array([0.1, -0.0, 1e-300, 1e3, 2.0 / 3.0, -7.25])
        before = bits(x)
        numerical_gradient(lambda v: float(np.sum(np.tanh(v))), x)
        assert bits(x) == before

    def test_x_restored_when_f_raises(self):
        x = np.array([1.0, 2.0, 3.0])
        before = bits(x)

        def f(v):
            if v[1] != 2.0:
                raise ZeroDivisionError("boom")
            return float(v.sum())

        with pytest.raises(ZeroDivisionError, match="boom"):
            numerical_gradient(f, x)
        assert bits(x) == before

    def test_perturbs_non_contiguous_views_in_place(self):
        # f reads W; x is the transposed view W.T, which is not
        # C-contiguous. The gradient of sum(A * W) w.r.t. W.T is A.T.
        rng = np.random.default_rng(3)
        W = rng.normal(size=(3, 4))
        A = rng.normal(size=(3, 4))
        got = numerical_gradient(lambda _: float(np.sum(A * W)), W.T)
        np.testing.assert_allclose(got, A.T, atol=1e-9)
        every_other = W[:, ::2]
        got = numerical_gradient(lambda _: float(np.sum(A * W)), every_other)
        np.testing.assert_allclose(got, A[:, ::2], atol=1e-9)

    @pytest.mark.parametrize(
        ("x", "got"),
        [
            pytest.param([1.0, 2.0], "got list", id="list"),
            pytest.param(
                np.array([1, 2]), "got ndarray of dtype int64", id="int"
            ),
            pytest.param(
                np.array([1 + 0j]), "got ndarray of dtype complex128", id="c"
            ),
            pytest.param(2.0, "got float", id="python-float"),
        ],
    )
    def test_rejects_non_float_x(self, x, got):
        with pytest.raises(
            ValueError,
            match=rf"^numerical_gradient: expected x to be a floating "
            rf"ndarray \(it is perturbed in place\), {got}\. Pass e\.g\. "
            rf"np\.asarray\(x, dtype=np\.float64\)\.",
        ):
            numerical_gradient(lambda v: 0.0, x)

    def test_rejects_read_only_x(self):
        x = np.ones(3)
        x.setflags(write=False)
        with pytest.raises(
            ValueError,
            match=r"^numerical_gradient: expected a writeable x .*read-only "
            r"array of shape \(3,\)\. Pass a copy",
        ):
            numerical_gradient(lambda v: 0.0, x)

    @pytest.mark.parametrize(
        "h", [0.0, -1e-6, float("nan"), float("inf"), "1e-6", None, True]
    )
    def test_rejects_bad_step(self, h):
        with pytest.raises(
            ValueError,
            match=r"^numerical_gradient: expected a positive finite step h, "
            r"got .*; the default 1e-6 suits float64\.",
        ):
            numerical_gradient(lambda v: 0.0, np.ones(2), h=h)

    @pytest.mark.parametrize(
        ("value", "shape"),
        [
            pytest.param(np.ones(2), r"\(2,\)", id="vector"),
            pytest.param(float("nan"), r"\(\)", id="nan"),
            pytest.param(np.array([np.inf]), r"\(1,\)", id="inf"),
            pytest.param("1.0", r"\(\)", id="string"),
            pytest.param(None, r"\(\)", id="none"),
            pytest.param(1 + 1j, r"\(\)", id="complex"),
        ],
    )
    def test_rejects_non_scalar_or_non_finite_f(self, value, shape):
        with pytest.raises(
            ValueError,
            match=rf"^numerical_gradient: expected f\(x\) to return one "
            rf"finite real number, got \w+ with shape {shape}.*Reduce the "
            rf"output to a scalar",
        ):
            numerical_gradient(lambda v: value, np.ones(2))

    def test_accepts_size_one_arrays_and_numpy_scalars(self):
        x = np.array([2.0])
        for f in (
            lambda v: v**2,
            lambda v: (v**2).reshape(1, 1),
            lambda v: np.float64(v[0] ** 2),
        ):
            np.testing.assert_allclose(numerical_gradient(f, x), [4.0], 1e-5)


class TestGradcheck:
    def test_correct_gradients_pass(self, linear_model):
        loss, params, grads = linear_model
        report = gradcheck(loss, params, grads)
        assert isinstance(report, GradcheckReport)
        assert report.passed
        assert report.max_rel_error < 1e-6
        assert set(report.per_parameter) == {"W", "b"}
        assert report.rtol == 1e-5
        assert str(report).startswith("gradcheck passed: max relative error")

    def test_gradient_off_by_a_factor_two_fails(self, linear_model):
        loss, params, grads = linear_model
        grads["b"] = 2 * grads["b"]
        report = gradcheck(loss, params, grads)
        assert not report.passed
        # |2a - a| / (|2a| + |a|) = 1/3 wherever a != 0.
        np.testing.assert_allclose(report.max_rel_error, 1 / 3, rtol=1e-5)
        assert report.worst_index[0] == "b"
        assert report.per_parameter["W"] < 1e-6
        assert str(report).startswith("gradcheck FAILED")

    def test_transposed_gradient_fails(self):
        rng = np.random.default_rng(4)
        W = rng.normal(size=(3, 3))
        A = rng.normal(size=(3, 3))

        def loss():
            return float(np.sum(A * W))

        assert gradcheck(loss, {"W": W}, {"W": A}).passed
        report = gradcheck(loss, {"W": W}, {"W": A.T})
        assert not report.passed
        name, (i, j) = report.worst_index
        assert name == "W" and i != j  # the diagonal of A.T is right

    def test_one_wrong_entry_is_located(self):
        x = np.arange(12.0).reshape(3, 4)
        grad = 2 * x
        grad[2, 1] += 1e-3

        report = gradcheck(lambda: float(np.sum(x**2)), {"x": x}, {"x": grad})
        assert not report.passed
        assert report.worst_index == ("x", (2, 1))
        assert "x[2, 1]" in str(report)

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_non_finite_gradient_fails(self, bad):
        # Before the fix, NaN made every comparison false and the report
        # said "passed".
        x = np.array([1.0, 2.0, 3.0])
        grad = 2 * x
        grad[1] = bad
        report = gradcheck(lambda: float(np.sum(x**2)), {"x": x}, {"x": grad})
        assert not report.passed
        assert report.max_rel_error == np.inf
        assert report.worst_index == ("x", (1,))

    def test_zero_gradient_entries_are_compared_absolutely(self):
        x = np.array([0.0, 1.0, -2.0])
        f = lambda: float(np.sum(x**2))  # noqa: E731
        assert gradcheck(f, {"x": x}, {"x": 2 * x}).passed
        assert not gradcheck(f, {"x": x}, {"x": 2 * x + [1e-6, 0, 0]}).passed

    def test_rtol_is_applied(self):
        x = np.array([1.0, 2.0])
        f = lambda: float(np.sum(x**2))  # noqa: E731
        slightly_off = 2 * x * (1 + 1e-4)
        assert not gradcheck(f, {"x": x}, {"x": slightly_off}).passed
        assert gradcheck(f, {"x": x}, {"x": slightly_off}, rtol=1e-3).passed

    def test_params_restored_bit_for_bit(self, linear_model):
        loss, params, grads = linear_model
        before = {k: bits(v) for k, v in params.items()}
        gradcheck(loss, params, grads)
        gradcheck(loss, params, {k: -v for k, v in grads.items()})
        assert {k: bits(v) for k, v in params.items()} == before

    def test_grads_as_lists_are_accepted(self):
        x = np.array([1.0, -1.0])
        report = gradcheck(
            lambda: float(np.sum(x**3)), {"x": x}, {"x": [3.0, 3.0]}
        )
        assert report.passed

    def test_keys_must_match(self, linear_model):
        loss, params, grads = linear_model
        del grads["b"]
        with pytest.raises(
            ValueError,
            match=r"^gradcheck: expected grads for exactly the parameters "
            r"\['W', 'b'\], got \['W'\]\.",
        ):
            gradcheck(loss, params, grads)

    def test_shapes_must_match(self, linear_model):
        loss, params, grads = linear_model
        grads["W"] = grads["W"].T
        with pytest.raises(
            ValueError,
            match=r"^gradcheck: gradient of 'W' has shape \(5, 3\), expected "
            r"\(3, 5\) like the parameter\.",
        ):
            gradcheck(loss, params, grads)

    def test_empty_params_rejected(self):
        with pytest.raises(
            ValueError,
            match=r"^gradcheck: expected at least one parameter in params, "
            r"got an empty dict",
        ):
            gradcheck(lambda: 0.0, {}, {})

    @pytest.mark.parametrize(
        ("value", "got"),
        [
            ([1.0, 2.0], "got list"),
            (np.array([1, 2]), "got ndarray of dtype int64"),
        ],
    )
    def test_non_float_params_rejected(self, value, got):
        with pytest.raises(
            ValueError,
            match=rf"^gradcheck: expected params\['w'\] to be the floating "
            rf"ndarray that f reads \(it is perturbed in place\), {got}\.",
        ):
            gradcheck(lambda: 0.0, {"w": value}, {"w": np.zeros(2)})
