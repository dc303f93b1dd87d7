"""Selection with a softmax: sampling a label, and hard or soft selection.

A softmax turns ``n`` scores into a probability vector ``p``. This module
uses ``p`` in the two ways of lecture 2:

* to **sample** one of the ``n`` candidates, with probability ``p_i`` for
  candidate ``i`` (:func:`sample_categorical`, :func:`sample_softmax`,
  :func:`gumbel_max_sample`, and :func:`top_k_logits` to restrict the
  choice to the ``k`` best scores);
* to **select** a vector among the ``n`` rows ``u_j`` of a matrix ``U`` of
  shape ``(n, d)`` by their similarity ``s_j = u_j . q`` to a query ``q``:
  either the single best row (:func:`hard_select`, an argmax) or the
  weighted average ``softmax(s / T) @ U`` (:func:`soft_select`), which is
  differentiable in ``q`` and ``U``.

Categories always lie along the last axis. Random functions take ``rng``:
a ``np.random.Generator`` (its stream continues), an int seed
(reproducible) or None (fresh entropy).
"""

import math
import numbers

import numpy as np

from ._checks import (
    as_float_array,
    as_generator,
    check_temperature,
    work_dtype,
)
from .softmax import _slice_max, softmax

__all__ = [
    "sample_categorical",
    "sample_softmax",
    "gumbel_max_sample",
    "top_k_logits",
    "hard_select",
    "soft_select",
]

# Largest number of (draw, category) comparisons made at once by the
# inverse-CDF sampler: bounds its temporary memory to a few megabytes.
_CHUNK = 1 << 22


def _sum_tolerance(dtype):
    """Largest accepted ``|sum(p) - 1|`` for probabilities of ``dtype``.

    ``sqrt(eps)`` of float32 (about 3.5e-4) for float32 and float64, so
    that a float32 softmax is accepted even after a cast to float64, and
    ``4 eps`` of float16 (about 3.9e-3) for float16.
    """
    loose = float(np.sqrt(np.finfo(np.float32).eps))
    return max(loose, 4.0 * float(np.finfo(dtype).eps))


def _check_size(size, func):
    """Return ``size`` as a tuple of non-negative ints."""
    if size is None:
        return ()
    items = size if isinstance(size, tuple | list) else (size,)
    ok = all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
        for s in items
    )
    if not ok:
        raise ValueError(
            f"{func}: expected size to be None, an int >= 0 or a tuple of "
            f"ints >= 0, got {size!r}. Pass e.g. size=1000 for 1000 draws "
            f"per distribution."
        )
    return tuple(int(s) for s in items)


def _check_categories(arr, name, func):
    """Raise unless ``arr`` has a last axis with at least one category."""
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(
            f"{func}: expected {name} of shape (..., n) with n >= 1 "
            f"categories along the last axis, got shape {arr.shape}. Pass "
            f"at least one category, e.g. {name} of shape (n,)."
        )


def _check_logits(logits, func):
    """Return logits as a float array, checked like ``softmax`` does."""
    arr = as_float_array(logits, "logits", func)
    _check_categories(arr, "logits", func)
    if arr.size:
        _slice_max(arr, arr.ndim - 1, func)
    return arr


def _inverse_cdf(p, size, gen):
    """Draw from the rows of non-negative ``p`` by inverse CDF.

    ``p`` has shape ``(..., n)`` with positive row sums; it need not sum
    to 1 exactly. Returns int64 indices of shape ``(*size, *p.shape[:-1])``.
    """
    batch, n = p.shape[:-1], p.shape[-1]
    rows, draws = math.prod(batch), math.prod(size)
    # Shape of c: (rows, n), the running sums of each flattened row.
    c = np.cumsum(p.reshape(rows, n), axis=-1, dtype=np.float64)
    total = c[:, -1]  # the row sums, which may differ from 1 by rounding
    # One uniform u in [0, 1) per draw, scaled to [0, total): the same as
    # renormalising p, without dividing it.
    u = gen.random((*size, *batch)).reshape(draws, rows)
    target = u * total
    # Category i is drawn when c[i - 1] <= target < c[i]. A category with
    # p_i = 0 has c[i] == c[i - 1], so it is never drawn, and u = 0 lands
    # on the first positive entry.
    index = np.empty(target.shape, dtype=np.int64)
    step = max(1, _CHUNK // max(1, c.size))
    for start in range(0, target.shape[0], step):
        block = target[start : start + step, :, None]  # (s, B, 1)
        index[start : start + step] = (c <= block).sum(axis=-1)
    # u < 1, and rounding to nearest keeps u * total < total. Should target
    # still reach total, every c[i] <= target and index would be n: take
    # the last category with positive probability instead.
    last = n - 1 - np.argmax(p.reshape(rows, n)[:, ::-1] > 0, axis=-1)
    np.minimum(index, last, out=index)
    return index.reshape((*size, *batch))[()]


def sample_categorical(p, size=None, rng=None):
    """Draw category indices from probability vectors, by inverse CDF.

    Parameters
    ----------
    p : array_like of shape (..., n)
        Probabilities of the ``n`` categories along the last axis; every
        other axis indexes an independent distribution (a batch). Finite,
        ``>= 0``, each row summing to 1 within a tolerance (see Notes).
        Any floating dtype; integers are converted to float64.
    size : int or tuple of ints, optional
        Number of independent draws from each distribution. ``None`` gives
        one draw per distribution.
    rng : numpy.random.Generator, int or None, optional
        Source of randomness: a Generator (used as is, so its stream
        continues), an int seed (reproducible), or None (fresh entropy).

    Returns
    -------
    samples : ndarray of int64 of shape (*size, *p.shape[:-1])
        ``samples[s..., b...]`` is a category index in ``[0, n)`` drawn
        with probability ``p[b..., i]``. With ``size=None`` the shape is
        ``p.shape[:-1]``; a 1-D ``p`` then gives a single ``np.int64``.
        The draws come first, the batch axes last: ``size=k`` for ``p`` of
        shape ``(batch, n)`` gives shape ``(k, batch)``.

    Raises
    ------
    ValueError
        If ``p`` holds NaN, infinity or negative values, if a row does not
        sum to 1 within the tolerance (typically because logits were passed
        instead of probabilities), if ``p`` is 0-D or has ``n = 0``, or if
        ``size`` or ``rng`` is invalid.

    See Also
    --------
    sample_softmax : draw from ``softmax(logits / T)`` given the logits.
    gumbel_max_sample : the same distribution through an argmax.

    Notes
    -----
    Each row's sum must be within ``tol`` of 1, with ``tol = 3.5e-4``
    (``sqrt(eps)`` of float32) for float32 and float64 input and
    ``tol = 3.9e-3`` (``4 eps``) for float16. This accepts the rounding
    of a float32 softmax over thousands of categories, also after a cast
    to float64 (which ``numpy.random.Generator.choice`` may reject), but
    rejects vectors that are clearly not normalised. Rows within the
    tolerance are renormalised: the draw uses ``p / sum(p)``.

    Sampling compares one uniform number per draw with the cumulative sums
    of ``p`` in float64. A category with probability exactly 0 is never
    drawn. The comparisons are made in blocks of about four million, so
    the temporary memory stays at a few megabytes besides the output; the
    time is ``O(n)`` per draw.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.selection import sample_categorical
    >>> p = np.array([0.1, 0.0, 0.6, 0.3])
    >>> draws = sample_categorical(p, size=10_000, rng=0)
    >>> draws.shape, draws.dtype
    ((10000,), dtype('int64'))
    >>> (np.bincount(draws, minlength=4) / 10_000).round(2)
    array([0.1, 0. , 0.6, 0.3])
    >>> P = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    >>> sample_categorical(P, size=2, rng=1)  # shape (size, batch)
    array([[0, 1, 0],
           [0, 1, 0]])
    """
    func = "sample_categorical"
    arr = as_float_array(p, "p", func)
    _check_categories(arr, "p", func)
    shape = _check_size(size, func)
    gen = as_generator(rng, func)
    q = arr.astype(np.float64)
    for bad, name in (
        (np.isnan(q), "NaN"),
        (np.isinf(q), "infinite"),
        (q < 0, "negative"),
    ):
        if bad.any():
            count = int(bad.sum())
            raise ValueError(
                f"{func}: expected p to hold probabilities (finite and "
                f">= 0), got {count} {name} entr{'y' if count == 1 else 'ies'}"
                f" in p of shape {arr.shape}. Did you pass logits? Use "
                f"sample_softmax(logits) for scores, or pass "
                f"p = softmax(logits)."
            )
    sums = q.sum(axis=-1)
    tol = _sum_tolerance(arr.dtype)
    off = np.abs(sums - 1.0)
    if (off > tol).any():
        where = np.unravel_index(np.argmax(off), off.shape)
        label = "p" if arr.ndim == 1 else f"p[{', '.join(map(str, where))}]"
        raise ValueError(
            f"{func}: expected every row of p to sum to 1 (within "
            f"{tol:.1e} for {arr.dtype}), got a sum of "
            f"{float(sums[where]):.6g} for {label}. Did you pass logits? "
            f"Use sample_softmax(logits), or divide p by its row sums."
        )
    return _inverse_cdf(q, shape, gen)


def sample_softmax(logits, temperature=1.0, size=None, rng=None):
    """Draw category indices from ``softmax(logits / temperature)``.

    Parameters
    ----------
    logits : array_like of shape (..., n)
        Scores of the ``n`` categories along the last axis; other axes are
        a batch of independent distributions. Finite values, or ``-inf``
        for categories that must never be drawn; every row needs one
        finite entry.
    temperature : float, default=1.0
        Finite and ``>= 0``. Large values flatten the distribution towards
        uniform; ``0`` samples the limit, uniformly among the tied maxima
        of each row (always the argmax when it is unique).
    size : int or tuple of ints, optional
        Number of independent draws per distribution; see
        :func:`sample_categorical`.
    rng : numpy.random.Generator, int or None, optional
        Source of randomness; see :func:`sample_categorical`.

    Returns
    -------
    samples : ndarray of int64 of shape (*size, *logits.shape[:-1])
        Category indices; a single ``np.int64`` for 1-D logits and
        ``size=None``.

    Raises
    ------
    ValueError
        If ``logits`` holds NaN or ``+inf``, if a row is all ``-inf``, if
        ``temperature`` is negative or not finite, or if ``logits``,
        ``size`` or ``rng`` is otherwise invalid.

    See Also
    --------
    gumbel_max_sample : the same distribution, sampled with an argmax.
    top_k_logits : restrict sampling to the ``k`` largest logits.

    Notes
    -----
    The probabilities are computed in float64 with
    :func:`lecture_lib.softmax.softmax`, whatever the dtype of ``logits``.
    A category whose probability underflows to 0 (its logit lies more than
    about ``745 T`` below the maximum) is never drawn.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.selection import sample_softmax
    >>> logits = np.array([2.0, 1.0, -np.inf, 0.0])
    >>> draws = sample_softmax(logits, size=10_000, rng=0)
    >>> (np.bincount(draws, minlength=4) / 10_000).round(2)
    array([0.66, 0.25, 0.  , 0.09])
    >>> sample_softmax(logits, temperature=0, size=5, rng=0)
    array([0, 0, 0, 0, 0])
    >>> sample_softmax(np.array([[0.0, 9.0], [9.0, 0.0]]), temperature=0)
    array([1, 0])
    """
    func = "sample_softmax"
    t = check_temperature(temperature, func)
    arr = _check_logits(logits, func)
    shape = _check_size(size, func)
    gen = as_generator(rng, func)
    p = softmax(arr.astype(np.float64), axis=-1, temperature=t)
    return _inverse_cdf(p, shape, gen)


def gumbel_max_sample(logits, size=None, rng=None):
    """Sample from ``softmax(logits)`` with the Gumbel-max trick.

    Each draw adds independent standard Gumbel noise
    ``g_i = -log(-log(U_i))``, with ``U_i`` uniform on ``(0, 1)``, to every
    logit and returns the index of the largest sum. That index has the
    distribution ``softmax(logits)``.

    Parameters
    ----------
    logits : array_like of shape (..., n)
        Scores along the last axis; other axes are a batch. Finite values,
        or ``-inf`` for categories that must never be drawn; every row
        needs one finite entry.
    size : int or tuple of ints, optional
        Number of independent draws per distribution; see
        :func:`sample_categorical`.
    rng : numpy.random.Generator, int or None, optional
        Source of randomness; see :func:`sample_categorical`.

    Returns
    -------
    samples : ndarray of int64 of shape (*size, *logits.shape[:-1])
        Category indices; a single ``np.int64`` for 1-D logits and
        ``size=None``.

    Raises
    ------
    ValueError
        If ``logits`` holds NaN or ``+inf``, if a row is all ``-inf``, or
        if ``logits``, ``size`` or ``rng`` is otherwise invalid.

    See Also
    --------
    sample_softmax : the same distribution by inverse CDF.

    Notes
    -----
    Why it works: ``P(argmax_i (x_i + g_i) = k)`` equals
    ``exp(x_k) / sum_j exp(x_j)`` for independent standard Gumbel
    ``g_i``. Noise and sums are float64. A uniform draw of exactly 0 is
    replaced by the smallest normal float64 (a change of probability
    ``2**-53`` per draw), so the noise is always finite. The method needs
    ``n`` uniform numbers per draw where inverse CDF needs one, but only
    an argmax, which is why it suits hardware and the Gumbel-softmax
    relaxation.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.selection import gumbel_max_sample
    >>> logits = np.array([2.0, 1.0, -np.inf, 0.0])
    >>> draws = gumbel_max_sample(logits, size=10_000, rng=0)
    >>> (np.bincount(draws, minlength=4) / 10_000).round(2)
    array([0.67, 0.24, 0.  , 0.09])
    """
    func = "gumbel_max_sample"
    arr = _check_logits(logits, func)
    shape = _check_size(size, func)
    gen = as_generator(rng, func)
    x = arr.astype(np.float64)
    u = gen.random((*shape, *x.shape))  # (*size, ..., n), in [0, 1)
    u[u == 0.0] = np.finfo(np.float64).tiny  # keep -log(u) finite
    gumbel = -np.log(-np.log(u))
    # -inf + finite noise stays -inf, so masked categories never win.
    index = np.argmax(x + gumbel, axis=-1).astype(np.int64)
    return index[()]


def top_k_logits(logits, k):
    """Keep the ``k`` largest logits of each row; set the others to -inf.

    Parameters
    ----------
    logits : array_like of shape (..., n)
        Scores along the last axis (``-inf`` and ``+inf`` allowed, NaN
        not).
    k : int
        Number of entries kept per row, ``>= 1``. ``k >= n`` keeps all.

    Returns
    -------
    kept : ndarray of the same shape as logits
        A new array: exactly ``k`` entries per row keep their value (all
        ``n`` when ``k >= n``), the others are ``-inf``. Floating input
        keeps its dtype; integer input gives float64. Ties at the
        threshold are broken toward the lower index: of equal logits, the
        ones that come first are kept.

    Raises
    ------
    ValueError
        If ``k`` is not an int ``>= 1``, if ``logits`` holds NaN, is 0-D or
        is not real-valued.

    Notes
    -----
    Sampling from ``softmax(top_k_logits(x, k))`` is top-k sampling: the
    probabilities of the ``k`` kept categories are renormalised among
    themselves, the others get exactly 0.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.selection import top_k_logits
    >>> top_k_logits(np.array([1.0, 3.0, 2.0, 0.5]), k=2)
    array([-inf,   3.,   2., -inf])
    >>> top_k_logits(np.array([[1.0, 1.0, 1.0], [0.0, 5.0, 5.0]]), k=1)
    array([[  1., -inf, -inf],
           [-inf,   5., -inf]])
    """
    func = "top_k_logits"
    arr = as_float_array(logits, "logits", func)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(
            f"{func}: expected k to be an int >= 1 (the number of logits "
            f"kept per row), got {k!r}. Pass e.g. k=5; k >= n keeps all."
        )
    if arr.ndim == 0:
        raise ValueError(
            f"{func}: expected logits of shape (..., n), got a 0-D array. "
            f"Pass at least a 1-D array, e.g. np.atleast_1d(logits)."
        )
    if np.isnan(arr).any():
        raise ValueError(
            f"{func}: expected logits without NaN, got "
            f"{int(np.isnan(arr).sum())} NaN entries, which have no rank. "
            f"Fix them upstream; np.isnan(logits) locates them."
        )
    if k >= arr.shape[-1]:
        return arr.copy()
    # A stable sort of -x puts larger logits first and keeps the index
    # order among equal ones, so ties go to the lower index.
    order = np.argsort(-arr, axis=-1, kind="stable")[..., : int(k)]
    kept = np.full_like(arr, -np.inf)
    np.put_along_axis(kept, order, np.take_along_axis(arr, order, -1), -1)
    return kept


def _select_inputs(U, q, func):
    """Check ``U`` of shape (n, d) and ``q`` of shape (d,) or (batch, d).

    Returns ``(U, q, dtype)``, both cast to the working dtype, and the
    dtype of the results.
    """
    u_arr = as_float_array(U, "U", func)
    q_arr = as_float_array(q, "q", func)
    if u_arr.ndim != 2 or u_arr.shape[0] == 0:
        raise ValueError(
            f"{func}: expected U of shape (n, d) with n >= 1 candidate rows, "
            f"got shape {u_arr.shape}. Stack the candidates as rows, e.g. "
            f"U = np.stack([u_0, u_1, ...])."
        )
    if q_arr.ndim not in (1, 2) or q_arr.shape[-1] != u_arr.shape[1]:
        raise ValueError(
            f"{func}: expected q of shape (d,) or (batch, d) with d = "
            f"{u_arr.shape[1]} to match U of shape {u_arr.shape}, got q of "
            f"shape {q_arr.shape}. Give the query as many entries as a row "
            f"of U has."
        )
    for name, a in (("U", u_arr), ("q", q_arr)):
        if not np.isfinite(a).all():
            raise ValueError(
                f"{func}: expected {name} to hold finite numbers, got "
                f"{int((~np.isfinite(a)).sum())} NaN or infinite entries. "
                f"np.isfinite({name}) locates them."
            )
    dtype = np.result_type(u_arr.dtype, q_arr.dtype)
    wd = work_dtype(dtype)
    return u_arr.astype(wd, copy=False), q_arr.astype(wd, copy=False), dtype


def hard_select(U, q):
    """Select the row of ``U`` most similar to ``q``: an argmax.

    Parameters
    ----------
    U : array_like of shape (n, d)
        The candidates: row ``u_j`` is candidate ``j``.
    q : array_like of shape (d,) or (batch, d)
        A query, or a batch of queries.

    Returns
    -------
    index : np.int64 or ndarray of int64 of shape (batch,)
        ``argmax_j s_j`` for the scores ``s = U q``; among tied maxima, the
        lowest index.
    weights : ndarray of shape (n,) or (batch, n)
        The one-hot vector of ``index``, so that ``weights @ U`` is the
        selected row ``U[index]``. dtype: that of ``U`` and ``q`` combined
        (float32 stays float32; integers give float64).

    Raises
    ------
    ValueError
        If ``U`` is not 2-D with ``n >= 1``, if ``q`` is not of shape
        ``(d,)`` or ``(batch, d)`` with the ``d`` of ``U``, or if either
        holds NaN or infinity.

    See Also
    --------
    soft_select : the differentiable version, ``softmax(U q / T) @ U``.

    Notes
    -----
    The weights are piecewise constant in ``q``: a small change of ``q``
    either leaves them unchanged or, where two scores cross, makes them
    jump. Their derivative is therefore 0 almost everywhere, and no
    gradient flows through a hard selection.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.selection import hard_select
    >>> U = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    >>> index, weights = hard_select(U, np.array([0.2, 1.0]))
    >>> int(index), weights
    (1, array([0., 1., 0.]))
    >>> index, weights = hard_select(U, np.array([[1.0, 0.9], [1.0, 0.0]]))
    >>> index
    array([2, 0])
    """
    func = "hard_select"
    u_arr, q_arr, dtype = _select_inputs(U, q, func)
    scores = q_arr @ u_arr.T  # (n,) or (batch, n)
    index = np.argmax(scores, axis=-1).astype(np.int64)  # first maximum
    weights = np.zeros(scores.shape, dtype=dtype)
    np.put_along_axis(weights, index[..., None], 1, axis=-1)
    return index[()], weights


def soft_select(U, q, temperature=1.0):
    """Weighted average of the rows of ``U``, weighted by ``softmax(U q)``.

    Parameters
    ----------
    U : array_like of shape (n, d)
        The candidates: row ``u_j`` is candidate ``j``.
    q : array_like of shape (d,) or (batch, d)
        A query, or a batch of queries.
    temperature : float, default=1.0
        Finite and ``>= 0``. The scores ``s = U q`` are divided by it.
        ``0`` gives the hard selection (weights uniform over tied maxima);
        large values give the plain average of the rows.

    Returns
    -------
    weights : ndarray of shape (n,) or (batch, n)
        ``softmax(s / temperature)``: non-negative, summing to 1.
    summary : ndarray of shape (d,) or (batch, d)
        ``weights @ U``, the soft selection.
        Both have the dtype of ``U`` and ``q`` combined: float32 stays
        float32 (float16 is computed in float32), integers give float64.

    Raises
    ------
    ValueError
        As for :func:`hard_select`, and if ``temperature`` is negative or
        not finite.

    See Also
    --------
    hard_select : the argmax version.

    Notes
    -----
    The summary is a smooth function of ``q`` and ``U``. With
    ``p = weights`` and ``J = diag(p) - p p^T``, the gradient of a loss
    ``L(summary)`` with respect to ``q`` is
    ``U^T J U g / temperature``, where ``g = dL/dsummary``.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.selection import soft_select
    >>> U = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> weights, summary = soft_select(U, np.array([0.0, np.log(2.0)]))
    >>> weights * 7  # the scores (0, log 2, -log 2) give 2/7, 4/7, 1/7
    array([2., 4., 1.])
    >>> summary * 7
    array([2., 3.])
    >>> soft_select(U, np.array([2.0, 0.0]), temperature=0)
    (array([1., 0., 0.]), array([1., 0.]))
    """
    func = "soft_select"
    t = check_temperature(temperature, func)
    u_arr, q_arr, dtype = _select_inputs(U, q, func)
    scores = q_arr @ u_arr.T  # (n,) or (batch, n)
    weights = softmax(scores, axis=-1, temperature=t)
    summary = weights @ u_arr  # (d,) or (batch, d)
    return weights.astype(dtype, copy=False), summary.astype(dtype, copy=False)
