"""Tests for :mod:`lecture_lib.selection`.

Oracles are independent of the code under test: probabilities come from
the softmax written out in float64 here (``softmax64``), tail bounds from
``scipy.stats``, and the distribution of the wrong-sign Gumbel mutant from
numerical integration with ``scipy.integrate``.

Statistical tests and their false-failure probability
------------------------------------------------------
Every statistical test uses a seeded local generator, so it either always
passes or always fails for a given implementation; the probabilities below
are over the choice of seed, and say how unlikely it is that a correct
sampler fails (or a wrong one passes) by bad luck.

* One-sample tests (:func:`counts_follow`) compare the count of each of
  the ``k`` possible categories with exact binomial quantiles from
  ``scipy.stats.binom``: each count falls below its lower bound, or above
  its upper bound, with probability at most ``alpha / (2 k)``, so by the
  union bound a correct sampler fails with probability at most ``alpha``.
  This is exact, not asymptotic. A category of probability 0 must have
  count 0.
* The two-sample test (:func:`same_distribution`) is Pearson's chi-square
  test of homogeneity at nominal significance ``alpha``, with
  ``scipy.stats.chi2.isf``. The chi-square law is its large-sample limit;
  every expected count here exceeds 5000, and ``alpha`` leaves a margin of
  100 below the budget of 1e-6 for the error of that limit.
* ``alpha = ALPHA = 1e-8`` for every statistical assertion. There are
  fewer than 30 of them in this file, so the whole file fails by bad luck
  with probability below 3e-7, and each test below 1e-6.
* Each mutant test checks that a known-wrong sampler is REJECTED. Where
  the mutant's distribution ``p'`` is known, the test also computes the
  probability that the mutant would pass: at most
  ``P(lo_i <= Binomial(N, p'_i) <= hi_i)`` for every category ``i``, which
  it asserts is below 1e-12. A rejection is therefore not luck of the seed.

The whole module runs with warnings turned into errors.
"""

import numpy as np
import pytest
import scipy.integrate
import scipy.stats

from lecture_lib import softmax
from lecture_lib.gradcheck import gradcheck, numerical_gradient
from lecture_lib.selection import (
    gumbel_max_sample,
    hard_select,
    sample_categorical,
    sample_softmax,
    soft_select,
    top_k_logits,
)

pytestmark = pytest.mark.filterwarnings("error")

ALPHA = 1e-8  # false-failure probability of each statistical assertion
MUTANT_PASS = 1e-12  # bound asserted on the chance a mutant slips through
N_DRAWS = 100_000

# Running example: n = 5 scores, as in lecture 1.
X = np.array([2.0, 1.0, 0.1, -1.0, 0.5])
FLOATS = [np.float16, np.float32, np.float64]


# -- oracles and statistical helpers ------------------------------------


def softmax64(x, temperature=1.0):
    """softmax(x / temperature) along the last axis, written out in float64."""
    z = np.asarray(x, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def binomial_bounds(n_draws, p, alpha=ALPHA):
    """Per-category acceptance interval ``[lo, hi]`` for counts of draws.

    Under a correct sampler, count ``i`` is Binomial(n_draws, p_i), and
    ``P(count_i < lo_i) <= a`` and ``P(count_i > hi_i) <= a`` with
    ``a = alpha / (2 k)``, ``k`` the number of categories with p_i > 0.
    """
    p = np.asarray(p, dtype=np.float64)
    a = alpha / (2 * np.count_nonzero(p))
    lo = scipy.stats.binom.ppf(a, n_draws, p)
    hi = scipy.stats.binom.isf(a, n_draws, p)
    lo[p == 0] = hi[p == 0] = 0
    return lo, hi


def counts_follow(counts, p, alpha=ALPHA):
    """True if every count lies in its binomial acceptance interval."""
    lo, hi = binomial_bounds(int(np.sum(counts)), p, alpha)
    return bool(np.all((lo <= counts) & (counts <= hi)))


def chance_mutant_passes(n_draws, p, p_mutant, alpha=ALPHA):
    """Upper bound on P(a sampler of ``p_mutant`` passes counts_follow)."""
    lo, hi = binomial_bounds(n_draws, p, alpha)
    inside = scipy.stats.binom.cdf(
        hi, n_draws, p_mutant
    ) - scipy.stats.binom.cdf(lo - 1, n_draws, p_mutant)
    return float(inside.min())


def counts(samples, n):
    """Counts of each of ``n`` categories along the first axis."""
    return np.bincount(np.ravel(samples), minlength=n)


def same_distribution(counts_a, counts_b, alpha=ALPHA):
    """Pearson chi-square test of homogeneity of two count vectors."""
    table = np.stack([counts_a, counts_b])
    table = table[:, table.sum(axis=0) > 0]
    stat, _, dof, _ = scipy.stats.chi2_contingency(table, correction=False)
    return stat <= scipy.stats.chi2.isf(alpha, dof), stat


class ConstantGenerator(np.random.Generator):
    """A Generator whose ``random`` returns one fixed value everywhere.

    It lets a test put the uniform draw exactly on an edge case (0, just
    below 1, a cumulative-sum boundary).
    """

    def __init__(self, value):
        super().__init__(np.random.PCG64(0))
        self.value = value

    def random(self, size=None, dtype=np.float64, out=None):
        return np.full(size, self.value, dtype=dtype)


# -- mutants: classic wrong samplers the tests must reject ---------------


def mutant_ignores_temperature(logits, temperature, size, rng):
    """Samples softmax(logits), whatever the temperature."""
    return sample_softmax(logits, 1.0, size=size, rng=rng)


def _gumbel(rng, shape):
    u = rng.random(shape)
    return -np.log(-np.log(u))


def mutant_gumbel_wrong_sign(logits, size, rng):
    """argmax(logits - g): the Gumbel noise subtracted."""
    g = _gumbel(np.random.default_rng(rng), (size, len(logits)))
    return np.argmax(logits - g, axis=-1)


def mutant_gumbel_on_p(logits, size, rng):
    """argmax(p + g): noise added to the probabilities, not to log p."""
    g = _gumbel(np.random.default_rng(rng), (size, len(logits)))
    return np.argmax(softmax64(logits) + g, axis=-1)


def mutant_off_by_one_cdf(p, size, rng):
    """Inverse CDF against the cumulative sums shifted by one place."""
    u = np.random.default_rng(rng).random(size)
    c = np.concatenate([[0.0], np.cumsum(p)[:-1]])  # exclusive cumsum
    index = (c[None, :] < u[:, None]).sum(axis=-1)  # one too many
    return np.minimum(index, len(p) - 1)


def wrong_sign_gumbel_probabilities(x):
    """P(argmax_i (x_i - g_i) = k) for independent standard Gumbel g.

    ``Y_j = x_j - g_j`` has density ``f(x_j - t)`` and distribution
    function ``1 - F(x_j - t)``, with ``F(g) = exp(-exp(-g))`` the Gumbel
    distribution function and ``f`` its density.
    """

    def cdf(g):
        return np.exp(-np.exp(-g))

    def pdf(g):
        return np.exp(-(g + np.exp(-g)))

    probs = []
    for k in range(len(x)):
        others = [j for j in range(len(x)) if j != k]

        def integrand(t, k=k, others=others):
            value = pdf(x[k] - t)
            for j in others:
                value *= 1.0 - cdf(x[j] - t)
            return value

        lo, hi = x.min() - 40.0, x.max() + 40.0
        probs.append(scipy.integrate.quad(integrand, lo, hi, limit=200)[0])
    return np.array(probs)


def test_helpers_accept_exact_samples_and_reject_others():
    """The statistical helper itself: exact counts pass, off ones fail."""
    p = np.array([0.2, 0.0, 0.8])
    assert counts_follow(np.array([20_000, 0, 80_000]), p)
    assert not counts_follow(np.array([21_000, 0, 79_000]), p)
    assert not counts_follow(np.array([20_000, 1, 79_999]), p)


# -- sample_categorical --------------------------------------------------


class TestSampleCategorical:
    P = np.array([0.0, 0.1, 0.25, 0.0, 0.4, 0.25, 0.0])

    def test_frequencies_match_p(self):
        # False failure <= ALPHA = 1e-8 (exact binomial bounds).
        draws = sample_categorical(self.P, size=N_DRAWS, rng=1)
        assert counts_follow(counts(draws, self.P.size), self.P)

    def test_rejects_mutant_off_by_one_cumsum(self):
        # The mutant draws category i + 1 with probability p_i: it puts
        # 0.1 on category 2 where 0.25 belongs. P(mutant passes) < 1e-12,
        # asserted below.
        draws = mutant_off_by_one_cdf(self.P, N_DRAWS, rng=1)
        assert not counts_follow(counts(draws, self.P.size), self.P)
        shifted = np.concatenate([[0.0], self.P[:-1]])
        shifted[-1] += self.P[-1]
        assert chance_mutant_passes(N_DRAWS, self.P, shifted) < MUTANT_PASS

    def test_batched_rows_follow_their_own_p(self):
        # Three rows tested separately at ALPHA / 3 each: false failure
        # <= 1e-8 in total (union bound).
        P = np.array([[0.7, 0.2, 0.1, 0.0], [0.0, 0.0, 0.5, 0.5], X[:4]])
        P[2] = softmax64(P[2])
        draws = sample_categorical(P, size=N_DRAWS, rng=2)
        assert draws.shape == (N_DRAWS, 3)
        for b in range(3):
            assert counts_follow(counts(draws[:, b], 4), P[b], ALPHA / 3)

    def test_zero_probability_categories_never_drawn(self):
        # Leading, inner and trailing zeros, and a tiny positive neighbour.
        p = np.array([0.0, 0.0, 1e-3, 0.0, 0.999, 0.0, 0.0])
        draws = sample_categorical(p, size=(200, 1000), rng=3)
        assert set(np.unique(draws)) <= {2, 4}

    def test_uniform_zero_lands_on_first_positive_category(self):
        # u = 0 matches the cumulative sums of the leading zeros: a
        # comparison with "<" instead of "<=" would draw category 0.
        p = np.array([0.0, 0.0, 0.5, 0.0, 0.5, 0.0])
        got = sample_categorical(p, size=4, rng=ConstantGenerator(0.0))
        np.testing.assert_array_equal(got, [2, 2, 2, 2])

    def test_uniform_near_one_with_short_sum_and_trailing_zeros(self):
        # The sum is 1 - 1e-4 (within tolerance), u just below 1: comparing
        # u with the unscaled cumulative sums would run past the last
        # positive category into the trailing zeros, or out of range.
        p = np.array([0.3, 0.3, 0.3999, 0.0, 0.0])
        u = np.nextafter(1.0, 0.0)
        got = sample_categorical(p, rng=ConstantGenerator(u))
        assert got == 2

    def test_uniform_of_one_is_guarded(self):
        # A Generator never returns 1.0, but if u * sum(p) reached the sum,
        # the draw must still be the last positive category.
        p = np.array([0.25, 0.75, 0.0, 0.0])
        assert sample_categorical(p, rng=ConstantGenerator(1.0)) == 1

    def test_uniform_on_a_cumulative_sum_boundary(self):
        # u * total == c[0] == c[1] exactly: the draw must skip the zero.
        p = np.array([0.5, 0.0, 0.5])
        assert sample_categorical(p, rng=ConstantGenerator(0.5)) == 2

    def test_float32_softmax_output_accepted(self):
        # The float32 softmax of 1000 equal logits is 1000 times
        # float32(0.001), which sums to 1 + 4.7e-8 in float64: beyond the
        # sqrt(eps) of float64 that numpy's Generator.choice allows.
        p32 = softmax(np.zeros(1000, dtype=np.float32))
        p64 = p32.astype(np.float64)
        assert abs(p64.sum() - 1.0) > np.sqrt(np.finfo(np.float64).eps)
        # False failure <= ALPHA (exact binomial bounds, 1000 categories).
        for p in (p32, p64):
            draws = sample_categorical(p, size=N_DRAWS, rng=4)
            assert counts_follow(counts(draws, 1000), np.full(1000, 1e-3))

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_low_precision_softmax_of_random_logits_accepted(self, dtype):
        logits = np.random.default_rng(5).normal(scale=3.0, size=(8, 1000))
        p = softmax(logits.astype(dtype))
        for q in (p, p.astype(np.float64)):
            draws = sample_categorical(q, size=10, rng=5)
            assert draws.shape == (10, 8)
            assert np.all(q[np.arange(8), draws] > 0)

    def test_renormalises_within_tolerance(self):
        # Sum 1 + 2e-4: accepted, and drawn from p / sum(p), whose first
        # category ends at 0.5 / 1.0002 = 0.49990..., not at 0.5.
        p = np.array([0.5, 0.5002])
        assert sample_categorical(p, rng=ConstantGenerator(0.4998)) == 0
        assert sample_categorical(p, rng=ConstantGenerator(0.49995)) == 1

    @pytest.mark.parametrize(
        ("p", "got"),
        [
            pytest.param(
                [2.0, 1.0, 0.1], "got a sum of 3.1 for p", id="logits"
            ),
            pytest.param([0.3, 0.3, 0.3], "got a sum of 0.9 ", id="short"),
            pytest.param([0.5, 0.501], "got a sum of 1.001 ", id="1e-3-off"),
            pytest.param(
                np.array([0.5, 0.51], dtype=np.float16),
                "within 3.9e-03 for float16",
                id="float16",
            ),
            pytest.param(
                [[0.5, 0.5], [0.0, 0.0]], "got a sum of 0 for p[1]", id="row"
            ),
        ],
    )
    def test_rejects_unnormalised(self, p, got):
        with pytest.raises(
            ValueError,
            match=r"^sample_categorical: expected every row of p to sum to "
            r"1 \(within .*Did you pass logits\? Use sample_softmax\(logits\)",
        ) as info:
            sample_categorical(p, rng=0)
        assert got in str(info.value)

    @pytest.mark.parametrize(
        ("p", "what"),
        [
            ([0.5, np.nan, 0.5], "1 NaN entry"),
            ([np.inf, 0.0], "1 infinite entry"),
            ([1.2, -0.1, -0.1], "2 negative entries"),
            ([0.5, -0.0, 0.5], None),  # -0.0 is not negative
        ],
    )
    def test_rejects_nan_inf_negative(self, p, what):
        if what is None:
            assert sample_categorical(p, size=50, rng=0).max() == 2
            return
        with pytest.raises(
            ValueError,
            match=rf"^sample_categorical: expected p to hold probabilities "
            rf"\(finite and >= 0\), got {what} in p of shape \(\d+,\)\. Did "
            rf"you pass logits\? Use sample_softmax\(logits\)",
        ):
            sample_categorical(p, rng=0)

    @pytest.mark.parametrize(
        "p", [np.float64(1.0), np.zeros(0), np.zeros((3, 0))]
    )
    def test_rejects_no_category_axis(self, p):
        with pytest.raises(
            ValueError,
            match=r"^sample_categorical: expected p of shape \(\.\.\., n\) "
            r"with n >= 1 categories along the last axis, got shape",
        ):
            sample_categorical(p)

    def test_rejects_complex(self):
        with pytest.raises(ValueError, match=r"expected p to hold real"):
            sample_categorical(np.array([0.5 + 0j, 0.5]))

    @pytest.mark.parametrize("size", [-1, 2.0, True, "3", (2, -1), (2, 1.5)])
    def test_rejects_bad_size(self, size):
        with pytest.raises(
            ValueError,
            match=r"^sample_categorical: expected size to be None, an int "
            r">= 0 or a tuple of ints >= 0, got .*Pass e\.g\. size=1000",
        ):
            sample_categorical([0.5, 0.5], size=size)

    @pytest.mark.parametrize(
        ("rng", "match"),
        [
            (np.random.RandomState(0), "legacy np.random.RandomState"),
            (-1, "non-negative int seed"),
            ("seed", "got str"),
            (1.5, "got float"),
        ],
    )
    def test_rejects_bad_rng(self, rng, match):
        with pytest.raises(
            ValueError, match=rf"^sample_categorical: .*{match}"
        ):
            sample_categorical([0.5, 0.5], rng=rng)

    @pytest.mark.parametrize(
        ("batch", "size", "expected"),
        [
            ((), None, ()),
            ((), 7, (7,)),
            ((), (2, 3), (2, 3)),
            ((4,), None, (4,)),
            ((4,), 7, (7, 4)),
            ((2, 3), (5, 1), (5, 1, 2, 3)),
            ((2, 3), 0, (0, 2, 3)),
            ((0,), 3, (3, 0)),
            ((4,), [2, 2], (2, 2, 4)),
        ],
    )
    def test_output_shape_and_dtype(self, batch, size, expected):
        p = np.full((*batch, 3), 1 / 3)
        got = np.asarray(sample_categorical(p, size=size, rng=0))
        assert got.shape == expected
        assert got.dtype == np.int64

    def test_one_distribution_no_size_gives_a_scalar(self):
        got = sample_categorical([0.0, 1.0], rng=0)
        assert isinstance(got, np.int64) and got == 1

    def test_integer_p_allowed(self):
        draws = sample_categorical(np.array([0, 1, 0]), size=20, rng=0)
        np.testing.assert_array_equal(draws, np.ones(20))

    def test_p_not_modified(self):
        p = np.array([0.2, 0.3, 0.5], dtype=np.float32)
        p.setflags(write=False)
        sample_categorical(p, size=10, rng=0)
        np.testing.assert_array_equal(p, np.float32([0.2, 0.3, 0.5]))

    def test_int_seed_is_reproducible(self):
        a = sample_categorical(self.P, size=1000, rng=11)
        b = sample_categorical(self.P, size=1000, rng=11)
        c = sample_categorical(self.P, size=1000, rng=12)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)

    def test_generator_continues_its_stream(self):
        gen = np.random.default_rng(13)
        first = sample_categorical(self.P, size=1000, rng=gen)
        second = sample_categorical(self.P, size=1000, rng=gen)
        assert not np.array_equal(first, second)
        # One uniform number per draw: two calls equal one call of twice
        # the size on a fresh generator with the same seed.
        both = sample_categorical(self.P, size=2000, rng=13)
        np.testing.assert_array_equal(np.concatenate([first, second]), both)

    def test_none_rng_uses_fresh_entropy(self):
        draws = sample_categorical(self.P, size=100, rng=None)
        assert set(np.unique(draws)) <= {1, 2, 4, 5}


# -- sample_softmax ------------------------------------------------------


class TestSampleSoftmax:
    def test_frequencies_match_softmax(self):
        # False failure <= ALPHA (exact binomial bounds).
        draws = sample_softmax(X, size=N_DRAWS, rng=21)
        assert counts_follow(counts(draws, 5), softmax64(X))

    @pytest.mark.parametrize("temperature", [0.5, 3.0])
    def test_temperature_changes_the_distribution(self, temperature):
        # False failure <= ALPHA per temperature (exact binomial bounds).
        expected = softmax64(X, temperature)
        draws = sample_softmax(X, temperature, size=N_DRAWS, rng=22)
        assert counts_follow(counts(draws, 5), expected)
        # Mutant: ignores the temperature. Rejected; P(mutant passes)
        # < 1e-12 (at T = 0.5, p_0 is 0.83 instead of 0.56).
        wrong = mutant_ignores_temperature(X, temperature, N_DRAWS, 22)
        assert not counts_follow(counts(wrong, 5), expected)
        assert (
            chance_mutant_passes(N_DRAWS, expected, softmax64(X)) < MUTANT_PASS
        )

    def test_temperature_zero_unique_maximum_is_the_argmax(self):
        logits = np.array([[0.3, 2.0, -1.0], [5.0, -np.inf, 4.999]])
        draws = sample_softmax(logits, temperature=0, size=500, rng=23)
        assert np.all(draws == [1, 0])

    def test_temperature_zero_ties_are_uniform(self):
        # Categories 0, 2, 4 tie; the others must never be drawn. False
        # failure <= ALPHA (exact binomial bounds).
        logits = np.array([3.0, 1.0, 3.0, -np.inf, 3.0])
        draws = sample_softmax(logits, temperature=0.0, size=N_DRAWS, rng=24)
        expected = np.array([1, 0, 1, 0, 1]) / 3
        assert counts_follow(counts(draws, 5), expected)

    def test_tiny_temperature_is_the_argmax(self):
        draws = sample_softmax(X, temperature=1e-3, size=1000, rng=25)
        assert np.all(draws == 0)

    def test_minus_inf_logits_never_sampled(self):
        # False failure <= ALPHA (exact binomial bounds).
        logits = np.array([-np.inf, 0.0, -np.inf, np.log(3.0), -np.inf])
        draws = sample_softmax(logits, temperature=2.0, size=N_DRAWS, rng=26)
        expected = np.array([0.0, 1.0, 0.0, np.sqrt(3.0), 0.0])
        assert counts_follow(counts(draws, 5), expected / expected.sum())

    def test_huge_logits(self):
        logits = np.array([[1e308, -1e308, 0.0], [-1e308, -1e308, -1e308]])
        draws = sample_softmax(logits, size=100, rng=27)
        assert np.all(draws[:, 0] == 0)
        assert set(np.unique(draws[:, 1])) == {0, 1, 2}

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_low_precision_logits_give_the_same_draws(self, dtype):
        # float16 and float32 values are exact in float64, and the
        # probabilities are computed in float64.
        logits = X.astype(dtype)
        got = sample_softmax(logits, 0.7, size=1000, rng=28)
        ref = sample_softmax(logits.astype(np.float64), 0.7, size=1000, rng=28)
        np.testing.assert_array_equal(got, ref)

    def test_temperature_as_numpy_float64_scalar(self):
        a = sample_softmax(X, np.float64(0.5), size=100, rng=29)
        np.testing.assert_array_equal(
            a, sample_softmax(X, 0.5, size=100, rng=29)
        )

    @pytest.mark.parametrize(
        "temperature", [-1.0, float("nan"), float("inf"), None, "1", True]
    )
    def test_rejects_bad_temperature(self, temperature):
        with pytest.raises(
            ValueError,
            match=r"^sample_softmax: expected temperature to be a finite "
            r"real number >= 0 .*Pass, for example, temperature=1\.0",
        ):
            sample_softmax(X, temperature)

    @pytest.mark.parametrize(
        ("logits", "match"),
        [
            ([0.0, np.nan], r"contains NaN\."),
            ([0.0, np.inf], r"contains \+inf\."),
            ([-np.inf, -np.inf], r"has no finite entry"),
            ([[0.0, 1.0], [-np.inf, -np.inf]], r"index \(1,\) .*no finite"),
            ([], r"expected logits of shape \(\.\.\., n\) with n >= 1"),
            (3.0, r"expected logits of shape \(\.\.\., n\)"),
        ],
    )
    def test_rejects_bad_logits(self, logits, match):
        with pytest.raises(ValueError, match=rf"^sample_softmax: .*{match}"):
            sample_softmax(logits)

    def test_batched_shapes(self):
        logits = np.zeros((2, 3, 4))
        assert sample_softmax(logits, rng=0).shape == (2, 3)
        assert sample_softmax(logits, size=5, rng=0).shape == (5, 2, 3)
        assert sample_softmax(X, rng=0).shape == ()

    def test_int_seed_and_generator(self):
        a = sample_softmax(X, size=500, rng=30)
        np.testing.assert_array_equal(a, sample_softmax(X, size=500, rng=30))
        gen = np.random.default_rng(30)
        first = sample_softmax(X, size=500, rng=gen)
        second = sample_softmax(X, size=500, rng=gen)
        np.testing.assert_array_equal(first, a)
        assert not np.array_equal(first, second)


# -- gumbel_max_sample ---------------------------------------------------


class TestGumbelMaxSample:
    def test_frequencies_match_softmax(self):
        # False failure <= ALPHA (exact binomial bounds).
        draws = gumbel_max_sample(X, size=N_DRAWS, rng=31)
        assert counts_follow(counts(draws, 5), softmax64(X))

    def test_rejects_mutant_wrong_sign(self):
        # argmax(x - g) has another law (computed by integration). Rejected;
        # P(mutant passes) < 1e-12.
        expected = softmax64(X)
        wrong_p = wrong_sign_gumbel_probabilities(X)
        np.testing.assert_allclose(wrong_p.sum(), 1.0, rtol=1e-7)
        assert chance_mutant_passes(N_DRAWS, expected, wrong_p) < MUTANT_PASS
        wrong = mutant_gumbel_wrong_sign(X, N_DRAWS, rng=31)
        # The integration is right: the mutant's own law fits its samples.
        assert counts_follow(counts(wrong, 5), wrong_p)
        assert not counts_follow(counts(wrong, 5), expected)

    def test_rejects_mutant_noise_on_p(self):
        # argmax(p + g) samples softmax(p), much flatter than p. Rejected;
        # P(mutant passes) < 1e-12.
        expected = softmax64(X)
        wrong = mutant_gumbel_on_p(X, N_DRAWS, rng=32)
        assert not counts_follow(counts(wrong, 5), expected)
        assert (
            chance_mutant_passes(N_DRAWS, expected, softmax64(expected))
            < MUTANT_PASS
        )

    def test_agrees_with_sample_softmax(self):
        # Two-sample chi-square at nominal 1e-8 (expected counts > 5000).
        logits = np.array([1.5, -np.inf, 0.0, 0.7, -0.4, 1.0])
        a = gumbel_max_sample(logits, size=N_DRAWS, rng=33)
        b = sample_softmax(logits, size=N_DRAWS, rng=34)
        ok, stat = same_distribution(counts(a, 6), counts(b, 6))
        assert ok, f"chi-square statistic {stat:.1f}"
        # The same test tells the wrong-sign mutant apart: its expected
        # statistic is about 4500, against a threshold of 43 (df = 4).
        wrong = mutant_gumbel_wrong_sign(logits, N_DRAWS, rng=35)
        assert not same_distribution(counts(wrong, 6), counts(b, 6))[0]

    def test_minus_inf_never_sampled_and_batches(self):
        # Row 0 is tested statistically (false failure <= ALPHA); row 1
        # has one finite logit, so every draw must be 2.
        logits = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, 5.0]])
        draws = gumbel_max_sample(logits, size=N_DRAWS, rng=36)
        assert draws.shape == (N_DRAWS, 2) and draws.dtype == np.int64
        assert counts_follow(counts(draws[:, 0], 3), softmax64(logits[0]))
        assert np.all(draws[:, 1] == 2)

    def test_uniform_zero_is_guarded(self):
        # Every U is 0: without the guard, -log(-log(0)) = -inf for all
        # entries (and a warning, an error here).
        got = gumbel_max_sample(
            np.array([-np.inf, 1.0, 3.0]), size=3, rng=ConstantGenerator(0.0)
        )
        np.testing.assert_array_equal(got, [2, 2, 2])

    def test_shapes_seed_and_stream(self):
        logits = np.zeros((2, 3, 4), dtype=np.float32)
        assert gumbel_max_sample(logits, rng=0).shape == (2, 3)
        assert gumbel_max_sample(logits, size=(5,), rng=0).shape == (5, 2, 3)
        assert isinstance(gumbel_max_sample(X, rng=0), np.int64)
        a = gumbel_max_sample(X, size=500, rng=37)
        np.testing.assert_array_equal(a, gumbel_max_sample(X, 500, rng=37))
        gen = np.random.default_rng(37)
        first = gumbel_max_sample(X, size=500, rng=gen)
        second = gumbel_max_sample(X, size=500, rng=gen)
        np.testing.assert_array_equal(first, a)
        assert not np.array_equal(first, second)

    @pytest.mark.parametrize(
        ("logits", "match"),
        [
            ([0.0, np.nan], r"contains NaN\."),
            ([0.0, np.inf], r"contains \+inf\."),
            ([-np.inf], r"has no finite entry"),
            (np.zeros((2, 0)), r"with n >= 1"),
        ],
    )
    def test_rejects_bad_logits(self, logits, match):
        with pytest.raises(
            ValueError, match=rf"^gumbel_max_sample: .*{match}"
        ):
            gumbel_max_sample(logits)

    def test_rejects_bad_size_and_rng(self):
        with pytest.raises(ValueError, match=r"^gumbel_max_sample: .*size"):
            gumbel_max_sample(X, size=-3)
        with pytest.raises(ValueError, match=r"^gumbel_max_sample: .*rng"):
            gumbel_max_sample(X, rng=np.random.RandomState(0))


# -- top_k_logits ----------------------------------------------------------


def top_k_loop(row, k):
    """The k largest entries of a 1-D row, ties to the lower index."""
    order = sorted(range(len(row)), key=lambda i: (-float(row[i]), i))
    out = np.full(len(row), -np.inf)
    for i in order[:k]:
        out[i] = row[i]
    return out


class TestTopKLogits:
    @pytest.mark.parametrize("k", [1, 2, 4, 6])
    def test_matches_loop_oracle(self, k):
        rng = np.random.default_rng(41)
        x = np.round(rng.normal(size=(5, 7)), 1)  # rounding makes ties
        got = top_k_logits(x, k)
        expected = np.stack([top_k_loop(row, k) for row in x])
        np.testing.assert_array_equal(got, expected)
        assert np.all(np.isfinite(got).sum(axis=-1) == k)

    def test_many_ties_in_long_rows(self):
        # Long rows, where an unstable sort would reorder equal logits.
        x = np.random.default_rng(43).integers(0, 5, size=(4, 300))
        x = x.astype(np.float64)
        expected = np.stack([top_k_loop(row, 70) for row in x])
        np.testing.assert_array_equal(top_k_logits(x, 70), expected)

    def test_ties_go_to_the_lower_index(self):
        x = np.array([1.0, 5.0, 5.0, 2.0, 5.0])
        np.testing.assert_array_equal(
            top_k_logits(x, 2), [-np.inf, 5.0, 5.0, -np.inf, -np.inf]
        )
        np.testing.assert_array_equal(
            top_k_logits(np.zeros(4), 1), [0.0, -np.inf, -np.inf, -np.inf]
        )

    def test_works_along_the_last_axis_only(self):
        x = np.arange(24.0).reshape(2, 3, 4)[..., ::-1]
        got = top_k_logits(x, 1)
        assert got.shape == x.shape
        assert np.all(np.isfinite(got[..., 0]))
        assert np.all(np.isneginf(got[..., 1:]))

    @pytest.mark.parametrize("k", [5, 6, 100])
    def test_k_at_least_n_returns_an_unchanged_copy(self, k):
        x = np.array([1.0, -np.inf, 3.0, 0.0, 2.0], dtype=np.float32)
        got = top_k_logits(x, k)
        np.testing.assert_array_equal(got, x, strict=True)
        assert not np.shares_memory(got, x)

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_dtype_kept(self, dtype):
        got = top_k_logits(np.array([3.0, 1.0, 2.0], dtype=dtype), 2)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, [3.0, -np.inf, 2.0])

    def test_integers_become_float64(self):
        got = top_k_logits(np.array([3, 1, 2]), np.int64(1))
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, [3.0, -np.inf, -np.inf])

    def test_infinite_logits_rank_at_the_ends(self):
        x = np.array([-np.inf, 0.0, np.inf, -np.inf])
        np.testing.assert_array_equal(
            top_k_logits(x, 3), [-np.inf, 0.0, np.inf, -np.inf]
        )

    def test_input_not_modified(self):
        x = np.array([0.5, 2.0, 1.0])
        x.setflags(write=False)
        top_k_logits(x, 1)
        np.testing.assert_array_equal(x, [0.5, 2.0, 1.0])

    def test_sampling_stays_in_the_top_k(self):
        draws = sample_softmax(top_k_logits(X, 2), size=10_000, rng=42)
        assert set(np.unique(draws)) == {0, 1}

    @pytest.mark.parametrize("k", [0, -1, 1.0, 2.5, True, "2", None])
    def test_rejects_bad_k(self, k):
        with pytest.raises(
            ValueError,
            match=r"^top_k_logits: expected k to be an int >= 1 .*got "
            r".*Pass e\.g\. k=5",
        ):
            top_k_logits(X, k)

    def test_rejects_nan_and_0d(self):
        with pytest.raises(ValueError, match=r"^top_k_logits: .*1 NaN"):
            top_k_logits(np.array([0.0, np.nan]), 1)
        with pytest.raises(ValueError, match=r"^top_k_logits: .*0-D"):
            top_k_logits(1.0, 1)


# -- hard_select and soft_select -----------------------------------------


def random_candidates(seed, n=6, d=3, batch=None, dtype=np.float64):
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n, d))
    q = rng.normal(size=(d,) if batch is None else (batch, d))
    return U.astype(dtype), q.astype(dtype)


def scores_loop(U, q):
    """s_j = sum_k U[j, k] q[k], with Python floats."""
    U, q = np.asarray(U, np.float64), np.asarray(q, np.float64)
    return np.array(
        [
            sum(float(a) * float(b) for a, b in zip(u, q, strict=True))
            for u in U
        ]
    )


BAD_SHAPES = [
    pytest.param((3, 2), (3,), r"got q of shape \(3,\)", id="q-wrong-d"),
    pytest.param((3, 2), (4, 3), r"got q of shape \(4, 3\)", id="batch-d"),
    pytest.param((3, 2), (1, 1, 2), r"\(1, 1, 2\)", id="q-3d"),
    pytest.param((3, 2), (), r"got q of shape \(\)", id="q-0d"),
    pytest.param((6,), (6,), r"expected U of shape \(n, d\)", id="U-1d"),
    pytest.param((0, 2), (2,), r"n >= 1 .*got shape \(0, 2\)", id="no-rows"),
]


class TestHardSelect:
    def test_matches_float64_argmax(self):
        U, q = random_candidates(51)
        index, weights = hard_select(U, q)
        s = scores_loop(U, q)
        assert index == int(np.argmax(s))
        assert isinstance(index, np.int64)
        np.testing.assert_array_equal(weights, np.eye(6)[np.argmax(s)])
        np.testing.assert_allclose(weights @ U, U[index], rtol=1e-15)

    def test_batched(self):
        U, Q = random_candidates(52, batch=4)
        index, weights = hard_select(U, Q)
        assert index.shape == (4,) and index.dtype == np.int64
        assert weights.shape == (4, 6)
        for b in range(4):
            assert index[b] == np.argmax(scores_loop(U, Q[b]))
            assert weights[b, index[b]] == 1.0 and weights[b].sum() == 1.0

    def test_ties_go_to_the_lowest_index(self):
        U = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
        index, weights = hard_select(U, np.array([[1.0, 1.0], [0.0, 2.0]]))
        np.testing.assert_array_equal(index, [0, 0])
        index, _ = hard_select(U, np.array([2.0, 0.0]))
        assert index == 1

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_dtype(self, dtype):
        U, q = random_candidates(53, dtype=dtype)
        _, weights = hard_select(U, q)
        assert weights.dtype == dtype

    def test_integers_give_float64(self):
        index, weights = hard_select(np.eye(3, dtype=int), np.array([0, 0, 1]))
        assert index == 2 and weights.dtype == np.float64

    def test_gradient_is_zero_almost_everywhere(self):
        # The one-hot weights do not move under small changes of q.
        U, q = random_candidates(54)
        g = np.random.default_rng(54).normal(size=3)

        def loss(v):
            return float(hard_select(U, v)[1] @ U @ g)

        np.testing.assert_array_equal(numerical_gradient(loss, q.copy()), 0)

    @pytest.mark.parametrize(("u_shape", "q_shape", "match"), BAD_SHAPES)
    def test_rejects_bad_shapes(self, u_shape, q_shape, match):
        with pytest.raises(ValueError, match=rf"^hard_select: .*{match}"):
            hard_select(np.ones(u_shape), np.ones(q_shape))

    def test_shape_message_names_both_shapes(self):
        with pytest.raises(
            ValueError,
            match=r"^hard_select: expected q of shape \(d,\) or \(batch, d\) "
            r"with d = 2 to match U of shape \(3, 2\), got q of shape "
            r"\(5,\)\.",
        ):
            hard_select(np.ones((3, 2)), np.ones(5))

    @pytest.mark.parametrize("where", ["U", "q"])
    def test_rejects_non_finite(self, where):
        U, q = random_candidates(55)
        (U if where == "U" else q)[0] = np.nan
        with pytest.raises(
            ValueError, match=rf"^hard_select: expected {where} to hold finite"
        ):
            hard_select(U, q)


class TestSoftSelect:
    @pytest.mark.parametrize("temperature", [0.3, 1.0, 4.0])
    def test_matches_float64_formula(self, temperature):
        U, q = random_candidates(61)
        weights, summary = soft_select(U, q, temperature)
        expected_w = softmax64(scores_loop(U, q), temperature)
        np.testing.assert_allclose(weights, expected_w, rtol=1e-13)
        expected_s = sum(expected_w[j] * U[j] for j in range(6))
        np.testing.assert_allclose(summary, expected_s, rtol=1e-12)

    def test_batched(self):
        U, Q = random_candidates(62, batch=4)
        weights, summary = soft_select(U, Q, 0.5)
        assert weights.shape == (4, 6) and summary.shape == (4, 3)
        for b in range(4):
            w, s = soft_select(U, Q[b], 0.5)
            np.testing.assert_allclose(weights[b], w, rtol=1e-14)
            np.testing.assert_allclose(summary[b], s, rtol=1e-14)

    def test_temperature_zero_equals_hard_selection(self):
        U, Q = random_candidates(63, batch=5)
        weights, summary = soft_select(U, Q, temperature=0)
        index, hard_weights = hard_select(U, Q)
        np.testing.assert_array_equal(weights, hard_weights)
        np.testing.assert_array_equal(summary, U[index])

    def test_temperature_zero_ties_are_averaged(self):
        U = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
        weights, summary = soft_select(U, np.array([1.0, 0.5]), 0)
        np.testing.assert_array_equal(weights, [0.5, 0.0, 0.5])
        np.testing.assert_array_equal(summary, [1.0, 0.0])

    def test_small_temperature_approaches_hard(self):
        U, q = random_candidates(64)
        _, summary = soft_select(U, q, temperature=1e-4)
        index, _ = hard_select(U, q)
        np.testing.assert_allclose(summary, U[index], atol=1e-12)

    def test_large_temperature_is_the_mean(self):
        U, q = random_candidates(65)
        weights, summary = soft_select(U, q, temperature=1e9)
        np.testing.assert_allclose(weights, 1 / 6, rtol=1e-8)
        np.testing.assert_allclose(summary, U.mean(axis=0), atol=1e-8)

    @pytest.mark.parametrize("temperature", [0.5, np.float64(0.5), 0])
    def test_float32_stays_float32(self, temperature):
        U, q = random_candidates(66, batch=2, dtype=np.float32)
        weights, summary = soft_select(U, q, temperature)
        assert weights.dtype == np.float32 and summary.dtype == np.float32
        ref_w, ref_s = soft_select(
            U.astype(np.float64), q.astype(np.float64), temperature
        )
        np.testing.assert_allclose(weights, ref_w, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(summary, ref_s, rtol=1e-5, atol=1e-6)

    def test_float16_and_integers(self):
        U, q = random_candidates(67, dtype=np.float16)
        assert all(a.dtype == np.float16 for a in soft_select(U, q))
        w, s = soft_select(np.eye(2, dtype=int), np.array([0, 1]))
        assert w.dtype == s.dtype == np.float64

    def test_gradient_with_respect_to_q_and_U(self):
        # L = g . summary. dL/dq = U^T J U g / T and
        # dL/dU = p g^T + (J U g / T) q^T with J = diag(p) - p p^T.
        U, q = random_candidates(68)
        g = np.random.default_rng(68).normal(size=3)
        T = 0.7
        p, _ = soft_select(U, q, T)
        J = np.diag(p) - np.outer(p, p)
        grad_q = U.T @ J @ U @ g / T
        grad_U = np.outer(p, g) + np.outer(J @ U @ g / T, q)

        def loss():
            return float(soft_select(U, q, T)[1] @ g)

        report = gradcheck(loss, {"q": q, "U": U}, {"q": grad_q, "U": grad_U})
        assert report.passed, str(report)
        wrong = gradcheck(loss, {"q": q}, {"q": U.T @ J @ U @ g})  # no 1/T
        assert not wrong.passed

    @pytest.mark.parametrize(("u_shape", "q_shape", "match"), BAD_SHAPES)
    def test_rejects_bad_shapes(self, u_shape, q_shape, match):
        with pytest.raises(ValueError, match=rf"^soft_select: .*{match}"):
            soft_select(np.ones(u_shape), np.ones(q_shape))

    @pytest.mark.parametrize("temperature", [-0.5, float("inf"), "hot"])
    def test_rejects_bad_temperature(self, temperature):
        with pytest.raises(
            ValueError, match=r"^soft_select: expected temperature"
        ):
            soft_select(np.eye(2), np.ones(2), temperature)

    def test_inputs_not_modified(self):
        U, q = random_candidates(69, dtype=np.float32)
        U0, q0 = U.copy(), q.copy()
        U.setflags(write=False)
        q.setflags(write=False)
        soft_select(U, q, 0.5)
        hard_select(U, q)
        np.testing.assert_array_equal(U, U0)
        np.testing.assert_array_equal(q, q0)
