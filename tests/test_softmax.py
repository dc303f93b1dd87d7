"""Tests for :mod:`lecture_lib.softmax`.

Every function is checked against an independent oracle: scipy.special
for softmax, log_softmax and logsumexp (always with an explicit axis), and
float64 formulas written out here for the Jacobian (central differences
and the explicit p_i * (delta_ij - p_j) with loops). Extreme inputs have
their own tests, and the whole module runs with warnings turned into
errors, so that any overflow or invalid-value warning fails a test.
Accuracy near 0 (log1p) is checked against scipy.special.logsumexp and
the float64 formula log1p(exp(-d)).
"""

import math
import sys

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from numpy.exceptions import AxisError

from lecture_lib import log_softmax, logsumexp, softmax, softmax_jacobian

pytestmark = pytest.mark.filterwarnings("error")

FLOATS = [np.float32, np.float64]
ALL_FLOATS = [np.float16, np.float32, np.float64]
# Relative tolerance against a float64 oracle, per input dtype.
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
# float16 results are a float32 computation rounded once to float16: within
# half an ulp (2**-11 relative, 2**-25 absolute for subnormals) of the
# exact value, plus a little for the float32 stage.
F16_RTOL = 2.0**-11 + 2.0**-20
F16_ATOL = 2.0**-25

SHAPE_AXIS = [
    pytest.param(shape, axis, id=f"{len(shape)}d-axis{axis}")
    for shape in [(7,), (3, 5), (2, 3, 4), (2, 3, 4, 5)]
    for axis in [0, 1, -1, None]
    if axis is None or -len(shape) <= axis < len(shape)
]

INVALID_TEMPERATURES = [
    pytest.param(-1.0, id="negative"),
    pytest.param(-1e-300, id="tiny-negative"),
    pytest.param(float("nan"), id="nan"),
    pytest.param(float("inf"), id="inf"),
    pytest.param(-np.inf, id="-inf"),
    pytest.param(10**400, id="int-beyond-float"),
    pytest.param("1.0", id="string"),
    pytest.param(None, id="none"),
    pytest.param(True, id="bool"),
    pytest.param(np.True_, id="numpy-bool"),
    pytest.param(np.False_, id="numpy-false"),
    pytest.param(np.array(True), id="0d-bool-array"),
    pytest.param(1j, id="complex"),
    pytest.param(np.array([1.0, 2.0]), id="array"),
]

# One shared test budget for the property tests: deterministic, quick.
PROPERTY = settings(
    max_examples=60, deadline=None, database=None, derandomize=True
)
FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def scores_and_axis(draw, dtype=np.float64):
    """Finite scores of 1 to 3 dimensions and a valid axis for them."""
    x = draw(
        arrays(
            dtype,
            array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
            elements=st.floats(
                -1e6,
                1e6,
                allow_nan=False,
                allow_infinity=False,
                width=np.finfo(dtype).bits,
            ),
        )
    )
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return x, axis


def random_scores(seed, shape, dtype=np.float64, scale=3.0):
    """Normally distributed scores from a seeded local generator."""
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape)).astype(dtype)


def long_column_scores(n=2**20, dtype=np.float32):
    """Scores of shape (n, 2) whose slices run down the strided axis 0.

    Row 0 holds the maxima (0), every other row -0.1. Along axis 0 NumPy
    adds term by term; a float32 running sum of about a million terms
    exp(-0.1) drifts by about 1 % from the exact sum.
    """
    x = np.full((n, 2), -0.1, dtype=dtype)
    x[0] = 0.0
    return x


def assert_not_modified(func, x, **kwargs):
    """``func`` leaves ``x`` unchanged, also when ``x`` is read-only."""
    before = x.copy()
    func(x, **kwargs)
    np.testing.assert_array_equal(x, before, strict=True)
    x.setflags(write=False)
    func(x, **kwargs)
    np.testing.assert_array_equal(x, before, strict=True)


def loop_jacobian(p):
    """p_i * (delta_ij - p_j), entry by entry in float64."""
    p = [float(v) for v in p]
    n = len(p)
    jac = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            jac[i, j] = p[i] * ((1.0 if i == j else 0.0) - p[j])
    return jac


def central_difference_jacobian(x, temperature=1.0, h=1e-5):
    """d softmax(x / temperature)_i / d x_j by central differences."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    jac = np.empty((n, n))
    for j in range(n):
        step = np.zeros(n)
        step[j] = h
        up = scipy.special.softmax((x + step) / temperature, axis=0)
        down = scipy.special.softmax((x - step) / temperature, axis=0)
        jac[:, j] = (up - down) / (2 * h)
    return jac


class TestSoftmax:
    @pytest.mark.parametrize("dtype", FLOATS)
    @pytest.mark.parametrize(("shape", "axis"), SHAPE_AXIS)
    def test_matches_scipy(self, shape, axis, dtype):
        x = random_scores(1, shape, dtype)
        p = softmax(x, axis=axis)
        expected = scipy.special.softmax(x.astype(np.float64), axis=axis)
        assert p.shape == x.shape
        assert p.dtype == dtype
        np.testing.assert_allclose(p, expected, rtol=RTOL[dtype], atol=0)

    def test_default_axis_is_last(self):
        x = random_scores(2, (4, 6))
        np.testing.assert_array_equal(softmax(x), softmax(x, axis=-1))
        np.testing.assert_allclose(
            softmax(x), scipy.special.softmax(x, axis=1), rtol=1e-12
        )

    def test_known_values(self):
        p = softmax(np.array([[0.0, np.log(3.0)], [2.0, 2.0]]))
        np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15)

    def test_scalar_with_axis_none_is_one(self):
        p = softmax(np.float64(-7.5), axis=None)
        assert p.shape == ()
        assert p == 1.0

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_dtype_is_kept(self, dtype):
        assert softmax(random_scores(3, (3, 4), dtype)).dtype == dtype

    @pytest.mark.parametrize(
        "x",
        [
            pytest.param(np.array([[1, 2, 3], [0, 0, 5]]), id="int64"),
            pytest.param(np.array([1, 2, 3], dtype=np.uint8), id="uint8"),
            pytest.param(np.array([True, False, True]), id="bool"),
            pytest.param([1, 2, 3], id="list"),
        ],
    )
    def test_int_and_bool_give_float64(self, x):
        p = softmax(x)
        assert p.dtype == np.float64
        expected = scipy.special.softmax(
            np.asarray(x, dtype=np.float64), axis=-1
        )
        np.testing.assert_allclose(p, expected, rtol=1e-14)

    def test_float16_accuracy(self):
        x = random_scores(4, (200, 64), np.float16, scale=4.0)
        p = softmax(x)
        expected = scipy.special.softmax(x.astype(np.float64), axis=-1)
        assert p.dtype == np.float16
        np.testing.assert_allclose(
            p.astype(np.float64), expected, rtol=F16_RTOL, atol=F16_ATOL
        )

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_input_not_modified(self, dtype):
        x = random_scores(5, (3, 4), dtype)
        x[0, 1] = -np.inf
        assert_not_modified(softmax, x, axis=0)
        assert_not_modified(softmax, x, temperature=0.5)
        assert_not_modified(softmax, x, temperature=0)

    def test_masked_entries_get_exactly_zero(self):
        x = np.array([[1.0, -np.inf, 2.0, -np.inf], [-np.inf, 0.5, 3, 1]])
        p = softmax(x)
        assert np.all(p[np.isneginf(x)] == 0.0)
        np.testing.assert_allclose(
            p[0, [0, 2]], scipy.special.softmax([1.0, 2.0], axis=0), rtol=1e-15
        )
        np.testing.assert_allclose(
            p[1, 1:], scipy.special.softmax([0.5, 3, 1], axis=0), rtol=1e-15
        )

    def test_single_unmasked_entry_gets_one(self):
        p = softmax(np.array([-np.inf, 1e300, -np.inf]))
        np.testing.assert_array_equal(p, [0.0, 1.0, 0.0])

    @pytest.mark.parametrize(
        ("shape", "axis"),
        [((0,), -1), ((3, 0), -1), ((0, 3), 0), ((2, 0), None)],
    )
    @pytest.mark.parametrize("dtype", FLOATS)
    def test_empty_slice_gives_empty_result(self, shape, axis, dtype):
        p = softmax(np.zeros(shape, dtype=dtype), axis=axis)
        assert p.shape == shape
        assert p.dtype == dtype
        assert p.size == 0

    def test_zero_slices_of_nonempty_axis(self):
        # Shape (0, 3) along the last axis: no slice at all, no error.
        p = softmax(np.zeros((0, 3)), axis=-1)
        assert p.shape == (0, 3)

    # -- temperature ---------------------------------------------------

    @pytest.mark.parametrize("temperature", [0.1, 0.5, 2.5, 40.0])
    @pytest.mark.parametrize("dtype", FLOATS)
    def test_temperature_matches_scaled_scores(self, temperature, dtype):
        x = random_scores(6, (5, 8), dtype)
        p = softmax(x, axis=0, temperature=temperature)
        expected = scipy.special.softmax(
            x.astype(np.float64) / temperature, axis=0
        )
        np.testing.assert_allclose(p, expected, rtol=RTOL[dtype], atol=1e-40)

    def test_temperature_one_is_default(self):
        x = random_scores(7, (9,))
        np.testing.assert_array_equal(softmax(x, temperature=1), softmax(x))

    def test_temperature_zero_unique_maximum_is_one_hot(self):
        x = np.array([[0.3, 2.0, -1.0], [5.0, -np.inf, 4.999]])
        p = softmax(x, temperature=0)
        np.testing.assert_array_equal(p, [[0, 1, 0], [1, 0, 0]])

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_temperature_zero_ties_are_uniform(self, dtype):
        x = np.array([3.0, 1.0, 3.0, -np.inf, 3.0], dtype=dtype)
        p = softmax(x, temperature=0.0)
        assert p.dtype == dtype
        expected = np.array([1, 0, 1, 0, 1], dtype=dtype) / dtype(3)
        np.testing.assert_array_equal(p, expected)

    def test_temperature_as_numpy_scalar(self):
        x = random_scores(8, (6,))
        np.testing.assert_array_equal(
            softmax(x, temperature=np.float32(0.5)),
            softmax(x, temperature=0.5),
        )

    @pytest.mark.parametrize("temperature", INVALID_TEMPERATURES)
    def test_invalid_temperature_raises(self, temperature):
        with pytest.raises(
            ValueError,
            match=r"^softmax: expected temperature to be a finite real "
            r"number >= 0 .*got .*Pass, for example, temperature=1\.0",
        ):
            softmax(np.array([1.0, 2.0]), temperature=temperature)

    def test_invalid_temperature_message_shows_value(self):
        with pytest.raises(ValueError, match=r"got -2\.5\."):
            softmax(np.array([1.0, 2.0]), temperature=-2.5)

    # -- errors --------------------------------------------------------

    def test_all_masked_slice_raises(self):
        with pytest.raises(
            ValueError,
            match=r"^softmax: the input has no finite entry \(every entry "
            r"is -inf\).*If -inf marks masked positions, keep at least one "
            r"position unmasked",
        ):
            softmax(np.full(4, -np.inf))

    def test_all_masked_slice_message_names_the_slice(self):
        x = np.zeros((3, 4))
        x[2] = -np.inf
        with pytest.raises(
            ValueError,
            match=r"slice at index \(2,\) along axis 1 has no finite .*mask",
        ):
            softmax(x)

    def test_nan_raises(self):
        with pytest.raises(
            ValueError,
            match=r"^softmax: expected finite scores or -inf, but the input "
            r"contains NaN\..*np\.isnan\(x\) locates it",
        ):
            softmax(np.array([0.0, np.nan, 1.0]))

    def test_nan_is_reported_before_a_masked_slice(self):
        x = np.array([[-np.inf, -np.inf], [0.0, np.nan]])
        with pytest.raises(
            ValueError, match=r"slice at index \(1,\) .*contains NaN"
        ):
            softmax(x)

    def test_positive_inf_raises(self):
        with pytest.raises(
            ValueError,
            match=r"^softmax: expected finite scores or -inf, but the input "
            r"contains \+inf\. Clip or rescale the scores before calling "
            r"softmax; np\.isposinf\(x\) locates them",
        ):
            softmax(np.array([0.0, np.inf, -np.inf]))

    def test_positive_inf_raises_at_temperature_zero(self):
        with pytest.raises(ValueError, match=r"\+inf"):
            softmax(np.array([0.0, np.inf]), temperature=0)

    @pytest.mark.parametrize(
        ("shape", "axis"), [((3, 4), 2), ((3, 4), -3), ((5,), 1)]
    )
    def test_bad_axis_raises_axis_error(self, shape, axis):
        ndim = len(shape)
        with pytest.raises(
            AxisError,
            match=rf"^softmax: axis {axis} is out of bounds for an array "
            rf"with ndim={ndim}; pass an axis in \[{-ndim}, {ndim - 1}\]",
        ):
            softmax(np.zeros(shape), axis=axis)

    def test_zero_dimensional_input_needs_axis_none(self):
        with pytest.raises(
            AxisError,
            match=r"^softmax: axis -1 is out of bounds for an array with "
            r"ndim=0: the input is a single number, so it has no axis to "
            r"reduce\. Reshape it to at least 1-D, e\.g\. with "
            r"np\.atleast_1d\(x\), or pass axis=None\.$",
        ):
            softmax(np.float64(1.0))

    def test_zero_dimensional_message_has_no_empty_axis_range(self):
        # [0, -1] would be an empty range of valid axes.
        with pytest.raises(AxisError) as info:
            softmax(np.float64(1.0), axis=0)
        assert "[0, -1]" not in str(info.value)

    def test_non_integer_axis_raises_type_error(self):
        with pytest.raises(TypeError, match=r"expected axis to be an int"):
            softmax(np.zeros(3), axis=1.0)

    @pytest.mark.parametrize(
        "x",
        [
            pytest.param(np.array([1 + 0j, 2]), id="complex"),
            pytest.param(np.array(["a", "b"]), id="str"),
            pytest.param(np.array([1.0, None]), id="object"),
        ],
    )
    def test_non_real_input_raises(self, x):
        with pytest.raises(
            ValueError,
            match=rf"^softmax: expected x to hold real numbers .*got an "
            rf"array of dtype {x.dtype}\. Convert it first",
        ):
            softmax(x)

    # -- extreme inputs ------------------------------------------------

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_large_magnitude_1e4(self, dtype):
        base = np.array([0.0, -1.0, -2.0, -0.5], dtype=dtype)
        expected = scipy.special.softmax(base.astype(np.float64), axis=0)
        for shift in (1e4, -1e4):
            x = base + dtype(shift)
            np.testing.assert_allclose(
                softmax(x), expected, rtol=RTOL[dtype] * 10
            )

    @pytest.mark.parametrize("scale", [1e300, 1e308])
    def test_huge_magnitude(self, scale):
        x = scale * np.array([1.0, 1.0, 0.5, -0.25])
        np.testing.assert_array_equal(softmax(x), [0.5, 0.5, 0, 0])
        np.testing.assert_array_equal(softmax(-x), [0, 0, 0, 1])

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_extremes_of_the_dtype(self, dtype):
        big = np.finfo(dtype).max
        x = np.array([[big, -big, big], [-big, -big, -big]], dtype=dtype)
        p = softmax(x)
        np.testing.assert_array_equal(
            p, np.array([[0.5, 0, 0.5], [1 / 3, 1 / 3, 1 / 3]], dtype=dtype)
        )

    def test_mixed_plus_minus_1e308_along_every_axis(self):
        x = np.array([[1e308, -1e308], [-1e308, -1e308]])
        np.testing.assert_array_equal(softmax(x, axis=0), [[1, 0.5], [0, 0.5]])
        np.testing.assert_array_equal(softmax(x, axis=1), [[1, 0], [0.5, 0.5]])
        np.testing.assert_array_equal(softmax(x, axis=None), [[1, 0], [0, 0]])

    def test_tiny_temperature_float32(self):
        x = np.array([[0.0, -1.0, 2.0], [1.0, 1.0, -3.0]], dtype=np.float32)
        p = softmax(x, temperature=1e-40)
        assert p.dtype == np.float32
        assert not np.isnan(p).any()
        np.testing.assert_array_equal(p, [[0, 0, 1], [0.5, 0.5, 0]])

    def test_huge_temperature_float16(self):
        x = np.array([0.0, -60000.0, 65504.0], dtype=np.float16)
        p = softmax(x, temperature=1e39)
        assert p.dtype == np.float16
        assert not np.isnan(p).any()
        np.testing.assert_array_equal(p, np.full(3, 1 / 3, dtype=np.float16))

    @pytest.mark.parametrize(
        ("dtype", "big", "temperature"),
        [
            (np.float64, 1e308, 1e308),
            (np.float64, 1.5e308, 5e307),
            (np.float32, 3e38, 1e38),
        ],
    )
    def test_huge_temperature_with_huge_spread(self, dtype, big, temperature):
        # x - max(x) overflows, (x - max(x)) / temperature does not.
        x = np.array([big, -big, 0.0], dtype=dtype)
        p = softmax(x, temperature=temperature)
        expected = scipy.special.softmax(
            x.astype(np.float64) / temperature, axis=0
        )
        np.testing.assert_allclose(p, expected, rtol=RTOL[dtype])

    @pytest.mark.parametrize("temperature", [1e-300, 5e-324])
    def test_tiny_temperatures_float64(self, temperature):
        # x / temperature overflows; the limit is the argmax indicator.
        x = np.array([1e308, -1e308, 1e308, 0.0])
        p = softmax(x, temperature=temperature)
        np.testing.assert_array_equal(p, [0.5, 0, 0.5, 0])

    @pytest.mark.parametrize("temperature", [1e300, 1e306, 1.7e308])
    def test_huge_temperatures_float64(self, temperature):
        x = np.array([1e308, -1e308, 1e308, 0.0])
        p = softmax(x, temperature=temperature)
        expected = scipy.special.softmax(x / temperature, axis=0)
        np.testing.assert_allclose(p, expected, rtol=1e-13)

    def test_float32_sum_along_a_long_strided_axis(self):
        x = long_column_scores()
        p = softmax(x, axis=0)
        expected = scipy.special.softmax(x.astype(np.float64), axis=0)
        assert p.dtype == np.float32
        # A float32 running sum is off by about 1e-2 here.
        np.testing.assert_allclose(p, expected, rtol=1e-6)
        np.testing.assert_allclose(
            p.sum(axis=0, dtype=np.float64), 1.0, rtol=1e-6
        )

    # -- properties ----------------------------------------------------

    @PROPERTY
    @given(st.sampled_from(FLOATS).flatmap(scores_and_axis))
    def test_property_slices_sum_to_one(self, x_axis):
        x, axis = x_axis
        p = softmax(x, axis=axis)
        n = x.shape[axis]
        eps = np.finfo(x.dtype).eps
        assert p.dtype == x.dtype
        assert np.all(p >= 0)
        sums = p.sum(axis=axis, dtype=np.float64)
        np.testing.assert_allclose(sums, 1.0, rtol=0, atol=4 * n * eps)

    @PROPERTY
    @given(scores_and_axis(), st.randoms(use_true_random=False))
    def test_property_permutation_equivariance(self, x_axis, random):
        x, axis = x_axis
        perm = list(range(x.shape[axis]))
        random.shuffle(perm)
        got = softmax(np.take(x, perm, axis=axis), axis=axis)
        expected = np.take(softmax(x, axis=axis), perm, axis=axis)
        # Only the summation order changes: a few ulps (absolute ones
        # for subnormal probabilities).
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-300)

    @PROPERTY
    @given(scores_and_axis(), st.data())
    def test_property_shift_invariance(self, x_axis, data):
        x, axis = x_axis
        shape = list(x.shape)
        shape[axis] = 1
        c = data.draw(arrays(np.float64, tuple(shape), elements=FINITE))
        # x + c is rounded to within 2e6 * eps ~ 4.4e-10, which moves
        # every probability by at most about that much, relatively.
        np.testing.assert_allclose(
            softmax(x + c, axis=axis),
            softmax(x, axis=axis),
            rtol=1e-8,
            atol=1e-300,
        )

    @PROPERTY
    @given(scores_and_axis())
    def test_property_large_temperature_is_nearly_uniform(self, x_axis):
        x, axis = x_axis
        # |x_i - x_j| / T <= 2e6 / 1e12, so every p_i is 1/n within 3e-6.
        p = softmax(x, axis=axis, temperature=1e12)
        n = x.shape[axis]
        np.testing.assert_allclose(p, 1.0 / n, rtol=3e-6)

    @PROPERTY
    @given(scores_and_axis())
    def test_property_zero_temperature_is_argmax_indicator(self, x_axis):
        x, axis = x_axis
        is_max = x == x.max(axis=axis, keepdims=True)
        expected = is_max / is_max.sum(axis=axis, keepdims=True)
        np.testing.assert_array_equal(
            softmax(x, axis=axis, temperature=0), expected
        )


class TestLogSoftmax:
    @pytest.mark.parametrize("dtype", FLOATS)
    @pytest.mark.parametrize(("shape", "axis"), SHAPE_AXIS)
    def test_matches_scipy(self, shape, axis, dtype):
        x = random_scores(11, shape, dtype)
        got = log_softmax(x, axis=axis)
        expected = scipy.special.log_softmax(x.astype(np.float64), axis=axis)
        assert got.shape == x.shape
        assert got.dtype == dtype
        np.testing.assert_allclose(
            got, expected, rtol=RTOL[dtype], atol=RTOL[dtype]
        )

    def test_equals_log_of_softmax_where_not_tiny(self):
        x = random_scores(12, (6, 10), scale=20.0)
        p = softmax(x)
        ok = p > 1e-300
        assert ok.sum() > 30
        np.testing.assert_allclose(
            log_softmax(x)[ok], np.log(p[ok]), rtol=1e-12, atol=1e-14
        )

    def test_known_values(self):
        got = log_softmax(np.array([0.0, np.log(3.0)]))
        np.testing.assert_allclose(
            got, [np.log(0.25), np.log(0.75)], rtol=1e-15
        )

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_stays_exact_where_softmax_underflows(self, dtype):
        x = np.array([0.0, -1000.0], dtype=dtype)
        assert softmax(x)[1] == 0.0
        np.testing.assert_array_equal(log_softmax(x), [0.0, -1000.0])
        np.testing.assert_array_equal(
            log_softmax(np.array([0.0, 1000.0], dtype=dtype)), [-1000.0, 0.0]
        )

    def test_huge_log_probability_is_exact(self):
        np.testing.assert_array_equal(
            log_softmax(np.array([1e308, 0.0])), [0.0, -1e308]
        )

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_dtype_is_kept(self, dtype):
        assert log_softmax(random_scores(13, (3, 4), dtype)).dtype == dtype

    @pytest.mark.parametrize(
        "x", [np.array([1, 2, 3]), np.array([True, False]), [0, -1000]]
    )
    def test_int_and_bool_give_float64(self, x):
        got = log_softmax(x)
        assert got.dtype == np.float64
        np.testing.assert_allclose(
            got,
            scipy.special.log_softmax(np.asarray(x, float), axis=-1),
            rtol=1e-14,
        )

    def test_float16_accuracy(self):
        x = random_scores(14, (200, 64), np.float16, scale=4.0)
        got = log_softmax(x)
        expected = scipy.special.log_softmax(x.astype(np.float64), axis=-1)
        assert got.dtype == np.float16
        np.testing.assert_allclose(
            got.astype(np.float64), expected, rtol=F16_RTOL, atol=F16_ATOL
        )

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_input_not_modified(self, dtype):
        x = random_scores(15, (3, 4), dtype)
        x[1, 2] = -np.inf
        assert_not_modified(log_softmax, x, axis=None)
        assert_not_modified(log_softmax, x, temperature=3.0)
        assert_not_modified(log_softmax, x, temperature=0)

    def test_masked_entries_get_minus_inf(self):
        x = np.array([2.0, -np.inf, 0.5, -np.inf])
        got = log_softmax(x)
        assert np.all(np.isneginf(got[[1, 3]]))
        np.testing.assert_allclose(
            got[[0, 2]],
            scipy.special.log_softmax([2.0, 0.5], axis=0),
            rtol=1e-15,
        )

    @pytest.mark.parametrize(
        ("shape", "axis"), [((0,), -1), ((4, 0), 1), ((0, 2), 0)]
    )
    def test_empty_slice_gives_empty_result(self, shape, axis):
        got = log_softmax(np.zeros(shape, dtype=np.float32), axis=axis)
        assert got.shape == shape
        assert got.dtype == np.float32

    @pytest.mark.parametrize("temperature", [0.25, 3.0])
    @pytest.mark.parametrize("dtype", FLOATS)
    def test_temperature_matches_scaled_scores(self, temperature, dtype):
        x = random_scores(16, (4, 7), dtype)
        got = log_softmax(x, axis=0, temperature=temperature)
        expected = scipy.special.log_softmax(
            x.astype(np.float64) / temperature, axis=0
        )
        np.testing.assert_allclose(
            got, expected, rtol=RTOL[dtype], atol=RTOL[dtype]
        )

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_temperature_zero(self, dtype):
        x = np.array([[3.0, 1.0, 3.0, -np.inf], [0.0, 5.0, 1.0, 2.0]], dtype)
        got = log_softmax(x, temperature=0)
        assert got.dtype == dtype
        m = -np.inf
        expected = np.array(
            [[-np.log(2.0), m, -np.log(2.0), m], [m, 0.0, m, m]], dtype=dtype
        )
        np.testing.assert_array_equal(got, expected)

    @pytest.mark.parametrize("temperature", INVALID_TEMPERATURES)
    def test_invalid_temperature_raises(self, temperature):
        with pytest.raises(
            ValueError,
            match=r"^log_softmax: expected temperature to be a finite real "
            r"number >= 0",
        ):
            log_softmax(np.array([1.0, 2.0]), temperature=temperature)

    def test_all_masked_slice_raises(self):
        x = np.zeros((2, 3))
        x[:, 1] = -np.inf
        with pytest.raises(
            ValueError,
            match=r"^log_softmax: the slice at index \(1,\) along axis 0 has "
            r"no finite entry.*mask",
        ):
            log_softmax(x, axis=0)

    def test_nan_raises(self):
        with pytest.raises(
            ValueError, match=r"^log_softmax: expected finite .*NaN"
        ):
            log_softmax(np.array([np.nan, 1.0]))

    def test_positive_inf_raises(self):
        with pytest.raises(
            ValueError,
            match=r"^log_softmax: .*contains \+inf\. Clip or rescale",
        ):
            log_softmax(np.array([np.inf, 1.0]))

    def test_bad_axis_raises_axis_error(self):
        with pytest.raises(AxisError, match=r"axis -4 .*ndim=3"):
            log_softmax(np.zeros((2, 2, 2)), axis=-4)

    def test_complex_input_raises(self):
        with pytest.raises(ValueError, match=r"real numbers.*complex"):
            log_softmax(np.array([1j, 0]))

    # -- extreme inputs ------------------------------------------------

    @pytest.mark.parametrize("scale", [1e4, 1e300, 1e308])
    def test_huge_magnitude(self, scale):
        x = scale * np.array([1.0, 1.0, -1.0])
        got = log_softmax(x)
        np.testing.assert_allclose(got[:2], -np.log(2.0), rtol=1e-15)
        if scale < 1e308:
            expected = -2 * scale - np.log(2.0)
            np.testing.assert_allclose(got[2], expected, rtol=1e-15)
        else:
            # -2e308 is below the float64 range.
            assert got[2] == -np.inf

    def test_extremes_of_float16_give_minus_inf_without_warning(self):
        # The exact value -131008 is below the float16 range.
        x = np.array([60000.0, -60000.0, 60000.0], dtype=np.float16)
        got = log_softmax(x)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(
            got, np.array([-np.log(2), -np.inf, -np.log(2)], np.float16)
        )

    def test_tiny_temperature_float32(self):
        x = np.array([0.0, -1.0, 0.0], dtype=np.float32)
        got = log_softmax(x, temperature=1e-40)
        assert got.dtype == np.float32
        assert not np.isnan(got).any()
        np.testing.assert_array_equal(
            got, np.array([-np.log(2), -np.inf, -np.log(2)], np.float32)
        )

    def test_huge_temperature_float16(self):
        x = np.array([0.0, -1.0, 65504.0, -65504.0], dtype=np.float16)
        got = log_softmax(x, temperature=1e39)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(
            got, np.full(4, -np.log(4.0), dtype=np.float16)
        )

    @pytest.mark.parametrize("d", [10.0, 20.0, 40.0, 700.0])
    def test_maximum_near_probability_one_float64(self, d):
        # log p_max = -log1p(exp(-d)): about -4.2e-18 at d = 40, far below
        # eps, where log(1 + exp(-d)) rounds to 0.
        lse = math.log1p(math.exp(-d))
        got = log_softmax(np.array([-d, 0.0]))
        np.testing.assert_allclose(got, [-d - lse, -lse], rtol=4e-16)
        assert got[1] < 0

    @pytest.mark.parametrize("d", [10.0, 20.0, 80.0])
    def test_maximum_near_probability_one_float32(self, d):
        x = np.array([0.0, -d], dtype=np.float32)
        got = log_softmax(x)
        assert got.dtype == np.float32
        expected = -math.log1p(math.exp(-d))
        # Within 2 float32 ulps; a float32 log(sum) is off by 4e-4 at 10.
        np.testing.assert_allclose(got[0], expected, rtol=2.4e-7)

    def test_maximum_near_probability_one_with_temperature_and_axis(self):
        # Along axis 0 and with T = 0.5, the gap of 20 becomes 40.
        x = np.array([[0.0, -20.0], [-20.0, 0.0]])
        got = log_softmax(x, axis=0, temperature=0.5)
        lse = math.log1p(math.exp(-40.0))
        np.testing.assert_allclose(
            got, [[-lse, -40 - lse], [-40 - lse, -lse]], rtol=4e-16
        )

    def test_tied_maxima_near_zero_rest(self):
        # Only one of the tied maxima is taken out of the sum.
        got = log_softmax(np.array([0.0, -40.0, 0.0]))
        expected = -math.log(2.0 + math.exp(-40.0))
        np.testing.assert_allclose(got[[0, 2]], expected, rtol=4e-16)

    def test_float32_sum_along_a_long_strided_axis(self):
        x = long_column_scores()
        got = log_softmax(x, axis=0)
        expected = scipy.special.log_softmax(x.astype(np.float64), axis=0)
        assert got.dtype == np.float32
        # Values near -13.9; a float32 running sum is off by about 1e-2.
        np.testing.assert_allclose(got, expected, rtol=1e-6)

    # -- properties ----------------------------------------------------

    @PROPERTY
    @given(scores_and_axis())
    def test_property_normalised_and_non_positive(self, x_axis):
        x, axis = x_axis
        got = log_softmax(x, axis=axis)
        n = x.shape[axis]
        assert np.all(got <= 0)
        np.testing.assert_allclose(
            scipy.special.logsumexp(got, axis=axis),
            0.0,
            atol=4 * n * np.finfo(np.float64).eps,
        )

    @PROPERTY
    @given(scores_and_axis())
    def test_property_matches_scipy(self, x_axis):
        x, axis = x_axis
        np.testing.assert_allclose(
            log_softmax(x, axis=axis),
            scipy.special.log_softmax(x, axis=axis),
            rtol=1e-13,
            atol=1e-9,
        )


class TestLogsumexp:
    @pytest.mark.parametrize("keepdims", [False, True])
    @pytest.mark.parametrize("dtype", FLOATS)
    @pytest.mark.parametrize(("shape", "axis"), SHAPE_AXIS)
    def test_matches_scipy(self, shape, axis, dtype, keepdims):
        x = random_scores(21, shape, dtype)
        got = logsumexp(x, axis=axis, keepdims=keepdims)
        expected = scipy.special.logsumexp(
            x.astype(np.float64), axis=axis, keepdims=keepdims
        )
        assert got.shape == np.shape(expected)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=RTOL[dtype])

    def test_default_axis_is_last_and_keepdims_broadcasts(self):
        x = random_scores(22, (3, 5))
        lse = logsumexp(x, keepdims=True)
        assert lse.shape == (3, 1)
        np.testing.assert_allclose(
            np.exp(x - lse).sum(axis=-1), 1.0, rtol=1e-14
        )
        np.testing.assert_array_equal(logsumexp(x), lse[:, 0])

    def test_known_value(self):
        np.testing.assert_allclose(
            logsumexp(np.log([1.0, 2.0, 5.0])), np.log(8.0), rtol=1e-15
        )

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_dtype_is_kept(self, dtype):
        got = logsumexp(random_scores(23, (3, 4), dtype))
        assert got.dtype == dtype

    @pytest.mark.parametrize(
        "x", [np.array([[1, 2], [3, 4]]), np.array([True, True])]
    )
    def test_int_and_bool_give_float64(self, x):
        got = logsumexp(x)
        assert got.dtype == np.float64
        np.testing.assert_allclose(
            got,
            scipy.special.logsumexp(x.astype(float), axis=-1),
            rtol=1e-15,
        )

    def test_float16_accuracy(self):
        x = random_scores(24, (300, 64), np.float16, scale=4.0)
        got = logsumexp(x)
        expected = scipy.special.logsumexp(x.astype(np.float64), axis=-1)
        assert got.dtype == np.float16
        np.testing.assert_allclose(
            got.astype(np.float64), expected, rtol=F16_RTOL, atol=F16_ATOL
        )

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_input_not_modified(self, dtype):
        x = random_scores(25, (3, 4), dtype)
        x[2] = -np.inf
        assert_not_modified(logsumexp, x)
        assert_not_modified(logsumexp, x, axis=None, keepdims=True)

    def test_masked_entries_contribute_nothing(self):
        x = np.array([[0.5, -np.inf, 2.0], [-np.inf, -np.inf, 7.0]])
        np.testing.assert_allclose(
            logsumexp(x),
            [scipy.special.logsumexp([0.5, 2.0], axis=0), 7.0],
            rtol=1e-15,
        )

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_all_masked_slice_is_minus_inf(self, dtype):
        x = np.array([[-np.inf, -np.inf], [0.0, 0.0]], dtype=dtype)
        got = logsumexp(x)
        assert got.dtype == dtype
        assert np.isneginf(got[0])
        np.testing.assert_allclose(got[1], np.log(2.0), rtol=1e-3)
        assert np.isneginf(logsumexp(x[0], axis=None))

    def test_all_masked_slice_next_to_positive_scores(self):
        x = np.array([[-np.inf, -np.inf, -np.inf], [1.0, 2.0, 3.0]])
        got = logsumexp(x)
        assert np.isneginf(got[0])
        np.testing.assert_allclose(
            got[1],
            scipy.special.logsumexp([1.0, 2.0, 3.0], axis=0),
            rtol=1e-15,
        )
        np.testing.assert_allclose(
            logsumexp(x.T, axis=0), got, rtol=1e-15, atol=0
        )

    @pytest.mark.parametrize(
        ("shape", "axis", "keepdims", "out_shape"),
        [
            ((0,), -1, False, ()),
            ((2, 0), -1, False, (2,)),
            ((2, 0), -1, True, (2, 1)),
            ((0, 3), 0, False, (3,)),
            ((2, 0), None, False, ()),
            ((2, 0), None, True, (1, 1)),
        ],
    )
    def test_empty_slice_is_minus_inf(self, shape, axis, keepdims, out_shape):
        got = logsumexp(
            np.zeros(shape, np.float32), axis=axis, keepdims=keepdims
        )
        assert got.shape == out_shape
        assert got.dtype == np.float32
        assert np.all(np.isneginf(got))

    def test_no_slices_give_empty_result(self):
        got = logsumexp(np.zeros((0, 3)), axis=-1)
        assert got.shape == (0,)

    def test_nan_raises(self):
        with pytest.raises(
            ValueError,
            match=r"^logsumexp: expected finite scores or -inf, but the "
            r"input contains NaN\. Find where the NaN was produced",
        ):
            logsumexp(np.array([1.0, np.nan]))

    def test_nan_is_reported_even_after_a_masked_slice(self):
        # The all -inf slice is fine for logsumexp: the NaN is the error.
        x = np.array([[-np.inf, -np.inf], [np.nan, 0.0]])
        with pytest.raises(
            ValueError, match=r"slice at index \(1,\) .*contains NaN"
        ):
            logsumexp(x)

    def test_positive_inf_raises(self):
        with pytest.raises(
            ValueError, match=r"^logsumexp: .*contains \+inf\. Clip"
        ):
            logsumexp(np.array([[0.0, 1.0], [np.inf, 1.0]]), axis=0)

    def test_bad_axis_raises_axis_error(self):
        with pytest.raises(AxisError, match=r"axis 1 .*ndim=1"):
            logsumexp(np.zeros(3), axis=1)

    def test_bad_axis_with_keepdims_raises_axis_error(self):
        with pytest.raises(AxisError, match=r"axis 2 .*ndim=2"):
            logsumexp(np.zeros((3, 3)), axis=2, keepdims=True)

    def test_complex_input_raises(self):
        with pytest.raises(ValueError, match=r"^logsumexp: .*real numbers"):
            logsumexp(np.array([1j]))

    # -- extreme inputs ------------------------------------------------

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_large_magnitude_1e4(self, dtype):
        x = np.array([1e4, 1e4, 1e4], dtype=dtype)
        np.testing.assert_allclose(
            logsumexp(x), 1e4 + np.log(3.0), rtol=RTOL[dtype]
        )
        np.testing.assert_allclose(
            logsumexp(-x), -1e4 + np.log(3.0), rtol=RTOL[dtype]
        )

    @pytest.mark.parametrize("scale", [1e300, -1e300, 1e308, -1e308])
    def test_huge_magnitude(self, scale):
        x = np.array([scale, scale])
        got = logsumexp(x)
        assert np.isfinite(got)
        np.testing.assert_allclose(got, scale + np.log(2.0), rtol=1e-15)

    def test_mixed_plus_minus_1e308(self):
        x = np.array([[1e308, -1e308, 1e308], [-1e308, -1e308, -1e308]])
        got = logsumexp(x)
        np.testing.assert_allclose(
            got, [1e308, -1e308 + np.log(3.0)], rtol=1e-15
        )
        assert logsumexp(x, axis=None) == logsumexp(x[0])

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_extremes_of_the_dtype(self, dtype):
        big = np.finfo(dtype).max
        got = logsumexp(np.array([big, -big, big], dtype=dtype))
        assert got == big

    @pytest.mark.parametrize("d", [10.0, 20.0, 40.0, 700.0])
    def test_relative_accuracy_near_zero_float64(self, d):
        # logsumexp([0, -d]) = log1p(exp(-d)): 4.2e-18 at d = 40, which
        # m + log(1 + exp(-d)) rounds to 0.
        got = logsumexp(np.array([0.0, -d]))
        expected = math.log1p(math.exp(-d))
        np.testing.assert_allclose(got, expected, rtol=4e-16)
        np.testing.assert_allclose(
            got, scipy.special.logsumexp([0.0, -d]), rtol=4e-16
        )

    @pytest.mark.parametrize("d", [10.0, 20.0, 80.0])
    def test_relative_accuracy_near_zero_float32(self, d):
        got = logsumexp(np.array([0.0, -d], dtype=np.float32))
        assert got.dtype == np.float32
        # Within 2 float32 ulps; m + log(sum) in float32 is off by 4e-4.
        np.testing.assert_allclose(got, math.log1p(math.exp(-d)), rtol=2.4e-7)

    @pytest.mark.parametrize("axis", [0, 1, None])
    def test_relative_accuracy_near_zero_along_any_axis(self, axis):
        x = np.array([[0.0, -40.0, -45.0], [-30.0, -np.inf, 0.0]])
        x = x if axis != 0 else x.T
        got = logsumexp(x, axis=axis)
        expected = scipy.special.logsumexp(x, axis=axis)
        np.testing.assert_allclose(got, expected, rtol=4e-16)
        assert np.all(got > 0)

    @pytest.mark.parametrize("dtype", [np.float16, np.float32])
    def test_sum_along_a_long_strided_axis(self, dtype):
        x = long_column_scores(dtype=dtype)
        got = logsumexp(x, axis=0)
        expected = scipy.special.logsumexp(x.astype(np.float64), axis=0)
        assert got.dtype == dtype
        # About 13.9; a float32 running sum is off by about 1.4e-2, two
        # float16 ulps.
        rtol = {np.float16: F16_RTOL, np.float32: 1e-6}[dtype]
        np.testing.assert_allclose(got, expected, rtol=rtol)

    @pytest.mark.parametrize(
        "keepdims", ["no", 1, 0, None, 1.0, np.array([True])]
    )
    def test_keepdims_must_be_a_bool(self, keepdims):
        with pytest.raises(
            ValueError,
            match=r"^logsumexp: expected keepdims to be True or False, got "
            r".* of type .*\. Pass keepdims=True or keepdims=False\.$",
        ):
            logsumexp(np.zeros((2, 3)), keepdims=keepdims)

    def test_keepdims_accepts_numpy_bools(self):
        x = random_scores(26, (2, 3))
        np.testing.assert_array_equal(
            logsumexp(x, keepdims=np.True_), logsumexp(x, keepdims=True)
        )
        assert logsumexp(x, keepdims=np.False_).shape == (2,)

    # -- properties ----------------------------------------------------

    @PROPERTY
    @given(st.sampled_from(FLOATS).flatmap(scores_and_axis))
    def test_property_between_max_and_max_plus_log_n(self, x_axis):
        x, axis = x_axis
        lse = logsumexp(x, axis=axis).astype(np.float64)
        m = x.max(axis=axis).astype(np.float64)
        n = x.shape[axis]
        upper = m + np.log(n)
        # lse = m + log(s) with 1 <= s <= n, rounded in x.dtype.
        slack = 4 * np.finfo(x.dtype).eps * (np.abs(m) + np.log(n))
        assert np.all(lse >= m)
        assert np.all(lse <= upper + slack)

    @PROPERTY
    @given(scores_and_axis())
    def test_property_matches_scipy(self, x_axis):
        x, axis = x_axis
        np.testing.assert_allclose(
            logsumexp(x, axis=axis),
            scipy.special.logsumexp(x, axis=axis),
            rtol=1e-14,
            atol=1e-14,
        )


class TestSoftmaxJacobian:
    @pytest.mark.parametrize("n", [1, 2, 5, 12])
    def test_matches_central_differences(self, n):
        x = random_scores(31, (n,))
        jac = softmax_jacobian(softmax(x))
        assert jac.shape == (n, n)
        np.testing.assert_allclose(
            jac, central_difference_jacobian(x), rtol=0, atol=1e-9
        )

    @pytest.mark.parametrize("n", [1, 3, 8])
    def test_matches_explicit_formula(self, n):
        p = scipy.special.softmax(random_scores(32, (n,)), axis=0)
        np.testing.assert_allclose(
            softmax_jacobian(p), loop_jacobian(p), rtol=1e-15, atol=1e-17
        )

    def test_diagonal_accurate_near_one_hot(self):
        # p_0 = 1 - 9.4e-14: the diagonal is p_i * (1 - p_i), not the
        # difference p_i - p_i**2, which loses most of its digits.
        p = softmax(np.array([0.0, -30.0, -35.0]))
        np.testing.assert_allclose(
            softmax_jacobian(p), loop_jacobian(p), rtol=1e-14, atol=0
        )

    def test_temperature_scaling(self):
        # d softmax(x / T) / dx = softmax_jacobian(softmax(x / T)) / T.
        x = random_scores(33, (6,))
        t = 2.5
        jac = softmax_jacobian(softmax(x, temperature=t)) / t
        np.testing.assert_allclose(
            jac, central_difference_jacobian(x, temperature=t), atol=1e-9
        )

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_symmetric_and_rows_sum_to_zero(self, dtype):
        p = softmax(random_scores(34, (9,), dtype))
        jac = softmax_jacobian(p)
        np.testing.assert_array_equal(jac, jac.T)
        eps = np.finfo(dtype).eps
        sums = jac.astype(np.float64).sum(axis=1)
        np.testing.assert_allclose(sums, 0.0, atol=4 * 9 * eps)

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_dtype_is_kept(self, dtype):
        p = softmax(random_scores(35, (5,), dtype))
        jac = softmax_jacobian(p)
        assert jac.dtype == dtype
        rtol = {np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-15}[dtype]
        np.testing.assert_allclose(
            jac.astype(np.float64),
            loop_jacobian(p),
            rtol=rtol,
            atol=rtol / 10,
        )

    @pytest.mark.parametrize("p", [[0, 1, 0], [True, False]])
    def test_int_and_bool_give_float64(self, p):
        jac = softmax_jacobian(p)
        assert jac.dtype == np.float64
        np.testing.assert_array_equal(jac, np.zeros((len(p), len(p))))

    def test_one_hot_gives_zero_matrix(self):
        jac = softmax_jacobian(np.array([0.0, 1.0, 0.0, 0.0]))
        np.testing.assert_array_equal(jac, np.zeros((4, 4)))

    def test_uniform(self):
        n = 4
        jac = softmax_jacobian(np.full(n, 1 / n))
        np.testing.assert_allclose(
            jac, np.eye(n) / n - 1 / n**2, rtol=1e-15, atol=1e-17
        )

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_input_not_modified(self, dtype):
        p = softmax(random_scores(36, (5,), dtype))
        assert_not_modified(softmax_jacobian, p)

    def test_accepts_sums_within_sqrt_eps(self):
        softmax_jacobian(np.array([0.5, 0.5 + 1e-9]))
        softmax_jacobian(np.array([0.5, 0.5 + 1e-5], dtype=np.float32))

    # -- errors --------------------------------------------------------

    @pytest.mark.parametrize(
        "p",
        [
            pytest.param(np.full((2, 2), 0.25), id="2-D"),
            pytest.param(np.array(1.0), id="0-D"),
            pytest.param(np.zeros(0), id="empty"),
        ],
    )
    def test_not_a_nonempty_vector_raises(self, p):
        shape = str(p.shape).replace("(", r"\(").replace(")", r"\)")
        with pytest.raises(
            ValueError,
            match=rf"^softmax_jacobian: expected p to be a non-empty 1-D "
            rf"probability vector of shape \(n,\), got shape {shape}\. For a "
            rf"batch, call it on each row",
        ):
            softmax_jacobian(p)

    @pytest.mark.parametrize(
        ("p", "got"),
        [
            pytest.param([-0.5, 1.5], "min -0.5 and max 1.5", id="negative"),
            pytest.param([np.inf, 0.0], "min 0.0 and max inf", id="inf"),
        ],
    )
    def test_not_finite_probabilities_raise(self, p, got):
        with pytest.raises(
            ValueError,
            match=rf"^softmax_jacobian: expected p to hold finite "
            rf"probabilities >= 0, got {got}\. Pass softmax\(x\), not the "
            rf"scores x\.$",
        ):
            softmax_jacobian(np.array(p))

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_nan_probabilities_are_named_as_nan(self, dtype):
        p = np.array([0.5, np.nan, 0.5, np.nan], dtype=dtype)
        with pytest.raises(
            ValueError,
            match=r"^softmax_jacobian: expected p to hold finite "
            r"probabilities >= 0, got NaN in 2 of 4 entries \(the first at "
            r"index 1\)\. Pass softmax\(x\), not the scores x, and find "
            r"where the NaN was produced; np\.isnan\(p\) locates it\.$",
        ):
            softmax_jacobian(p)

    @pytest.mark.parametrize("dtype", ALL_FLOATS)
    def test_messages_print_plain_floats(self, dtype):
        for p in ([-0.25, 1.25], [0.5, np.inf], [0.5, 0.6]):
            with pytest.raises(ValueError) as info:
                softmax_jacobian(np.array(p, dtype=dtype))
            assert "np." not in str(info.value).split(". Pass")[0]

    @pytest.mark.parametrize(
        ("p", "dtype"),
        [
            ([0.5, 0.4], np.float64),
            ([0.5, 0.5 + 1e-7], np.float64),
            ([0.5, 0.5 + 1e-3], np.float32),
            ([1.0, 2.0, 3.0], np.float16),
        ],
    )
    def test_not_summing_to_one_raises(self, p, dtype):
        with pytest.raises(
            ValueError,
            match=r"^softmax_jacobian: expected p to sum to 1 \(within .*\), "
            r"got a sum of .*Pass softmax\(x\), not the scores x",
        ):
            softmax_jacobian(np.array(p, dtype=dtype))

    def test_sum_message_shows_the_sum(self):
        with pytest.raises(ValueError, match=r"got a sum of 6\."):
            softmax_jacobian(np.array([1.0, 2.0, 3.0]))

    def test_complex_input_raises(self):
        with pytest.raises(ValueError, match=r"expected p to hold real"):
            softmax_jacobian(np.array([0.5 + 0j, 0.5]))

    # -- properties ----------------------------------------------------

    @PROPERTY
    @given(
        arrays(
            np.float64,
            st.integers(1, 8),
            elements=st.floats(-30, 30, allow_nan=False),
        )
    )
    def test_property_matches_explicit_formula(self, x):
        p = softmax(x)
        jac = softmax_jacobian(p)
        np.testing.assert_array_equal(jac, jac.T)
        np.testing.assert_allclose(
            jac, loop_jacobian(p), rtol=1e-14, atol=1e-17
        )
        np.testing.assert_allclose(
            jac.sum(axis=1), 0.0, atol=4 * x.size * np.finfo(float).eps
        )


# Calls whose computation underflows, overflows or divides by zero on the
# way to a correct result.
ERROR_STATE_CALLS = [
    pytest.param(softmax, [0.0, -1000.0], {}, id="softmax-underflow"),
    pytest.param(log_softmax, [0.0, -1000.0], {}, id="log_softmax-underflow"),
    pytest.param(logsumexp, [0.0, -1000.0], {}, id="logsumexp-underflow"),
    pytest.param(softmax, [1e308, -1e308], {}, id="softmax-overflow"),
    pytest.param(log_softmax, [1e308, -1e308], {}, id="log_softmax-overflow"),
    pytest.param(logsumexp, [1e308, -1e308], {}, id="logsumexp-overflow"),
    pytest.param(softmax, [0.0, -np.inf], {}, id="softmax-masked"),
    pytest.param(log_softmax, [0.0, -np.inf], {}, id="log_softmax-masked"),
    pytest.param(
        logsumexp, [[-np.inf, -np.inf], [0.0, -745.0]], {}, id="lse-all-masked"
    ),
    pytest.param(logsumexp, np.zeros((2, 0)), {}, id="logsumexp-empty"),
    pytest.param(
        softmax, [0.0, -1.0, 2.0], {"temperature": 1e-300}, id="tiny-T"
    ),
    pytest.param(
        log_softmax, [1e308, 0.0], {"temperature": 1e-300}, id="lsm-tiny-T"
    ),
    pytest.param(
        softmax, [1e308, -1e308], {"temperature": 1e308}, id="huge-T"
    ),
    pytest.param(
        softmax,
        np.array([0.0, -60000.0, 65504.0], np.float16),
        {"temperature": 1e39},
        id="float16-huge-T",
    ),
    pytest.param(
        log_softmax,
        np.array([60000.0, -60000.0], np.float16),
        {},
        id="float16-below-range",
    ),
    pytest.param(
        softmax,
        np.array([0.0, -1.0, 0.0], np.float32),
        {"temperature": 1e-40},
        id="float32-tiny-T",
    ),
    pytest.param(
        softmax, [3.0, -1000.0, 3.0], {"temperature": 0}, id="softmax-T0"
    ),
    pytest.param(
        log_softmax, [3.0, -1e308, 3.0], {"temperature": 0}, id="lsm-T0"
    ),
    pytest.param(
        softmax_jacobian, [1.0 - 1e-300, 1e-300], {}, id="jacobian-underflow"
    ),
]


class TestFloatingPointErrorState:
    """Results never depend on the caller's np.seterr / np.errstate."""

    @pytest.mark.parametrize(("func", "x", "kwargs"), ERROR_STATE_CALLS)
    def test_same_result_when_every_error_raises(self, func, x, kwargs):
        x = np.asarray(x)
        with np.errstate(all="ignore"):
            expected = func(x, **kwargs)
        before = np.geterr()
        with np.errstate(all="raise"):
            got = func(x, **kwargs)
            assert np.geterr() == {key: "raise" for key in before}
        np.testing.assert_array_equal(got, expected, strict=True)

    def test_underflow_to_zero_is_not_an_error(self):
        with np.errstate(all="raise"):
            p = softmax(np.array([0.0, -1000.0]))
        np.testing.assert_array_equal(p, [1.0, 0.0])

    @pytest.mark.parametrize(
        "func", [softmax, log_softmax, logsumexp, softmax_jacobian]
    )
    def test_nan_is_still_a_value_error(self, func):
        with np.errstate(all="raise"), pytest.raises(ValueError, match="NaN"):
            func(np.array([np.nan, 1.0]))


FUNCTIONS = [
    pytest.param(softmax, "x", id="softmax"),
    pytest.param(log_softmax, "x", id="log_softmax"),
    pytest.param(logsumexp, "x", id="logsumexp"),
    pytest.param(softmax_jacobian, "p", id="softmax_jacobian"),
]


class TestInputConversion:
    """Masked arrays, ragged lists and huge integers, in every function."""

    @pytest.mark.parametrize(("func", "name"), FUNCTIONS)
    @pytest.mark.parametrize("mask", [[False, True], [False, False]])
    def test_masked_array_raises(self, func, name, mask):
        x = np.ma.array([0.5, 0.5], mask=mask)
        with pytest.raises(
            ValueError,
            match=rf"^{func.__name__}: expected {name} to be a plain array, "
            rf"got a masked array \(np\.ma\.MaskedArray\), whose mask "
            rf"{func.__name__} would silently ignore\. For scores, mark "
            rf"masked entries with -inf instead: pass "
            rf"np\.ma\.filled\({name}, -np\.inf\)",
        ):
            func(x)

    def test_filled_masked_array_gives_zero_weight(self):
        # The fix the message suggests works.
        x = np.ma.array([1.0, 5.0, 2.0], mask=[False, True, False])
        p = softmax(np.ma.filled(x, -np.inf))
        pair = scipy.special.softmax([1.0, 2.0])
        np.testing.assert_allclose(p, [pair[0], 0.0, pair[1]], rtol=1e-15)

    @pytest.mark.parametrize(("func", "name"), FUNCTIONS)
    @pytest.mark.parametrize(
        "x", [[[0.5, 0.5], [1.0]], [0.5, [0.5]]], ids=["rows", "mixed"]
    )
    def test_ragged_list_raises(self, func, name, x):
        with pytest.raises(
            ValueError,
            match=rf"^{func.__name__}: expected {name} to be array_like with "
            rf"a regular shape \(nested lists all of one length\), got a "
            rf"list that NumPy cannot turn into an array: .*Pad or trim the "
            rf"rows to one length, or call {func.__name__} on each row "
            rf"separately\.$",
        ):
            func(x)

    @pytest.mark.parametrize(("func", "name"), FUNCTIONS)
    @pytest.mark.parametrize("big", [10**400, -(10**400)], ids=["+", "-"])
    def test_integers_beyond_float_raise(self, func, name, big):
        with pytest.raises(
            ValueError,
            match=rf"^{func.__name__}: expected {name} to hold numbers that "
            rf"fit in a float \(magnitude at most 1\.798e\+308\), got "
            rf"numbers too large to convert to float",
        ):
            func([big, 0])

    def test_large_integers_within_float_keep_the_old_message(self):
        # Beyond int64 but within float64: still dtype object, as before.
        with pytest.raises(ValueError, match=r"got an array of dtype object"):
            softmax([2**70, 0])


class TestCacheBlocks:
    """Results do not depend on how the input is cut into cache blocks.

    ``BLOCK_BYTES`` is made tiny so that small arrays go through every
    path: several slices per block, one slice per block, and slices larger
    than a block along an axis that is not the last.
    """

    SHAPES = [(7,), (3, 5), (5, 3, 4), (2, 40, 9), (33, 17), (4, 1, 3)]

    @pytest.fixture(params=[8, 64, 1024, 2**20], autouse=True)
    def block_bytes(self, request, monkeypatch):
        # lecture_lib.softmax is also the name of the function.
        module = sys.modules["lecture_lib.softmax"]
        monkeypatch.setattr(module, "BLOCK_BYTES", request.param)
        return request.param

    @pytest.mark.parametrize("shape", SHAPES)
    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    @pytest.mark.parametrize("temperature", [1.0, 0.3, 7.0])
    def test_softmax_and_log_softmax_match_scipy(
        self, shape, dtype, temperature
    ):
        x = random_scores(1, shape, dtype, scale=20.0)
        x.flat[0] = -np.inf
        exact = x.astype(np.float64) / temperature
        rtol = 1e-4 if dtype == np.float32 else 1e-12
        for axis in range(-1, len(shape)):
            if shape[axis] == 1:
                continue
            p = softmax(x, axis=axis, temperature=temperature)
            assert p.dtype == dtype
            np.testing.assert_allclose(
                p,
                scipy.special.softmax(exact, axis=axis),
                rtol=rtol,
                atol=1e-30,
            )
            log_p = log_softmax(x, axis=axis, temperature=temperature)
            np.testing.assert_allclose(
                log_p,
                scipy.special.log_softmax(exact, axis=axis),
                rtol=rtol,
                atol=rtol,
            )

    @pytest.mark.parametrize("shape", SHAPES)
    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_logsumexp_matches_scipy(self, shape, dtype):
        x = random_scores(2, shape, dtype, scale=20.0)
        x[..., 0] = -np.inf
        rtol = 1e-6 if dtype == np.float32 else 1e-14
        for axis in range(-1, len(shape)):
            np.testing.assert_allclose(
                logsumexp(x, axis=axis),
                scipy.special.logsumexp(x.astype(np.float64), axis=axis),
                rtol=rtol,
            )

    @pytest.mark.parametrize("offset", [-50.0, 0.0, 30.0, 85.0])
    def test_maxima_near_overflow_or_below_zero(self, offset):
        # The subtraction of the maximum is skipped only where that is
        # safe: the result must hold for maxima below 0 and near overflow.
        x = random_scores(3, (40, 30), np.float32) + np.float32(offset)
        for axis in (0, 1):
            p = softmax(x, axis=axis)
            assert np.isfinite(p).all()
            np.testing.assert_allclose(
                p,
                scipy.special.softmax(x.astype(np.float64), axis=axis),
                rtol=1e-5,
            )

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    @pytest.mark.parametrize("temperature", [1.0, 0.5])
    def test_column_maxima_that_move_from_block_to_block(
        self, dtype, temperature
    ):
        # Along axis 0 of an input larger than a block, rows arrive block
        # by block and each column's running maximum moves: from scores
        # that need no shift to one far above them, from -inf alone to
        # finite scores, from very negative upwards, or not at all.
        # Every maximum just below the largest exp may take unshifted,
        # then one just above: scaling the first blocks afterwards would
        # underflow, so they must be computed again.
        limit = np.log(np.finfo(dtype).max) - np.log(60) - 1
        near = (limit - np.abs(random_scores(4, (60, 5), dtype))).astype(dtype)
        near[-1, 0] = limit + 15
        moving = random_scores(5, (60, 5), dtype)
        moving[:30, 1] = -np.inf
        moving[30:, 1] -= 5000.0
        moving[:, 2] = np.linspace(-300.0, 20.0, 60)
        moving[:, 3] = np.linspace(20.0, -1e4, 60)
        moving[::7, 4] = 80.0
        for x in (near, moving):
            exact = scipy.special.softmax(
                x.astype(np.float64) / temperature, axis=0
            )
            p = softmax(x, axis=0, temperature=temperature)
            assert p.dtype == dtype and np.isfinite(p).all()
            np.testing.assert_allclose(
                p,
                exact,
                rtol=1e-5 if dtype == np.float32 else 1e-12,
                atol=float(np.finfo(dtype).tiny),
            )

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_log_probabilities_near_zero_in_long_strided_slices(self, dtype):
        # The maximum's log-probability is -log1p(rest), with rest far
        # below eps: it must come out to full relative accuracy, also when
        # the slice is read block by block. Column 1 has two maxima,
        # column 2 one finite score among -inf.
        x = np.full((40, 3), -np.inf, dtype=dtype)
        x[:, 0] = np.linspace(-60.0, -40.0, 40)
        x[17, 0] = 0.0
        x[:, 1] = x[:, 0]
        x[30, 1] = 0.0
        x[5, 2] = 3.0
        x64 = x.astype(np.float64)
        # The terms other than the maxima, summed in float64.
        rest = np.exp(np.delete(x64[:, 0], 17)).sum()
        rest_tied = np.exp(np.delete(x64[:, 1], [17, 30])).sum()
        got = log_softmax(x, axis=0)
        np.testing.assert_allclose(got[17, 0], -np.log1p(rest), rtol=1e-6)
        np.testing.assert_allclose(
            got[[17, 30], 1], -np.log1p(1.0 + rest_tied), rtol=1e-6
        )
        assert got[5, 2] == 0.0 and np.isneginf(np.delete(got[:, 2], 5)).all()
        lse = logsumexp(x, axis=0)
        np.testing.assert_allclose(lse[0], np.log1p(rest), rtol=1e-6)
        assert lse[2] == dtype(3.0)

    @pytest.mark.parametrize("func", [softmax, log_softmax, logsumexp])
    def test_errors_name_the_slice_in_the_whole_input(self, func):
        x = np.zeros((6, 50))
        x[4, 44] = np.nan
        with pytest.raises(ValueError, match=r"index \(4,\) along axis 1"):
            func(x)
        with pytest.raises(ValueError, match=r"index \(44,\) along axis 0"):
            func(x, axis=0)
