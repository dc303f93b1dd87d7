"""Tests of lecture_lib.plotting, drawn off-screen with the Agg backend."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lecture_lib import softmax, softmax_jacobian  # noqa: E402
from lecture_lib.plotting import (  # noqa: E402
    plot_curves,
    plot_heatmap,
    plot_probabilities,
)


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the pyplot figures a test opened."""
    yield
    plt.close("all")


def _axes():
    """A fresh Axes on a figure that pyplot does not track."""
    return Figure().add_subplot()


def _colorbars(ax):
    """The colorbars attached to the images of ``ax``."""
    return [im.colorbar for im in ax.images if im.colorbar is not None]


# plot_probabilities -------------------------------------------------------


def test_probabilities_bar_heights_equal_p():
    p = softmax(np.array([1.0, 2.0, 0.5, -1.0]))
    ax = plot_probabilities(p, ax=_axes())
    heights = np.array([bar.get_height() for bar in ax.patches])
    assert len(ax.patches) == p.size
    np.testing.assert_array_equal(heights, p)


def test_probabilities_labels_title_axes_and_limits():
    p = np.array([0.25, 0.75])
    ax = plot_probabilities(
        p, labels=["cat", "dog"], ax=_axes(), title="Two labels"
    )
    assert ax.get_title() == "Two labels"
    assert ax.get_xlabel() == "label"
    assert ax.get_ylabel() == "probability"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]
    assert ax.get_ylim() == (0.0, 1.0)


def test_probabilities_defaults_give_title_and_index_labels():
    ax = plot_probabilities(np.full(3, 1 / 3), ax=_axes())
    assert ax.get_title() == "probabilities over n = 3 labels"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]


def test_probabilities_custom_axis_labels():
    ax = plot_probabilities(
        np.array([1.0, 0.0]), ax=_axes(), xlabel="token", ylabel="p(token)"
    )
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("token", "p(token)")


def test_probabilities_without_ax_makes_a_pyplot_figure():
    ax = plot_probabilities(np.array([0.5, 0.5]))
    assert ax.figure in [plt.figure(n) for n in plt.get_fignums()]
    assert ax.get_title()


@pytest.mark.parametrize(
    ("p", "match"),
    [
        (np.array([0.5, 0.6]), "sum to 1"),
        (np.array([1.5, -0.5]), ">= 0"),
        (np.array([np.nan, 1.0]), "finite"),
        (np.array([[0.5, 0.5]]), "1-D"),
        (np.array([]), "non-empty"),
        (np.array(["a", "b"]), "real numbers"),
        (np.array([0.5, 0.5j]), "real numbers"),
    ],
)
def test_probabilities_rejects_bad_p(p, match):
    with pytest.raises(ValueError, match=match):
        plot_probabilities(p, ax=_axes())


def test_probabilities_rejects_wrong_number_of_labels():
    with pytest.raises(ValueError, match=r"one label per entry of p \(2\)"):
        plot_probabilities(np.array([0.5, 0.5]), labels=["a"], ax=_axes())


@pytest.mark.parametrize("name", ["title", "xlabel", "ylabel"])
@pytest.mark.parametrize("bad", ["", "   ", 3])
def test_probabilities_rejects_blank_text(name, bad):
    with pytest.raises(ValueError, match=f"expected {name} to be"):
        plot_probabilities(np.array([1.0]), ax=_axes(), **{name: bad})


def test_probabilities_rejects_non_axes():
    with pytest.raises(ValueError, match="matplotlib Axes"):
        plot_probabilities(np.array([1.0]), ax="axes")


# plot_heatmap -------------------------------------------------------------


def test_heatmap_has_labelled_colorbar_title_and_axes():
    jac = softmax_jacobian(softmax(np.array([0.0, 1.0, 2.0])))
    ax = plot_heatmap(
        jac,
        ax=_axes(),
        title="Jacobian",
        xlabel="score j",
        ylabel="probability i",
        colorbar_label="dp_i / dx_j",
        vmin=-0.3,
        vmax=0.3,
        cmap="RdBu_r",
    )
    assert ax.get_title() == "Jacobian"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("score j", "probability i")
    (colorbar,) = _colorbars(ax)
    assert colorbar.ax.get_ylabel() == "dp_i / dx_j"
    assert ax.images[0].get_clim() == (-0.3, 0.3)
    assert ax.images[0].get_cmap().name == "RdBu_r"
    np.testing.assert_array_equal(ax.images[0].get_array(), jac)


def test_heatmap_defaults_still_label_everything():
    ax = plot_heatmap(np.arange(6.0).reshape(2, 3), ax=_axes())
    assert ax.get_title() == "2 x 3 matrix"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("column j", "row i")
    (colorbar,) = _colorbars(ax)
    assert colorbar.ax.get_ylabel() == "value"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1"]


def test_heatmap_tick_labels():
    ax = plot_heatmap(
        np.eye(2),
        ax=_axes(),
        xticklabels=["k1", "k2"],
        yticklabels=["q1", "q2"],
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["k1", "k2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["q1", "q2"]


def test_heatmap_without_ax_makes_a_figure_with_colorbar():
    ax = plot_heatmap(np.eye(3))
    assert len(_colorbars(ax)) == 1
    assert len(ax.figure.axes) == 2  # the image and its colorbar


@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        (np.ones(3), "2-D"),
        (np.ones((2, 2, 2)), "2-D"),
        (np.ones((0, 3)), "non-empty"),
        (np.array([[0.0, -np.inf]]), "finite"),
        (np.array([["a"]]), "real numbers"),
    ],
)
def test_heatmap_rejects_bad_matrix(matrix, match):
    with pytest.raises(ValueError, match=match):
        plot_heatmap(matrix, ax=_axes())


def test_heatmap_rejects_wrong_tick_label_counts():
    with pytest.raises(ValueError, match=r"one label per column \(3\)"):
        plot_heatmap(np.ones((2, 3)), ax=_axes(), xticklabels=["a"])
    with pytest.raises(ValueError, match=r"one label per row \(2\)"):
        plot_heatmap(np.ones((2, 3)), ax=_axes(), yticklabels=list("abc"))


def test_heatmap_rejects_vmin_not_below_vmax():
    with pytest.raises(ValueError, match="vmin < vmax"):
        plot_heatmap(np.eye(2), ax=_axes(), vmin=1.0, vmax=0.0)


def test_heatmap_rejects_unknown_cmap():
    with pytest.raises(ValueError, match="colormap"):
        plot_heatmap(np.eye(2), ax=_axes(), cmap="no-such-map")


def test_heatmap_rejects_blank_colorbar_label():
    with pytest.raises(ValueError, match="colorbar_label"):
        plot_heatmap(np.eye(2), ax=_axes(), colorbar_label="")


# plot_curves --------------------------------------------------------------


def test_curves_lines_legend_title_and_axes():
    x = np.linspace(-1.0, 1.0, 7)
    ys = {"p_0": softmax(np.stack([x, -x]), axis=0)[0], "x^2 + 1": x**2 + 1}
    ax = plot_curves(
        x, ys, ax=_axes(), title="Curves", xlabel="x", ylabel="value"
    )
    assert ax.get_title() == "Curves"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "value")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["p_0", "x^2 + 1"]
    for line, y in zip(ax.get_lines(), ys.values(), strict=True):
        np.testing.assert_array_equal(line.get_xdata(), x)
        np.testing.assert_array_equal(line.get_ydata(), y)
    assert ax.get_yscale() == "linear"


def test_curves_default_labels_and_log_scale():
    x = np.arange(1.0, 4.0)
    ax = plot_curves(x, {"exp": np.exp(x)}, ax=_axes(), logy=True)
    assert ax.get_title() == "y against x"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    assert ax.get_yscale() == "log"


@pytest.mark.parametrize(
    ("x", "ys", "match"),
    [
        (np.ones((2, 2)), {"a": np.ones(2)}, "1-D"),
        (np.ones(3), {}, "non-empty dict"),
        (np.ones(3), [np.ones(3)], "dict"),
        (np.ones(3), {"": np.ones(3)}, "legend label"),
        (np.ones(3), {1: np.ones(3)}, "legend label"),
        (np.ones(3), {"a": np.ones(2)}, "shape of x"),
        (np.ones(3), {"a": np.array([1.0, np.nan, 1.0])}, "finite"),
    ],
)
def test_curves_rejects_bad_input(x, ys, match):
    with pytest.raises(ValueError, match=match):
        plot_curves(x, ys, ax=_axes())


def test_curves_rejects_non_positive_values_on_log_axis():
    with pytest.raises(ValueError, match="logy=False"):
        plot_curves(np.ones(2), {"a": np.array([1.0, 0.0])}, logy=True)


# Every message says what was expected, what arrived and how to fix it. ---


def test_error_messages_name_function_expectation_and_fix():
    with pytest.raises(ValueError) as info:
        plot_probabilities(np.array([0.2, 0.2]), ax=_axes())
    message = str(info.value)
    assert message.startswith("plot_probabilities: expected")
    assert "got a sum of 0.4" in message
    assert "Pass softmax(x)" in message


def test_messages_print_the_sum_with_enough_digits():
    # Six significant digits would print this sum as 1.
    p = np.array([0.5, 0.5 + 2e-8])
    with pytest.raises(ValueError, match=r"got a sum of 1\.000000019") as info:
        plot_probabilities(p, ax=_axes())
    assert f"got a sum of {float(p.sum())!r}. Pass" in str(info.value)


# p's own dtype sets the tolerance of the sum ------------------------------


def test_probabilities_accepts_float32_softmax_output():
    rng = np.random.default_rng(1)
    p = softmax(rng.standard_normal(50).astype(np.float32))
    # Off by more than float64's sqrt(eps), the tolerance used before.
    assert abs(p.sum(dtype=np.float64) - 1.0) > 1.5e-8
    ax = plot_probabilities(p, ax=_axes())
    np.testing.assert_array_equal([b.get_height() for b in ax.patches], p)


def test_probabilities_accepts_float16_softmax_output():
    p = softmax(np.linspace(-3.0, 3.0, 50).astype(np.float16))
    assert len(plot_probabilities(p, ax=_axes()).patches) == 50


@pytest.mark.parametrize(
    ("dtype", "tol"), [(np.float32, "3.5e-04"), (np.float64, "1.5e-08")]
)
def test_probabilities_sum_tolerance_follows_dtype(dtype, tol):
    p = np.array([0.5, 0.5 + 1e-3], dtype=dtype)
    total = float(p.astype(np.float64).sum())
    with pytest.raises(
        ValueError,
        match=rf"^plot_probabilities: expected p to sum to 1 \(within {tol} "
        rf"for dtype {np.dtype(dtype)}\), got a sum of {total!r}\. Pass ",
    ):
        plot_probabilities(p, ax=_axes())


# Many bars: a few labelled ticks, not one per bar --------------------------


@pytest.mark.parametrize("given", [False, True])
def test_probabilities_many_bars_label_a_few_ticks(given):
    n = 500
    names = [f"w{i}" for i in range(n)] if given else None
    ax = plot_probabilities(np.full(n, 1 / n), labels=names, ax=_axes())
    ax.figure.canvas.draw()
    assert len(ax.patches) == n
    ticks = [
        (pos, text.get_text())
        for pos, text in zip(
            ax.get_xticks(), ax.get_xticklabels(), strict=True
        )
        if text.get_text()
    ]
    assert 2 <= len(ticks) <= 30
    for pos, text in ticks:
        # Every shown label names the bar it sits under.
        assert pos == int(pos)
        assert text == (names[int(pos)] if given else str(int(pos)))


def test_probabilities_thirty_bars_are_all_labelled():
    ax = plot_probabilities(np.full(30, 1 / 30), ax=_axes())
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [str(i) for i in range(30)]


# Flags and option types ---------------------------------------------------


@pytest.mark.parametrize("logy", ["yes", 1, 0, None, np.array([True])])
def test_curves_logy_must_be_a_bool(logy):
    with pytest.raises(
        ValueError,
        match=r"^plot_curves: expected logy to be True or False, got .*"
        r"Pass logy=True or logy=False\.$",
    ):
        plot_curves(np.arange(1.0, 3.0), {"a": np.ones(2)}, logy=logy)


def test_curves_logy_accepts_numpy_bools():
    x = np.arange(1.0, 3.0)
    ax = plot_curves(x, {"a": x}, ax=_axes(), logy=np.True_)
    assert ax.get_yscale() == "log"


@pytest.mark.parametrize("name", ["vmin", "vmax"])
@pytest.mark.parametrize(
    "bad", ["0", True, np.nan, np.inf, [0.0], np.array([0.0]), 1j]
)
def test_heatmap_rejects_non_numeric_limits(name, bad):
    with pytest.raises(
        ValueError,
        match=rf"^plot_heatmap: expected {name} to be a finite real number "
        rf"or None, got .*Pass a number such as {name}=0\.0",
    ):
        plot_heatmap(np.eye(2), ax=_axes(), **{name: bad})


def test_heatmap_accepts_numpy_scalar_limits():
    ax = plot_heatmap(
        np.eye(2), ax=_axes(), vmin=np.float32(-1), vmax=np.int64(2)
    )
    assert ax.images[0].get_clim() == (-1.0, 2.0)


def test_heatmap_rejects_one_limit_beyond_the_data():
    with pytest.raises(ValueError, match=r"color range from 2\.0 to 1\.0"):
        plot_heatmap(np.eye(2), ax=_axes(), vmin=2.0)


def test_heatmap_accepts_a_colormap_object():
    from matplotlib import colormaps

    cmap = colormaps["RdBu_r"].resampled(8)
    ax = plot_heatmap(np.eye(2), ax=_axes(), cmap=cmap)
    assert ax.images[0].get_cmap() is cmap


@pytest.mark.parametrize("cmap", [3, ["viridis"], None])
def test_heatmap_rejects_cmap_of_wrong_type(cmap):
    with pytest.raises(
        ValueError,
        match=r"^plot_heatmap: expected cmap to be a matplotlib Colormap or "
        r"the name of one, got .*list\(matplotlib\.colormaps\)",
    ):
        plot_heatmap(np.eye(2), ax=_axes(), cmap=cmap)


@pytest.mark.parametrize(
    "labels",
    [5, "ab", {"a": 1, "b": 2}, [None, "b"], [["a"], ["b"]], iter("ab")],
)
def test_tick_labels_of_wrong_type_or_length(labels):
    with pytest.raises(
        ValueError,
        match=r"^plot_probabilities: expected labels to .*one (label )?per "
        r"entry of p.*or None for the indices 0, 1, \.\.\.$",
    ):
        plot_probabilities(np.array([0.5, 0.5]), labels=labels, ax=_axes())


def test_tick_labels_accept_numbers_and_arrays():
    ax = plot_heatmap(
        np.eye(2), ax=_axes(), xticklabels=np.array([1, 2]), yticklabels=(3, 4)
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["3", "4"]


@pytest.mark.parametrize(
    ("x", "ys", "name"),
    [
        ([1.0, 2.0], {"a": [[1.0], [1.0, 2.0]]}, r"ys\['a'\]"),
        ([[1.0], [1.0, 2.0]], {"a": [1.0, 2.0]}, "x"),
    ],
)
def test_curves_ragged_input_raises_value_error(x, ys, name):
    with pytest.raises(
        ValueError,
        match=rf"^plot_curves: expected {name} to be 1-D array_like with a "
        rf"regular shape, got a list that NumPy cannot turn into an array"
        rf".*Pass a flat sequence of numbers\.$",
    ):
        plot_curves(x, ys, ax=_axes())


def test_heatmap_ragged_matrix_raises_value_error():
    with pytest.raises(ValueError, match=r"Pad or trim the rows"):
        plot_heatmap([[1.0, 2.0], [3.0]], ax=_axes())


def test_masked_input_raises_value_error():
    matrix = np.ma.array(np.eye(2), mask=np.eye(2, dtype=bool))
    with pytest.raises(ValueError, match=r"masked array.*np\.ma\.filled"):
        plot_heatmap(matrix, ax=_axes())


# Values near the float64 limit ---------------------------------------------


@pytest.mark.parametrize(
    ("matrix", "limits"),
    [
        ([[1e308, -1e308]], {}),
        ([[8e307, -8e307]], {}),
        ([[1.7e308, 0.0]], {}),
        ([[-1.79e308, -1.79e308]], {}),
        ([[1e308, 0.5]], {"vmin": 0.0, "vmax": 1.0}),
        ([[0.0, 1.0]], {"vmin": -1e308}),
    ],
)
def test_heatmap_rejects_values_near_the_float_limit(matrix, limits):
    with pytest.raises(
        ValueError,
        match=r"^plot_heatmap: expected matrix, vmin and vmax to lie within "
        r"\+-1e\+300, got values from .*Rescale first",
    ):
        plot_heatmap(matrix, ax=_axes(), **limits)


@pytest.mark.parametrize(
    "matrix", [[[1e300, -1e300]], [[1e300, 1e300]], [[-1e300, 0.0]]]
)
def test_heatmap_draws_values_up_to_the_bound(matrix):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plot_heatmap(matrix, ax=_axes())
        ax.figure.canvas.draw()
    assert len(_colorbars(ax)) == 1
