"""Feedback pages that read offline: formulas rendered as MathML.

The pages themselves are checked in Chromium by ``tests/test_grading.py``,
on the sample class's real feedback; these tests check the rendering.
"""

import logging
import re

import nbformat
import pytest
from nbconvert.filters.markdown_mistune import MarkdownWithMath

from course_tools.feedback import (
    MathMLRenderer,
    OfflineFeedbackExporter,
    tex_to_mathml,
)
from tests.helpers import ROOT


def render(markdown):
    renderer = MathMLRenderer(escape=False)
    return MarkdownWithMath(renderer=renderer).render(markdown)


def test_inline_and_displayed_formulas_become_mathml():
    page = render(
        "The softmax $p_i = e^{z_i} / \\sum_j e^{z_j}$ sums to 1:\n\n"
        "$$\\sum_{i=1}^n p_i = 1.$$\n"
    )
    assert page.count("<math") == 2
    assert 'display="inline"' in page and 'display="block"' in page
    assert "<munderover>" in page  # displayed: limits above and below
    assert "$" not in page


def test_a_latex_environment_is_displayed():
    page = render("\\begin{align}a &= b\\\\ c &= d\\end{align}\n")
    assert page.count('<math display="block">') == 1
    assert "<mtable" in page


def test_dollars_in_code_stay_code():
    page = render("Write `cost = $5` in a code span.\n\n    x = '$y$'\n")
    assert "<math" not in page
    assert "<code>cost = $5</code>" in page
    assert "x = &#39;$y$&#39;" in page or "x = '$y$'" in page


@pytest.mark.parametrize(
    "tex",
    [
        r"\frac{1}{",
        r"\notacommand x",
        r"\mathbf{\notacommand}",
        r"\end{matrix}",
        r"\begin{aligned}a&=b\\c&=d\end{aligned}",
        "{" * 2000 + "x" + "}" * 2000,
        "\\hat{" * 40 + "x" + "}" * 40,
        "x+" * 1500,
    ],
    ids=[
        "unbalanced",
        "unknown-command",
        "unknown-command-in-a-style",
        "lone-end",
        "unsupported-environment",
        "deep-braces",
        "deep-mathml",
        "too-long",
    ],
)
def test_a_formula_that_cannot_be_read_is_shown_as_tex(tex, caplog):
    with caplog.at_level(logging.WARNING, logger="course"):
        out = tex_to_mathml(tex, display=True)
    assert out.startswith('<code class="tex-source">$$')
    assert out.endswith("$$</code>")
    assert "<math" not in out
    assert "formula shown as TeX" in caplog.text


@pytest.mark.parametrize(
    "tex",
    [
        r"\text{if a<b then c}",
        r"\text{</math><h1>injected</h1>}",
        r'\text{<img src="http://example.invalid/x.png"/>}',
        r"\style{background-image: url(http://example.invalid)}{x}",
    ],
    ids=["less-than-in-text", "closing-tag", "image", "style-with-url"],
)
def test_text_that_would_become_markup_is_shown_as_tex(tex):
    # latex2mathml copies \text{...} without escaping it.
    out = tex_to_mathml(tex)
    assert out.startswith('<code class="tex-source">')
    assert "<math" not in out and "<h1>" not in out and "<img" not in out


def test_the_log_shows_a_formula_short_and_without_control_characters(
    caplog,
):
    tex = "\\notacommand \x1b]0;title\x07\x1b[2J\nfake line" + " x" * 100
    with caplog.at_level(logging.WARNING, logger="course"):
        tex_to_mathml(tex)
    (record,) = caplog.records
    line = record.getMessage()
    assert "\x1b" not in line and "\x07" not in line and "\n" not in line
    assert "\\x1b]0;title" in line
    assert len(line) < 200


def test_a_formula_in_a_heading_stays_mathml():
    # nbconvert rebuilds headings with ElementTree for their anchors; a
    # namespaced <math> would come out as <ns0:math>, which no browser
    # draws.
    page = render("## The gradient: $p - t$\n")
    assert "<math" in page and "ns0:" not in page


def test_the_deepest_formula_kept_survives_the_whole_export():
    tex = "\\hat{" * 28 + "x" + "}" * 28  # 59 levels of MathML
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# ${tex}$\n\n$${tex}$$"))
    page, _ = OfflineFeedbackExporter().from_notebook_node(nb)
    assert page.count("<math") == 2 and "tex-source" not in page


def test_tex_is_escaped_in_the_fallback():
    out = tex_to_mathml(r"\notacommand <script>alert(1)</script>")
    assert "<script>" not in out
    assert "&lt;script&gt;" in out


def test_every_formula_of_the_exercises_renders_as_mathml(caplog):
    # A formula of an exercise that fell back to TeX would show every
    # student raw source in their feedback.
    rendered = 0
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            with caplog.at_level(logging.WARNING, logger="course"):
                page = render(cell.source)
            assert "tex-source" not in page, f"{path.name}: {caplog.text}"
            rendered += len(re.findall("<math ", page))
    assert rendered > 40, "the exercises should hold plenty of math"
