"""Build the rendered notes: the lectures as a small book that works offline.

The book is made by Sphinx with myst-nb and sphinx-book-theme from

- ``notes/``: the Sphinx settings (``conf.py``), the front page and the
  npm manifest that pins MathJax;
- ``notebooks/[0-9]*.ipynb``: one page per lecture, executed during the
  build;
- the released exercises (``notebooks/exercises/<assignment>/``), offered
  for download on a generated exercises page. Only the released student
  versions are used; a notebook that still holds solution or hidden-test
  markers stops the build.

Everything is written under ``_build/notes/``: ``npm/`` (MathJax as npm
installed it), ``extra/`` (files copied to the site root), ``source/`` (the
gathered sources), ``doctrees/`` and ``html/`` (the site).
"""

import filecmp
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from .course import CourseError

log = logging.getLogger("course")

NOTES_DIR = "notes"
#: The MathJax component the pages load (see notes/conf.py).
MATHJAX_ENTRY = "tex-chtml.js"
#: Left in a build folder by a build, so that only such a folder is ever
#: emptied by the next one.
BUILD_MARKER = ".course-notes-build"
#: Lines that only the instructor's version of an exercise contains.
SECRET_MARKERS = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
)

#: What ipykernel prints on every start over TCP, even on 127.0.0.1.
KERNEL_NOTICE = "Kernel is running over TCP without encryption"

__all__ = ["build_notes", "released_notebooks", "vendor_mathjax"]


def build_dir(course):
    """The folder that holds everything the notes build writes."""
    return course.root / "_build" / "notes"


def vendor_mathjax(course):
    """Install MathJax with npm and return the folder of site-root files.

    npm runs only when the installed copy does not match the lock file in
    ``notes/``; after that the build needs no network.
    """
    notes = course.root / NOTES_DIR
    npm_dir = build_dir(course) / "npm"
    extra = build_dir(course) / "extra"
    manifests = ("package.json", "package-lock.json")
    for name in manifests:
        if not (notes / name).is_file():
            raise CourseError(f"{notes / name} is missing: it pins MathJax.")
    installed = npm_dir / "node_modules" / "mathjax" / "es5"
    # Each step leaves a marker when it has finished, so that a copy cut
    # short (an interrupted npm or copy) is made again, not used.
    npm_done, copy_done = npm_dir / ".installed", extra / ".copied"
    current = npm_done.is_file() and all(
        (npm_dir / name).is_file()
        and filecmp.cmp(notes / name, npm_dir / name, shallow=False)
        for name in manifests
    )
    if not current:
        npm = shutil.which("npm")
        if npm is None:
            raise CourseError(
                "npm is needed once to fetch MathJax for the notes, and it "
                "is not on PATH: install Node.js with npm (Debian and "
                "Ubuntu: apt-get install npm) and run the command again."
            )
        npm_done.unlink(missing_ok=True)
        npm_dir.mkdir(parents=True, exist_ok=True)
        for name in manifests:
            shutil.copyfile(notes / name, npm_dir / name)
        log.info("installing MathJax with npm into %s", npm_dir)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=npm_dir,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not (installed / MATHJAX_ENTRY).is_file():
            raise CourseError(
                f"`npm ci` in {npm_dir} could not install MathJax "
                f"(exit status {done.returncode}):\n{done.stderr.strip()}\n"
                f"Check that the npm registry is reachable, then run the "
                f"command again."
            )
        npm_done.touch()
        shutil.rmtree(extra, ignore_errors=True)
    if not copy_done.is_file():
        shutil.rmtree(extra, ignore_errors=True)
        shutil.copytree(installed, extra / "mathjax")
        copy_done.touch()
    return extra


def released_notebooks(course):
    """The released notebook of each assignment, in course order.

    Every folder of the release folder (``notebooks/exercises/``) that
    holds notebooks is an assignment, whether or not its source is here.
    Returns a list of ``(assignment, path)``. Raises `CourseError` when a
    notebook is not valid JSON, or still holds solution or hidden-test
    markers, which means it is not a released student version.
    """
    release = course.release_dir
    folders = release.iterdir() if release.is_dir() else []
    assignments = sorted(
        (p.name for p in folders if p.is_dir() and any(p.glob("*.ipynb"))),
        key=course.order_key,
    )
    found = []
    for assignment in assignments:
        for path in sorted((release / assignment).glob("*.ipynb")):
            text = path.read_text(encoding="utf-8")
            try:
                json.loads(text)
            except ValueError as err:
                raise CourseError(
                    f"{path} is not a valid notebook ({err}). Run `course "
                    f"release {assignment}` to write it again."
                ) from err
            leaked = [m for m in SECRET_MARKERS if m in text]
            if leaked:
                raise CourseError(
                    f"{path} contains {leaked[0]!r}: it is not the student "
                    f"version. Run `course release {assignment}` to write "
                    f"it again; the notes never link to solutions."
                )
            found.append((assignment, path))
    return found


def _title_and_summary(path):
    """The first heading and the paragraph after it, from a notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        lines = "".join(cell["source"]).strip().splitlines()
        if not lines or not lines[0].startswith("#"):
            continue
        title = lines[0].lstrip("#").strip()
        paragraph = []
        for line in lines[1:]:
            if paragraph and not line.strip():
                break
            if line.strip():
                paragraph.append(line.strip())
        summary = " ".join(paragraph)
        # A paragraph that introduces a list ends the summary on its own.
        if summary.endswith(":"):
            summary = summary[:-1] + "."
        return title, summary
    return path.stem, ""


def exercises_page(released):
    """The markdown of the exercises page, with a download per notebook."""
    lines = [
        "# Exercises",
        "",
        "Each lecture comes with a graded exercise. Download the notebook, "
        "open it in JupyterLab in the course environment (it imports "
        "`lecture_lib`), fill in every `YOUR CODE HERE` and run the test "
        "cells under each part: they tell you at once what is still wrong. "
        "Your instructor grades the notebook with more tests than those "
        "you see.",
        "",
    ]
    if not released:
        lines += [
            "No exercise has been released yet. Instructors: run "
            "`course release`, then build the notes again.",
            "",
        ]
    for assignment, path in released:
        title, summary = _title_and_summary(path)
        target = f"downloads/{assignment}/{path.name}"
        lines += [f"## {title}", ""]
        if summary:
            lines += [summary, ""]
        lines += [f"{{download}}`Download {path.name} <{target}>`", ""]
    return "\n".join(lines)


def _not_lecture_material(course):
    """An ignore function for copying ``notebooks/`` as the lectures.

    Kept: the lectures (``notebooks/[0-9]*.ipynb``) and every other file
    they may use (figures, data). Left out: the released exercises,
    checkpoints and every other notebook, which would become pages.
    """
    top = course.root / "notebooks"
    release = course.release_dir.resolve()

    def ignore(folder, names):
        folder = Path(folder)
        return {
            name
            for name in names
            if name == ".ipynb_checkpoints"
            or (folder / name).resolve() == release
            or (
                name.endswith(".ipynb")
                and not (folder == top and name[:1].isdigit())
            )
        }

    return ignore


def stage_sources(course, source):
    """Gather the front page, lectures and released exercises in ``source``.

    Returns the list of ``(assignment, path)`` offered for download.
    """
    if source.exists():
        shutil.rmtree(source)
    (source / "lectures").mkdir(parents=True)
    notes = course.root / NOTES_DIR
    for page in notes.glob("*.md"):
        shutil.copyfile(page, source / page.name)
    lectures = sorted((course.root / "notebooks").glob("[0-9]*.ipynb"))
    if not lectures:
        raise CourseError(
            f"no lecture notebooks (named like 01_name.ipynb) in "
            f"{course.root / 'notebooks'}."
        )
    for path in lectures:
        try:
            nbformat.read(path, as_version=4)
        except Exception as err:  # nbformat raises several kinds
            raise CourseError(
                f"{path} is not a notebook that can be read: {err}"
            ) from err
    # The lectures with the files they use (figures, data), not the
    # exercises and not notebooks that are not lectures.
    shutil.rmtree(source / "lectures")
    shutil.copytree(
        course.root / "notebooks",
        source / "lectures",
        ignore=_not_lecture_material(course),
    )
    released = released_notebooks(course)
    for assignment, path in released:
        target = source / "downloads" / assignment / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    (source / "exercises.md").write_text(exercises_page(released))
    return released


def build_notes(course, folder=None, jobs=None, quiet=False):
    """Build the notes; the site goes to ``folder/html``.

    Parameters
    ----------
    course : Course
    folder : Path or None
        Work folder for the gathered sources (``source/``), Sphinx's cache
        (``doctrees/``), executed notebooks (``jupyter_execute/``) and the
        site (``html/``); default ``_build/notes``. Each build starts
        afresh, so every lecture runs again.
    jobs : int or None
        Sphinx processes, each executing lectures in its own kernel;
        ``None`` for one per CPU core.
    quiet : bool
        Show only Sphinx's warnings and errors.

    Returns
    -------
    Path
        The site's front page, ``folder/html/index.html``.

    Raises
    ------
    CourseError
        When npm is missing, a released notebook holds solutions, a lecture
        fails to run or Sphinx warns (warnings are errors here, so that a
        broken link or a missing figure never reaches readers).
    """
    folder = Path(folder) if folder else build_dir(course)
    if folder != build_dir(course):  # under _build/, always ours
        _claim_build_folder(folder)
    extra = vendor_mathjax(course)
    # The site is built beside the last one and replaces it only when the
    # build succeeds, so a failed build never leaves readers a broken site.
    source, doctrees, html, new = (
        folder / name for name in ("source", "doctrees", "html", "html.new")
    )
    for stale in (doctrees, new, folder / "jupyter_execute"):
        shutil.rmtree(stale, ignore_errors=True)
    stage_sources(course, source)
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-c",
        str(course.root / NOTES_DIR),
        "-d",
        str(doctrees),
        "-j",
        str(jobs or os.cpu_count() or 1),
        "-W",
        "--keep-going",
        str(source),
        str(new),
    ]
    if quiet:
        command.insert(3, "-q")
    env = dict(os.environ, COURSE_NOTES_EXTRA=str(extra))
    log.info("building the notes (each lecture runs once)")
    with subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, text=True
    ) as sphinx:
        # Sphinx's warnings pass through; the kernels' notice about their
        # loopback transport (one per lecture) does not.
        for line in sphinx.stderr:
            if KERNEL_NOTICE not in line:
                sys.stderr.write(line)
    if sphinx.returncode != 0:
        raise CourseError(
            f"building the notes failed; Sphinx's messages above say why "
            f"(run with --jobs 1 if they do not name the page). The last "
            f"good site, if any, is unchanged in {html}."
        )
    shutil.rmtree(html, ignore_errors=True)
    new.rename(html)
    return html / "index.html"


def _claim_build_folder(folder):
    """Make sure ``folder`` may be used, and marked, as a build folder."""
    if folder.exists() and not folder.is_dir():
        raise CourseError(
            f"{folder} is a file; the notes need a folder to build in. "
            f"Pass --build-dir with a new or empty folder."
        )
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / BUILD_MARKER).is_file():
            raise CourseError(
                f"{folder} is not empty and was not made by `course "
                f"notes`; its files would be replaced. Pass --build-dir "
                f"with a new or empty folder."
            )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BUILD_MARKER).touch()
