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
