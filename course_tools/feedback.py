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
unbalanced braces), or whose MathML would not be plain and safe (markup
copied from ``\text{}``, deep nesting, great length), is shown as its
TeX source in a code span, never dropped, and logged.

``nbgrader_config.py`` selects the exporter::

    c.GenerateFeedback.exporter_class = (
        "course_tools.feedback.OfflineFeedbackExporter"
    )
"""

import html
import logging
import re
from pathlib import Path
from xml.etree import ElementTree

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

#: The longest formula converted. Real ones are a few hundred characters;
#: conversion time and memory grow fast with length, and feedback is
#: written outside the sandbox, so a longer one is shown as TeX.
MAX_TEX_LENGTH = 2000
#: The deepest nesting of MathML elements kept. Real formulas stay below
#: 20; nbconvert's HTML clean-up recurses over the nesting and fails
#: somewhere above 300.
MAX_DEPTH = 60
#: The elements a formula may hold: MathML, as latex2mathml writes it.
#: Anything else came from the TeX's text (``\text{<img ...>}``), which
#: latex2mathml copies without escaping.
MATHML_ELEMENTS = frozenset(
    """math mrow mi mo mn ms mtext mspace msub msup msubsup munder mover
    munderover mfrac msqrt mroot mstyle mpadded mphantom menclose merror
    mtable mtr mtd mlabeledtr mmultiscripts mprescripts none semantics
    annotation""".split()
)
_MATHML_NAMESPACE = ' xmlns="http://www.w3.org/1998/Math/MathML"'
# Text between tags that holds a backslash: a TeX command latex2mathml
# did not know and kept as it was (converted symbols are entities).
_UNREAD_COMMAND = re.compile(r">[^<]*\\[^<]*<")

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
        A ``<math>`` element, or, when latex2mathml cannot read ``tex``
        (or what it makes of it would not be plain, safe MathML),
        ``<code class="tex-source">`` holding the TeX with its delimiters.

    Examples
    --------
    >>> print(tex_to_mathml("x^2"))  # doctest: +ELLIPSIS
    <math display="inline"><mrow><msup><mi>x</mi><mn>2</mn></msup>...</math>
    >>> print(tex_to_mathml(r"\frac{1}{"))
    <code class="tex-source">$\frac{1}{$</code>
    """
    if len(tex) > MAX_TEX_LENGTH:
        reason = f"longer than {MAX_TEX_LENGTH} characters"
    else:
        try:
            mathml = convert(tex, display="block" if display else "inline")
        except Exception as error:  # latex2mathml raises many kinds
            reason = f"{type(error).__name__} {error}".strip()
        else:
            # HTML needs no namespace, and nbconvert's heading anchors
            # would turn it into ns0: prefixes that browsers do not draw.
            mathml = mathml.replace(_MATHML_NAMESPACE, "", 1)
            reason = _unsafe(mathml)
            if reason is None:
                return mathml
    log.warning("formula shown as TeX (%s): %s", reason, _printable(tex))
    fence = "$$" if display else "$"
    return (
        f'<code class="tex-source">{fence}'
        f"{html.escape(tex, quote=False)}{fence}</code>"
    )


def _unsafe(mathml):
    """Why ``mathml`` is not plain MathML to put on a page, or None."""
    unread = _UNREAD_COMMAND.search(mathml)
    if unread:
        return f"not understood: {html.unescape(unread.group(0)[1:-1])}"
    try:
        root = ElementTree.fromstring(mathml)
    except ElementTree.ParseError as error:
        return f"not well-formed MathML ({error})"
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH}"
        if element.tag not in MATHML_ELEMENTS:
            return f"holds an element <{element.tag}>"
        for name, value in element.attrib.items():
            if (
                name.startswith("on")
                or name in ("href", "src")
                or ("url(" in value.replace(" ", "").lower())
            ):
                return f"holds an attribute {name}"
        stack.extend((child, depth + 1) for child in element)
    return None


def _printable(text, limit=80):
    """``text`` for a log line: control characters escaped, shortened."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
    """The HTML exporter for nbgrader's feedback pages, needing no network.

    It renders Markdown cells with :class:`MathMLRenderer` and puts
    :data:`TEMPLATES` first among the template folders, so that nbgrader's
    ``feedback`` template gets a ``mathjax`` macro that loads nothing.
    Only that template is made offline: with nbconvert's own templates
    (``lab``, ``classic``), the default outside nbgrader, the page still
    loads their scripts from the web.
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
