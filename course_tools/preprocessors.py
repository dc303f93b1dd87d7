"""nbgrader preprocessors used by the course configuration."""

from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, Execute
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Bool, Enum, Float, Integer, Unicode

from .kernels import LAUNCHES, SandboxKernelManager

#: Errors a cell shows when it ran past the time limit: nbgrader's note and
#: the interrupt that stopped it.
TIMEOUT_NAMES = {"CellTimeoutError", "KeyboardInterrupt"}

__all__ = [
    "HideHiddenTests",
    "OutOfKernelTests",
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
        nb, resources = super().preprocess(nb, resources, km=km)
        launched = LAUNCHES[before:]
        if self.use_sandbox and not all(
            sandboxed for sandboxed, _ in launched
        ):
            raise RuntimeError(
                "a kernel started outside the sandbox; refusing to grade"
            )
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

        from .outofkernel import Runner, run_tests, split_notebook

        source = _source_notebook(resources)
        program, cells, student_sources = split_notebook(source, nb)
        workdir = resources.get("metadata", {}).get("path") or "."
        runner = Runner(
            cells,
            Path(workdir).resolve(),
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
            cell.outputs.append(
                nbformat.v4.new_output(
                    "error",
                    ename=name,
                    evalue=text,
                    traceback=[f"{name}: {text}"],
                )
            )
        return nb, resources
