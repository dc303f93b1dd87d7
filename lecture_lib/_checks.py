"""Input checks shared by the modules of :mod:`lecture_lib`.

Every public function validates its input here, so that a bad call fails
with one kind of message everywhere: what was expected, what arrived and
how to fix it.
"""

import numbers

import numpy as np
from numpy.exceptions import AxisError

__all__ = [
    "as_float_array",
    "check_float_dtype",
    "as_generator",
    "check_axis",
    "check_bool",
    "check_temperature",
    "work_dtype",
]


def as_float_array(x, name, func):
    """Return ``x`` as a floating ndarray without copying floating input.

    Integer and boolean input becomes float64; floating input keeps its
    dtype. Masked arrays, ragged nested lists, numbers too large for a
    float, and complex, string or object input raise ``ValueError``.
    """
    if isinstance(x, np.ma.MaskedArray):
        # np.asarray would drop the mask and compute with the hidden values.
        raise ValueError(
            f"{func}: expected {name} to be a plain array, got a masked "
            f"array (np.ma.MaskedArray), whose mask {func} would silently "
            f"ignore. For scores, mark masked entries with -inf instead: "
            f"pass np.ma.filled({name}, -np.inf); for other quantities, "
            f"fill them with a value that suits, np.ma.filled({name}, value)."
        )
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{func}: expected {name} to be array_like with a regular shape "
            f"(nested lists all of one length), got a {type(x).__name__} "
            f"that NumPy cannot turn into an array: {error} Pad or trim the "
            f"rows to one length, or call {func} on each row separately."
        ) from error
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    if arr.dtype.kind == "O" and _holds_too_large_numbers(arr):
        raise ValueError(
            f"{func}: expected {name} to hold numbers that fit in a float "
            f"(magnitude at most {np.finfo(np.float64).max:.4g}), got "
            f"numbers too large to convert to float (NumPy stores them as "
            f"dtype object). Scale them into the float range first, or "
            f"replace them by the finite values you mean."
        )
    if arr.dtype.kind != "f":
        raise ValueError(
            f"{func}: expected {name} to hold real numbers (float or int), "
            f"got an array of dtype {arr.dtype}. Convert it first, for "
            f"example with np.asarray({name}, dtype=float)."
        )
    return arr


def _holds_too_large_numbers(arr):
    """Whether an object array holds real numbers, some beyond float."""
    if not all(isinstance(v, numbers.Real) for v in arr.flat):
        return False
    try:
        arr.astype(np.float64)
    except OverflowError:
        return True
    return False


def check_bool(value, name, func):
    """Return ``value`` as a Python bool; only bools are accepted."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValueError(
        f"{func}: expected {name} to be True or False, got {value!r} of "
        f"type {type(value).__name__}. Pass {name}=True or {name}=False."
    )


def work_dtype(dtype):
    """The dtype to compute in: float16 accumulates in float32."""
    return np.result_type(dtype, np.float32)


def check_axis(axis, ndim, func):
    """Return ``axis`` as a non-negative int, or raise ``AxisError``."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(
            f"{func}: expected axis to be an int (or None for all entries), "
            f"got {axis!r} of type {type(axis).__name__}."
        )
    if ndim == 0:
        raise AxisError(
            f"{func}: axis {axis} is out of bounds for an array with "
            f"ndim=0: the input is a single number, so it has no axis to "
            f"reduce. Reshape it to at least 1-D, e.g. with "
            f"np.atleast_1d(x), or pass axis=None."
        )
    if not -ndim <= axis < ndim:
        raise AxisError(
            f"{func}: axis {axis} is out of bounds for an array with "
            f"ndim={ndim}; pass an axis in [{-ndim}, {ndim - 1}]."
        )
    return int(axis) % ndim


def check_temperature(temperature, func):
    """Return ``temperature`` as a Python float >= 0, or raise."""
    try:
        arr = np.asarray(temperature)
    except (TypeError, ValueError):  # e.g. a ragged list
        arr = None
    # .item() turns np.True_ and np.array(True) into a Python bool, so they
    # are refused like True itself.
    value = arr.item() if arr is not None and arr.ndim == 0 else None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        try:
            t = float(temperature)
        except OverflowError:  # an int beyond the float range
            t = float("inf")
        if np.isfinite(t) and t >= 0:
            return t
    raise ValueError(
        f"{func}: expected temperature to be a finite real number >= 0 "
        f"(0 means the argmax limit), got {temperature!r}. Pass, for "
        f"example, temperature=1.0."
    )


def as_generator(rng, func):
    """Return a ``np.random.Generator`` for ``rng``.

    ``rng`` may be a Generator (used as it is, so draws continue its
    stream), an int seed (a fresh generator, reproducible), or None (fresh
    entropy from the operating system). Every random function of the
    library goes through here.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (
        isinstance(rng, numbers.Integral) and not isinstance(rng, bool)
    ):
        if rng is not None and rng < 0:
            raise ValueError(
                f"{func}: expected rng to be a non-negative int seed, got "
                f"{rng}. Pass e.g. rng=0, or a np.random.Generator."
            )
        return np.random.default_rng(rng)
    raise ValueError(
        f"{func}: expected rng to be a np.random.Generator, an int seed or "
        f"None, got {type(rng).__name__}. Pass e.g. "
        f"rng=np.random.default_rng(0); the legacy np.random.RandomState is "
        f"not accepted."
    )


def check_float_dtype(dtype, func):
    """Return ``dtype`` as float32 or float64, or raise ``ValueError``.

    Models with parameters work in one of these two: float64 for gradient
    checks, float32 for speed.
    """
    try:
        name = np.dtype(dtype).name if dtype is not None else None
    except TypeError:
        name = None
    if name not in ("float32", "float64"):
        raise ValueError(
            f"{func}: expected dtype float32 or float64, got {dtype!r}. "
            f"Pass dtype=np.float64 (for gradient checks) or np.float32."
        )
    return np.dtype(name)
