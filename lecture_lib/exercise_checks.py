"""Checks that the course's exercises run on students' code.

The test cells of the exercises import these, so that the rules they
enforce are written, documented and tested once.
"""

import builtins
import types

import numpy as np

__all__ = ["FORBIDDEN_MODULES", "forbidden_names", "frequencies_match"]

#: Libraries whose ready-made softmax, sampling or losses an exercise
#: answer may not call.
FORBIDDEN_MODULES = ("lecture_lib", "scipy", "sklearn", "torch", "jax")


def _codes(code):
    """A code object and every code object nested in it."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _top_module(obj):
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    else:
        name = getattr(obj, "__module__", None) or ""
    return name.split(".")[0]


def forbidden_names(func, modules=FORBIDDEN_MODULES, attributes=()):
    """Names in ``func`` that reach a forbidden library or attribute.

    Every name the function's code uses (globals, attributes, names in
    nested functions, and imports inside the function) is looked up the
    way Python would. A name that resolves to a module, function or class
    of one of ``modules`` is reported, however it was imported or renamed.
    Functions of the same notebook that ``func`` calls are followed too,
    so a helper cannot hide a forbidden call.

    Parameters
    ----------
    func : function
        A function defined by the student.
    modules : tuple of str, default=FORBIDDEN_MODULES
        Top-level names of the forbidden libraries.
    attributes : tuple of str, default=()
        Attribute or function names that are forbidden wherever they come
        from, e.g. ``("choice",)`` to forbid ``rng.choice``.

    Returns
    -------
    list of str
        The offending names, sorted; empty when the function is clean.

    Raises
    ------
    ValueError
        If ``func`` is not a Python function.

    Examples
    --------
    >>> import numpy as np
    >>> def ok(x):
    ...     return np.exp(x) / np.exp(x).sum()
    >>> forbidden_names(ok)
    []
    >>> from lecture_lib.softmax import softmax as my_softmax
    >>> def sneaky(x):
    ...     return my_softmax(x)
    >>> forbidden_names(sneaky)
    ['my_softmax']
    """
    if not isinstance(func, types.FunctionType):
        raise ValueError(
            f"forbidden_names: expected a Python function, got "
            f"{type(func).__name__}; pass the function itself, not its "
            f"result."
        )
    found, seen, todo = set(), set(), [func]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for code in _codes(f.__code__):
            for name in code.co_names:
                if name in attributes:
                    found.add(name)
                    continue
                if name.split(".")[0] in modules:  # import in the body
                    found.add(name.split(".")[0])
                    continue
                missing = object()
                obj = f.__globals__.get(name, missing)
                if obj is missing:
                    obj = getattr(builtins, name, None)
                if obj is None:
                    continue
                if _top_module(obj) in modules:
                    found.add(name)
                elif (
                    isinstance(obj, types.FunctionType)
                    and obj.__globals__ is f.__globals__
                ):
                    todo.append(obj)
    return sorted(found)


def frequencies_match(samples, p, delta=1e-7):
    """Whether sample frequencies are consistent with probabilities ``p``.

    Hoeffding's inequality with a union bound over the ``n`` categories:
    for ``m`` independent draws from ``p``, every empirical frequency lies
    within ``sqrt(log(2 n / delta) / (2 m))`` of its probability, except
    with probability at most ``delta``. So a correct sampler fails this
    check with probability at most ``delta``.

    Parameters
    ----------
    samples : array_like of int, shape (m,)
        Drawn labels in ``[0, n)``.
    p : array_like of shape (n,)
        The probabilities they should follow.
    delta : float, default=1e-7
        Largest probability of failing a correct sampler.

    Returns
    -------
    ok : bool
    frequencies : ndarray of shape (n,)
        The empirical frequencies, for the error message.

    Raises
    ------
    ValueError
        If ``samples`` is empty or holds labels outside ``[0, n)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = np.array([0.5, 0.3, 0.2])
    >>> ok, freq = frequencies_match(rng.choice(3, size=20000, p=p), p)
    >>> ok
    True
    >>> frequencies_match(np.zeros(20000, dtype=int), p)[0]
    False
    """
    samples = np.asarray(samples)
    p = np.asarray(p, dtype=np.float64)
    n, m = p.size, samples.size
    if m == 0 or samples.min() < 0 or samples.max() >= n:
        raise ValueError(
            f"frequencies_match: expected a non-empty array of labels in "
            f"[0, {n}), got {m} samples"
            + (f" from {samples.min()} to {samples.max()}" if m else "")
            + "; check the sampler's output range."
        )
    freq = np.bincount(samples.astype(np.int64).ravel(), minlength=n) / m
    bound = np.sqrt(np.log(2 * n / delta) / (2 * m))
    return bool(np.all(np.abs(freq - p) <= bound)), freq
