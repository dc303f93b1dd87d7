"""Soft attention: scaled dot-product, masks, multi-head, repeated querying.

Lecture 2's soft selection scores the ``n`` rows ``u_j`` of a matrix ``U``
against a query ``q`` and returns the weighted summary ``p @ U`` with
``p = softmax(U q)``. Attention is that computation inside a network: the
query ``q`` is a hidden state, the rows ``u_j`` come from the previous
layer, and the summary is what the layer passes on.

Dimension names, as in the rest of the library, plus those of attention:

``n_queries``, ``n_keys``
    the positions that ask and the positions that are read (``n`` when
    there is one query);
``d_k``, ``d_v``
    the size of a query or key, and the size of a value;
``heads``, ``d_model``
    the heads of a multi-head layer, and the size of its input vectors.

Masks are boolean arrays, True where a query may attend to a key (the
convention of ``torch.nn.functional.scaled_dot_product_attention``;
beware that ``torch.nn.MultiheadAttention`` uses the opposite one, True
for "masked out"). A query that may attend to no key gets all-zero
weights and a zero output, never NaN.

Every function works on stacks of problems: leading axes are batch (and
head) axes, and the work is done by ``np.matmul`` on the whole stack.
Floating input keeps its dtype (float16 is computed in float32); integer
input gives float64.
"""

import concurrent.futures
import math
import numbers
import os
import threading

import numpy as np

try:  # a dependency of scikit-learn; without it, attention uses one thread
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

from ._checks import (
    as_float_array,
    as_generator,
    check_axis,
    check_bool,
    check_float_dtype,
    work_dtype,
)
from .softmax import _shift_limit, softmax

__all__ = [
    "attention_weights",
    "attend",
    "masked_softmax",
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "MultiHeadAttention",
    "multi_hop_attention",
]

_UPDATES = ("residual", "replace")
#: Bytes of scores held at a time when attention returns only its output:
#: queries are processed in blocks this large, so that extra memory stays
#: bounded whatever the sequence length.
ATTENTION_BLOCK_BYTES = 1024 * 1024
#: Threads sharing a large attention (None: one per core available).
ATTENTION_THREADS = None
#: Held while a call has changed BLAS's (process-wide) thread count.
_BLAS_SETTING = threading.Lock()
#: Scores (batch entries times queries times keys) below which attention
#: runs on one thread: starting threads would cost more than they save.
_THREADED_WORK = 1 << 20


# -- input checks ------------------------------------------------------


def _check_finite(arr, name, func):
    """Raise unless every entry of ``arr`` is finite."""
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(
            f"{func}: expected {name} to hold finite numbers, got {bad} NaN "
            f"or infinite entries in {name} of shape {arr.shape}. Fix them "
            f"upstream; np.isfinite({name}) locates them. To leave a key "
            f"out, use a mask instead of an infinite value."
        )


def _check_int(value, name, func, minimum=1):
    """Return ``value`` as a Python int ``>= minimum``, or raise."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and value >= minimum:
        return int(value)
    raise ValueError(
        f"{func}: expected {name} to be an int >= {minimum}, got "
        f"{value!r}. Pass, for example, {name}={max(minimum, 4)}."
    )


def _check_scale(scale, d, wd, func):
    """Return the score scale as a scalar of the working dtype ``wd``.

    ``None`` gives ``1 / sqrt(d)``. Casting to ``wd`` matters: NumPy 2
    promotes a float32 array times a float64 NumPy scalar to float64.
    """
    if scale is None:
        return wd.type(1.0 / math.sqrt(d))
    ok = isinstance(scale, numbers.Real) and not isinstance(scale, bool)
    if ok and math.isfinite(scale) and 0 <= scale <= np.finfo(wd).max:
        return wd.type(scale)
    raise ValueError(
        f"{func}: expected scale to be None (for 1 / sqrt(d)) or a finite "
        f"real number >= 0, got {scale!r}. Pass, for example, scale=None "
        f"or scale=1.0 for unscaled scores."
    )


def _check_batch(shapes, names, func):
    """Raise unless the batch axes (all but the last two) broadcast."""
    try:
        np.broadcast_shapes(*(s[:-2] for s in shapes))
    except ValueError:
        got = ", ".join(
            f"{n} of shape {s}" for n, s in zip(names, shapes, strict=True)
        )
        raise ValueError(
            f"{func}: expected the batch axes (all but the last two) of "
            f"{', '.join(names)} to broadcast against each other, got "
            f"{got}. Give them the same leading axes, such as (batch,) or "
            f"(batch, heads), or 1 where one array is shared."
        ) from None


def _as_mask(mask, shape, func, what):
    """Return ``mask`` as a boolean ndarray that broadcasts to ``shape``.

    The mask must not enlarge ``shape``: every axis of the mask is 1 or
    equal to the matching axis of ``shape``.
    """
    try:
        arr = np.asarray(mask)
    except (TypeError, ValueError):  # a ragged list
        arr = np.asarray(mask, dtype=object)
    if arr.dtype != np.bool_:
        raise ValueError(
            f"{func}: expected mask to be a boolean array, True where a "
            f"query may attend to a key, got an array of dtype "
            f"{arr.dtype}. Use a boolean array, True = may attend: for 0/1 "
            f"flags pass mask != 0, and for an additive bias of 0 and -inf "
            f"pass bias == 0."
        )
    shape = tuple(shape)
    try:
        fits = np.broadcast_shapes(arr.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{func}: expected mask to broadcast to the shape of {what}, "
            f"{shape}, got mask of shape {arr.shape}. Give the mask the "
            f"trailing axes (n_queries, n_keys) = {shape[-2:]}, with 1 "
            f"where it is shared (e.g. causal_mask(n_queries, n_keys), or "
            f"padding_mask(lengths, n_keys) of shape (batch, 1, n_keys))."
        )
    return arr


def _uq_inputs(U, q, func):
    """Check ``U`` of shape (..., n, d) and ``q`` of shape (..., d).

    Returns ``U`` and ``q`` in the working dtype, the dtype of the
    results, and the broadcast batch shape.
    """
    u_arr = as_float_array(U, "U", func)
    q_arr = as_float_array(q, "q", func)
    if u_arr.ndim < 2 or u_arr.shape[-2] == 0 or u_arr.shape[-1] == 0:
        raise ValueError(
            f"{func}: expected U of shape (n, d) or (..., n, d) with n >= 1 "
            f"rows of size d >= 1, got shape {u_arr.shape}. Stack the "
            f"vectors u_j as rows, e.g. U = np.stack([u_0, u_1, ...])."
        )
    d = u_arr.shape[-1]
    if q_arr.ndim < 1 or q_arr.shape[-1] != d:
        raise ValueError(
            f"{func}: expected q of shape (d,) or (..., d) with d = {d} to "
            f"match U of shape {u_arr.shape}, got q of shape "
            f"{q_arr.shape}. Give the query as many entries as a row of U."
        )
    try:
        batch = np.broadcast_shapes(u_arr.shape[:-2], q_arr.shape[:-1])
    except ValueError:
        raise ValueError(
            f"{func}: expected the batch axes of U (all but the last two) "
            f"and of q (all but the last) to broadcast, got U of shape "
            f"{u_arr.shape} and q of shape {q_arr.shape}. Give U the shape "
            f"(batch, n, d) and q the shape (batch, d)."
        ) from None
    _check_finite(u_arr, "U", func)
    _check_finite(q_arr, "q", func)
    dtype = np.result_type(u_arr.dtype, q_arr.dtype)
    wd = work_dtype(dtype)
    u_arr = u_arr.astype(wd, copy=False)
    q_arr = q_arr.astype(wd, copy=False)
    return u_arr, q_arr, dtype, batch


# -- computations shared by the public functions -------------------------


def _softmax_allowed(scores, allowed, axis, owned):
    """Softmax along ``axis`` over the entries where ``allowed`` is True.

    ``allowed`` is boolean and broadcasts to ``scores.shape``. A slice with
    no allowed entry gets all-zero weights. Masked entries are overwritten
    with -inf: in ``scores`` itself when the caller ``owned`` it (a fresh
    temporary), else in a copy.
    """
    allowed = allowed.reshape(
        (1,) * (scores.ndim - allowed.ndim) + allowed.shape
    )
    blocked = ~allowed
    if not blocked.any():
        return softmax(scores, axis=axis)
    if not owned:
        scores = scores.copy()
    # -inf is the softmax's own "masked out": its weight is exactly 0.
    np.copyto(scores, -np.inf, where=blocked)
    some = allowed.any(axis=axis, keepdims=True)  # a key is left
    if some.all():
        return softmax(scores, axis=axis)
    # A slice with nothing allowed is all -inf, which softmax refuses:
    # give it finite scores, then zero its weights.
    np.copyto(scores, 0, where=~some)
    p = softmax(scores, axis=axis)
    p *= some
    return p


def _attention(q_scaled, k, v, allowed):
    """Masked attention on arrays already checked and in one dtype.

    ``q_scaled`` (..., n_queries, d_k) already holds the scale; ``k``
    (..., n_keys, d_k); ``v`` (..., n_keys, d_v); ``allowed`` is None or a
    boolean array broadcasting to the weights.
    """
    # (..., n_queries, d_k) @ (..., d_k, n_keys) -> (..., n_queries, n_keys)
    with np.errstate(over="ignore", invalid="ignore"):
        scores = np.matmul(q_scaled, np.swapaxes(k, -1, -2))
    try:
        if allowed is None:
            weights = softmax(scores, axis=-1)
        else:
            weights = _softmax_allowed(scores, allowed, -1, owned=True)
    except ValueError as err:
        # The inputs are finite: only their products can be out of range.
        raise _overflow_error(scores.dtype, "+inf, -inf or NaN") from err
    # (..., n_queries, n_keys) @ (..., n_keys, d_v) -> (..., n_queries, d_v)
    return np.matmul(weights, v), weights


def _overflow_error(dtype, found):
    return ValueError(
        f"scaled_dot_product_attention: expected scores Q K^T * scale "
        f"within the range of {dtype}, got {found} as a query's largest "
        f"score. Scale Q or K down, use a smaller scale, or pass float64 "
        f"arrays."
    )


def _attention_in_blocks(q_scaled, k, v, allowed):
    """The output of :func:`_attention`, one block of queries at a time.

    Each batch entry (every head of every sequence) is done on its own,
    in blocks of queries whose scores take at most about
    ``ATTENTION_BLOCK_BYTES``: only one block of scores exists at a time,
    instead of all of them, and each matrix product is large enough for
    BLAS to run at full speed. Large stacks are shared among threads, one
    per core, each with single-threaded BLAS: the exponentials and sums,
    which NumPy runs on one core, then use them all.
    """
    n_q, n_k = q_scaled.shape[-2], k.shape[-2]
    batch = np.broadcast_shapes(
        q_scaled.shape[:-2], k.shape[:-2], v.shape[:-2]
    )
    out = np.empty((*batch, n_q, v.shape[-1]), dtype=q_scaled.dtype)
    q_all, k_all, v_all = (
        np.broadcast_to(a, (*batch, *a.shape[-2:])) for a in (q_scaled, k, v)
    )
    if allowed is not None:
        allowed = np.broadcast_to(allowed, (*batch, n_q, n_k))
    step = max(1, ATTENTION_BLOCK_BYTES // (n_k * q_scaled.itemsize))
    no_shift = _no_shift_bound(n_k, out.dtype)

    def entry(i):
        q_i, k_i, v_i, out_i = q_all[i], k_all[i], v_all[i], out[i]
        k_t = k_i.T  # (d_k, n_keys)
        # Cauchy-Schwarz: no score of this entry exceeds |q| |k| in size.
        bound = math.sqrt(
            float(_row_norms_squared(q_i).max())
            * float(_row_norms_squared(k_i).max())
        )
        for start in range(0, n_q, step):
            rows = slice(start, start + step)
            # (queries, d_k) @ (d_k, n_keys) -> (queries, n_keys); a
            # score out of range is reported below, not warned about.
            with np.errstate(over="ignore", invalid="ignore"):
                scores = q_i[rows] @ k_t
            mask = None if allowed is None else allowed[i][rows]
            _attend_block(scores, mask, v_i, out_i[rows], bound <= no_shift)

    entries = list(np.ndindex(batch))
    threads = _threads_for(len(entries) * n_q * n_k)
    # BLAS's thread count is one setting for the whole process: a call
    # that finds another one changing it works on the caller's thread
    # alone, rather than restore the setting out of order.
    if threads == 1 or not _BLAS_SETTING.acquire(blocking=False):
        for i in entries:
            entry(i)
        return out

    def share(t):
        for i in entries[t::threads]:
            entry(i)

    try:
        with (
            _one_blas_thread(),
            concurrent.futures.ThreadPoolExecutor(threads) as pool,
        ):
            list(pool.map(share, range(threads)))
    finally:
        _BLAS_SETTING.release()
    return out


def _row_norms_squared(a):
    """``|a_i|^2`` of each row of a 2-D array, in its dtype."""
    return np.einsum("ij,ij->i", a, a)


def _no_shift_bound(n, dtype):
    """Largest score size for which ``exp`` may skip the shift by the max.

    With every score in ``[-b, b]``, ``exp(score)`` and a sum of ``n`` of
    them stay below the dtype's largest value (the softmax's own limit),
    and the largest term of a row stays far enough above the smallest
    normal number that terms lost to underflow weigh less than the dtype's
    eps against it.
    """
    info = np.finfo(dtype)
    underflow = -math.log(float(info.tiny)) + math.log(float(info.eps)) - 1.0
    return min(_shift_limit(n, dtype), underflow)


def _attend_block(scores, allowed, v, out, unshifted):
    """``out = softmax(scores) @ v`` over the allowed keys, in place.

    ``scores`` (queries, n_keys) is a fresh block and is overwritten. The
    exponentials are multiplied by ``v`` before they are normalized: the
    division then touches ``out`` (queries, d_v), not the larger scores.
    ``unshifted``: every score is known to lie within
    :func:`_no_shift_bound`, and the row maxima need not be subtracted.
    """
    if not unshifted:
        if allowed is not None:
            # Masked scores must not set the maximum.
            np.copyto(scores, -np.inf, where=~allowed)
        m = scores.max(axis=-1, keepdims=True)
        finite = np.isfinite(m)
        if not finite.all():
            # Finite inputs whose products overflow, or sum to inf - inf.
            overflow = ~finite
            if allowed is not None:
                overflow &= allowed.any(axis=-1, keepdims=True)
            if overflow.any():
                raise _overflow_error(scores.dtype, m[overflow][0])
            # A row with no allowed key is all -inf: shift it by 0.
            np.copyto(m, 0, where=~finite)
        scores -= m
    np.exp(scores, out=scores)
    if allowed is not None:
        # exp(-inf) is already 0; without the shift, zero masked keys here.
        np.multiply(scores, allowed, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    # (queries, n_keys) @ (n_keys, d_v) -> (queries, d_v)
    np.matmul(scores, v, out=out)
    if allowed is not None:
        # A query that may attend to no key has sum 0 and output 0.
        np.copyto(total, 1, where=total == 0)
    out /= total


def _threads_for(work):
    """Threads for attention over ``work`` scores: 1 for small problems."""
    if work < _THREADED_WORK or threadpool_limits is None:
        return 1
    return max(1, ATTENTION_THREADS or _cores())


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _one_blas_thread():
    return threadpool_limits(limits=1, user_api="blas")


def _weights(u, q, scale):
    """``softmax(U q * scale)`` of one query per batch entry (checked)."""
    qs = q * scale  # (..., d), a fresh array in the dtype of q
    if u.ndim == 2:
        # One U for every query: a single matrix product.
        scores = qs @ u.T  # (..., d) @ (d, n) -> (..., n)
    else:
        # (..., n, d) @ (..., d, 1) -> (..., n, 1), then drop the 1
        scores = np.matmul(u, qs[..., None])[..., 0]
    return softmax(scores, axis=-1)


def _attend(u, q, scale):
    """Summary and weights of one query per batch entry (checked input)."""
    p = _weights(u, q, scale)  # (..., n)
    if u.ndim == 2:
        return p @ u, p  # (..., n) @ (n, d) -> (..., d)
    # (..., 1, n) @ (..., n, d) -> (..., 1, d), then drop the 1
    return np.matmul(p[..., None, :], u)[..., 0, :], p


# -- single-query attention ----------------------------------------------


def attention_weights(U, q, scale=None):
    """Attention weights ``softmax(U q * scale)`` of a query over ``n`` rows.

    Parameters
    ----------
    U : array_like of shape (n, d) or (..., n, d)
        The vectors attended to: row ``u_j`` is position ``j`` (in a
        network, the output of the previous layer). Finite.
    q : array_like of shape (d,) or (..., d)
        The query (in a network, a hidden state). Finite. Its batch axes
        broadcast against those of ``U``.
    scale : float or None, default=None
        Factor applied to the scores ``s_j = u_j . q``, finite and
        ``>= 0``. None means ``1 / sqrt(d)``; ``1.0`` gives the plain
        scores of lecture 2's ``soft_select``.

    Returns
    -------
    weights : ndarray of shape (..., n)
        ``softmax(U q * scale)`` along ``n``: non-negative, summing to 1.
        dtype of ``U`` and ``q`` combined (float32 stays float32, float16
        is computed in float32, integers give float64).

    Raises
    ------
    ValueError
        If ``U`` is not at least 2-D with ``n, d >= 1``, if ``q`` does not
        end in the ``d`` of ``U``, if their batch axes do not broadcast,
        if either holds NaN or infinity, or if ``scale`` is negative or not
        finite.

    See Also
    --------
    attend : the weights together with the summary ``weights @ U``.
    lecture_lib.selection.soft_select : the same with ``scale=1 / T``.

    Notes
    -----
    With entries of ``q`` and ``u_j`` of variance 1, the score
    ``u_j . q`` has variance ``d``; the default scale brings it back to 1,
    so that the weights do not saturate to one-hot as ``d`` grows.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.attention import attention_weights
    >>> U = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> q = np.array([np.log(4.0), 0.0])  # scores log 4, 0 and -log 4
    >>> attention_weights(U, q, scale=1.0) * 21  # in the ratio 16 : 4 : 1
    array([16.,  4.,  1.])
    >>> attention_weights(U, np.array([[0.0, 0.0], [1.0, 1.0]])).shape
    (2, 3)
    """
    func = "attention_weights"
    u, q_arr, dtype, _ = _uq_inputs(U, q, func)
    s = _check_scale(scale, u.shape[-1], u.dtype, func)
    return _weights(u, q_arr, s).astype(dtype, copy=False)


def attend(U, q, scale=None):
    """Attend to the rows of ``U`` with query ``q``: summary and weights.

    Parameters
    ----------
    U : array_like of shape (n, d) or (..., n, d)
        The vectors attended to, one per row; finite.
    q : array_like of shape (d,) or (..., d)
        The query; finite. Batch axes broadcast against those of ``U``.
    scale : float or None, default=None
        Factor applied to the scores; None means ``1 / sqrt(d)``. See
        :func:`attention_weights`.

    Returns
    -------
    summary : ndarray of shape (..., d)
        ``weights @ U``, the weighted average of the rows of ``U``.
    weights : ndarray of shape (..., n)
        ``softmax(U q * scale)``; see :func:`attention_weights`.
        Both have the dtype of ``U`` and ``q`` combined.

    Raises
    ------
    ValueError
        As for :func:`attention_weights`.

    See Also
    --------
    scaled_dot_product_attention : separate keys and values, many queries
        and masks.
    multi_hop_attention : attend, update the query, attend again.

    Notes
    -----
    ``attend(U, q, scale=1 / T)`` equals lecture 2's
    ``soft_select(U, q, temperature=T)``, with the two results swapped:
    here the summary comes first, as in every attention function of this
    module.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.attention import attend
    >>> U = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> summary, weights = attend(U, np.array([0.0, np.log(2.0)]), scale=1)
    >>> weights * 7  # the scores (0, log 2, -log 2) give 2/7, 4/7, 1/7
    array([2., 4., 1.])
    >>> summary * 7
    array([2., 3.])
    """
    func = "attend"
    u, q_arr, dtype, _ = _uq_inputs(U, q, func)
    s = _check_scale(scale, u.shape[-1], u.dtype, func)
    summary, weights = _attend(u, q_arr, s)
    return summary.astype(dtype, copy=False), weights.astype(dtype, copy=False)


# -- masks ---------------------------------------------------------------


def masked_softmax(scores, mask, axis=-1):
    """Softmax over the allowed entries only; zeros where none is allowed.

    Parameters
    ----------
    scores : array_like of shape (..., n_keys)
        Scores; finite or ``-inf`` where ``mask`` is True. Entries where
        ``mask`` is False are never read: they may hold anything, even NaN.
    mask : array_like of bool
        True where attention is allowed (a query may attend to that key),
        False where it is not. Broadcasts to the shape of ``scores``
        without enlarging it: each axis is 1 or that of ``scores``.
    axis : int, default=-1
        Axis of ``scores`` holding the ``n_keys`` entries of one
        distribution.

    Returns
    -------
    weights : ndarray of the same shape as scores
        ``softmax`` over the allowed entries of each slice, exactly 0 at
        the others. A slice with no allowed entry is all 0: a query that
        may attend to nothing reads nothing. No NaN and no warning. dtype
        as for :func:`lecture_lib.softmax.softmax`; ``scores`` itself is
        not modified.

    Raises
    ------
    ValueError
        If ``mask`` is not boolean (0/1 integers and additive float masks
        are refused rather than guessed at), if it does not broadcast to
        the shape of ``scores``, or, as for ``softmax``, if an allowed
        score is NaN or ``+inf``, or every allowed score of a slice is
        ``-inf``.
    numpy.exceptions.AxisError
        If ``axis`` is out of bounds for ``scores.ndim``.

    See Also
    --------
    causal_mask, padding_mask : the two common masks.

    Notes
    -----
    Masked entries are set to ``-inf`` in a copy of ``scores``, whose
    softmax weight is exactly 0. A slice with nothing allowed would be all
    ``-inf``, whose softmax is 0/0; it is given zero weights instead. The
    same convention gives zero rows in ``scaled_dot_product_attention``,
    where torch returns NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.attention import masked_softmax
    >>> scores = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    >>> mask = np.array([[True, True, False], [False, False, False]])
    >>> masked_softmax(scores, mask).round(4)
    array([[0.2689, 0.7311, 0.    ],
           [0.    , 0.    , 0.    ]])
    >>> masked_softmax(scores, np.array([True, False, True])).round(4)
    array([[0.1192, 0.    , 0.8808],
           [0.1192, 0.    , 0.8808]])
    """
    func = "masked_softmax"
    arr = as_float_array(scores, "scores", func)
    ax = check_axis(axis, arr.ndim, func)
    allowed = _as_mask(mask, arr.shape, func, "scores")
    return _softmax_allowed(arr, allowed, ax, owned=False)


def causal_mask(n_queries, n_keys=None):
    """Mask that lets each position attend to itself and earlier ones.

    Parameters
    ----------
    n_queries : int
        Number of query positions, ``>= 1``.
    n_keys : int, optional
        Number of key positions, ``>= 1``. Default: ``n_queries``.

    Returns
    -------
    mask : ndarray of bool of shape (n_queries, n_keys)
        ``mask[i, j]`` is True when key ``j`` is not in the future of
        query ``i``. For ``n_keys == n_queries`` this is the lower
        triangle, diagonal included. It broadcasts against weights of
        shape ``(..., n_queries, n_keys)``, for any batch and head axes.

    Raises
    ------
    ValueError
        If ``n_queries`` or ``n_keys`` is not an int ``>= 1``.

    Notes
    -----
    When ``n_keys != n_queries`` the queries are the *last* ``n_queries``
    of the ``n_keys`` positions (the bottom-right alignment of
    ``torch.nn.attention.bias.causal_lower_right``): query ``i`` sits at
    position ``i + n_keys - n_queries`` and may attend to keys ``j <=
    i + n_keys - n_queries``. This is the case of generating text with
    the earlier keys kept in a cache. With ``n_keys < n_queries`` the
    first ``n_queries - n_keys`` queries may attend to nothing, and get
    zero weights.

    Examples
    --------
    >>> from lecture_lib.attention import causal_mask
    >>> causal_mask(3).astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]])
    >>> causal_mask(2, 4).astype(int)
    array([[1, 1, 1, 0],
           [1, 1, 1, 1]])
    """
    func = "causal_mask"
    n_q = _check_int(n_queries, "n_queries", func)
    n_k = n_q if n_keys is None else _check_int(n_keys, "n_keys", func)
    return np.tri(n_q, n_k, k=n_k - n_q, dtype=bool)


def padding_mask(lengths, n_keys):
    """Mask that hides the padding at the end of sequences of a batch.

    Parameters
    ----------
    lengths : array_like of int of shape (batch,)
        The true length of each sequence, in ``[0, n_keys]``: keys
        ``0, ..., lengths[b] - 1`` of sequence ``b`` are real, the rest is
        padding.
    n_keys : int
        The padded length, ``>= 1``.

    Returns
    -------
    mask : ndarray of bool of shape (batch, 1, n_keys)
        ``mask[b, 0, j]`` is True when ``j < lengths[b]``. The middle axis
        of length 1 stands for the queries, so the mask broadcasts against
        weights of shape ``(batch, n_queries, n_keys)``: every query of
        sequence ``b`` ignores its padded keys. For weights with a head
        axis, ``(batch, heads, n_queries, n_keys)``, insert one more axis:
        ``mask[:, None]`` has shape ``(batch, 1, 1, n_keys)``.
        :class:`MultiHeadAttention` inserts it itself.

    Raises
    ------
    ValueError
        If ``lengths`` is not a 1-D array of ints in ``[0, n_keys]``, or
        ``n_keys`` is not an int ``>= 1``.

    Notes
    -----
    Combine masks with ``&``: ``padding_mask(lengths, n) & causal_mask(n)``
    has shape ``(batch, n, n)``. A sequence of length 0 has every key
    hidden; its queries get zero weights.

    Examples
    --------
    >>> from lecture_lib.attention import padding_mask
    >>> m = padding_mask([3, 1], 4)
    >>> m.shape
    (2, 1, 4)
    >>> m[:, 0].astype(int)
    array([[1, 1, 1, 0],
           [1, 0, 0, 0]])
    """
    func = "padding_mask"
    n_k = _check_int(n_keys, "n_keys", func)
    try:
        arr = np.asarray(lengths)
    except (TypeError, ValueError):  # a ragged list
        arr = np.asarray(lengths, dtype=object)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise ValueError(
            f"{func}: expected lengths to be a 1-D array of ints of shape "
            f"(batch,), one length per sequence, got an array of dtype "
            f"{arr.dtype} and shape {arr.shape}. Pass e.g. lengths=[5, 3]; "
            f"convert whole floats with np.asarray(lengths).astype(int)."
        )
    if arr.size and (arr.min() < 0 or arr.max() > n_k):
        bad = arr[(arr < 0) | (arr > n_k)]
        raise ValueError(
            f"{func}: expected every length in [0, n_keys] = [0, {n_k}], "
            f"got {int(bad[0])}. A sequence cannot be longer than the "
            f"padded length: raise n_keys, or trim the sequence."
        )
    # (1, n_keys) < (batch, 1) -> (batch, n_keys), then the query axis
    return (np.arange(n_k) < arr[:, None])[:, None, :]


# -- scaled dot-product attention -----------------------------------------


def scaled_dot_product_attention(
    Q, K, V, mask=None, scale=None, return_weights=True
):
    """Attention of many queries over keys and values, with a mask.

    Parameters
    ----------
    Q : array_like of shape (..., n_queries, d_k)
        The queries, one per row. Finite.
    K : array_like of shape (..., n_keys, d_k)
        The keys, one per row, of the size ``d_k`` of the queries. Finite.
    V : array_like of shape (..., n_keys, d_v)
        The values, one per key. Finite.
        The batch axes ``...`` (for example ``(batch, heads)``) of ``Q``,
        ``K`` and ``V`` broadcast against each other.
    mask : array_like of bool, optional
        True where query ``i`` may attend to key ``j``. Broadcasts to the
        shape of the weights, ``(..., n_queries, n_keys)``, without
        enlarging it. Default: every key allowed.
    scale : float or None, default=None
        Factor applied to the scores; None means ``1 / sqrt(d_k)``, with
        ``d_k`` the size of one query (per head, for multi-head
        attention).
    return_weights : bool, default=True
        Whether to return the weights too. Without them, queries are
        processed in blocks, large stacks on every core, and the extra
        memory stays near ``ATTENTION_BLOCK_BYTES`` (1 MiB) per thread
        instead of growing with ``n_queries * n_keys``; only ``output``
        is returned.

    Returns
    -------
    output : ndarray of shape (..., n_queries, d_v)
        ``weights @ V``: row ``i`` is the weighted average of the values
        that query ``i`` attends to; 0 for a query that may attend to no
        key.
    weights : ndarray of shape (..., n_queries, n_keys)
        Only with ``return_weights=True``.
        ``softmax(Q K^T * scale)`` over the allowed keys of each query,
        exactly 0 at masked keys; each row sums to 1, or is all 0 when
        the mask allows no key. ``...`` are the batch axes of ``Q`` and
        ``K`` broadcast together.
        Both have the dtype of ``Q``, ``K`` and ``V`` combined: float32
        stays float32 end to end, float16 is computed in float32,
        integers give float64.

    Raises
    ------
    ValueError
        If an input has fewer than 2 axes, if ``Q`` and ``K`` differ in
        ``d_k`` or ``K`` and ``V`` in ``n_keys``, if the batch axes do not
        broadcast, if ``d_k = 0``, if an input holds NaN or infinity, if
        ``mask`` is not boolean or does not broadcast to the weights, or
        if ``scale`` is negative or not finite. A score so large that it
        overflows (beyond about ``3e38`` in float32) raises as in
        :func:`lecture_lib.softmax.softmax`.

    See Also
    --------
    masked_softmax : the softmax used here, with the same mask rules.
    MultiHeadAttention : projections, heads and an output projection.

    Notes
    -----
    The scale multiplies ``Q`` before the product (``n_queries * d_k``
    multiplications instead of ``n_queries * n_keys``). Both products are
    ``np.matmul`` calls on the whole stack of batch and head axes: one
    each, or one each per block of queries when the weights are not
    returned.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.attention import (
    ...     causal_mask, scaled_dot_product_attention)
    >>> Q = np.array([[0.0, 2.0], [2.0, 0.0], [0.0, 0.0]])
    >>> K = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]) * np.sqrt(2.0)
    >>> V = np.array([[1.0], [2.0], [3.0]])
    >>> out, w = scaled_dot_product_attention(Q, K, V)
    >>> (Q @ K.T / np.sqrt(2.0)).round(6)  # the scaled scores
    array([[2., 0., 2.],
           [0., 2., 2.],
           [0., 0., 0.]])
    >>> w.round(3)  # query 2 scores every key 0: uniform weights
    array([[0.468, 0.063, 0.468],
           [0.063, 0.468, 0.468],
           [0.333, 0.333, 0.333]])
    >>> out.round(3)
    array([[2.   ],
           [2.405],
           [2.   ]])
    >>> out, w = scaled_dot_product_attention(Q, K, V, mask=causal_mask(3))
    >>> w.round(3)
    array([[1.   , 0.   , 0.   ],
           [0.119, 0.881, 0.   ],
           [0.333, 0.333, 0.333]])
    """
    func = "scaled_dot_product_attention"
    return_weights = check_bool(return_weights, "return_weights", func)
    arrays = [
        as_float_array(a, n, func)
        for a, n in zip((Q, K, V), "QKV", strict=True)
    ]
    for name, a, last in zip(
        "QKV", arrays, ("d_k", "d_k", "d_v"), strict=True
    ):
        if a.ndim < 2:
            rows = "n_queries" if name == "Q" else "n_keys"
            raise ValueError(
                f"{func}: expected {name} of shape (..., {rows}, {last}), "
                f"got shape {a.shape}. For a single vector, pass "
                f"{name}[None, :] (one row)."
            )
    q_arr, k_arr, v_arr = arrays
    if q_arr.shape[-1] != k_arr.shape[-1] or q_arr.shape[-1] == 0:
        raise ValueError(
            f"{func}: expected Q of shape (..., n_queries, d_k) and K of "
            f"shape (..., n_keys, d_k) with the same d_k >= 1, got Q of "
            f"shape {q_arr.shape} and K of shape {k_arr.shape}. Project "
            f"queries and keys to the same size d_k."
        )
    if k_arr.shape[-2] != v_arr.shape[-2]:
        raise ValueError(
            f"{func}: expected K of shape (..., n_keys, d_k) and V of shape "
            f"(..., n_keys, d_v) with the same n_keys, got K of shape "
            f"{k_arr.shape} and V of shape {v_arr.shape}. Give every key "
            f"one value row."
        )
    _check_batch([a.shape for a in arrays], "QKV", func)
    for name, a in zip("QKV", arrays, strict=True):
        _check_finite(a, name, func)
    # The weights have the batch axes of Q and K (V's may be wider).
    w_batch = np.broadcast_shapes(q_arr.shape[:-2], k_arr.shape[:-2])
    w_shape = (*w_batch, q_arr.shape[-2], k_arr.shape[-2])
    allowed = None
    if mask is not None:
        allowed = _as_mask(mask, w_shape, func, "the weights")

    dtype = np.result_type(*arrays)
    wd = work_dtype(dtype)
    s = _check_scale(scale, q_arr.shape[-1], wd, func)
    # Scale the queries, not the scores: a fresh array in the work dtype.
    q_scaled = np.multiply(q_arr, s, dtype=wd)
    k = k_arr.astype(wd, copy=False)
    v = v_arr.astype(wd, copy=False)
    if not return_weights:
        out = _attention_in_blocks(q_scaled, k, v, allowed)
        return out.astype(dtype, copy=False)
    out, weights = _attention(q_scaled, k, v, allowed)
    return out.astype(dtype, copy=False), weights.astype(dtype, copy=False)


# -- multi-head attention --------------------------------------------------


class MultiHeadAttention:
    """Multi-head attention with numpy parameters, without biases.

    Every input vector (a row of ``X_q`` or ``X_kv``, of size
    ``d_model``) is projected to a query, a key and a value::

        Q = X_q @ W_q,   K = X_kv @ W_k,   V = X_kv @ W_v

    each of shape ``(batch, n, d_model)``. Their columns are cut into
    ``heads`` blocks of ``d_head = d_model // heads``: head ``h`` uses
    columns ``h * d_head`` to ``(h + 1) * d_head``, and runs
    :func:`scaled_dot_product_attention` on its block with scale
    ``1 / sqrt(d_head)``. The head outputs are put side by side again,
    shape ``(batch, n_queries, d_model)``, and projected by ``W_o``.

    Parameters
    ----------
    d_model : int
        Size of the input and output vectors, ``>= 1``.
    n_heads : int
        Number of heads, ``>= 1``, dividing ``d_model``.
    dtype : {np.float64, np.float32}, default=np.float64
        dtype of the parameters, the computation and the results. Inputs
        are cast to it.
    rng : np.random.Generator, int or None, default=None
        Randomness of the initial weights.

    Attributes
    ----------
    W_q, W_k, W_v, W_o : ndarray of shape (d_model, d_model)
        The projections, used as ``X @ W``. Changing one in place changes
        the layer.
    parameters : dict of str to ndarray
        The same four arrays, by name.
    d_head : int
        ``d_model // n_heads``, the size of a query, key and value of one
        head.

    Raises
    ------
    ValueError
        If ``d_model`` or ``n_heads`` is not an int ``>= 1``, if
        ``n_heads`` does not divide ``d_model``, if ``dtype`` is not
        float32 or float64, or if ``rng`` is not valid.

    Notes
    -----
    The weights start from the Glorot uniform distribution,
    ``U(-sqrt(3 / d_model), sqrt(3 / d_model))``, of variance
    ``1 / d_model``: a projection keeps the size of its input. There are
    no biases, no dropout and no training code: the layer shows the
    computation, and ``gradcheck`` can check gradients written by hand.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.attention import MultiHeadAttention, causal_mask
    >>> mha = MultiHeadAttention(d_model=8, n_heads=2, rng=0)
    >>> mha
    MultiHeadAttention(d_model=8, n_heads=2, dtype=float64)
    >>> X = np.random.default_rng(1).normal(size=(3, 5, 8))  # batch 3
    >>> out, w = mha(X, mask=causal_mask(5))
    >>> out.shape, w.shape  # w: (batch, heads, n_queries, n_keys)
    ((3, 5, 8), (3, 2, 5, 5))
    >>> bool(np.allclose(w.sum(axis=-1), 1.0))
    True
    >>> bool((np.triu(w, k=1) == 0).all())  # no weight on a future key
    True
    """

    def __init__(self, d_model, n_heads, dtype=np.float64, rng=None):
        func = "MultiHeadAttention"
        self.d_model = _check_int(d_model, "d_model", func)
        self.n_heads = _check_int(n_heads, "n_heads", func)
        if self.d_model % self.n_heads:
            divisors = [
                k for k in range(1, self.d_model + 1) if self.d_model % k == 0
            ]
            raise ValueError(
                f"{func}: expected n_heads to divide d_model, got d_model="
                f"{self.d_model} and n_heads={self.n_heads}. Pick n_heads "
                f"among the divisors of d_model: {divisors}."
            )
        self.dtype = check_float_dtype(dtype, func)
        gen = as_generator(rng, func)
        limit = math.sqrt(6.0 / (2 * self.d_model))  # Glorot uniform
        shape = (self.d_model, self.d_model)
        self.W_q, self.W_k, self.W_v, self.W_o = (
            gen.uniform(-limit, limit, size=shape).astype(self.dtype)
            for _ in range(4)
        )

    @property
    def d_head(self):
        """int: size of a query, key and value of one head."""
        return self.d_model // self.n_heads

    @property
    def parameters(self):
        """dict of str to ndarray: ``W_q``, ``W_k``, ``W_v``, ``W_o``."""
        return {
            "W_q": self.W_q,
            "W_k": self.W_k,
            "W_v": self.W_v,
            "W_o": self.W_o,
        }

    def __repr__(self):
        return (
            f"MultiHeadAttention(d_model={self.d_model}, "
            f"n_heads={self.n_heads}, dtype={self.dtype.name})"
        )

    def _check_input(self, X, name, func):
        """Return ``X`` of shape (batch, n, d_model) in the layer's dtype."""
        arr = as_float_array(X, name, func)
        if arr.ndim != 3 or arr.shape[-1] != self.d_model or not arr.size:
            raise ValueError(
                f"{func}: expected {name} of shape (batch, n, d_model) with "
                f"d_model = {self.d_model} and batch, n >= 1, got shape "
                f"{arr.shape}. For a single sequence X of shape (n, "
                f"d_model), pass X[None]."
            )
        _check_finite(arr, name, func)
        return arr.astype(self.dtype, copy=False)

    def _split_heads(self, X):
        """(batch, n, d_model) -> (batch, heads, n, d_head), a view."""
        batch, n, _ = X.shape
        return X.reshape(batch, n, self.n_heads, self.d_head).swapaxes(1, 2)

    def __call__(self, X_q, X_kv=None, mask=None):
        """Attend from ``X_q`` to ``X_kv`` with every head.

        Parameters
        ----------
        X_q : array_like of shape (batch, n_queries, d_model)
            The sequence that asks: one query per row, after projection.
        X_kv : array_like of shape (batch, n_keys, d_model), optional
            The sequence that is read. Default: ``X_q`` (self-attention).
        mask : array_like of bool, optional
            True where query ``i`` may attend to key ``j``. A mask with at
            most 3 axes broadcasts to ``(batch, n_queries, n_keys)`` and
            is shared by all heads (``causal_mask(n)``, or
            ``padding_mask(lengths, n_keys)``); a 4-D mask broadcasts to
            ``(batch, heads, n_queries, n_keys)``, one mask per head.

        Returns
        -------
        output : ndarray of shape (batch, n_queries, d_model)
            The heads' outputs side by side, projected by ``W_o``.
        weights : ndarray of shape (batch, heads, n_queries, n_keys)
            Every head's attention weights.

        Raises
        ------
        ValueError
            If ``X_q`` or ``X_kv`` is not of shape ``(batch, n,
            d_model)`` or holds NaN or infinity, if their batch sizes
            differ, or if ``mask`` is not boolean or does not broadcast.
        """
        func = "MultiHeadAttention"
        x_q = self._check_input(X_q, "X_q", func)
        x_kv = x_q if X_kv is None else self._check_input(X_kv, "X_kv", func)
        batch, n_q, _ = x_q.shape
        n_k = x_kv.shape[1]
        if x_kv.shape[0] != batch:
            raise ValueError(
                f"{func}: expected X_q and X_kv with the same batch size, "
                f"got X_q of shape {x_q.shape} and X_kv of shape "
                f"{x_kv.shape}. Pair every query sequence with the "
                f"sequence it reads."
            )
        allowed = None
        if mask is not None:
            ndim = np.ndim(mask)
            if ndim == 4:
                shape = (batch, self.n_heads, n_q, n_k)
                allowed = _as_mask(mask, shape, func, "the weights")
            else:
                shape = (batch, n_q, n_k)
                allowed = _as_mask(mask, shape, func, "one head's weights")
                # Insert the head axis: (..., n_q, n_k) -> (..., 1, n_q, n_k)
                allowed = allowed[..., None, :, :] if ndim >= 2 else allowed

        scale = self.dtype.type(1.0 / math.sqrt(self.d_head))
        # Project, scaling the queries once: (batch, n, d_model) each.
        q = x_q @ self.W_q
        q *= scale
        k = x_kv @ self.W_k
        v = x_kv @ self.W_v
        # Every head at once: (batch, heads, n, d_head) views.
        out, weights = _attention(
            self._split_heads(q),
            self._split_heads(k),
            self._split_heads(v),
            allowed,
        )
        # (batch, heads, n_q, d_head) -> (batch, n_q, heads * d_head)
        out = out.swapaxes(1, 2).reshape(batch, n_q, self.d_model)
        return out @ self.W_o, weights


# -- repeated querying -----------------------------------------------------


def multi_hop_attention(U, q, hops, update="residual", scale=None):
    """Attend, update the query from what was read, and attend again.

    Hop ``t`` (from 0) attends to the rows of ``U`` with the query
    ``q_t``, reads ``summary_t = weights_t @ U``, and forms the next query
    ``q_{t+1}`` from ``q_t`` and ``summary_t``. ``q_0 = q``.

    Parameters
    ----------
    U : array_like of shape (n, d) or (..., n, d)
        The memory: ``n`` rows, attended to at every hop; finite.
    q : array_like of shape (d,) or (..., d)
        The first query; finite. Batch axes broadcast against ``U``.
    hops : int
        Number of times the memory is read, ``>= 1``.
    update : {"residual", "replace"} or callable, default="residual"
        How the next query is formed:

        * ``"residual"``: ``q_{t+1} = q_t + summary_t``. The query keeps
          what it asked and adds what it read, so it grows in the
          direction of the rows it favours and the weights sharpen from
          hop to hop (as in end-to-end memory networks).
        * ``"replace"``: ``q_{t+1} = summary_t``. Ask with what was read
          (the update of a modern Hopfield network).
        * a callable ``f(q, summary)`` returning the next query, an array
          of the shape of ``q`` (the batch shape, then ``d``). It gets
          the current query and the summary, both of shape ``(..., d)``,
          in the working dtype. For example, with rows ``u_j = [key_j,
          value_j]`` that store pointers, ``f`` can move the value half of
          the summary into the key half, so that each hop follows one
          pointer (see the lecture).
    scale : float or None, default=None
        Factor applied to the scores at every hop; None means
        ``1 / sqrt(d)``. See :func:`attention_weights`.

    Returns
    -------
    final_q : ndarray of shape (..., d)
        ``q_hops``, the query after the last update: the answer the
        repeated querying converged on.
    summaries : ndarray of shape (hops, ..., d)
        ``summaries[t]`` is what hop ``t`` read.
    weights : ndarray of shape (hops, ..., n)
        ``weights[t]`` are the attention weights of hop ``t``; for one
        query, a ``(hops, n)`` array to show as a heatmap.
        All three have the dtype of ``U`` and ``q`` combined (float16 is
        computed in float32).

    Raises
    ------
    ValueError
        As for :func:`attention_weights`; if ``hops`` is not an int
        ``>= 1``; if ``update`` is neither a known name nor callable; if
        the callable returns something that is not a finite real array of
        the shape of ``q``.

    See Also
    --------
    attend : one hop.

    Notes
    -----
    The hops run one after the other (each needs the previous query); the
    work of one hop is vectorised over the batch axes. With an update
    that returns ``q`` unchanged, every hop repeats the weights of the
    first one.

    Examples
    --------
    Memory of two patterns; the query leans slightly towards the first.
    With the residual update the weights sharpen on it hop after hop:

    >>> import numpy as np
    >>> from lecture_lib.attention import multi_hop_attention
    >>> U = np.array([[2.0, 0.0], [0.0, 2.0]])
    >>> q = np.array([0.6, 0.4])
    >>> final_q, summaries, weights = multi_hop_attention(U, q, hops=4)
    >>> weights.round(3)
    array([[0.57 , 0.43 ],
           [0.664, 0.336],
           [0.833, 0.167],
           [0.97 , 0.03 ]])
    >>> summaries.shape, final_q.round(3)
    ((4, 2), array([6.675, 2.325]))

    A callable update; keeping ``q`` repeats the same weights:

    >>> _, _, w = multi_hop_attention(U, q, hops=2, update=lambda q, z: q)
    >>> bool((w[0] == w[1]).all())
    True
    """
    func = "multi_hop_attention"
    u, q_arr, dtype, batch = _uq_inputs(U, q, func)
    n_hops = _check_int(hops, "hops", func)
    named = isinstance(update, str) and update in _UPDATES
    if not (named or callable(update)):
        raise ValueError(
            f"{func}: expected update to be 'residual', 'replace' or a "
            f"callable f(q, summary) returning the next query, got "
            f"{update!r}. Pass update='residual' for q + summary."
        )
    n, d = u.shape[-2:]
    s = _check_scale(scale, d, u.dtype, func)
    # One query per batch entry from the start, so that every hop has
    # the same shapes: (..., d).
    q_t = np.broadcast_to(q_arr, (*batch, d)).copy()
    summaries = np.empty((n_hops, *batch, d), dtype=u.dtype)
    weights = np.empty((n_hops, *batch, n), dtype=u.dtype)
    for t in range(n_hops):
        summaries[t], weights[t] = _attend(u, q_t, s)
        if not named:
            q_t = _checked_update(update(q_t, summaries[t].copy()), q_t, t)
        elif update == "residual":
            q_t = q_t + summaries[t]
        else:  # "replace"
            q_t = summaries[t].copy()
    return (
        q_t.astype(dtype, copy=False),
        summaries.astype(dtype, copy=False),
        weights.astype(dtype, copy=False),
    )


def _checked_update(new_q, q_t, t):
    """Return the callable's next query, checked, in the dtype of ``q_t``."""
    func = "multi_hop_attention"
    arr = as_float_array(new_q, f"update(q, summary) at hop {t}", func)
    if arr.shape != q_t.shape:
        raise ValueError(
            f"{func}: expected update(q, summary) to return the next "
            f"query, of the shape of q, {q_t.shape}, got shape {arr.shape} "
            f"at hop {t}. Return an array like q, e.g. q + summary."
        )
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{func}: expected update(q, summary) to return a finite query, "
            f"got {int((~np.isfinite(arr)).sum())} NaN or infinite entries "
            f"at hop {t}. Check the update function for a division by 0 or "
            f"an overflow."
        )
    return arr.astype(q_t.dtype)  # a copy: the callable may keep its own
