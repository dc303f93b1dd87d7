"""Tests for :mod:`lecture_lib.exercise_checks`."""

import numpy as np
import pytest
import scipy.special
from scipy.special import softmax as renamed_softmax

import lecture_lib
from lecture_lib.exercise_checks import forbidden_names, frequencies_match


def clean(x):
    z = np.asarray(x) - np.max(x)
    return np.exp(z) / np.sum(np.exp(z))


def via_alias(x):
    return renamed_softmax(x)


def via_module_attribute(x):
    return scipy.special.softmax(x)


def via_local_import(x):
    import scipy.special as sp

    return sp.softmax(x)


def via_lecture_lib(x):
    return lecture_lib.softmax(x)


def helper(x):
    return renamed_softmax(x)


def via_helper(x):
    return helper(x)


def via_lambda(x):
    f = lambda v: renamed_softmax(v)  # noqa: E731
    return f(x)


def via_choice(p, rng):
    return rng.choice(len(p), p=p)


class TestForbiddenNames:
    def test_numpy_only_function_is_clean(self):
        assert forbidden_names(clean) == []

    @pytest.mark.parametrize(
        "func, name",
        [
            (via_alias, "renamed_softmax"),
            (via_module_attribute, "scipy"),
            (via_local_import, "scipy"),
            (via_lecture_lib, "lecture_lib"),
            (via_helper, "renamed_softmax"),
            (via_lambda, "renamed_softmax"),
        ],
    )
    def test_forbidden_library_is_found_however_it_is_reached(
        self, func, name
    ):
        assert name in forbidden_names(func)

    def test_forbidden_attribute(self):
        assert forbidden_names(via_choice, attributes=("choice",)) == [
            "choice"
        ]
        assert forbidden_names(via_choice) == []

    def test_recursive_helpers_terminate(self):
        def ping(n):
            return 0 if n == 0 else pong(n - 1)

        def pong(n):
            return ping(n)

        assert forbidden_names(ping) == []

    def test_rejects_non_functions(self):
        with pytest.raises(ValueError, match="expected a Python function"):
            forbidden_names(np.exp)


class TestFrequenciesMatch:
    P = np.array([0.6, 0.25, 0.1, 0.05])

    def test_correct_sampler_passes_every_seed(self):
        # Each call fails a correct sampler with probability <= 1e-7, so
        # 50 seeded calls all pass except with probability <= 5e-6.
        for seed in range(50):
            draws = np.random.default_rng(seed).choice(4, 5000, p=self.P)
            ok, freq = frequencies_match(draws, self.P)
            assert ok, (seed, freq)

    def test_bound_is_hoeffding_with_union_bound(self):
        m, delta = 10000, 1e-7
        bound = np.sqrt(np.log(2 * 4 / delta) / (2 * m))
        counts = (self.P * m).astype(int)
        counts[0] += m - counts.sum()
        draws = np.repeat(np.arange(4), counts)
        # Move mass between two labels: just inside, then just outside.
        shift = int(np.floor(bound * m)) - 1
        inside = draws.copy()
        inside[:shift] = 1
        assert frequencies_match(inside, self.P, delta)[0]
        outside = draws.copy()
        outside[: shift + 3] = 1
        assert not frequencies_match(outside, self.P, delta)[0]

    def test_wrong_distribution_fails(self):
        draws = np.random.default_rng(0).choice(4, 20000)  # uniform
        ok, freq = frequencies_match(draws, self.P)
        assert not ok
        assert np.isclose(freq.sum(), 1.0)

    @pytest.mark.parametrize("bad", [[], [0, 4], [-1, 2]])
    def test_rejects_labels_out_of_range(self, bad):
        with pytest.raises(ValueError, match=r"labels in \[0, 4\)"):
            frequencies_match(np.array(bad, dtype=int), self.P)
