"""Feedback pages that read offline: formulas rendered as MathML.

The pages themselves are checked in Chromium by ``tests/test_grading.py``,
on the sample class's real feedback; these tests check the rendering.
"""

import logging
import re

import nbformat
import pytest
from nbconvert.filters.markdown_mistune import MarkdownWithMath

from course_tools.feedback import MathMLRenderer, tex_to_mathml
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
    assert (
        page.count(
            '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">'
        )
        == 1
    )
    assert "<mtable" in page


def test_dollars_in_code_stay_code():
    page = render("Write `cost = $5` in a code span.\n\n    x = '$y$'\n")
    assert "<math" not in page
    assert "<code>cost = $5</code>" in page
    assert "x = &#39;$y$&#39;" in page or "x = '$y$'" in page


@pytest.mark.parametrize(
    "tex",
    [r"\frac{1}{", r"\notacommand x", "{" * 2000 + "x" + "}" * 2000],
    ids=["unbalanced", "unknown-command", "deep-nesting"],
)
def test_a_formula_that_cannot_be_read_is_shown_as_tex(tex, caplog):
    with caplog.at_level(logging.WARNING, logger="course"):
        out = tex_to_mathml(tex, display=True)
    assert out.startswith('<code class="tex-source">$$')
    assert out.endswith("$$</code>")
    assert "<math" not in out
    assert "formula shown as TeX" in caplog.text


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
