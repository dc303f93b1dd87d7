"""Every lecture runs top to bottom in JupyterLab, as a student runs it.

A JupyterLab server is started on 127.0.0.1 with a token, in a folder
holding copies of the lectures. Chromium opens each lecture, waits for the
kernel in the status bar, chooses Run > Run All Cells, waits for the last
cell, saves, and the saved notebook must show every code cell run and no
error output.
"""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.browser import Traffic, launch_chromium, require_browser
from tests.helpers import ROOT

LECTURES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
#: Seconds for JupyterLab to start, and for one lecture to run.
START_TIMEOUT = 120
RUN_TIMEOUT = 600
# Every cell stays in the page (no windowed rendering), so that the test
# can see every prompt; nothing is fetched from the internet.
NOTEBOOK_SETTINGS = '{"windowingMode": "none"}'

# The kernel indicator in the toolbar reads idle before the kernel has
# started; the status bar names the kernel and its state only once the
# kernel is ready.
KERNEL_IDLE_JS = """() => {
  const bar = document.querySelector('#jp-main-statusbar');
  return bar !== null && /\\| Idle/.test(bar.textContent);
}"""
# Run All marks every queued cell [*] at once; the run is over when none
# is left, at least one cell shows its number and the kernel is idle.
RUN_FINISHED_JS = """() => {
  const bar = document.querySelector('#jp-main-statusbar');
  if (!bar || !/\\| Idle/.test(bar.textContent)) return false;
  const prompts = [...document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
      .map(p => p.textContent.trim());
  return prompts.some(p => /^\\[\\d+\\]:$/.test(p)) &&
      !prompts.includes('[*]:');
}"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 over copies of the lectures."""
    chromium = require_browser()
    home = tmp_path_factory.mktemp("lab")
    work = home / "work"
    work.mkdir()
    for path in LECTURES:
        # Cleared copies: whatever counts and outputs they hold when saved
        # come from this run.
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, work / path.name)
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(NOTEBOOK_SETTINGS)
    token = secrets.token_hex(16)
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}",
        # No news feed and no update check: they would ask the internet.
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = dict(
        os.environ,
        PATH=os.pathsep.join(
            [str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
    )
    log = open(home / "jupyterlab.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_server(server, base, token, home / "jupyterlab.log")
        with launch_chromium(chromium) as browser:
            yield browser, base, token, work
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _wait_for_server(server, base, token, log_path):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"JupyterLab exited with status {server.returncode}:\n"
                f"{log_path.read_text()}"
            )
        try:
            with urllib.request.urlopen(f"{base}api/status?token={token}"):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()}")


def _menu(page, menu, item):
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def run_all(lab, name):
    """Open ``name`` in JupyterLab, run all cells, save, and report.

    Returns ``(problems, traffic)``: what is wrong with the saved notebook
    (cells that never ran, error outputs) and the page's requests.
    """
    browser, base, token, work = lab
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route(lambda url: not url.startswith(base), lambda r: r.abort())
    page = context.new_page()
    traffic = Traffic().watch(page)
    # ?reset: start from an empty workspace, whatever ran before.
    page.goto(f"{base}lab/tree/{name}?reset&token={token}")
    page.wait_for_function(KERNEL_IDLE_JS, timeout=START_TIMEOUT * 1000)
    _menu(page, "Run", "Run All Cells")
    page.wait_for_function(RUN_FINISHED_JS, timeout=RUN_TIMEOUT * 1000)
    nb = _save(page, work / name)
    context.close()

    code = [c for c in nb.cells if c.cell_type == "code"]
    problems = [
        f"code cell {i}: {o.ename}: {o.evalue}"
        for i, c in enumerate(code)
        for o in c.outputs
        if o.output_type == "error"
    ]
    unrun = [i for i, c in enumerate(code) if not c.execution_count]
    if unrun:
        problems.append(f"code cells {unrun} never ran")
    counts = [c.execution_count for c in code if c.execution_count]
    if counts != sorted(counts):
        problems.append(f"cells ran out of order: {counts}")
    return problems, traffic


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_lecture_runs_all_cells_in_jupyterlab(lab, lecture):
    problems, traffic = run_all(lab, lecture.name)
    assert not problems, f"{lecture.name}:\n" + "\n".join(problems)
    assert not traffic.foreign, f"asked other hosts: {traffic.foreign}"
    assert not traffic.script_errors, traffic.script_errors


def test_run_all_reports_a_failing_cell(lab):
    # The check above must be able to fail.
    work = lab[3]
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell(source)
        for source in ("x = 1", "1 / 0", "y = 2")
    ]
    nbformat.write(nb, work / "broken.ipynb")
    problems, _ = run_all(lab, "broken.ipynb")
    assert problems == [
        "code cell 1: ZeroDivisionError: division by zero",
        "code cells [2] never ran",
    ]


def _save(page, path, attempts=20, timeout=1):
    """Save the open notebook; return it as read back from disk.

    Asked right as a run ends, JupyterLab's first save often stops after
    it has checked the file on disk and never writes; the next one goes
    through at once. So the save is asked for again when the file has not
    changed within ``timeout`` seconds.
    """
    for _ in range(attempts):
        page.locator(".jp-NotebookPanel .jp-Notebook").first.click()
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                nb = nbformat.read(path, as_version=4)
            except nbformat.reader.NotJSONError:
                nb = None  # read while the server was writing it
            if nb is not None and any(
                c.cell_type == "code" and c.execution_count for c in nb.cells
            ):
                return nb
            time.sleep(0.1)
    pytest.fail(f"JupyterLab did not save {path.name}")
