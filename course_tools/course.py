"""Where a course lives on disk, and nbgrader objects configured for it."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config, PyFileConfigLoader

CONFIG_FILE = "nbgrader_config.py"
#: nbgrader's per-cell limit when the config sets none.
DEFAULT_CELL_TIMEOUT = 30
#: Seconds a gradebook writer waits for another one to finish.
SQLITE_LOCK_TIMEOUT = 60
BLAS_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)

__all__ = ["CONFIG_FILE", "Course", "CourseError", "find_course_root"]


class CourseError(Exception):
    """A problem the instructor can fix: the message says how."""


def find_course_root(start=None):
    """Return the nearest folder at or above ``start`` holding the config.

    Raises
    ------
    CourseError
        If no folder up to the file system root has ``nbgrader_config.py``.
    """
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise CourseError(
        f"no {CONFIG_FILE} found in {start} or any folder above it; run "
        f"the command inside the course folder or pass --course-dir."
    )


def use_environment_tools():
    """Prepare the environment that nbgrader and its kernels inherit.

    This interpreter's scripts folder goes first on PATH: nbgrader runs
    ``alembic`` from PATH when it creates a gradebook, and kernels are
    started by name; both must come from the environment the course is
    installed in, even when it is not activated.
    """
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = os.pathsep.join([scripts, path])
    # Kernels inherit this environment. One BLAS thread per kernel: the
    # exercises are small, and several busy threads per kernel on a loaded
    # machine made a 0.2 s training cell take 4 s here, which is the
    # difference between passing and hitting the time limit.
    for var in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(var, "1")


@dataclass
class Course:
    """A course folder and the place where one grading run keeps its files.

    Parameters
    ----------
    root : Path
        The folder holding ``nbgrader_config.py``.
    workspace : Path or None
        Folder for submissions, autograded notebooks, feedback, the
        gradebook and the grades CSV. ``None`` keeps the folders named in
        the config file (``grading/``).
    release : Path or None
        Folder the student versions are written to. ``None`` keeps the
        config's (``notebooks/exercises``).
    cell_timeout : int or None
        Seconds a cell of a student notebook may run. ``None`` keeps the
        config's.
    unsafe : bool
        Run student code without the sandbox (only when bubblewrap is
        missing and the instructor asked for it).
    slot : int
        The worker number of this process when grading in parallel; it
        picks the sandbox's user.
    """

    root: Path
    workspace: Path | None = None
    release: Path | None = None
    cell_timeout: int | None = None
    unsafe: bool = False
    slot: int = 0

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        if not (self.root / CONFIG_FILE).is_file():
            raise CourseError(
                f"{self.root} is not a course folder: it has no {CONFIG_FILE}."
            )
        workspace = self.workspace
        if workspace is not None and Path(workspace).exists():
            if not Path(workspace).is_dir():
                raise CourseError(
                    f"the grading folder {workspace} is a file; give "
                    f"a folder (it is created when missing)."
                )

    # -- configuration ---------------------------------------------------

    def config(self):
        """The course's nbgrader config with this run's overrides applied."""
        loader = PyFileConfigLoader(CONFIG_FILE, path=str(self.root))
        cfg = loader.load_config()
        cd = cfg.CourseDirectory
        if self.workspace is not None:
            ws = Path(self.workspace).resolve()
            cd.submitted_directory = str(ws / "submitted")
            cd.autograded_directory = str(ws / "autograded")
            cd.feedback_directory = str(ws / "feedback")
            cd.db_url = f"sqlite:///{ws / 'gradebook.db'}"
        if self.release is not None:
            cd.release_directory = str(Path(self.release).resolve())
        if self.cell_timeout is not None:
            cfg.Execute.timeout = int(self.cell_timeout)
        # nbgrader's own note on a timed-out cell has no message; say what
        # happened, so that the student's feedback explains the 0.
        limit = cfg.Execute.get("timeout", DEFAULT_CELL_TIMEOUT)
        cfg.Execute.error_on_timeout = {
            "ename": "CellTimeoutError",
            "evalue": f"this cell ran for more than {limit} seconds and was "
            f"stopped; look for a loop that never ends",
            "traceback": [
                f"CellTimeoutError: this cell ran for more than {limit} "
                f"seconds and was stopped; look for a loop that never ends"
            ],
        }
        self._autograde_pipeline(cfg, limit)
        # Workers grading side by side write to one SQLite gradebook: let
        # a writer wait for the lock instead of failing at once.
        url = cd.get("db_url", "")
        if url.startswith("sqlite:///") and "?" not in url:
            cd.db_url = f"{url}?timeout={SQLITE_LOCK_TIMEOUT}"
        return cfg

    def _autograde_pipeline(self, cfg, limit):
        """Sandboxed kernels and out-of-kernel tests, set in code.

        The pipeline is not in ``nbgrader_config.py`` on purpose: a broken
        config file must stop grading (``config()`` raises), never fall
        back to nbgrader's unsandboxed default.
        """
        from nbconvert.preprocessors import ClearMetadataPreprocessor
        from nbgrader.preprocessors import (
            AssignLatePenalties,
            CheckCellMetadata,
            ClearOutput,
            DeduplicateIds,
            IgnorePattern,
            LimitOutput,
            OverwriteKernelspec,
            SaveAutoGrades,
        )

        import lecture_lib

        from . import preprocessors as pp

        # The notebook written after this first stage lands in the folder
        # the kernel runs in: no hidden test may be in it.
        cfg.Autograde.sanitize_preprocessors = [
            pp.SourceDirectory,
            ClearOutput,
            DeduplicateIds,
            OverwriteKernelspec,
            pp.RestoreTestCells,
            pp.StripHiddenTests,
            CheckCellMetadata,
        ]
        cfg.Autograde.autograde_preprocessors = [
            pp.SourceDirectory,
            pp.SandboxedExecute,
            IgnorePattern,
            pp.OutOfKernelTests,
            ClearMetadataPreprocessor,
            LimitOutput,
            SaveAutoGrades,
            AssignLatePenalties,
            CheckCellMetadata,
        ]
        source = cfg.CourseDirectory.get("source_directory", "source")
        cfg.SourceDirectory.source_dir = str((self.root / source).resolve())
        safe = not self.unsafe
        for section in ("SandboxedExecute", "OutOfKernelTests"):
            cfg[section].use_sandbox = safe
        cfg.SandboxKernelManager.use_sandbox = safe
        cfg.SandboxKernelManager.slot = self.slot
        cfg.OutOfKernelTests.slot = self.slot
        cfg.OutOfKernelTests.cell_timeout = float(limit)
        cfg.SandboxKernelManager.read_only = [
            str(Path(lecture_lib.__file__).parent)
        ]

    def _dir(self, trait):
        value = getattr(self.config().CourseDirectory, trait)
        return (self.root / value).resolve()

    @property
    def source_dir(self):
        return self._dir("source_directory")

    @property
    def release_dir(self):
        return self._dir("release_directory")

    @property
    def submitted_dir(self):
        return self._dir("submitted_directory")

    @property
    def autograded_dir(self):
        return self._dir("autograded_directory")

    @property
    def feedback_dir(self):
        return self._dir("feedback_directory")

    @property
    def db_path(self):
        url = self.config().CourseDirectory.db_url
        prefix = "sqlite:///"
        url = url.split("?")[0]
        if not url.startswith(prefix):
            raise CourseError(
                f"only sqlite gradebooks are supported, got db_url={url!r}; "
                f"set c.CourseDirectory.db_url to 'sqlite:///<path>'."
            )
        return Path(url[len(prefix) :])

    @property
    def grading_dir(self):
        """The folder that holds the gradebook (and the grades CSV)."""
        return self.db_path.parent

    def assignments(self):
        """Names of the assignments in the source folder, in course order.

        The order is ``c.Course.assignment_order`` in the config; folders
        it does not name follow, alphabetically.
        """
        if not self.source_dir.is_dir():
            return []
        names = [
            p.name
            for p in self.source_dir.iterdir()
            if p.is_dir() and any(p.glob("*.ipynb"))
        ]
        return sorted(names, key=self.order_key)

    def order_key(self, assignment):
        """Sort key putting assignments in course order."""
        order = list(self.config().Course.get("assignment_order", []))
        if assignment in order:
            return (0, order.index(assignment), assignment)
        return (1, 0, assignment)

    def check_assignment(self, assignment):
        """Raise ``CourseError`` unless ``assignment`` has a source folder."""
        known = self.assignments()
        if assignment not in known:
            raise CourseError(
                f"unknown assignment {assignment!r}: expected one of "
                f"{known} (folders of {self.source_dir} with a notebook)."
            )

    # -- nbgrader --------------------------------------------------------

    def api(self):
        """An ``NbGraderAPI`` for this course, with its folders created."""
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        use_environment_tools()
        # The gradebook's folder must exist before nbgrader first opens it.
        self.grading_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.config()
        coursedir = CourseDirectory(config=cfg)
        return NbGraderAPI(coursedir=coursedir, config=Config(cfg))
