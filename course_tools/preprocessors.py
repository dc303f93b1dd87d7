"""nbgrader preprocessors used by the course configuration."""

import copy
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, Execute, OverwriteCells
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Bool, Enum, Float, Integer, Unicode

from .kernels import LAUNCHES, SandboxKernelManager

#: Errors a cell shows when it ran past the time limit: nbgrader's note and
#: the interrupt that stopped it.
TIMEOUT_NAMES = {"CellTimeoutError", "KeyboardInterrupt"}

__all__ = [
    "HideHiddenTests",
    "OutOfKernelTests",
    "RestoreTestCells",
    "SandboxedExecute",
    "SourceDirectory",
    "StripHiddenTests",
]


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden tests, and the tracebacks that would quote them.

    Used when feedback is generated from an autograded notebook, whose test
    cells hold the full source again. The hidden region is removed from
    every test cell; an error in a cell that had a hidden region keeps only
    its exception name and message, which the tests write for students.
    """

    # Autograded notebooks carry grade metadata on every cell that matters;
    # a cell without it never held hidden tests worth enforcing.
    enforce_metadata = False

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        if not self._remove_hidden_test_region(cell):
            return cell, resources
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [
                    f"{output.get('ename', 'Error')}: "
                    f"{output.get('evalue', '')}",
                    "(The traceback is not shown: it would quote hidden "
                    "tests.)",
                ]
        return cell, resources


class StripHiddenTests(ClearHiddenTests):
    """Take the hidden tests out of the notebook the kernel will run.

    Runs first in autograding, after nbgrader has put the instructor's
    test cells back: the kernel then runs the visible tests only, for the
    student's feedback, and the hidden parts run in the grader
    (:class:`OutOfKernelTests`). A test cell the student marked as an
    answer becomes a test cell again.
    """

    enforce_metadata = False

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        meta = cell.metadata["nbgrader"]
        if meta.get("solution") and meta.get("grade_id") in _test_ids(
            resources
        ):
            meta["solution"] = False
        if not utils.is_solution(cell):
            self._remove_hidden_test_region(cell)
        return cell, resources


def _error_output(name, text):
    """An error output that shows ``name: text`` and nothing else."""
    return nbformat.v4.new_output(
        "error", ename=name, evalue=text, traceback=[f"{name}: {text}"]
    )


def _source_notebook(resources):
    """The instructor's notebook this submission answers."""
    info = resources["nbgrader"]
    path = (
        Path(resources["course_source_dir"])
        / info["assignment"]
        / f"{info['notebook']}.ipynb"
    )
    return nbformat.read(path, as_version=4)


def _test_ids(resources):
    ids = resources.get("course_test_ids")
    if ids is None:
        nb = _source_notebook(resources)
        ids = {
            cell.metadata["nbgrader"]["grade_id"]
            for cell in nb.cells
            if utils.is_grade(cell) and not utils.is_solution(cell)
        }
        resources["course_test_ids"] = ids
    return ids


class SourceDirectory(NbGraderPreprocessor):
    """Tell the following preprocessors where the source notebooks are."""

    source_dir = Unicode("", help="The course's source folder.").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        if not self.source_dir:
            raise ValueError(
                "SourceDirectory.source_dir is not set; autograde with the "
                "`course autograde` command, which sets it"
            )
        resources["course_source_dir"] = self.source_dir
        return nb, resources


class SandboxedExecute(Execute):
    """nbgrader's Execute with every kernel started inside the sandbox.

    The kernel manager class is fixed here, not in the configuration:
    nbgrader passes its own class to nbclient, which would override a
    configured one. After the run, the kernels this process started are
    checked: a notebook that ran outside the sandbox is an error.

    A cell that kills its kernel (``os._exit``, a signal, the memory cap)
    or keeps it busy after the interrupt (a loop that ignores SIGINT)
    costs that cell, not the notebook: the cell gets an error output, the
    kernel is restarted, the code cells before it that are not tests are
    run again silently to rebuild the state, and execution goes on.
    """

    use_sandbox = Bool(True).tag(config=True)
    # The kernel holds nothing worth a polite goodbye; stopping it at once
    # saves a round trip per notebook.
    shutdown_kernel = Enum(["graceful", "immediate"], "immediate")

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        before = len(LAUNCHES)
        self._broken = set()
        nb, resources = super().preprocess(nb, resources, km=km)
        launched = LAUNCHES[before:]
        if self.use_sandbox and not all(
            sandboxed for sandboxed, _ in launched
        ):
            raise RuntimeError(
                "a kernel started outside the sandbox; refusing to grade"
            )
        return nb, resources

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        # The kernel has made its sockets: from now on its folder on the
        # host is read-only to it, so it cannot fill the grader's disk.
        self.km.lock_runtime()
        return kc

    # nbclient binds its synchronous wrappers at class creation.
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def preprocess_cell(self, cell, resources, index):
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as err:
            died = isinstance(err, DeadKernelError)
            if died:
                name = "KernelDied"
                text = (
                    "Python stopped while running this cell (os._exit, "
                    "sys.exit in a thread, a signal, or more memory than "
                    "allowed); the kernel was restarted"
                )
            else:
                name = "CellTimeoutError"
                text = (
                    f"this cell ran for more than {self.timeout} seconds "
                    f"and did not stop when interrupted; the kernel was "
                    f"restarted"
                )
            cell.outputs.append(_error_output(name, text))
            self._broken.add(index)
            run_sync(self._restart_and_replay)(index)
            return cell, resources

    async def _restart(self):
        await self.km.restart_kernel(now=True)
        await self.kc.wait_for_ready(timeout=self.startup_timeout)
        self.km.lock_runtime()

    async def _restart_and_replay(self, index):
        await self._restart()
        for i, cell in enumerate(self.nb.cells[:index]):
            if (
                cell.cell_type != "code"
                or i in self._broken
                or (utils.is_grade(cell) and not utils.is_solution(cell))
            ):
                continue
            scratch = copy.deepcopy(cell)
            scratch.outputs = []
            try:
                await self.async_execute_cell(scratch, i, store_history=False)
            except (DeadKernelError, CellTimeoutError):
                self._broken.add(i)
                await self._restart()
            except Exception:  # noqa: BLE001, S112 - its error is the student's
                continue


class RestoreTestCells(OverwriteCells):
    """nbgrader's OverwriteCells, with deleted test cells put back right.

    nbgrader 0.9.6 puts a deleted test cell after the previous solution
    or test cell of the source, and fails with a KeyError when the cell
    before it is a locked cell of another kind (a data cell). Here it goes
    after the nearest earlier source cell the submission still has.
    """

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(
            self.notebook_id, self.assignment_id
        )
        source_cells = source_nb.source_cells
        order = [cell.name for cell in source_cells]
        grade_cells = {cell.name: cell for cell in source_nb.grade_cells}
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        for position, name in enumerate(order):
            if name not in grade_cells:
                continue
            present = {
                cell.metadata.get("nbgrader", {}).get("grade_id"): i
                for i, cell in enumerate(nb.cells)
            }
            if name in present:
                continue
            self.log.warning("Missing grade cell %s, adding it back", name)
            cell = self.missing_cell_transform(
                source_cells[position],
                grade_cells[name].max_score,
                is_solution=name in solution_ids,
            )
            where = 0
            for earlier in reversed(order[:position]):
                if earlier in present:
                    where = present[earlier] + 1
                    break
            nb.cells.insert(where, cell)
        return nb, resources


class OutOfKernelTests(NbGraderPreprocessor):
    """Run every test cell again, in the grader, on the student's answers.

    The student's cells run in a fresh sandboxed interpreter; the tests,
    hidden parts included, run here (see :mod:`course_tools.outofkernel`).
    A test cell that fails here gets an error output, so nbgrader scores
    it 0 whatever the kernel printed; its message quotes a visible test's
    message, never a hidden test.
    """

    use_sandbox = Bool(True).tag(config=True)
    slot = Integer(0).tag(config=True)
    cell_timeout = Float(10.0).tag(config=True)

    def preprocess(self, nb, resources):
        import lecture_lib

        from .outofkernel import (
            Runner,
            answer_names,
            run_tests,
            split_notebook,
        )

        source = _source_notebook(resources)
        program, cells, student_sources = split_notebook(source, nb)
        workdir = resources.get("metadata", {}).get("path") or "."
        runner = Runner(
            cells,
            Path(workdir).resolve(),
            names=answer_names(source),
            cell_timeout=self.cell_timeout,
            use_sandbox=self.use_sandbox,
            slot=self.slot,
            read_only=[Path(lecture_lib.__file__).parent],
        )
        timed_out = {
            cell.metadata["nbgrader"]["grade_id"]
            for cell in nb.cells
            if cell.cell_type == "code"
            and utils.is_grade(cell)
            and any(
                o.get("output_type") == "error"
                and o.get("ename") in TIMEOUT_NAMES
                for o in cell.outputs
            )
        }
        try:
            verdicts = run_tests(program, student_sources, runner, timed_out)
        finally:
            runner.close()
        resources["course_verdicts"] = verdicts
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            verdict = verdicts.get(meta.get("grade_id"))
            if cell.cell_type != "code" or verdict is None or verdict.passed:
                continue
            if any(o.get("output_type") == "error" for o in cell.outputs):
                continue  # the kernel's own failure already explains it
            name = verdict.error
            if verdict.where == "hidden":
                # Which hidden test failed stays hidden; whether the answer
                # was wrong or crashed is worth knowing.
                wrong = verdict.error in (
                    "AssertionError",
                    "NotImplementedError",
                )
                name = "HiddenTestFailed" if wrong else "HiddenTestError"
            text = verdict.feedback()
            cell.outputs.append(_error_output(name, text))
        return nb, resources
