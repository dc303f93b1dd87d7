"""Sphinx settings for the rendered notes.

Build them with ``make notes`` or ``course notes``: that command fetches
MathJax with npm, gathers the lectures and the released exercises into
``_build/notes/source`` and runs Sphinx on that folder with this file.
The lectures are executed during the build, so every figure is made from
the current ``lecture_lib``.
"""

import os

project = "Softmax and attention"
author = "The course authors"
copyright = "the course authors, MIT licence"
html_title = "Softmax and attention"

extensions = ["myst_nb"]
root_doc = "index"
# The released exercises are offered for download, not rendered as pages.
exclude_patterns = ["downloads/**", "**.ipynb_checkpoints"]

# Run every lecture top to bottom in a fresh kernel. An error in a cell
# is reported as a warning with its traceback, and `course notes` treats
# warnings as errors: the build fails instead of shipping a page with a
# traceback in it. (Raising instead hides the message in parallel builds.)
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = False
nb_execution_show_tb = True
# Warnings printed by a lecture (stderr) are part of the lesson when they
# appear; keep them visible, as JupyterLab does.
nb_output_stderr = "show"

# $...$, $$...$$ (also inside a paragraph) and \begin{align} in markdown.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True
# "costs $5 and $10" is prose, not math: a $ next to a digit outside the
# math does not delimit it. Where a $ amount could still pair with a
# later $ in the same paragraph, write it as \$.
myst_dmath_allow_digits = False

# MathJax 3 from the npm package, copied to the site root as mathjax/ (a
# path relative to _static). Nothing is fetched when a page is read.
mathjax_path = "../mathjax/tex-chtml.js"
mathjax3_config = {"tex": {"tags": "ams"}}
html_extra_path = [os.environ.get("COURSE_NOTES_EXTRA", "_extra")]

html_theme = "sphinx_book_theme"
# Light or dark as the reader's system prefers (the theme logs an error
# on every page when no mode is set).
html_context = {"default_mode": "auto"}
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
}
html_last_updated_fmt = None
# The lecture notebooks behind the pages, for the download button.
html_copy_source = True
