"""Numerical gradients by central differences, to check hand-written ones.

Backpropagation code is easy to get subtly wrong. A central difference

.. math:: \\frac{\\partial f}{\\partial x_i} \\approx
          \\frac{f(x + h e_i) - f(x - h e_i)}{2h}

has an error of order ``h**2`` and needs nothing but ``f`` itself, so it is
an independent check of any gradient. Always check in float64: in float32
the rounding error of ``f`` divided by ``2h`` swamps the comparison.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["GradcheckReport", "gradcheck", "numerical_gradient"]


def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of a scalar function.

    Parameters
    ----------
    f : callable
        ``f(x)`` returns a real scalar (a Python float, or an array of size
        1). It may read ``x`` but must not keep references to it.
    x : ndarray of floating dtype, any shape
        Point at which to differentiate. It is perturbed in place one entry
        at a time and restored exactly before the function returns.
    h : float, default=1e-6
        Step. The truncation error shrinks like ``h**2``, the rounding error
        grows like ``eps / h``; ``1e-6`` balances them in float64 for
        functions of moderate size.

    Returns
    -------
    grad : ndarray of the same shape and dtype as x
        ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)``.

    Raises
    ------
    ValueError
        If ``x`` is not a floating ndarray, if ``h`` is not a positive
        finite number, or if ``f`` returns something that is not a finite
        real scalar.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.gradcheck import numerical_gradient
    >>> x = np.array([1.0, -2.0, 3.0])
    >>> numerical_gradient(lambda v: float(np.sum(v**2)), x).round(6)
    array([ 2., -4.,  6.])
    """
    func = "numerical_gradient"
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise ValueError(
            f"{func}: expected x to be a floating ndarray (it is perturbed "
            f"in place), got {type(x).__name__}"
            + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else "")
            + ". Pass e.g. np.asarray(x, dtype=np.float64)."
        )
    if not (np.isfinite(h) and h > 0):
        raise ValueError(
            f"{func}: expected a positive finite step h, got {h!r}; the "
            f"default 1e-6 suits float64."
        )
    grad = np.zeros_like(x)
    flat_x = x.reshape(-1)  # a view: perturbing it perturbs x
    if not np.shares_memory(flat_x, x):
        raise ValueError(
            f"{func}: x must be contiguous so it can be perturbed in place; "
            f"pass np.ascontiguousarray(x)."
        )
    flat_g = grad.reshape(-1)
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        f_plus = _scalar(f(x), func)
        flat_x[i] = old - h
        f_minus = _scalar(f(x), func)
        flat_x[i] = old
        flat_g[i] = (f_plus - f_minus) / (2 * h)
    return grad


def _scalar(value, func):
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "fiu" or not np.isfinite(arr):
        raise ValueError(
            f"{func}: expected f(x) to return one finite real number, got "
            f"{type(value).__name__} with shape {arr.shape} and value "
            f"{arr.ravel()[:3]}. Reduce the output to a scalar, e.g. sum "
            f"it against a fixed random weight."
        )
    return float(arr.reshape(()))


@dataclass
class GradcheckReport:
    """Result of :func:`gradcheck`.

    Attributes
    ----------
    max_rel_error : float
        Largest entrywise relative error
        ``|a - n| / max(|a| + |n|, atol)`` over all checked entries.
    worst_index : tuple
        ``(name, index)`` of the entry with that error.
    per_parameter : dict
        Largest relative error for each named parameter.
    passed : bool
        ``max_rel_error <= rtol``.
    rtol : float
        The tolerance that was applied.
    """

    max_rel_error: float
    worst_index: tuple
    per_parameter: dict
    passed: bool
    rtol: float

    def __str__(self):
        status = "passed" if self.passed else "FAILED"
        parts = ", ".join(
            f"{k}: {v:.1e}" for k, v in self.per_parameter.items()
        )
        return (
            f"gradcheck {status}: max relative error "
            f"{self.max_rel_error:.1e} (tolerance {self.rtol:.0e}) at "
            f"{self.worst_index[0]}{list(self.worst_index[1])}; {parts}"
        )


def gradcheck(f, params, grads, h=1e-6, rtol=1e-5, atol=1e-8):
    """Compare analytic gradients with central differences.

    Parameters
    ----------
    f : callable
        ``f()`` takes no argument and returns the scalar loss computed from
        the current values of the arrays in ``params``.
    params : dict of str to ndarray
        The parameters, float64 arrays that ``f`` reads. Each is perturbed
        in place and restored.
    grads : dict of str to ndarray
        The analytic gradients, with the same keys and shapes.
    h : float, default=1e-6
        Step of the central difference.
    rtol : float, default=1e-5
        Largest relative error accepted.
    atol : float, default=1e-8
        Floor of the denominator of the relative error, so that entries
        whose true gradient is 0 are compared absolutely.

    Returns
    -------
    GradcheckReport

    Raises
    ------
    ValueError
        If the keys or shapes of ``params`` and ``grads`` differ.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.gradcheck import gradcheck
    >>> W = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> report = gradcheck(lambda: float(np.sum(W**3)), {"W": W},
    ...                    {"W": 3 * W**2})
    >>> report.passed
    True
    """
    func = "gradcheck"
    if set(params) != set(grads):
        raise ValueError(
            f"{func}: expected grads for exactly the parameters "
            f"{sorted(params)}, got {sorted(grads)}."
        )
    worst, worst_index, per = -1.0, ("", ()), {}
    for name, value in params.items():
        analytic = np.asarray(grads[name], dtype=np.float64)
        if analytic.shape != value.shape:
            raise ValueError(
                f"{func}: gradient of {name!r} has shape {analytic.shape}, "
                f"expected {value.shape} like the parameter."
            )
        numeric = numerical_gradient(lambda _: f(), value, h=h)
        denom = np.maximum(np.abs(analytic) + np.abs(numeric), atol)
        rel = np.abs(analytic - numeric) / denom
        per[name] = float(rel.max()) if rel.size else 0.0
        if rel.size and per[name] > worst:
            worst = per[name]
            worst_index = (name, np.unravel_index(rel.argmax(), rel.shape))
    worst = max(worst, 0.0)
    worst_index = (worst_index[0], tuple(int(i) for i in worst_index[1]))
    return GradcheckReport(worst, worst_index, per, worst <= rtol, rtol)
