"""Feedback pages that read offline: formulas as MathML, nothing loaded.

nbgrader writes a student's feedback with nbconvert's HTML exporter and a
template that loads MathJax 2 from a CDN, so with no network every formula
of the exercise shows as raw TeX. :class:`OfflineFeedbackExporter` writes
each formula of the notebook's Markdown as MathML instead (with
latex2mathml), which browsers draw without any script, and its template
(``templates/feedback/mathjax.html.j2``) loads no MathJax. The page then
needs nothing but itself: it can be mailed, zipped or opened from a USB
stick.

A formula that latex2mathml cannot read (a TeX command it does not know,
unbalanced braces) is shown as its TeX source in a code span, never
dropped, and logged.

``nbgrader_config.py`` selects the exporter::

    c.GenerateFeedback.exporter_class = (
        "course_tools.feedback.OfflineFeedbackExporter"
    )
"""

import html
import logging
import re
from pathlib import Path

from jinja2 import pass_context
from latex2mathml.converter import convert
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import (
    IPythonRenderer,
    MarkdownWithMath,
)
from traitlets import validate

log = logging.getLogger("course")

#: Holds ``feedback/mathjax.html.j2``, which replaces nbconvert's macro of
#: the same name in nbgrader's feedback template.
TEMPLATES = Path(__file__).parent / "templates"

# latex2mathml keeps a command it does not know as a token that starts
# with a backslash, e.g. <mi>\foo</mi>; a browser would print it as is.
_UNKNOWN_COMMAND = re.compile(r"<(mi|mo|mtext)>\\[A-Za-z]+</\1>")

__all__ = ["OfflineFeedbackExporter", "tex_to_mathml"]


def tex_to_mathml(tex, display=False):
    r"""Return the HTML for one formula: MathML, or its TeX in a code span.

    Parameters
    ----------
    tex : str
        The formula without its delimiters (``x^2``, not ``$x^2$``).
    display : bool
        A displayed formula (``$$...$$``) rather than one inside a line.

    Returns
    -------
    str
        A ``<math>`` element, or, when latex2mathml cannot read ``tex``,
        ``<code class="tex-source">`` holding the TeX with its delimiters.

    Examples
    --------
    >>> print(tex_to_mathml("x^2"))  # doctest: +ELLIPSIS
    <math ... display="inline"><mrow><msup><mi>x</mi><mn>2</mn></msup>...
    >>> print(tex_to_mathml(r"\frac{1}{"))
    <code class="tex-source">$\frac{1}{$</code>
    """
    try:
        mathml = convert(tex, display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises many kinds
        reason = f"{type(error).__name__} {error}".strip()
    else:
        unknown = _UNKNOWN_COMMAND.search(mathml)
        if unknown is None:
            return mathml
        reason = f"unknown command {html.unescape(unknown.group(0))}"
    log.warning("formula shown as TeX (%s): %s", reason, tex)
    fence = "$$" if display else "$"
    return (
        f'<code class="tex-source">{fence}'
        f"{html.escape(tex, quote=False)}{fence}</code>"
    )


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, with formulas written as MathML."""

    def inline_math(self, body):
        return tex_to_mathml(body)

    def block_math(self, body):
        return tex_to_mathml(body, display=True)

    def latex_environment(self, name, body):
        return tex_to_mathml(
            f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True
        )


class OfflineFeedbackExporter(HTMLExporter):
    """The HTML exporter for feedback pages that need no network.

    It renders Markdown cells with :class:`MathMLRenderer` and puts
    :data:`TEMPLATES` before nbgrader's template folder, so that nbgrader's
    feedback template gets a ``mathjax`` macro that loads nothing.
    """

    @validate("extra_template_basedirs")
    def _templates_first(self, proposal):
        # nbgrader configures its own template folder for feedback; ours
        # comes before it and before nbconvert's, and shadows one file.
        others = [d for d in proposal["value"] if d != str(TEMPLATES)]
        return [str(TEMPLATES), *others]

    @pass_context
    def markdown2html(self, context, source):
        """Markdown to HTML, as nbconvert does, with MathML formulas."""
        cell = context.get("cell", {})
        resources = context.get("resources", {})
        renderer = MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=resources.get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)
