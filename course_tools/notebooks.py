"""Execute course notebooks in place, keeping only reproducible outputs.

Lectures and exercise sources are stored with their outputs, which the
tests compare with a fresh run (nbval). Saving them through this module
leaves out what changes from run to run: per-cell timing metadata.
"""

import logging
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from .course import CourseError, use_environment_tools

log = logging.getLogger("course")

__all__ = ["execute_in_place", "strip_run_metadata"]


def strip_run_metadata(nb):
    """Drop per-cell execution timing recorded by Jupyter front ends."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def execute_in_place(path, timeout=120):
    """Run a notebook top to bottom in a fresh kernel and save it.

    The kernel starts in the notebook's folder. Any cell error stops the
    run and the file is left unchanged, so a broken notebook is never
    saved as if it had run (``CourseError`` names the error).
    """
    path = Path(path).resolve()
    use_environment_tools()
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:
        raise CourseError(
            f"{path.name} is not a readable notebook ({type(err).__name__}); "
            f"open it in JupyterLab to repair it."
        ) from err
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as err:
        raise CourseError(
            f"{path.name} was not saved: a cell raised "
            f"{err.ename}: {err.evalue}\nFix the cell, then run the "
            f"notebook again."
        ) from None
    nbformat.write(strip_run_metadata(nb), path)
    log.info("executed %s", path.name)
    return path
