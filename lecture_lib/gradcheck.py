"""Numerical gradients by central differences, to check hand-written ones.

Backpropagation code is easy to get subtly wrong. A central difference

.. math:: \\frac{\\partial f}{\\partial x_i} \\approx
          \\frac{f(x + h e_i) - f(x - h e_i)}{2h}

has an error of order ``h**2`` and needs nothing but ``f`` itself, so it is
an independent check of any gradient. Always check in float64: in float32
the rounding error of ``f`` divided by ``2h`` swamps the comparison.
"""

import numbers
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
        at a time (views and non-contiguous arrays included, so ``f`` sees
        the change through any array it shares memory with) and restored
        exactly before the function returns, also when ``f`` raises.
    h : float, default=1e-6
        Step. The truncation error shrinks like ``h**2``, the rounding error
        grows like ``eps / h``; ``1e-6`` balances them in float64 for
        functions of moderate size.

    Returns
    -------
    grad : ndarray of the same shape and dtype as x
        ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / s``, where ``x + h e_i``
        and ``x - h e_i`` are rounded to the dtype of ``x`` and ``s`` is
        the distance between the two rounded points (``2 h`` up to
        rounding).

    Raises
    ------
    ValueError
        If ``x`` is not a writeable floating ndarray, if ``h`` is not a
        positive finite number, if ``h`` is too small to move an entry of
        ``x`` in its dtype, or if ``f`` returns something that is not a
        finite real scalar.

    Notes
    -----
    Dividing by the step actually taken, not by ``2 h``, matters in low
    precision: in float32, ``1 + 1e-6`` rounds to ``1 + 9.5e-7``, and
    dividing by ``2e-6`` would make every derivative about 5 % too small.

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
    if not x.flags.writeable:
        raise ValueError(
            f"{func}: expected a writeable x (it is perturbed in place), got "
            f"a read-only array of shape {x.shape}. Pass a copy, x.copy(), "
            f"and let f read that copy."
        )
    real = isinstance(h, numbers.Real) and not isinstance(h, bool)
    if not (real and np.isfinite(h) and h > 0):
        raise ValueError(
            f"{func}: expected a positive finite step h, got {h!r}; the "
            f"default 1e-6 suits float64."
        )
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        try:
            x[index] = old + h
            up = x[index]
            f_plus = _scalar(f(x), func)
            x[index] = old - h
            down = x[index]
            f_minus = _scalar(f(x), func)
        finally:
            x[index] = old
        # The step actually taken, after rounding to the dtype of x.
        step = float(up) - float(down)
        if step == 0.0:
            raise ValueError(
                f"{func}: the step h={h!r} does not move x{list(index)} = "
                f"{float(old)!r} in {x.dtype}: x + h rounds to x. Use a "
                f"larger h, or check in float64 (x.astype(np.float64))."
            )
        grad[index] = (f_plus - f_minus) / step
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
        If ``params`` is empty, if a parameter is not a writeable floating
        ndarray, or if the keys or shapes of ``params`` and ``grads``
        differ.

    Notes
    -----
    An analytic gradient holding NaN or infinity counts as wrong: its
    relative error is ``inf``, so the report fails and points at it.

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
    if not params:
        raise ValueError(
            f"{func}: expected at least one parameter in params, got an "
            f"empty dict, so nothing would be checked. Pass e.g. "
            f"params={{'W': W}}, grads={{'W': dW}}."
        )
    if set(params) != set(grads):
        raise ValueError(
            f"{func}: expected grads for exactly the parameters "
            f"{sorted(params)}, got {sorted(grads)}."
        )
    for name, value in params.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise ValueError(
                f"{func}: expected params[{name!r}] to be the floating "
                f"ndarray that f reads (it is perturbed in place), got "
                f"{type(value).__name__}"
                + (
                    f" of dtype {value.dtype}"
                    if isinstance(value, np.ndarray)
                    else ""
                )
                + ". Store the parameter as a float64 array, read it in f, "
                "and pass that same array."
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
        with np.errstate(invalid="ignore", over="ignore"):
            rel = np.abs(analytic - numeric) / denom
        # A NaN or infinite analytic gradient is wrong, never "close".
        rel[~np.isfinite(rel)] = np.inf
        per[name] = float(rel.max()) if rel.size else 0.0
        if rel.size and per[name] > worst:
            worst = per[name]
            worst_index = (name, np.unravel_index(rel.argmax(), rel.shape))
    worst = max(worst, 0.0)
    worst_index = (worst_index[0], tuple(int(i) for i in worst_index[1]))
    return GradcheckReport(worst, worst_index, per, worst <= rtol, rtol)
