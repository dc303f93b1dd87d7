"""Softmax, log-softmax, log-sum-exp and the softmax Jacobian.

The softmax of a vector ``x`` of ``n`` scores is the probability vector

.. math:: \\mathrm{softmax}(x)_i = \\frac{e^{x_i / T}}{\\sum_j e^{x_j / T}},

with temperature ``T > 0``. Every function here subtracts the slice
maximum before exponentiating, so finite input of any magnitude neither
overflows nor warns. ``-inf`` is allowed and means "masked out": such an
entry gets probability 0, as long as its slice holds one finite entry.
Every function computes under its own ``np.errstate``, so its results do
not depend on the caller's ``np.seterr``.
"""

import numpy as np

from ._checks import (
    as_float_array,
    check_axis,
    check_bool,
    check_temperature,
    work_dtype,
)

__all__ = ["softmax", "log_softmax", "logsumexp", "softmax_jacobian"]

# Every public function computes under this error state, so that its
# results never depend on the caller's np.seterr or np.errstate. Underflow
# (exp of a very negative number is 0, a tiny probability is 0 or
# subnormal) and overflow (a difference beyond the dtype's range is -inf,
# whose exponential is the correct 0) are intended here. Validated input
# never divides by zero or makes a NaN, so those stay with the caller's
# setting, where a bug would show.
_FP_STATE = {"under": "ignore", "over": "ignore"}

#: Bytes of input processed at a time. A block this size stays in a
#: core's cache while the maximum, the exponential, the sum and the
#: scaling pass over it, so that memory is read about once instead of once
#: per pass; it is large enough that numpy's cost per call is small.
BLOCK_BYTES = 512 * 1024
#: Terms a float32 sum may add one by one: its rounding error stays below
#: this many times float32's eps (about 4e-6 relative).
_FEW_TERMS = 64


def _sum_dtype(dtype):
    """The dtype to accumulate sums in: at least float64.

    NumPy adds naively along an axis that is not contiguous in memory, so a
    float32 sum of millions of terms can be off by tens of percent; a
    float64 accumulator (the ``dtype`` argument of ``sum``, without a
    float64 copy of the array) keeps the error far below float32's eps.
    """
    return np.result_type(dtype, np.float64)


def _slices(arr, ax):
    """View ``arr`` with the reduced axis as axis 1 of a 2-D or 3-D array.

    Returns ``(outer, n, inner)`` and the view: shape ``(outer, n)`` when
    ``ax`` is the last axis, else ``(outer, n, inner)``. ``reshape`` copies
    only input that is not C-contiguous.
    """
    outer, n, inner = _dims(arr.shape, ax)
    shape = (outer, n) if inner == 1 else (outer, n, inner)
    return (outer, n, inner), arr.reshape(shape)


def _dims(shape, ax):
    """``(outer, n, inner)``: sizes before, along and after axis ``ax``."""
    outer = int(np.prod(shape[:ax], dtype=np.int64))
    inner = int(np.prod(shape[ax + 1 :], dtype=np.int64))
    return outer, shape[ax], inner


def _blocks(length, per_item, itemsize):
    """Slices of ``range(length)`` whose items fill about one block.

    ``per_item`` is the number of array entries per item.
    """
    step = max(1, BLOCK_BYTES // max(1, per_item * itemsize))
    for start in range(0, length, step):
        yield slice(start, min(start + step, length))


def _fits_in_range(t, dtype):
    """Whether ``1 / t`` scaling is safe to do in ``dtype`` itself."""
    info = np.finfo(dtype)
    return float(info.tiny) <= t <= float(info.max)


def _shift_limit(n, dtype):
    """Largest slice maximum for which ``exp(x)`` may skip the shift.

    With every slice maximum ``m`` in ``[0, log(max) - log(n) - 1]``,
    neither ``exp(x)`` nor a sum of ``n`` such terms can overflow, and
    since ``x - m <= x`` no term underflows sooner than ``exp(x - m)``
    would. Skipping the subtraction then saves a pass over the data and
    loses no accuracy.
    """
    return float(np.log(np.finfo(dtype).max) - np.log(n)) - 1.0


def _needs_shift(m, t, limit):
    """Whether ``exp((x - m) / t)`` must be computed as such."""
    return t != 1.0 or not (0.0 <= m.min() and m.max() <= limit)


def _shift_into(out, block, m, t):
    """Write ``(block - m) / t`` into ``out`` (see :func:`_scaled_shift`)."""
    wd = out.dtype
    if t > 1.0:
        # block - m can overflow where (block - m) / t does not. Halving
        # both operands is exact and keeps the difference in range.
        half = wd.type(0.5)
        np.multiply(block, half, out=out, dtype=wd)
        out -= np.multiply(m, half, dtype=wd)
        out /= wd.type(t) * half
    else:
        np.subtract(block, m, out=out, dtype=wd)
        if t != 1.0:
            out /= wd.type(t)
    return out


def _flatten_for_axis(arr, axis, func):
    """Return ``(arr, axis)`` with ``axis=None`` turned into a 1-D view."""
    if axis is None:
        return arr.reshape(-1), 0
    return arr, check_axis(axis, arr.ndim, func)


def _bad_slice_message(arr, m, axis, func):
    """Explain why some slice of ``arr`` has no finite maximum."""
    ms = np.squeeze(m, axis=axis)
    # Name a NaN or +inf slice first: logsumexp accepts all -inf slices.
    bad = np.isnan(ms) | np.isposinf(ms)
    where = np.argwhere(bad if bad.any() else ~np.isfinite(ms))[0]
    index = tuple(int(i) for i in where)
    label = f"the slice at index {index} along axis {axis}"
    if arr.ndim == 1:
        label = "the input"
    value = m[(*index[:axis], 0, *index[axis:])]
    if np.isnan(value):
        return (
            f"{func}: expected finite scores or -inf, but {label} contains "
            f"NaN. Find where the NaN was produced (often 0/0 or inf - inf "
            f"upstream) and fix it there; np.isnan(x) locates it."
        )
    if value > 0:
        return (
            f"{func}: expected finite scores or -inf, but {label} contains "
            f"+inf. Clip or rescale the scores before calling {func}; "
            f"np.isposinf(x) locates them."
        )
    return (
        f"{func}: {label} has no finite entry (every entry is -inf), so "
        f"its probabilities are undefined. If -inf marks masked positions, "
        f"keep at least one position unmasked in every slice, or give fully "
        f"masked rows all-zero weights yourself."
    )


def _slice_max(arr, axis, func, allow_all_masked=False):
    """Maximum along ``axis`` (kept), checked for NaN, +inf and all -inf."""
    m = arr.max(axis=axis, keepdims=True)
    if not np.isfinite(m).all():
        bad = np.isnan(m) | np.isposinf(m)
        if allow_all_masked and not bad.any():
            return m
        raise ValueError(_bad_slice_message(arr, m, axis, func))
    return m


def _slice_max_and_index(arr, axis, func, allow_all_masked=False):
    """Slice maxima and the index of the first one, both kept.

    Checked like :func:`_slice_max`: ``argmax`` counts NaN as the maximum,
    as ``np.max`` does, so a NaN is reported rather than skipped.
    """
    idx = arr.argmax(axis=axis, keepdims=True)
    m = np.take_along_axis(arr, idx, axis=axis)
    if not np.isfinite(m).all():
        bad = np.isnan(m) | np.isposinf(m)
        if not (allow_all_masked and not bad.any()):
            raise ValueError(_bad_slice_message(arr, m, axis, func))
    return m, idx


def _log_sum(e, idx, axis):
    """``log(sum(e))`` along ``axis``, for ``e = exp(z)`` with ``max(z) = 0``.

    The term at the maximum ``idx`` is exactly 1, so the sum is ``1 +
    rest``. ``log1p(rest)``, with that term removed before summing, stays
    accurate relative to its size even when ``rest`` is far below the
    dtype's eps, where ``log(1 + rest)`` rounds to 0. ``rest`` is
    accumulated in at least float64, and so is the result. Modifies ``e``.
    """
    np.put_along_axis(e, idx, 0, axis=axis)
    rest = e.sum(axis=axis, keepdims=True, dtype=_sum_dtype(e.dtype))
    return np.log1p(rest)


def _scaled_shift(arr, m, axis, t):
    """Return ``(arr - m) / t`` in a fresh array of the working dtype.

    float16 is computed in float32. If ``t`` is not a normal number of the
    working dtype (too small or too large for it), the division is done in
    float64 instead, so that no entry becomes NaN.
    """
    wd = work_dtype(arr.dtype)
    if not _fits_in_range(t, wd):
        wd = np.result_type(wd, np.float64)
    with np.errstate(over="ignore"):
        # Overflow here only turns a hugely negative difference into -inf,
        # whose exponential is the correct 0.
        return _shift_into(np.empty(arr.shape, dtype=wd), arr, m, t)


def softmax(x, axis=-1, temperature=1.0):
    """Softmax along one axis, stable for scores of any magnitude.

    Parameters
    ----------
    x : array_like of shape (..., n)
        Scores (logits). Finite values, or ``-inf`` for masked entries. The
        softmax is taken along ``axis``; ``n`` is its length.
    axis : int or None, default=-1
        Axis holding the ``n`` scores of one distribution. ``None`` treats
        all entries as one distribution.
    temperature : float, default=1.0
        Finite and ``>= 0``. Scores are divided by it: large values flatten
        the distribution towards uniform, small values sharpen it towards
        the argmax. ``0`` gives the limit: uniform over the tied maxima of
        each slice, one-hot when the maximum is unique.

    Returns
    -------
    p : ndarray of the same shape as x
        Probabilities; every slice along ``axis`` is non-negative and sums
        to 1. Floating input keeps its dtype (float16 is computed in
        float32); integer and boolean input give float64. ``x`` itself is
        never modified.

    Raises
    ------
    ValueError
        If ``x`` holds NaN or ``+inf``, if a slice holds only ``-inf``, if
        ``x`` is not real-valued, is a masked array (use ``-inf`` for
        masked entries, ``np.ma.filled(x, -np.inf)``) or a ragged nested
        list, or if ``temperature`` is not a finite real number ``>= 0``
        (bools are refused).
    numpy.exceptions.AxisError
        If ``axis`` is out of bounds for ``x.ndim``; a 0-D ``x`` needs
        ``axis=None``.

    See Also
    --------
    log_softmax : the logarithm of the softmax, computed without ``log(0)``.
    softmax_jacobian : the derivative of the softmax.

    Notes
    -----
    The softmax is unchanged by adding a constant to every score of a slice
    (shift invariance), so the slice maximum ``m`` is subtracted first:
    every exponent is then ``<= 0``, and the largest term of the sum is
    exactly 1. Nothing overflows, and the sum never underflows to 0.

    Along an axis that is not contiguous in memory NumPy adds term by
    term, and a float32 running sum of millions of terms drifts far from
    the truth; there the sum is accumulated in float64 for float16 and
    float32 input. Along the last axis NumPy adds pairwise, which is
    accurate in float32 too.

    For speed, the input is processed in blocks of about ``BLOCK_BYTES``
    that stay in cache through every step. Where every maximum in a block
    lies in ``[0, log(max) - log(n) - 1]`` of the dtype, ``exp(x)`` cannot
    overflow and the subtraction of ``m`` is skipped; the result is the
    same to rounding.

    The computation runs under its own ``np.errstate``, so the result does
    not depend on ``np.seterr``: underflow to 0 is not an error here.

    A slice of length 0 gives an empty result of the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib import softmax
    >>> softmax(np.array([1.0, 2.0, 3.0])).round(4)
    array([0.09  , 0.2447, 0.6652])
    >>> softmax(np.array([1000.0, 1001.0, 1002.0])).round(4)
    array([0.09  , 0.2447, 0.6652])
    >>> softmax(np.array([[1.0, 1.0], [0.0, np.log(3.0)]]))
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
    >>> softmax(np.array([3.0, 1.0, 3.0]), temperature=0)
    array([0.5, 0. , 0.5])
    >>> softmax(np.array([0.0, -np.inf]))
    array([1., 0.])
    """
    func = "softmax"
    t = check_temperature(temperature, func)
    arr = as_float_array(x, "x", func)
    flat, ax = _flatten_for_axis(arr, axis, func)
    if flat.shape[ax] == 0:
        return np.zeros(arr.shape, dtype=arr.dtype)

    wd = work_dtype(arr.dtype)
    with np.errstate(**_FP_STATE):
        if t != 0.0 and _fits_in_range(t, wd):
            p = _softmax_blocked(flat, ax, t, func)
            return p.astype(arr.dtype, copy=False).reshape(arr.shape)
        m = _slice_max(flat, ax, func)
        if t == 0.0:
            p = (flat == m).astype(wd)
        else:
            p = _scaled_shift(flat, m, ax, t)
            np.exp(p, out=p)

        # The sum lies in [1, n]; accumulated in float64, then rounded once
        # to the working dtype, so that the division stays in that dtype.
        s = p.sum(axis=ax, keepdims=True, dtype=_sum_dtype(p.dtype))
        p /= s.astype(p.dtype, copy=False)
        return p.astype(arr.dtype, copy=False).reshape(arr.shape)


def _blocked(flat, ax):
    """Whether cache blocks of whole slices cover ``flat`` along ``ax``."""
    _, n, inner = _dims(flat.shape, ax)
    return inner == 1 or n * inner * flat.itemsize <= BLOCK_BYTES


def _softmax_blocked(flat, ax, t, func):
    """Softmax of ``flat`` along ``ax``, computed one cache block at a time.

    When whole slices fit in a block, each block of slices goes through
    maximum, shift, exponential, sum and scaling while it is in cache.
    Larger slices along an axis that is not the last are done in blocks
    of positions along the axis: the maximum first, then the exponentials
    with a running float64 sum, then the scaling.
    """
    wd = work_dtype(flat.dtype)
    (outer, n, inner), x = _slices(flat, ax)
    out = np.empty(x.shape, dtype=wd)
    # Along the last axis NumPy sums pairwise, accurately in any dtype;
    # along a strided axis it adds term by term, so float32 sums in float64.
    sum_dtype = wd if inner == 1 else _sum_dtype(wd)
    limit = _shift_limit(n, wd)
    if _blocked(flat, ax):
        for b in _blocks(outer, n * inner, flat.itemsize):
            block, p = x[b], out[b]
            m = block.max(axis=1, keepdims=True)
            if not np.isfinite(m).all():
                _slice_max(flat, ax, func)  # raises, naming the slice
            if _needs_shift(m, t, limit):
                np.exp(_shift_into(p, block, m, t), out=p)
            else:
                np.exp(block, out=p, dtype=wd)
            s = p.sum(axis=1, keepdims=True, dtype=sum_dtype)
            p *= (1.0 / s).astype(wd, copy=False)
        return out
    for o in range(outer):
        m = _softmax_streamed(x[o], out[o], t, limit, sum_dtype)
        if not np.isfinite(m).all():
            _slice_max(flat, ax, func)  # raises, naming the slice
    return out


def _block_sum_dtype(x, wd, sum_dtype):
    """The dtype to add one block of rows of ``x`` (n, inner) in.

    NumPy adds a block's rows one by one. A few dozen terms per column are
    accurate in the working dtype ``wd`` (and much faster to add); the
    running total across blocks is kept in ``sum_dtype`` either way.
    """
    rows = next(_blocks(*x.shape, x.itemsize))
    return wd if rows.stop - rows.start <= _FEW_TERMS else sum_dtype


def _softmax_streamed(x, p, t, limit, sum_dtype):
    """Softmax along axis 0 of ``x`` (n, inner) into ``p``, reading x once.

    Blocks of rows are exponentiated as they come, against a shift per
    column that follows the running maximum, and summed; a second pass
    scales each block by ``exp((its shift - final shift) / t) / sum``.
    While every running maximum lies in ``[0, limit]`` (and ``t == 1``)
    the shift is 0, as in :func:`_needs_shift`; once not, it is the
    running maximum from then on. Blocks done with shift 0 before that
    are computed again from ``x`` with the final shift, so that no block
    is scaled by a factor too small for the dtype.

    Returns the maximum of each column, for the caller to check: where it
    is not finite (NaN, ``+inf``, only ``-inf``), ``p`` is not valid.
    """
    wd = p.dtype
    inner = x.shape[1]
    partial_dtype = _block_sum_dtype(x, wd, sum_dtype)
    running = np.full((1, inner), -np.inf, dtype=wd)
    shift = np.zeros((1, inner), dtype=wd)
    total = np.zeros((1, inner), dtype=sum_dtype)
    shifting = t != 1.0
    done = []  # (rows, the shift used, whether shifting had begun)
    for b in _blocks(x.shape[0], inner, x.itemsize):
        xb, pb = x[b], p[b]
        np.maximum(running, xb.max(axis=0, keepdims=True), out=running)
        shifting = shifting or _needs_shift(running, t, limit)
        if shifting:
            new = np.where(np.isfinite(running), running, 0).astype(wd)
            if done:
                # Earlier terms were relative to the old shift. Columns
                # with no finite score yet have a sum of 0 to keep.
                factor = np.exp((shift.astype(sum_dtype) - new) / t)
                total *= np.where(np.isfinite(factor), factor, 0)
            shift = new
            np.exp(_shift_into(pb, xb, shift, t), out=pb)
        else:
            np.exp(xb, out=pb, dtype=wd)
        total += pb.sum(axis=0, keepdims=True, dtype=partial_dtype)
        done.append((b, shift, shifting))
    inverse = 1.0 / total
    for b, used, was_shifting in done:
        pb = p[b]
        if used is shift:
            pb *= inverse.astype(wd, copy=False)
        elif not was_shifting:
            np.exp(_shift_into(pb, x[b], shift, t), out=pb)
            pb *= inverse.astype(wd, copy=False)
        else:
            factor = np.exp((used.astype(sum_dtype) - shift) / t) * inverse
            pb *= np.where(np.isfinite(factor), factor, 0).astype(wd)
    return running


def log_softmax(x, axis=-1, temperature=1.0):
    """Logarithm of the softmax along one axis, without ``log(0)``.

    Parameters
    ----------
    x : array_like of shape (..., n)
        Scores (logits). Finite values, or ``-inf`` for masked entries.
    axis : int or None, default=-1
        Axis holding the ``n`` scores of one distribution. ``None`` treats
        all entries as one distribution.
    temperature : float, default=1.0
        Finite and ``>= 0``; see :func:`softmax`. At ``0`` the result is
        ``-log(k)`` at the ``k`` tied maxima and ``-inf`` elsewhere.

    Returns
    -------
    log_p : ndarray of the same shape as x
        ``log(softmax(x, axis, temperature))``, computed as
        ``z - logsumexp(z)`` with ``z = x / temperature``, so that very
        negative log-probabilities stay finite and exact instead of
        becoming ``log(0) = -inf``. dtype as for :func:`softmax`.

    Raises
    ------
    ValueError
        As for :func:`softmax`.
    numpy.exceptions.AxisError
        If ``axis`` is out of bounds for ``x.ndim``.

    See Also
    --------
    softmax, logsumexp

    Notes
    -----
    At the maximum, ``z = 0`` and the result is ``-log1p(rest)``, where
    ``rest`` sums the other terms ``exp(z_j)`` (in float64 for float16 and
    float32 input). A probability within eps of 1 therefore keeps a
    log-probability that is accurate relative to its tiny size, instead of
    rounding to 0.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib import log_softmax
    >>> log_softmax(np.array([0.0, np.log(3.0)])).round(4)
    array([-1.3863, -0.2877])
    >>> log_softmax(np.array([0.0, 1000.0]))
    array([-1000.,     0.])
    >>> log_softmax(np.array([0.0, -40.0]))  # not [0, -40]
    array([-4.24835426e-18, -4.00000000e+01])
    """
    func = "log_softmax"
    t = check_temperature(temperature, func)
    arr = as_float_array(x, "x", func)
    flat, ax = _flatten_for_axis(arr, axis, func)
    if flat.shape[ax] == 0:
        return np.zeros(arr.shape, dtype=arr.dtype)

    with np.errstate(**_FP_STATE):
        if t == 0.0:
            m = _slice_max(flat, ax, func)
            wd = work_dtype(arr.dtype)
            is_max = flat == m
            log_k = np.log(is_max.sum(axis=ax, keepdims=True).astype(wd))
            out = np.where(is_max, -log_k, wd.type(-np.inf)).astype(wd)
        elif _fits_in_range(t, work_dtype(arr.dtype)) and _blocked(flat, ax):
            out = _log_softmax_blocked(flat, ax, t, func)
        elif _fits_in_range(t, work_dtype(arr.dtype)):
            out = _log_softmax_streamed(flat, ax, t, func)
        else:
            m, idx = _slice_max_and_index(flat, ax, func)
            # z = (x - m) / T is exactly 0 at the maxima, so out = z -
            # logsumexp(z) is -log1p(rest) there, accurate even when the
            # maximum's probability is within eps of 1.
            out = _scaled_shift(flat, m, ax, t)
            lse = _log_sum(np.exp(out), idx, ax)
            out -= lse.astype(out.dtype, copy=False)
        # A log-probability below the dtype's range correctly becomes -inf.
        out = out.astype(arr.dtype, copy=False)
        return out.reshape(arr.shape)


def _log_softmax_blocked(flat, ax, t, func):
    """:func:`log_softmax` of ``flat``, one cache block of slices at a time.

    Each block goes through the steps of the unblocked computation while
    it is in cache; the exponentials go to a scratch buffer reused by
    every block.
    """
    wd = work_dtype(flat.dtype)
    (outer, n, inner), x = _slices(flat, ax)
    out = np.empty(x.shape, dtype=wd)
    scratch = None
    for b in _blocks(outer, n * inner, flat.itemsize):
        block, z = x[b], out[b]
        idx = block.argmax(axis=1, keepdims=True)
        m = np.take_along_axis(block, idx, axis=1)
        if not np.isfinite(m).all():
            _slice_max(flat, ax, func)  # raises, naming the slice
        _shift_into(z, block, m, t)
        if scratch is None:
            scratch = np.empty(z.size, dtype=wd)
        e = np.exp(z, out=scratch[: z.size].reshape(z.shape))
        z -= _log_sum(e, idx, 1).astype(wd, copy=False)
    return out


def logsumexp(x, axis=-1, keepdims=False):
    """``log(sum(exp(x)))`` along one axis, without overflow.

    Parameters
    ----------
    x : array_like of shape (..., n)
        Finite values, or ``-inf`` (which contributes nothing to the sum).
    axis : int or None, default=-1
        Axis to reduce. ``None`` reduces over all entries.
    keepdims : bool, default=False
        Keep the reduced axis with length 1, so that the result broadcasts
        against ``x``. Only ``True`` and ``False`` are accepted.

    Returns
    -------
    lse : ndarray
        Shape of ``x`` without ``axis`` (or with length 1 there when
        ``keepdims``). A slice that is empty or holds only ``-inf`` gives
        ``-inf``, the logarithm of an empty sum, with no warning. dtype as
        for :func:`softmax`.

    Raises
    ------
    ValueError
        If ``x`` holds NaN or ``+inf``, is not real-valued, is a masked
        array or a ragged nested list; if ``keepdims`` is not a bool.
    numpy.exceptions.AxisError
        If ``axis`` is out of bounds for ``x.ndim``.

    Notes
    -----
    With ``m`` the slice maximum, ``logsumexp(x) = m + log(sum(exp(x -
    m)))``; the sum lies in ``[1, n]``, so neither its exponentials nor its
    logarithm overflow. The maximum's own term is exactly 1, so the sum is
    ``1 + rest`` and the result is computed as ``m + log1p(rest)``, with
    ``rest`` summed in float64 (or wider): near 0 the result stays accurate
    relative to its size, where ``log(1 + rest)`` would round to 0.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib import logsumexp
    >>> float(logsumexp(np.array([1000.0, 1000.0])) - 1000.0).__round__(6)
    0.693147
    >>> logsumexp(np.array([[0.0, 0.0], [-np.inf, -np.inf]]))
    array([0.69314718,       -inf])
    >>> logsumexp(np.zeros((2, 0)))
    array([-inf, -inf])
    >>> float(logsumexp(np.array([0.0, -40.0])))  # log1p(exp(-40))
    4.248354255291589e-18
    """
    func = "logsumexp"
    arr = as_float_array(x, "x", func)
    keepdims = check_bool(keepdims, "keepdims", func)
    if axis is None:
        out_shape = (1,) * arr.ndim if keepdims else ()
    else:
        ax = check_axis(axis, arr.ndim, func)
        out_shape = list(arr.shape)
        if keepdims:
            out_shape[ax] = 1
        else:
            del out_shape[ax]
    flat, ax = _flatten_for_axis(arr, axis, func)
    if flat.shape[ax] == 0:
        return np.full(out_shape, -np.inf, dtype=arr.dtype)

    with np.errstate(**_FP_STATE):
        if not _blocked(flat, ax):
            out = _logsumexp_streamed(flat, ax, func)
        else:
            (outer, n, inner), x = _slices(flat, ax)
            kept = (outer, 1) if inner == 1 else (outer, 1, inner)
            out = np.empty(kept, dtype=_sum_dtype(arr.dtype))
            # One buffer for every block's exponentials: a fresh block-sized
            # array each time can cost a page fault per page (glibc maps
            # large allocations anew), which doubled the time here.
            scratch = None
            for b in _blocks(outer, n * inner, flat.itemsize):
                if scratch is None:
                    scratch = np.empty(x[b].size, dtype=work_dtype(x.dtype))
                try:
                    out[b] = _logsumexp_kept(x[b], 1, func, scratch)
                except ValueError:
                    # Name the slice by its index in x, not in the block.
                    _slice_max_and_index(flat, ax, func, True)
                    raise
        # Rounded once from the accumulation dtype to the input dtype.
        return out.astype(arr.dtype, copy=False).reshape(out_shape)


def _log_sum_streamed(x, m, t, sum_dtype):
    """:func:`_log_sum` of ``exp((x - m) / t)`` along axis 0, in blocks.

    ``x`` is (n, inner), strided, larger than a block; ``m`` (1, inner)
    holds its finite column maxima. Each block is shifted, exponentiated
    and summed while in cache; the terms at the maximum (exactly 1) are
    counted apart and all but one of them added at the end, so that the
    rest keeps its accuracy however small it is, as in :func:`_log_sum`.
    """
    wd = m.dtype
    n, inner = x.shape
    partial = _block_sum_dtype(x, wd, sum_dtype)
    rows = next(_blocks(n, inner, x.itemsize))
    scratch = np.empty((rows.stop - rows.start, inner), dtype=wd)
    rest = np.zeros((1, inner), dtype=sum_dtype)
    ties = np.zeros((1, inner), dtype=np.int64)
    for b in _blocks(n, inner, x.itemsize):
        z = _shift_into(scratch[: b.stop - b.start], x[b], m, t)
        at_max = z == 0
        ties += at_max.sum(axis=0, keepdims=True)
        np.exp(z, out=z)
        np.copyto(z, 0, where=at_max)
        rest += z.sum(axis=0, keepdims=True, dtype=partial)
    # A column of only -inf (logsumexp allows it) has no term at all.
    rest += np.maximum(ties - 1, 0)
    return np.log1p(rest)


def _log_softmax_streamed(flat, ax, t, func):
    """:func:`log_softmax` along an axis whose slices exceed a block.

    Three passes over blocks of positions along the axis, none of which
    copies the strided axis: the maxima, the log-sums, the output.
    """
    wd = work_dtype(flat.dtype)
    (outer, n, inner), x = _slices(flat, ax)
    out = np.empty(x.shape, dtype=wd)
    for o in range(outer):
        m = x[o].max(axis=0, keepdims=True)
        if not np.isfinite(m).all():
            _slice_max(flat, ax, func)  # raises, naming the slice
        m = m.astype(wd, copy=False)
        lse = _log_sum_streamed(x[o], m, t, _sum_dtype(wd)).astype(wd)
        for b in _blocks(n, inner, flat.itemsize):
            _shift_into(out[o][b], x[o][b], m, t)
            out[o][b] -= lse
    return out


def _logsumexp_streamed(flat, ax, func):
    """:func:`logsumexp` along an axis whose slices exceed a block, kept,
    in the accumulation dtype, without copying the strided axis."""
    wd = work_dtype(flat.dtype)
    (outer, n, inner), x = _slices(flat, ax)
    out = np.empty((outer, 1, inner), dtype=_sum_dtype(wd))
    for o in range(outer):
        m = x[o].max(axis=0, keepdims=True)
        finite = np.isfinite(m)
        if not finite.all():
            # NaN and +inf raise; a slice of only -inf has the sum 0.
            _slice_max(flat, ax, func, allow_all_masked=True)
        m = np.where(finite, m, 0).astype(wd)
        log_sum = _log_sum_streamed(x[o], m, 1.0, out.dtype)
        out[o] = np.where(finite, m + log_sum, -np.inf)
    return out


def _logsumexp_kept(flat, ax, func, scratch):
    """logsumexp along ``ax``, kept, in the accumulation dtype.

    ``scratch`` is a work-dtype buffer of at least ``flat.size`` entries
    for the exponentials.
    """
    m, idx = _slice_max_and_index(flat, ax, func, allow_all_masked=True)
    finite = np.isfinite(m)  # False only for all -inf slices
    m = np.where(finite, m, 0).astype(work_dtype(flat.dtype))
    e = scratch[: flat.size].reshape(flat.shape)
    np.subtract(flat, m, dtype=m.dtype, out=e)
    np.exp(e, out=e)
    # m + log1p(rest) in the accumulation dtype (at least float64).
    out = m + _log_sum(e, idx, ax)
    return np.where(finite, out, -np.inf)  # the log of an empty sum


def softmax_jacobian(p):
    """Jacobian of the softmax, from its output ``p``.

    Parameters
    ----------
    p : array_like of shape (n,)
        A probability vector, typically ``softmax(x)`` for scores ``x`` of
        shape ``(n,)``: non-negative, finite, summing to 1.

    Returns
    -------
    J : ndarray of shape (n, n)
        ``J[i, j] = d softmax(x)_i / d x_j = p_i * (delta_ij - p_j)``, that
        is ``diag(p) - outer(p, p)``. Symmetric, and every row and column
        sums to 0 (the softmax does not change when all scores shift by
        the same amount). dtype as for :func:`softmax`.

    Raises
    ------
    ValueError
        If ``p`` is not 1-D, is empty, holds negative values, NaN or
        infinities, or does not sum to 1 within ``sqrt(eps)`` of its dtype.

    Notes
    -----
    The Jacobian of ``softmax(x / T)`` with respect to ``x`` is
    ``softmax_jacobian(p) / T``.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib import softmax_jacobian
    >>> softmax_jacobian(np.array([0.5, 0.5]))
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    func = "softmax_jacobian"
    arr = as_float_array(p, "p", func)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{func}: expected p to be a non-empty 1-D probability vector of "
            f"shape (n,), got shape {arr.shape}. For a batch, call it on "
            f"each row, e.g. [softmax_jacobian(row) for row in P]."
        )
    wd = work_dtype(arr.dtype)
    q = arr.astype(wd)
    nan = np.isnan(q)
    if nan.any():
        raise ValueError(
            f"{func}: expected p to hold finite probabilities >= 0, got NaN "
            f"in {int(nan.sum())} of {q.size} entries (the first at index "
            f"{int(nan.argmax())}). Pass softmax(x), not the scores x, and "
            f"find where the NaN was produced; np.isnan(p) locates it."
        )
    if not np.isfinite(q).all() or (q < 0).any():
        raise ValueError(
            f"{func}: expected p to hold finite probabilities >= 0, got "
            f"min {float(q.min())} and max {float(q.max())}. Pass "
            f"softmax(x), not the scores x."
        )
    with np.errstate(**_FP_STATE):
        total = q.sum(dtype=_sum_dtype(wd))
        tol = np.sqrt(np.finfo(arr.dtype).eps)
        if abs(total - 1) > tol:
            raise ValueError(
                f"{func}: expected p to sum to 1 (within {tol:.1e}), got a "
                f"sum of {float(total)!r}. Pass softmax(x), not the scores x."
            )
        jac = -np.outer(q, q)
        # p_i * (1 - p_i) keeps its accuracy where p_i - p_i**2 cancels.
        np.fill_diagonal(jac, q * (1 - q))
        return jac.astype(arr.dtype, copy=False)
