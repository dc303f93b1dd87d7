"""The rendered notes: built offline, then read page by page in Chromium.

The site is built once for this module with the same code as ``make
notes``. Each page is opened in the system's Chromium, served from
127.0.0.1, and must reach no other host, typeset all its math, load every
image and get no error response. A screenshot of each page is saved in
``_build/notes-screenshots/`` for a person to look at.
"""

import contextlib
import io
import posixpath
import re
import shutil
import urllib.request

import nbformat
import pytest

from course_tools.cli import main
from course_tools.course import Course, CourseError
from course_tools.notes import (
    SECRET_MARKERS,
    build_notes,
    exercises_page,
    released_notebooks,
    stage_sources,
)
from tests.browser import (
    Traffic,
    launch_chromium,
    offline_page,
    page_problems,
    require_browser,
    serve_folder,
)
from tests.helpers import ROOT, secret_lines, skip_or_fail

SCREENSHOTS = ROOT / "_build" / "notes-screenshots"
#: Folders of the site that hold assets, not pages.
ASSET_FOLDERS = {"_static", "_sources", "_downloads", "_images", "mathjax"}

MATH_JS = """async () => {
  const spans = [...document.querySelectorAll('.math')];
  if (spans.length === 0) return {math: 0};
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise))
    return {math: spans.length, loaded: false};
  await MathJax.startup.promise;
  return {
    math: spans.length,
    loaded: true,
    untypeset: spans.filter(s => !s.querySelector('mjx-container')).length,
    errors: [...document.querySelectorAll('mjx-merror')]
        .map(e => e.getAttribute('data-mjx-error') || e.textContent),
  };
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The notes, built by ``course notes`` into a fresh folder."""
    folder = tmp_path_factory.mktemp("notes")
    if shutil.which("npm") is None:
        skip_or_fail("npm is not installed (Debian: apt-get install npm)")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(
            ["notes", "--course-dir", str(ROOT), "--build-dir", str(folder)]
            + ["--jobs", "2", "--quiet"]
        )
    assert status == 0
    assert f"read them at {(folder / 'html' / 'index.html').as_uri()}" in (
        out.getvalue()
    )
    return folder / "html"


def pages(site):
    """Every HTML page of the site, relative to its root."""
    return sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if not ASSET_FOLDERS & set(p.relative_to(site).parts)
    )


def lectures():
    return sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def test_a_page_per_lecture_plus_index_exercises_and_search(site):
    expected = {f"lectures/{p.stem}.html" for p in lectures()}
    expected |= {"index.html", "exercises.html", "search.html"}
    assert expected <= set(pages(site)), (
        f"missing pages: {sorted(expected - set(pages(site)))}"
    )


def test_lectures_were_executed_during_the_build(site):
    # myst-nb keeps the notebooks it ran; every code cell has a count.
    for path in lectures():
        executed = site.parent / "jupyter_execute" / "lectures"
        nb = nbformat.read(executed / path.name, as_version=4)
        counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
        assert counts and all(counts), f"{path.name} was not fully executed"
        errors = [
            o
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "error"
        ]
        assert not errors, f"{path.name} has errors: {errors}"


def test_every_released_exercise_is_offered_for_download(site):
    page = (site / "exercises.html").read_text()
    released = released_notebooks(Course(ROOT))
    assert len(released) == 5
    links = re.findall(r'href="(_downloads/[^"]+\.ipynb)"', page)
    assert len(links) == len(released)
    for (_, path), link in zip(released, links, strict=True):
        assert link.endswith("/" + path.name)
        assert (site / link).read_bytes() == path.read_bytes()


def test_no_solution_or_hidden_test_anywhere_in_the_site(site):
    # A line of a solution or hidden test is a leak unless the student
    # versions or the lectures show it too (a shared import, say).
    released = "".join(
        path.read_text() for _, path in released_notebooks(Course(ROOT))
    )
    released += "".join(path.read_text() for path in lectures())
    secrets = {
        line: assignment
        for assignment in Course(ROOT).assignments()
        for line in secret_lines(assignment)
        if line not in released
    }
    assert len(secrets) > 50
    for path in site.rglob("*"):
        if path.suffix not in {".html", ".ipynb", ".js", ".txt", ".md"}:
            continue
        if "mathjax" in path.relative_to(site).parts:
            continue
        text = path.read_text(errors="replace")
        for marker in SECRET_MARKERS:
            assert marker not in text, f"{path} contains {marker!r}"
        for line, assignment in secrets.items():
            assert line not in text, (
                f"{path} shows a line of the {assignment} solutions: {line!r}"
            )


def test_a_notebook_with_solutions_is_never_offered(tmp_path):
    release = tmp_path / "release"
    (release / "softmax").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
        )
    )
    nbformat.write(nb, release / "softmax" / "softmax.ipynb")
    course = Course(ROOT, release=release)
    with pytest.raises(CourseError, match="not the student version"):
        released_notebooks(course)


def test_exercises_page_without_released_exercises_says_what_to_do():
    assert "course release" in exercises_page([])


def check_page(browser, base, name, screenshot=None):
    """Open ``base + name`` and list what is wrong with it.

    Returns ``(problems, math)``: descriptions of each problem found and
    the number of math elements on the page.
    """
    with offline_page(
        browser, base, name, viewport={"width": 1280, "height": 900}
    ) as (page, traffic):
        math = page.evaluate(MATH_JS)
        report = page_problems(page, traffic)
        if math["math"]:
            report["MathJax not loaded"] = [] if math["loaded"] else ["no"]
            untypeset = math.get("untypeset")
            report["math not typeset"] = [untypeset] if untypeset else []
            report["MathJax errors"] = math.get("errors", [])
        if screenshot:
            page.screenshot(path=str(screenshot), full_page=True)
    problems = [
        f"{name}: {what}: {found}" for what, found in report.items() if found
    ]
    return problems, math["math"]


def test_pages_need_no_other_host_and_typeset_all_math(site):
    chromium = require_browser()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems, typeset = [], 0
    with serve_folder(site) as base, launch_chromium(chromium) as browser:
        for name in pages(site):
            shot = SCREENSHOTS / (name.replace("/", "__") + ".png")
            found, math = check_page(browser, base, name, shot)
            problems += found
            typeset += math
    assert not problems, "\n".join(problems)
    assert typeset > 100, "the lectures should hold plenty of math"


BROKEN_PAGE = r"""<!DOCTYPE html>
<html><head>
<script>window.MathJax = {};</script>
<script>console.error("logged on purpose");</script>
<script defer src="mathjax/tex-chtml.js"></script>
</head><body><main>
<p>Raw $x^2$ that was never typeset.</p>
<p><span class="math">\(\frac{1}\)</span></p>
<img src="missing.png" alt="missing">
<img src="http://example.invalid/figure.png" alt="remote">
</main></body></html>
"""


def test_page_checks_catch_a_broken_page(site, tmp_path):
    # The checks above must be able to fail: a page with each fault.
    chromium = require_browser()
    (tmp_path / "broken.html").write_text(BROKEN_PAGE)
    (tmp_path / "mathjax").symlink_to(site / "mathjax")
    with serve_folder(tmp_path) as base, launch_chromium(chromium) as b:
        problems, math = check_page(b, base, "broken.html")
    found = "\n".join(problems)
    assert math == 1
    for what in (
        "requests to other hosts: ['http://example.invalid/figure.png']",
        "error responses: ['404 ",
        "images not loaded: ['missing.png', 'http://example.invalid",
        "raw TeX in the text: ['Raw $x^2$",
        "MathJax errors: ['Missing argument for",
        "console errors: ['logged on purpose'",
    ):
        assert what in found, found


def test_search_finds_the_lectures(site):
    chromium = require_browser()
    with serve_folder(site) as base, launch_chromium(chromium) as browser:
        page = browser.new_page()
        traffic = Traffic().watch(page)
        page.goto(base + "search.html?q=temperature")
        results = page.locator("#search-results ul.search li")
        results.first.wait_for(timeout=30_000)
        found = results.all_inner_texts()
    assert any("Softmax" in text for text in found), found
    assert not traffic.foreign and not traffic.errors


def test_every_link_between_pages_resolves(site):
    # Navigation: the table of contents, previous/next and in-page links.
    with serve_folder(site) as base:
        checked = set()
        for name in pages(site):
            html = (site / name).read_text()
            for href in re.findall(r'href="([^"#?]+)[^"]*"', html):
                if "://" in href or href.startswith("mailto:"):
                    continue
                target = posixpath.normpath(
                    posixpath.join(posixpath.dirname(name), href)
                )
                if target in checked:
                    continue
                checked.add(target)
                with urllib.request.urlopen(base + target) as reply:
                    assert reply.status == 200, f"{name} links to {href}"
    assert {f"lectures/{p.stem}.html" for p in lectures()} <= checked


def test_the_index_links_every_lecture_in_order(site):
    html = (site / "index.html").read_text()
    order = [html.find(f"lectures/{p.stem}.html") for p in lectures()]
    assert all(i >= 0 for i in order) and order == sorted(order)


def _lecture(*cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3"}
    nb.cells = list(cells)
    return nb


def test_a_lecture_that_raises_stops_the_build(tmp_path, capfd):
    if shutil.which("npm") is None:
        skip_or_fail("npm is not installed (Debian: apt-get install npm)")
    course = _course_copy(tmp_path)
    nb = _lecture(
        nbformat.v4.new_markdown_cell("# Lecture 1: broken"),
        nbformat.v4.new_code_cell("raise RuntimeError('a broken lecture')"),
    )
    nbformat.write(nb, course.root / "notebooks" / "01_broken.ipynb")
    with pytest.raises(CourseError, match="building the notes failed"):
        build_notes(course, quiet=True)
    assert "a broken lecture" in capfd.readouterr().err


def test_dollar_amounts_stay_prose_and_lectures_read_their_files(tmp_path):
    if shutil.which("npm") is None:
        skip_or_fail("npm is not installed (Debian: apt-get install npm)")
    course = _course_copy(tmp_path)
    (course.root / "notebooks" / "data").mkdir()
    (course.root / "notebooks" / "data" / "answer.txt").write_text("4242")
    nb = _lecture(
        nbformat.v4.new_markdown_cell(
            "# Lecture 1: money\n\nA GPU costs $5 per hour and a CPU "
            "costs $10 per hour.\n\nHere $p_i$ is math."
        ),
        nbformat.v4.new_code_cell("print(open('data/answer.txt').read())"),
    )
    nbformat.write(nb, course.root / "notebooks" / "01_money.ipynb")
    index = build_notes(course, quiet=True)
    page = (index.parent / "lectures" / "01_money.html").read_text()
    assert "costs $5 per hour and a CPU costs $10 per hour." in page
    assert r"\(p_i\)" in page
    assert "4242" in page


def test_exercises_page_shows_each_title_summary_and_download(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Exercise: a test\n\nFirst line\nof the intro, with a list:\n"
            "\n- item"
        )
    ]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    page = exercises_page([("softmax", path)])
    assert "## Exercise: a test" in page
    assert "First line of the intro, with a list." in page
    assert "{download}`Download x.ipynb <downloads/softmax/x.ipynb>`" in page


def test_a_build_folder_is_never_a_file_or_someone_elses(tmp_path):
    course = Course(ROOT)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    with pytest.raises(CourseError, match="is a file"):
        build_notes(course, afile)
    theirs = tmp_path / "docs"
    (theirs / "html").mkdir(parents=True)
    (theirs / "html" / "mine.txt").write_text("keep me")
    with pytest.raises(CourseError, match="not made by `course notes`"):
        build_notes(course, theirs)
    assert (theirs / "html" / "mine.txt").read_text() == "keep me"


def _course_copy(tmp_path):
    """A course with the notes settings and nothing else, in tmp_path."""
    shutil.copytree(ROOT / "notes", tmp_path / "notes")
    shutil.copyfile(
        ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py"
    )
    (tmp_path / "notebooks").mkdir()
    return Course(tmp_path)


def test_released_exercises_are_found_without_their_sources(tmp_path):
    # A public copy of the course keeps solutions/ elsewhere.
    course = _course_copy(tmp_path)
    for name in ("selection", "softmax"):
        target = course.release_dir / name
        target.mkdir(parents=True)
        shutil.copy(
            ROOT / "notebooks" / "exercises" / name / f"{name}.ipynb", target
        )
    found = [a for a, _ in released_notebooks(course)]
    assert found == ["softmax", "selection"]  # the course's order


def test_a_damaged_notebook_stops_the_build_with_its_name(tmp_path):
    course = _course_copy(tmp_path)
    broken = course.release_dir / "softmax" / "softmax.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"cells": [')
    with pytest.raises(CourseError, match="softmax.ipynb is not a valid"):
        released_notebooks(course)
    broken.unlink()
    (course.root / "notebooks" / "01_broken.ipynb").write_text("{ oops")
    with pytest.raises(CourseError, match="01_broken.ipynb is not a notebook"):
        stage_sources(course, tmp_path / "source")


def test_lectures_keep_their_files_and_leave_other_notebooks(tmp_path):
    course = _course_copy(tmp_path)
    notebooks = course.root / "notebooks"
    nbformat.write(nbformat.v4.new_notebook(), notebooks / "01_a.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), notebooks / "scratch.ipynb")
    (notebooks / "figures").mkdir()
    (notebooks / "figures" / "plot.png").write_bytes(b"png")
    (notebooks / "figures" / "old.ipynb").write_text("{}")
    stage_sources(course, tmp_path / "source")
    lectures = tmp_path / "source" / "lectures"
    assert (lectures / "01_a.ipynb").is_file()
    assert (lectures / "figures" / "plot.png").read_bytes() == b"png"
    assert not (lectures / "scratch.ipynb").exists()
    assert not (lectures / "figures" / "old.ipynb").exists()
    assert not (lectures / "exercises").exists()
