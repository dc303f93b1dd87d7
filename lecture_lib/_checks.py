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
    "as_generator",
    "check_axis",
    "check_temperature",
    "work_dtype",
]


def as_float_array(x, name, func):
    """Return ``x`` as a floating ndarray without copying floating input.

    Integer and boolean input becomes float64; floating input keeps its
    dtype. Complex, string and object input raise ``ValueError``.
    """
    arr = np.asarray(x)
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    if arr.dtype.kind != "f":
        raise ValueError(
            f"{func}: expected {name} to hold real numbers (float or int), "
            f"got an array of dtype {arr.dtype}. Convert it first, for "
            f"example with np.asarray({name}, dtype=float)."
        )
    return arr


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
    if not -ndim <= axis < ndim:
        raise AxisError(
            f"{func}: axis {axis} is out of bounds for an array with "
            f"ndim={ndim}; pass an axis in [{-ndim}, {ndim - 1}]"
            + (" or reshape the input to at least 1-D." if ndim == 0 else ".")
        )
    return int(axis) % ndim


def check_temperature(temperature, func):
    """Return ``temperature`` as a Python float >= 0, or raise."""
    ok = (
        np.ndim(temperature) == 0
        and not isinstance(temperature, bool)
        and isinstance(np.asarray(temperature).item(), numbers.Real)
    )
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
