"""Tests for :mod:`lecture_lib._checks`, the input checks every module uses.

The public functions have their own tests of the messages they give; these
pin down the shared helpers, so that selection, heads and attention get the
same behaviour.
"""

import numpy as np
import pytest
from numpy.exceptions import AxisError

from lecture_lib._checks import (
    as_float_array,
    check_axis,
    check_bool,
    check_temperature,
)


class TestAsFloatArray:
    @pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
    def test_floating_input_is_not_copied(self, dtype):
        x = np.zeros(3, dtype=dtype)
        assert as_float_array(x, "x", "f") is x

    @pytest.mark.parametrize("x", [[1, 2], np.array([True]), np.uint8([3])])
    def test_integers_and_bools_become_float64(self, x):
        assert as_float_array(x, "x", "f").dtype == np.float64

    @pytest.mark.parametrize("mask", [True, False, [False, True]])
    def test_masked_array_raises_even_without_masked_entries(self, mask):
        x = np.ma.array([1.0, 2.0], mask=mask)
        with pytest.raises(
            ValueError,
            match=r"^f: expected U to be a plain array, got a masked array "
            r"\(np\.ma\.MaskedArray\), whose mask f would silently ignore\. "
            r"For scores, mark masked entries with -inf instead: pass "
            r"np\.ma\.filled\(U, -np\.inf\); for other quantities, fill "
            r"them with a value that suits, np\.ma\.filled\(U, value\)\.$",
        ):
            as_float_array(x, "U", "f")

    def test_masked_constant_raises(self):
        with pytest.raises(ValueError, match=r"masked array"):
            as_float_array(np.ma.masked, "x", "f")

    def test_ragged_list_raises_value_error_naming_function(self):
        with pytest.raises(
            ValueError,
            match=r"^f: expected q to be array_like with a regular shape "
            r"\(nested lists all of one length\), got a list that NumPy "
            r"cannot turn into an array: .*inhomogeneous.* Pad or trim the "
            r"rows to one length, or call f on each row separately\.$",
        ) as info:
            as_float_array([[1.0, 2.0], [3.0]], "q", "f")
        assert isinstance(info.value.__cause__, ValueError)

    @pytest.mark.parametrize(
        "x",
        [[10**400, 0], [0.5, -(10**309)], np.array(10**400)],
        ids=["list", "mixed", "0-d"],
    )
    def test_numbers_beyond_float_raise(self, x):
        with pytest.raises(
            ValueError,
            match=r"^f: expected x to hold numbers that fit in a float "
            r"\(magnitude at most 1\.798e\+308\), got numbers too large "
            r"to convert to float \(NumPy stores them as dtype object\)\. "
            r"Scale them",
        ):
            as_float_array(x, "x", "f")

    @pytest.mark.parametrize(
        "x", [[1.0, None], ["a", 1], [10**400, "a"]], ids=str
    )
    def test_other_object_arrays_keep_the_dtype_message(self, x):
        with pytest.raises(
            ValueError,
            match=r"^f: expected x to hold real numbers \(float or int\), got "
            r"an array of dtype (object|<U\d+)\. Convert it first",
        ):
            as_float_array(x, "x", "f")


class TestCheckAxis:
    @pytest.mark.parametrize("axis", [0, -1, 3])
    def test_zero_dimensional_input_has_no_axis(self, axis):
        with pytest.raises(AxisError) as info:
            check_axis(axis, 0, "f")
        message = str(info.value)
        assert message.startswith(f"f: axis {axis} is out of bounds for an ")
        assert "the input is a single number, so it has no axis" in message
        assert "np.atleast_1d(x), or pass axis=None." in message
        assert "[0, -1]" not in message

    def test_out_of_range_names_the_valid_range(self):
        with pytest.raises(AxisError, match=r"pass an axis in \[-2, 1\]\.$"):
            check_axis(2, 2, "f")


class TestCheckTemperature:
    @pytest.mark.parametrize(
        "value",
        [True, False, np.True_, np.False_, np.array(True), np.array([1.0])],
        ids=repr,
    )
    def test_bools_and_arrays_are_refused(self, value):
        with pytest.raises(
            ValueError, match=r"^f: expected temperature to be a finite real"
        ):
            check_temperature(value, "f")

    def test_ragged_list_is_refused_with_value_error(self):
        with pytest.raises(ValueError, match=r"expected temperature"):
            check_temperature([[1.0], [1.0, 2.0]], "f")

    @pytest.mark.parametrize(
        "value", [0, 2, 0.5, np.float32(0.5), np.int64(3), np.array(0.25)]
    )
    def test_real_numbers_are_accepted(self, value):
        t = check_temperature(value, "f")
        assert type(t) is float
        assert t == float(value)


class TestCheckBool:
    @pytest.mark.parametrize("value", [True, False, np.True_, np.False_])
    def test_bools_pass_as_python_bools(self, value):
        got = check_bool(value, "flag", "f")
        assert type(got) is bool
        assert got == bool(value)

    @pytest.mark.parametrize(
        "value", ["no", "True", 0, 1, None, 1.0, np.array(True)], ids=repr
    )
    def test_everything_else_raises(self, value):
        with pytest.raises(
            ValueError,
            match=r"^f: expected flag to be True or False, got .* of type "
            r".*\. Pass flag=True or flag=False\.$",
        ):
            check_bool(value, "flag", "f")
