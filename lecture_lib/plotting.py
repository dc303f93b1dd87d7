"""Plotting helpers shared by the lecture notebooks.

Three functions draw every figure of the course:

* :func:`plot_probabilities` -- a bar chart of one probability vector of
  length ``n``;
* :func:`plot_heatmap` -- a 2-D array as an image with a labelled colorbar,
  for attention weights of shape ``(batch, n)`` or ``(n, n)`` and for
  Jacobians;
* :func:`plot_curves` -- several labelled lines over one shared x axis.

Each function draws on the Axes it is given, or on a new figure made with
:mod:`matplotlib.pyplot` when ``ax`` is None, and returns that Axes. Every
figure gets a title and labelled axes: when the caller gives none, a short
default that describes the data is used. pyplot is imported only when a
new figure is needed, so importing this module never selects a backend.

Bad input raises ``ValueError`` saying what was expected, what arrived and
how to fix it.
"""

import numbers

import numpy as np

from ._checks import check_bool

__all__ = ["plot_probabilities", "plot_heatmap", "plot_curves"]

_BAR_FIGSIZE = (6.0, 3.5)
_HEATMAP_FIGSIZE = (5.5, 4.5)
_CURVES_FIGSIZE = (6.0, 4.0)
# Beyond this many bars, plot_probabilities labels only the bars at a few
# positions that matplotlib picks: thousands of tick labels are unreadable
# and take seconds to draw.
_MAX_BAR_LABELS = 30
# matplotlib's color scale and colorbar ticks overflow for values near the
# float64 limit (about 1.8e308); heatmap values must stay within this.
_MAX_HEATMAP_MAGNITUDE = 1e300


def _new_axes(ax, figsize, func):
    """Return ``ax``, or the Axes of a new pyplot figure when it is None."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
        return ax
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise ValueError(
            f"{func}: expected ax to be a matplotlib Axes or None, got "
            f"{type(ax).__name__}. Pass ax=None for a new figure, or an Axes "
            f"such as the one returned by plt.subplots()."
        )
    return ax


def _text(value, default, name, func):
    """Return ``value`` as a non-empty string, or ``default`` if None."""
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"{func}: expected {name} to be a non-empty string or None, got "
            f"{value!r}. Every figure of the course has a title and labelled "
            f"axes; pass a short description, or None for the default."
        )
    return value


def _real_array(x, name, ndim, func):
    """Return ``x`` as a finite, non-empty float64 array with ``ndim`` dims."""
    if isinstance(x, np.ma.MaskedArray):
        raise ValueError(
            f"{func}: expected {name} to be a plain array, got a masked array "
            f"(np.ma.MaskedArray), whose mask would be silently dropped. "
            f"Fill the masked entries with the value they should show, e.g. "
            f"np.ma.filled({name}, 0.0)."
        )
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as error:
        fix = (
            "Pass a flat sequence of numbers"
            if ndim == 1
            else "Pad or trim the rows to one length"
        )
        raise ValueError(
            f"{func}: expected {name} to be {ndim}-D array_like with a "
            f"regular shape, got a {type(x).__name__} that NumPy cannot "
            f"turn into an array: {error} {fix}."
        ) from error
    if arr.dtype.kind not in "biuf":
        raise ValueError(
            f"{func}: expected {name} to hold real numbers, got an array of "
            f"dtype {arr.dtype}. Convert it first, for example with "
            f"np.asarray({name}, dtype=float)."
        )
    shape = "(n,)" if ndim == 1 else "(rows, columns)"
    if arr.ndim != ndim or arr.size == 0:
        raise ValueError(
            f"{func}: expected {name} to be a non-empty {ndim}-D array of "
            f"shape {shape}, got shape {arr.shape}. Select or reshape the "
            f"part you want to plot, for example {name}[0]."
        )
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{func}: expected {name} to hold finite values, got "
            f"{int((~np.isfinite(arr)).sum())} NaN or infinite entries. "
            f"Plot finite quantities, e.g. the weights softmax(x) rather "
            f"than masked -inf scores; np.isfinite({name}) locates them."
        )
    return arr


def _tick_labels(labels, count, name, what, func):
    """Return ``labels`` as a list of ``count`` strings, or None.

    ``labels`` is a sequence (list, tuple, 1-D array, range) whose entries
    are strings or numbers; a single string counts as one label.
    """
    if labels is None:
        return None
    if isinstance(labels, str):
        labels = [labels]
    ok = isinstance(labels, list | tuple | range | np.ndarray) and all(
        isinstance(label, str | numbers.Number | np.generic)
        for label in labels
    )
    if not ok:
        raise ValueError(
            f"{func}: expected {name} to be a list of {count} strings (one "
            f"per {what}), got {type(labels).__name__} {labels!r:.60}. Pass "
            f"e.g. {name}=[f'k{{i}}' for i in range({count})], or None for "
            f"the indices 0, 1, ..."
        )
    labels = [str(label) for label in labels]
    if len(labels) != count:
        raise ValueError(
            f"{func}: expected {name} to hold one label per {what} "
            f"({count}), got {len(labels)}. Pass exactly {count} labels, "
            f"or None for the indices 0, 1, ..."
        )
    return labels


def _limit(value, name, func):
    """Return ``value`` (vmin or vmax) as a float, or None."""
    if value is None:
        return None
    if isinstance(value, numbers.Real | np.ndarray) and not isinstance(
        value, bool
    ):
        arr = np.asarray(value)
        if arr.ndim == 0 and arr.dtype.kind in "iuf" and np.isfinite(arr):
            return float(arr)
    raise ValueError(
        f"{func}: expected {name} to be a finite real number or None, got "
        f"{value!r} of type {type(value).__name__}. Pass a number such as "
        f"{name}=0.0, or None to use the data's own "
        f"{'minimum' if name == 'vmin' else 'maximum'}."
    )


def plot_probabilities(
    p, labels=None, ax=None, title=None, xlabel="label", ylabel="probability"
):
    """Bar chart of a probability vector, on a y axis from 0 to 1.

    Parameters
    ----------
    p : array_like of shape (n,)
        Probabilities: finite, ``>= 0``, summing to 1 within ``sqrt(eps)``
        of p's dtype (about ``1.5e-8`` for float64 and integer input,
        ``3.5e-4`` for float32), as returned by ``softmax``.
    labels : sequence of n str, optional
        Text under each bar. Default: the indices ``0, ..., n - 1``. With
        more than 30 bars, only the bars at a few positions chosen by
        matplotlib get their label.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on. Default: a new figure.
    title : str, optional
        Figure title. Default: ``"probabilities over n = <n> labels"``.
    xlabel, ylabel : str, optional
        Axis labels.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on; its ``patches`` are the ``n`` bars, in order.

    Raises
    ------
    ValueError
        If ``p`` is not a non-empty 1-D array of finite, non-negative
        numbers summing to 1; if ``labels`` is not a sequence of ``n``
        strings or numbers; if a title or label is not a non-empty string;
        if ``ax`` is not an Axes.

    Notes
    -----
    matplotlib makes one patch per bar, so tens of thousands of bars take
    many seconds to draw; for such long vectors, :func:`plot_curves` over
    the indices is much faster.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from lecture_lib.plotting import plot_probabilities
    >>> ax = Figure().add_subplot()
    >>> p = np.array([0.2, 0.5, 0.3])
    >>> ax = plot_probabilities(p, labels=["a", "b", "c"], ax=ax)
    >>> ax.get_title()
    'probabilities over n = 3 labels'
    >>> [float(bar.get_height()) for bar in ax.patches]
    [0.2, 0.5, 0.3]
    >>> [float(v) for v in ax.get_ylim()]
    [0.0, 1.0]
    """
    func = "plot_probabilities"
    probs = _real_array(p, "p", 1, func)
    n = probs.size
    if (probs < 0).any():
        raise ValueError(
            f"{func}: expected p to hold probabilities >= 0, got a minimum "
            f"of {probs.min():.6g}. Pass softmax(x), not the scores x."
        )
    # A float32 softmax sums to 1 only within float32's rounding, so the
    # tolerance follows p's own dtype (float64 for integers).
    dtype = np.asarray(p).dtype
    eps = np.finfo(dtype if dtype.kind == "f" else np.float64).eps
    tol = float(np.sqrt(eps))
    total = float(probs.sum())
    if abs(total - 1.0) > tol:
        raise ValueError(
            f"{func}: expected p to sum to 1 (within {tol:.1e} for dtype "
            f"{dtype}), got a sum of {total!r}. Pass softmax(x), not the "
            f"scores x, or divide p by p.sum()."
        )
    names = _tick_labels(labels, n, "labels", "entry of p", func)
    if names is None:
        names = [str(i) for i in range(n)]
    title = _text(title, f"probabilities over n = {n} labels", "title", func)
    xlabel = _text(xlabel, "label", "xlabel", func)
    ylabel = _text(ylabel, "probability", "ylabel", func)

    ax = _new_axes(ax, _BAR_FIGSIZE, func)
    positions = np.arange(n)
    ax.bar(positions, probs, color="tab:blue")
    if n <= _MAX_BAR_LABELS:
        ax.set_xticks(positions, names)
    else:
        # A few integer positions chosen by matplotlib, each labelled with
        # the name of its bar.
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        def name_at(value, _pos):
            i = round(value)
            return names[i] if i == value and 0 <= i < n else ""

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(name_at))
    ax.set_ylim(0.0, 1.0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_heatmap(
    matrix,
    ax=None,
    title=None,
    xlabel=None,
    ylabel=None,
    colorbar_label=None,
    xticklabels=None,
    yticklabels=None,
    vmin=None,
    vmax=None,
    cmap="viridis",
):
    """Show a 2-D array as an image, with a labelled colorbar.

    Entry ``matrix[i, j]`` is the cell in row ``i`` (top to bottom) and
    column ``j`` (left to right), as the array is printed.

    Parameters
    ----------
    matrix : array_like of shape (rows, columns)
        Finite real numbers, e.g. attention weights of shape ``(batch, n)``
        or a Jacobian of shape ``(n, n)``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; the colorbar takes room from it. Default: a new
        figure.
    title : str, optional
        Figure title. Default: ``"<rows> x <columns> matrix"``.
    xlabel, ylabel : str, optional
        Axis labels. Default: ``"column j"`` and ``"row i"``.
    colorbar_label : str, optional
        Label of the colorbar. Default: ``"value"``.
    xticklabels : sequence of str, optional
        One label per column. Default: integer column indices.
    yticklabels : sequence of str, optional
        One label per row. Default: integer row indices.
    vmin, vmax : float, optional
        Values mapped to the ends of the colormap. Default: the minimum and
        maximum of ``matrix``. Give both, symmetric around 0, with a
        diverging ``cmap`` such as ``"RdBu_r"`` for signed matrices.
    cmap : str or matplotlib.colors.Colormap, default="viridis"
        A matplotlib colormap, or its name.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on. ``ax.images[0]`` is the image, and
        ``ax.images[0].colorbar`` its colorbar.

    Raises
    ------
    ValueError
        If ``matrix`` is not a non-empty 2-D array of finite real numbers;
        if a tick-label list is not a sequence of the right length; if
        ``vmin`` or ``vmax`` is not a finite number, or the color range
        from ``vmin`` to ``vmax`` is reversed; if a value reaches beyond
        ``1e300`` in magnitude; if a title or label is not a non-empty
        string; if ``ax`` is not an Axes; if ``cmap`` is neither a Colormap
        nor the name of one.

    Notes
    -----
    Values beyond ``1e300`` in magnitude (in ``matrix``, ``vmin`` or
    ``vmax``) are refused rather than drawn: matplotlib's color scale and
    colorbar overflow near the float64 limit. Divide such a matrix by a
    power of ten and name the factor in ``colorbar_label``.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from lecture_lib.plotting import plot_heatmap
    >>> ax = Figure().add_subplot()
    >>> ax = plot_heatmap(np.eye(3), ax=ax, title="identity",
    ...                   colorbar_label="weight")
    >>> ax.get_title(), ax.get_xlabel(), ax.get_ylabel()
    ('identity', 'column j', 'row i')
    >>> ax.images[0].colorbar.ax.get_ylabel()
    'weight'
    """
    func = "plot_heatmap"
    arr = _real_array(matrix, "matrix", 2, func)
    rows, columns = arr.shape
    xnames = _tick_labels(xticklabels, columns, "xticklabels", "column", func)
    ynames = _tick_labels(yticklabels, rows, "yticklabels", "row", func)
    vmin = _limit(vmin, "vmin", func)
    vmax = _limit(vmax, "vmax", func)
    if vmin is not None and vmax is not None and not vmin < vmax:
        raise ValueError(
            f"{func}: expected vmin < vmax, got vmin={vmin!r} and "
            f"vmax={vmax!r}. Swap them, or leave one as None to use the "
            f"data's own minimum or maximum."
        )
    low = arr.min() if vmin is None else vmin
    high = arr.max() if vmax is None else vmax
    if low > high:
        raise ValueError(
            f"{func}: expected vmin below vmax, got a color range from "
            f"{float(low)!r} to {float(high)!r} (one end given, the other the "
            f"data's own). Pass both vmin and vmax, or neither."
        )
    values = [arr.min(), arr.max(), low, high]
    if max(abs(v) for v in values) > _MAX_HEATMAP_MAGNITUDE:
        raise ValueError(
            f"{func}: expected matrix, vmin and vmax to lie within "
            f"+-{_MAX_HEATMAP_MAGNITUDE:.0e}, got values from "
            f"{float(min(values))!r} to {float(max(values))!r}; near the "
            f"float64 limit (about 1.8e308) matplotlib's color scale and "
            f"colorbar overflow. Rescale first, e.g. plot matrix / 1e300 "
            f"with colorbar_label='value / 1e300'."
        )
    from matplotlib import colormaps
    from matplotlib.colors import Colormap

    if not isinstance(cmap, Colormap) and not (
        isinstance(cmap, str) and cmap in colormaps
    ):
        raise ValueError(
            f"{func}: expected cmap to be a matplotlib Colormap or the name "
            f"of one, got {cmap!r}. Use e.g. 'viridis', or 'RdBu_r' for "
            f"signed values; list(matplotlib.colormaps) shows them all."
        )
    title = _text(title, f"{rows} x {columns} matrix", "title", func)
    xlabel = _text(xlabel, "column j", "xlabel", func)
    ylabel = _text(ylabel, "row i", "ylabel", func)
    cbar_label = _text(colorbar_label, "value", "colorbar_label", func)

    ax = _new_axes(ax, _HEATMAP_FIGSIZE, func)
    image = ax.imshow(arr, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    colorbar = ax.figure.colorbar(image, ax=ax)
    colorbar.set_label(cbar_label)
    if xnames is None:
        xnames = [str(j) for j in range(columns)]
    if ynames is None:
        ynames = [str(i) for i in range(rows)]
    # Label every cell while that stays readable; beyond, let matplotlib
    # choose a few integer positions.
    if columns <= 20 or xticklabels is not None:
        ax.set_xticks(np.arange(columns), xnames)
    if rows <= 20 or yticklabels is not None:
        ax.set_yticks(np.arange(rows), ynames)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_curves(
    x, ys, ax=None, title=None, xlabel=None, ylabel=None, logy=False
):
    """Several labelled lines over a shared x axis, with a legend.

    Parameters
    ----------
    x : array_like of shape (m,)
        Finite x values shared by all curves.
    ys : dict of str to array_like of shape (m,)
        One curve per entry: the key is its legend label, the value its
        finite y values. Drawn in the dict's order.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on. Default: a new figure.
    title : str, optional
        Figure title. Default: ``"<ylabel> against <xlabel>"``.
    xlabel, ylabel : str, optional
        Axis labels. Default: ``"x"`` and ``"y"``.
    logy : bool, default=False
        Use a logarithmic y axis; then every y value must be ``> 0``. Only
        ``True`` and ``False`` are accepted.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on; ``ax.get_lines()`` are the curves, in order.

    Raises
    ------
    ValueError
        If ``x`` is not a non-empty 1-D array of finite real numbers; if
        ``ys`` is not a non-empty dict of non-empty str to arrays shaped
        like ``x``; if ``logy`` is not a bool, or is true while some y
        value is ``<= 0``; if a title or label is not a non-empty string; if
        ``ax`` is not an Axes.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from lecture_lib.plotting import plot_curves
    >>> ax = Figure().add_subplot()
    >>> t = np.linspace(0.0, 1.0, 5)
    >>> ax = plot_curves(t, {"t": t, "t squared": t**2}, ax=ax,
    ...                  xlabel="t", ylabel="value")
    >>> ax.get_title()
    'value against t'
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['t', 't squared']
    """
    func = "plot_curves"
    logy = check_bool(logy, "logy", func)
    xs = _real_array(x, "x", 1, func)
    if not isinstance(ys, dict) or not ys:
        raise ValueError(
            f"{func}: expected ys to be a non-empty dict mapping legend "
            f"labels to y arrays, got {type(ys).__name__}"
            f"{' (empty)' if isinstance(ys, dict) else ''}. Pass, for "
            f'example, ys={{"p_0": p[:, 0]}}.'
        )
    curves = {}
    for label, y in ys.items():
        if not isinstance(label, str) or not label.strip():
            raise ValueError(
                f"{func}: expected every key of ys to be a non-empty legend "
                f"label (str), got {label!r}. Name each curve, e.g. "
                f'f"p_{{i}}".'
            )
        arr = _real_array(y, f"ys[{label!r}]", 1, func)
        if arr.shape != xs.shape:
            raise ValueError(
                f"{func}: expected ys[{label!r}] to have the shape of x, "
                f"{xs.shape}, got {arr.shape}. Give one y value per x value."
            )
        if logy and (arr <= 0).any():
            raise ValueError(
                f"{func}: expected y values > 0 with logy=True, got a "
                f"minimum of {arr.min():.6g} in ys[{label!r}]. Use "
                f"logy=False, or plot a positive quantity."
            )
        curves[label] = arr
    xlabel = _text(xlabel, "x", "xlabel", func)
    ylabel = _text(ylabel, "y", "ylabel", func)
    title = _text(title, f"{ylabel} against {xlabel}", "title", func)

    ax = _new_axes(ax, _CURVES_FIGSIZE, func)
    for label, arr in curves.items():
        ax.plot(xs, arr, label=label)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax
