"""Release, autograde, feedback and grade export on top of nbgrader.

Each function works on a :class:`~course_tools.course.Course` and logs one
line per student with the outcome. Scores come from nbgrader's gradebook;
flags are read from the autograded notebooks, so that an instructor sees
why a student scored 0 (a blank notebook, an error, a time-out) rather
than a bare number.
"""

import contextlib
import csv
import fcntl
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import re
import select
import shutil
import signal
import sqlite3
import sys
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from . import preprocessors
from .course import CourseError, use_environment_tools

log = logging.getLogger("course")

__all__ = [
    "GradeResult",
    "autograde",
    "backup_gradebook",
    "cell_scores",
    "collect_submissions",
    "export_grades",
    "format_table",
    "generate_feedback",
    "release",
    "restore_gradebook",
    "submitted_students",
]

#: Exceptions that mean "the answer is wrong or missing", not "it crashed".
EXPECTED_FAILURES = {
    "AssertionError",
    "NotImplementedError",
    "HiddenTestFailed",
}
#: What a cell that ran past the time limit shows (in the kernel, or when
#: the out-of-kernel tests called the answer).
TIMEOUT_NAMES = {*preprocessors.TIMEOUT_NAMES, "AnswerTimeout"}
#: Text nbgrader puts at the top of a test cell it had to restore.
RESTORED_MARK = "was missing from the submission"


@dataclass
class GradeResult:
    """The outcome of grading one student's submission of one assignment.

    ``status`` is ``"graded"``, ``"missing"`` (nothing submitted),
    ``"ungraded"`` (submitted but not in the gradebook: autograde has not
    run since it was collected, an interrupted run had not reached it, or
    the gradebook was restored) or ``"failed"`` (the
    submission could not be graded: see ``message``).
    ``flags`` explain a low score: ``blank`` (no answer cell changed),
    ``error`` (an answer raised something other than a failed test),
    ``timeout`` (a cell hit the time limit), ``restored`` (a deleted test
    cell was put back), ``renamed`` (the notebook was renamed back to the
    assignment's name), ``links`` (symbolic links or special files were
    removed from the submission), ``manual`` (a cell needs manual
    grading).
    """

    assignment: str
    student: str
    status: str
    score: float | None
    max_score: float
    flags: list[str] = field(default_factory=list)
    message: str = ""

    def row(self):
        return {
            "assignment": self.assignment,
            "student": self.student,
            "status": self.status,
            "score": "" if self.score is None else f"{self.score:g}",
            "max_score": f"{self.max_score:g}",
            "flags": ";".join(self.flags),
            "message": self.message,
        }


def _check_result(result, what):
    """Raise ``CourseError`` with nbgrader's log if a step failed."""
    if not result.get("success", False):
        detail = (result.get("error") or result.get("log") or "").strip()
        raise CourseError(f"{what} failed:\n{detail}")


def _last_line(text):
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "unknown error"


def release(course, assignments=None):
    """Generate the student version of each assignment.

    Solutions and hidden tests are removed; the result goes to the
    course's release folder (``notebooks/exercises/<assignment>/``) and the
    assignment is recorded in the gradebook.

    Returns
    -------
    list of Path
        The released notebooks.
    """
    assignments = assignments or course.assignments()
    for assignment in assignments:
        course.check_assignment(assignment)
    api = course.api()
    released = []
    for assignment in assignments:
        _check_result(
            api.generate_assignment(assignment, force=True, create=True),
            f"releasing {assignment}",
        )
        notebooks = sorted((course.release_dir / assignment).glob("*.ipynb"))
        for path in notebooks:
            _normalise_release(path)
        released.extend(notebooks)
        log.info("released %s: %d notebook(s)", assignment, len(notebooks))
    return released


def _normalise_release(path):
    """Keep a released notebook byte-stable across releases."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


def submitted_students(course, assignment):
    """Students with a submission folder for ``assignment``, sorted."""
    root = course.submitted_dir
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir()
        and not p.name.startswith(".")
        and (p / assignment).is_dir()
    )


def collect_submissions(course, source, assignment):
    """Copy ``source/<student>/<assignment>/`` into the submitted folder.

    ``source`` has nbgrader's layout: one folder per student, inside it one
    folder per assignment. Existing copies are replaced.

    A student who renamed the assignment's only notebook (``softmax
    (1).ipynb``, ``Copy of softmax.ipynb``) and submitted nothing else gets
    it renamed back, and the flag ``renamed``; nbgrader would otherwise
    skip the file and grade nothing.

    Returns
    -------
    list of str
        The students copied.
    """
    course.check_assignment(assignment)
    source = Path(source)
    if not source.is_dir():
        raise CourseError(
            f"submissions folder {source} does not exist; expected a folder "
            f"with one sub-folder per student, each holding {assignment}/."
        )
    if source.resolve() == course.submitted_dir.resolve():
        raise CourseError(
            f"--submissions {source} is the grading folder's own "
            f"submitted/ folder, where the copies go; pass the folder you "
            f"downloaded the submissions to, or leave --submissions out to "
            f"grade what is already there."
        )
    students = []
    for student_dir in sorted(source.iterdir()):
        src = student_dir / assignment
        if student_dir.name.startswith(".") or not src.is_dir():
            continue
        dest = course.submitted_dir / student_dir.name / assignment
        if dest.exists():
            shutil.rmtree(dest)
        # Links are copied as links, never followed, then removed before
        # grading (see _remove_links).
        shutil.copytree(src, dest, symlinks=True)
        renamed = _restore_notebook_name(course, assignment, dest)
        _record(course, assignment, student_dir.name, renamed_from=renamed)
        if renamed:
            log.warning(
                "%s %s: notebook %r renamed to the assignment's name",
                assignment,
                student_dir.name,
                renamed,
            )
        students.append(student_dir.name)
    if not students:
        raise CourseError(
            f"no submissions of {assignment!r} in {source}; expected "
            f"{source}/<student>/{assignment}/<notebook>.ipynb."
        )
    log.info("collected %d submission(s) of %s", len(students), assignment)
    return students


def _expected_notebooks(course, assignment):
    return sorted(
        p.name for p in (course.source_dir / assignment).glob("*.ipynb")
    )


def _restore_notebook_name(course, assignment, folder):
    """Rename a lone, renamed notebook back; return its old name or None."""
    expected = _expected_notebooks(course, assignment)
    found = sorted(p.name for p in folder.glob("*.ipynb"))
    if len(expected) != 1 or len(found) != 1 or found == expected:
        return None
    (folder / found[0]).rename(folder / expected[0])
    return found[0]


def _shown(course, path):
    """``path`` relative to the course root when it lies inside it."""
    try:
        return str(path.relative_to(course.root))
    except ValueError:
        return str(path)


def _outcome_path(course, assignment, student):
    return course.grading_dir / "outcomes" / assignment / f"{student}.json"


def _record(course, assignment, student, **fields):
    """Merge ``fields`` into the stored outcome of one submission.

    Outcomes keep what the gradebook cannot: that the last autograde of a
    submission failed, and why; that its notebook was renamed.
    """
    path = _outcome_path(course, assignment, student)
    data = _outcome(course, assignment, student)
    data.update(fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write, then rename: a crash leaves the old record or the new one.
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(partial, path)


def _outcome(course, assignment, student):
    path = _outcome_path(course, assignment, student)
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {"status": "failed", "message": "its outcome record is damaged"}


#: What nbgrader's log says, and what to tell the instructor instead.
FAILURE_REASONS = [
    (
        r"Skipping unknown notebook: (\S+)",
        "unexpected notebook name {0}; expected {expected}",
    ),
    (
        r"NotJSONError|does not appear to be JSON|Unreadable Notebook",
        "the notebook is not valid JSON (damaged or not a notebook)",
    ),
    (
        r"No notebooks found|No notebooks were matched",
        "no notebook to grade; expected {expected}",
    ),
    (r"Kernel didn't respond|Kernel died", "the kernel died or did not start"),
]


def _failure_reason(course, assignment, text):
    expected = ", ".join(_expected_notebooks(course, assignment))
    for pattern, message in FAILURE_REASONS:
        match = re.search(pattern, text or "")
        if match:
            names = [Path(g).name for g in match.groups()]
            return message.format(*names, expected=expected)
    return _last_line(text)


def _answer_sources(path):
    """Map grade_id to source for the solution cells of a notebook."""
    nb = nbformat.read(path, as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def _flags(course, assignment, student):
    """Read the autograded notebooks of one submission for flags."""
    flags = set()
    graded = course.autograded_dir / student / assignment
    for path in sorted(graded.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if RESTORED_MARK in cell.source:
                flags.add("restored")
            for out in cell.get("outputs", []):
                if out.get("output_type") != "error":
                    continue
                name = out.get("ename", "")
                if name in TIMEOUT_NAMES:
                    flags.add("timeout")
                elif name not in EXPECTED_FAILURES:
                    flags.add("error")
        released = course.release_dir / assignment / path.name
        submitted = course.submitted_dir / student / assignment / path.name
        if released.is_file() and submitted.is_file():
            try:
                answers = _answer_sources(submitted)
            except Exception:  # unreadable: autograde reported it already
                continue
            stubs = _answer_sources(released)
            if stubs and all(
                answers.get(k, v).strip() == v.strip()
                for k, v in stubs.items()
            ):
                flags.add("blank")
    return sorted(flags)


def _gradebook(course):
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SQLAlchemyError

    # Creating a gradebook runs `alembic` from PATH.
    use_environment_tools()
    cfg = course.config().CourseDirectory
    try:
        return Gradebook(cfg.db_url, cfg.course_id)
    except SQLAlchemyError as err:
        raise CourseError(
            f"the gradebook {course.db_path} cannot be read "
            f"({type(err).__name__}); restore it from a backup, or move it "
            f"away to start a new one."
        ) from err


def _result_from_gradebook(course, assignment, student):
    """The current result of one submission.

    A submission whose last autograde failed is reported as ``failed``
    with the reason, even when the gradebook still holds the score of an
    earlier version or nbgrader's placeholder zeros.
    """
    from nbgrader.api import MissingEntry

    outcome = _outcome(course, assignment, student)
    with _gradebook(course) as gb:
        max_score = gb.find_assignment(assignment).max_score
        if outcome.get("status") in ("failed", "grading"):
            return GradeResult(
                assignment,
                student,
                "failed",
                None,
                max_score,
                message=outcome.get("message", ""),
            )
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            submitted = course.submitted_dir / student / assignment
            if submitted.is_dir():
                return GradeResult(
                    assignment,
                    student,
                    "ungraded",
                    None,
                    max_score,
                    message=f"not graded yet: run `course autograde "
                    f"{assignment}`",
                )
            return GradeResult(assignment, student, "missing", None, max_score)
        score, needs_manual = sub.score, sub.needs_manual_grade
    flags = _flags(course, assignment, student)
    if score:
        # Answer stubs left as released but points scored: the student
        # answered elsewhere in the notebook, which is not blank.
        flags = [f for f in flags if f != "blank"]
    if needs_manual:
        flags.append("manual")
    if outcome.get("renamed_from"):
        flags.append("renamed")
    if outcome.get("removed"):
        flags.append("links")
    return GradeResult(
        assignment, student, "graded", score, max_score, sorted(flags)
    )


def cell_scores(course, assignment, student):
    """Points of each autograded test cell of one submission.

    Returns
    -------
    dict
        grade_id -> score (float), for every graded cell of the
        assignment's notebooks; empty when the submission has no grades.
    """
    from nbgrader.api import MissingEntry

    with _gradebook(course) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return {}
        return {
            grade.name: float(grade.score)
            for nb in sub.notebooks
            for grade in nb.grades
        }


def default_workers():
    """One grading worker per CPU core, plus one.

    A worker spends part of each submission waiting: for its kernel to
    start and answer, for the out-of-kernel interpreter. With one worker
    per core the cores idle then; the extra worker fills those gaps (on 2
    cores, 40 submissions took 20 s instead of 25 s).
    """
    return (os.cpu_count() or 1) + 1


def autograde(
    course,
    assignment,
    students=None,
    progress=True,
    workers=None,
    force=False,
):
    """Autograde every submission of ``assignment`` (or only ``students``).

    Submissions are graded side by side by ``workers`` processes, each
    running student code in its own sandbox. One student's failure never
    stops the class: a submission that cannot be graded is reported with
    status ``failed`` and the reason. The gradebook is backed up first
    (see :func:`backup_gradebook`).

    A submission graded before, unchanged since, with the same source
    notebook and settings, is not graded again unless ``force`` is set:
    an interrupted run picks up where it stopped, and a second run
    changes nothing.

    Parameters
    ----------
    workers : int or None
        Processes grading at once; None means :func:`default_workers`.
    force : bool
        Grade every submission again, even unchanged ones.

    Returns
    -------
    list of GradeResult
        One per student, in the order of ``students`` (or by name).

    Raises
    ------
    CourseError
        If the assignment is unknown or not released, or student code
        cannot be sandboxed here and ``course.unsafe`` is not set.
    """
    from .sandbox import require

    course.check_assignment(assignment)
    if not require(course.unsafe):
        log.warning(
            "grading WITHOUT a sandbox (--unsafe): student code runs with "
            "your rights"
        )
    with _gradebook(course) as gb:
        known = {a.name for a in gb.assignments}
    if assignment not in known:
        where = ""
        if course.workspace is not None:
            where = f" --grading-dir {course.grading_dir}"
        raise CourseError(
            f"{assignment!r} is not in the gradebook yet; release it first "
            f"with `course release {assignment}{where}`."
        )
    students = list(students or submitted_students(course, assignment))
    with _exclusive(course):
        return _autograde_locked(
            course, assignment, students, progress, workers, force
        )


@contextlib.contextmanager
def _exclusive(course):
    """Hold the grading folder's lock: one autograde run at a time."""
    course.grading_dir.mkdir(parents=True, exist_ok=True)
    with open(course.grading_dir / ".autograde.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CourseError(
                f"another `course autograde` is running on "
                f"{course.grading_dir}; wait for it to finish (two runs "
                f"would grade the same students and overwrite each "
                f"other's logs)."
            ) from None
        yield


def _autograde_locked(course, assignment, students, progress, workers, force):
    backup_gradebook(course, prefix=AUTO_PREFIX, keep=BACKUPS_KEPT)
    logs = course.grading_dir / "logs" / assignment
    logs.mkdir(parents=True, exist_ok=True)
    results, todo = {}, []
    for student in students:
        if not force and _up_to_date(course, assignment, student):
            results[student] = _result_from_gradebook(
                course, assignment, student
            )
            log.info(
                "%s %s: unchanged since graded, kept", assignment, student
            )
        else:
            todo.append(student)
    workers = max(1, min(workers or default_workers(), len(todo) or 1))
    bar = tqdm(
        total=len(todo),
        desc=f"autograde {assignment}",
        unit="student",
        disable=None if progress else True,
    )
    with logging_redirect_tqdm(), bar:
        for result in _grade_all(course, assignment, todo, workers):
            results[result.student] = result
            _log_result(result)
            bar.update(1)
    return [results[s] for s in students]


#: Automatic gradebook backups kept before each autograde run.
BACKUPS_KEPT = 10


def _grade_all(course, assignment, students, workers):
    """Yield each student's result as soon as it is known."""
    if workers == 1 or len(students) <= 1:
        yield from _grade_serially(course, assignment, students)
        return
    context = _worker_context()
    slots = context.Queue()
    for slot in range(workers):
        slots.put(slot)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(slots, os.getpid()),
    )
    try:
        with _ctrl_c_deferred():
            # Submitting starts the workers; one started while Ctrl-C
            # unwinds would be missed by the kill below and print a
            # traceback once the grader is gone.
            futures = {
                pool.submit(_grade_in_worker, course, assignment, s): s
                for s in students
            }
        broken = []
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                # A worker died (the kernel's out-of-memory killer, say) and
                # took the pool down; its students are graded again below.
                broken.append(futures[future])
        for student in sorted(broken):
            yield _grade_alone(course, assignment, student)
    except BaseException:
        # Interrupted (Ctrl-C): stop the workers now. A submission they
        # were grading keeps the status "grading" and is graded again by
        # the next run; finished ones are kept.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@contextlib.contextmanager
def _ctrl_c_deferred():
    """Hold a Ctrl-C back until the block is done, then raise it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = []
    previous = signal.signal(signal.SIGINT, lambda *_: held.append(1))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt


def _grade_serially(course, assignment, students):
    """Grade in this process; Ctrl-C stops after recording the student.

    nbgrader turns an interrupt inside its run into a failed notebook and
    carries on, so the interrupt is noted here and raised again once the
    student's run is over: that student counts as not graded (the next
    run grades them), and the rest are left for the next run.
    """
    api = course.api()
    logs = course.grading_dir / "logs" / assignment
    interrupted = []

    def on_interrupt(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    def unraisable(info):
        # The interrupt can land where Python cannot raise it (a weakref
        # callback, a __del__): it is noted all the same, so say nothing.
        if info.exc_type is not KeyboardInterrupt or not interrupted:
            sys.__unraisablehook__(info)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if in_main else None
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        for student in students:
            result = _grade_one(course, api, assignment, student, logs)
            if interrupted:
                _record(
                    course,
                    assignment,
                    student,
                    status="grading",
                    message="grading was interrupted; run `course "
                    "autograde` again",
                    fingerprint="",
                )
                raise KeyboardInterrupt
            yield result
    finally:
        sys.unraisablehook = previous_hook
        if in_main:
            signal.signal(signal.SIGINT, previous)


def _grade_alone(course, assignment, student):
    """Grade one student in a worker of its own, after a pool broke.

    If this worker dies too, the student is the cause: they alone get
    ``failed``.
    """
    context = _worker_context()
    slots = context.Queue()
    slots.put(0)
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=context,
        initializer=_start_worker,
        initargs=(slots, os.getpid()),
    ) as pool:
        try:
            return pool.submit(
                _grade_in_worker, course, assignment, student
            ).result()
        except BrokenProcessPool as err:
            message = (
                f"the grading process died ({type(err).__name__}); the "
                f"submission may use more memory than the machine has"
            )
            _record(
                course, assignment, student, status="failed", message=message
            )
            return _result_from_gradebook(course, assignment, student)


_WORKER = {}


def _worker_context():
    """How grading workers are started: forked from a clean server process.

    The server imports this module (and with it nbgrader and nbconvert,
    about two seconds) once per grading process; every worker is a fork of
    it, ready at once. Unlike a fork of the grader itself, the server has
    no threads and no open gradebook. It ignores Ctrl-C from its start
    (while it imports, a Ctrl-C would print an import's traceback); each
    worker watches the grader and stops with it (see
    :func:`_die_with_grader`).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    if threading.current_thread() is threading.main_thread():
        # A signal ignored at exec stays ignored in the new interpreter.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            multiprocessing.forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGINT, previous)
    return context


def _start_worker(slots, grader):
    """Set up a grading worker: its slot, and no Ctrl-C of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_grader(grader)
    _WORKER["slot"] = slots.get()
    logging.getLogger().setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*not in session")
    warnings.filterwarnings("ignore", message="Cell is missing an id")


def _die_with_grader(grader):
    """Kill this worker as soon as the grader process ``grader`` is gone.

    An orphaned worker would go on grading and writing to the gradebook
    while the next run grades the same students, and it would keep the
    fork server alive. The worker's parent is the fork server, not the
    grader, so a thread watches the grader itself: through a pid file
    descriptor where Linux has them, else by asking every half second.
    Its kernels run under bubblewrap's ``--die-with-parent`` and go too.
    """
    try:
        handle = os.pidfd_open(grader)
    except ProcessLookupError:  # the grader died before we got here
        os._exit(1)
    except (AttributeError, OSError):
        handle = None

    def watch():
        if handle is not None:
            select.select([handle], [], [])
        else:
            while _running(grader):
                time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-grader", daemon=True).start()


def _running(pid):
    """Whether process ``pid`` exists (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


def _grade_in_worker(course, assignment, student):
    course = replace(course, slot=_WORKER.get("slot", 0))
    api = _WORKER.get("api")
    if api is None:
        api = _WORKER["api"] = course.api()
    logs = course.grading_dir / "logs" / assignment
    return _grade_one(course, api, assignment, student, logs)


def _fingerprint(course, assignment, student):
    """A digest of everything that decides a submission's grade."""
    digest = hashlib.sha256()
    folder = course.submitted_dir / student / assignment
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(path.read_bytes())
    for path in sorted((course.source_dir / assignment).glob("*.ipynb")):
        digest.update(path.read_bytes())
    settings = (course.config().Execute.get("timeout"), course.unsafe)
    digest.update(repr(settings).encode())
    return digest.hexdigest()


def _up_to_date(course, assignment, student):
    from nbgrader.api import MissingEntry

    outcome = _outcome(course, assignment, student)
    if outcome.get("status") != "graded":
        return False
    with _gradebook(course) as gb:
        try:
            gb.find_submission(assignment, student)
        except MissingEntry:
            return False
    if not (course.autograded_dir / student / assignment).is_dir():
        return False
    return outcome.get("fingerprint") == _fingerprint(
        course, assignment, student
    )


def _remove_links(folder):
    """Delete symbolic links and special files from a submission.

    A link to another student's folder, a solution, the gradebook or
    ``/dev/zero`` would otherwise be followed (as the grader) when
    nbgrader copies the submission into the sandbox's view. A submission
    holds regular files and folders only.

    Returns
    -------
    list of str
        The entries removed, relative to ``folder``.
    """
    removed = []
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            removed.append(str(path.relative_to(folder)))
            path.unlink()
    return sorted(removed)


def _grade_one(course, api, assignment, student, logs):
    """Autograde one submission; whatever happens, return its result."""
    log_file = logs / f"{student}.log"
    try:
        removed = _remove_links(course.submitted_dir / student / assignment)
        if removed:
            log.warning(
                "%s %s: removed links and special files: %s",
                assignment,
                student,
                ", ".join(removed),
            )
            _record(course, assignment, student, removed=removed)
        fingerprint = _fingerprint(course, assignment, student)
        # Until this run ends, the submission counts as not graded: an
        # interruption here must never leave an old score standing.
        _record(
            course,
            assignment,
            student,
            status="grading",
            message="grading was interrupted; run `course autograde` again",
            fingerprint="",
        )
        outcome = api.autograde(assignment, student, force=True, create=True)
        text = (outcome.get("log") or "") + (outcome.get("error") or "")
        log_file.write_text(text)
        if outcome.get("success", False):
            _record(
                course,
                assignment,
                student,
                status="graded",
                message="",
                fingerprint=fingerprint,
            )
        else:
            reason = _failure_reason(course, assignment, text)
            _record(
                course,
                assignment,
                student,
                status="failed",
                message=f"{reason} (log: {_shown(course, log_file)})",
            )
        return _result_from_gradebook(course, assignment, student)
    except Exception as err:  # noqa: BLE001 - one student never stops a class
        log_file.write_text(f"{type(err).__name__}: {err}\n")
        message = (
            f"grading stopped with {type(err).__name__}: {err} "
            f"(log: {_shown(course, log_file)})"
        )
        _record(course, assignment, student, status="failed", message=message)
        try:
            return _result_from_gradebook(course, assignment, student)
        except Exception:  # noqa: BLE001 - the gradebook itself is the problem
            return GradeResult(
                assignment, student, "failed", None, 0.0, message=message
            )


def _log_result(result):
    score = "-" if result.score is None else f"{result.score:g}"
    extra = f" [{', '.join(result.flags)}]" if result.flags else ""
    msg = f": {result.message}" if result.message else ""
    log.info(
        "%s %s: %s %s/%g%s%s",
        result.assignment,
        result.student,
        result.status,
        score,
        result.max_score,
        extra,
        msg,
    )


def generate_feedback(course, assignment, students=None, progress=True):
    """Write one HTML feedback file per autograded student.

    The feedback shows the student's notebook with the points of each test
    cell and the messages of failed tests; hidden tests are removed. Only
    submissions whose grades are in the gradebook get feedback: one whose
    last autograde failed, or that has not been graded since a restore,
    is listed in the problems instead, so that no student reads an old or
    missing score.

    Returns
    -------
    written : list of Path
        The feedback files written.
    problems : list of str
        One line per student who got no feedback, with the reason.
    """
    course.check_assignment(assignment)
    graded = course.autograded_dir
    if students is None:
        found = sorted(graded.iterdir()) if graded.is_dir() else []
        students = [p.name for p in found if (p / assignment).is_dir()]
    if not students or not course.db_path.is_file():
        raise CourseError(
            f"no {assignment} submission is autograded in "
            f"{course.grading_dir}: run `course autograde {assignment}` "
            f"first (with the same --grading-dir, if you gave one)."
        )
    api = course.api()
    written, problems = [], []
    for student in tqdm(
        students,
        desc=f"feedback {assignment}",
        unit="student",
        disable=None if progress else True,
    ):
        result = _result_from_gradebook(course, assignment, student)
        if result.status != "graded":
            reason = result.message or "nothing was submitted"
            stale = course.feedback_dir / student / assignment
            if stale.is_dir():
                # Its score is no longer the gradebook's.
                shutil.rmtree(stale)
                reason += "; its old feedback was removed"
            problems.append(f"{student}: {result.status}: {reason}")
            continue
        outcome = api.generate_feedback(assignment, student, force=True)
        if not outcome.get("success", False):
            text = outcome.get("error") or outcome.get("log") or ""
            saved = course.grading_dir / "logs" / assignment
            saved.mkdir(parents=True, exist_ok=True)
            saved = saved / f"{student}.feedback.log"
            saved.write_text(text)
            problems.append(
                f"{student}: failed: {_nbgrader_error(text)} (log: {saved})"
            )
            continue
        files = sorted(
            (course.feedback_dir / student / assignment).glob("*.html")
        )
        written.extend(files)
        log.info("feedback %s %s: %d file(s)", assignment, student, len(files))
    for problem in problems:
        log.error("feedback %s %s", assignment, problem)
    return written, problems


def _nbgrader_error(text):
    """The exception nbgrader's log reports, without its traceback."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("[ERROR]") and i > 0:
            # The traceback's last line names the exception.
            return lines[i - 1]
    return _last_line(text)


CSV_FIELDS = [
    "assignment",
    "student",
    "status",
    "score",
    "max_score",
    "flags",
    "message",
]


def export_grades(course, path=None):
    """Write every student's grade for every assignment to a CSV file.

    Students without a submission get status ``missing`` and an empty
    score, never a silent 0; a submission whose last autograde failed gets
    status ``failed`` and the reason.

    Returns
    -------
    (Path, list of GradeResult)
    """
    path = Path(path or course.grading_dir / "grades.csv")
    if path.resolve() == course.db_path.resolve():
        raise CourseError(
            f"--output {path} is the gradebook itself; give another file "
            f"name, e.g. {course.grading_dir / 'grades.csv'}."
        )
    if path.is_dir():
        raise CourseError(
            f"--output {path} is a folder; give a file name, e.g. "
            f"{path / 'grades.csv'}."
        )
    with _gradebook(course) as gb:
        assignments = sorted(
            (a.name for a in gb.assignments), key=course.order_key
        )
        students = {s.id for s in gb.students}
    # A submission that failed before nbgrader recorded its student still
    # belongs in the grades.
    outcomes = course.grading_dir / "outcomes"
    students.update(p.stem for p in outcomes.glob("*/*.json"))
    students = sorted(students)
    results = []
    for assignment in assignments:
        for student in students:
            results.append(_result_from_gradebook(course, assignment, student))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for result in results:
            writer.writerow({k: _csv_safe(v) for k, v in result.row().items()})
    log.info("grades of %d student(s) written to %s", len(students), path)
    return path, results


def _csv_safe(value):
    """Keep a spreadsheet from reading a cell as a formula."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def format_table(results, notes=None):
    """A plain-text table: assignment, student, score, max, flags.

    ``notes`` maps ``(assignment, student)`` to a text shown in a last
    column (the demo uses it to say what each sample submission is).
    """
    header = ["assignment", "student", "score", "max", "flags"]
    if notes:
        header.append("submission")
    rows = [header]
    for r in results:
        score = "-" if r.score is None else f"{r.score:g}"
        flags = [r.status] if r.status != "graded" else []
        if r.message:
            flags = [f"{r.status}: {r.message}"]
        row = [
            r.assignment,
            r.student,
            score,
            f"{r.max_score:g}",
            ", ".join(flags + r.flags),
        ]
        if notes:
            row.append(notes.get((r.assignment, r.student), ""))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for i, row in enumerate(rows):
        cells = [
            row[j].rjust(widths[j]) if j in (2, 3) else row[j].ljust(widths[j])
            for j in range(len(header))
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- gradebook backups -------------------------------------------------------

#: Tables every nbgrader gradebook has; a file without them is not one.
GRADEBOOK_TABLES = {"assignment", "student", "submitted_assignment", "grade"}


def _check_gradebook_file(path):
    """Raise ``CourseError`` unless ``path`` is a sound nbgrader gradebook."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"no gradebook file at {path}")
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        ) as db:
            check = db.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {
                row[0]
                for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'"
                )
            }
    except sqlite3.DatabaseError as err:
        raise CourseError(
            f"{path} is not a readable SQLite database ({err}); pick "
            f"another backup."
        ) from err
    if check != "ok":
        raise CourseError(f"{path} is damaged: {check}; pick another backup.")
    missing = GRADEBOOK_TABLES - tables
    if missing:
        raise CourseError(
            f"{path} is not an nbgrader gradebook: it lacks the tables "
            f"{sorted(missing)}."
        )


def _copy_database(source, target):
    """Copy an SQLite database consistently, even while it is in use."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(partial)) as dst,
    ):
        src.backup(dst)
    os.replace(partial, target)


#: Name prefixes of the backups made for you: before each autograde run
#: (the newest BACKUPS_KEPT are kept) and before a restore (all kept).
AUTO_PREFIX = "auto-"
RESTORE_PREFIX = "before-restore-"


def backup_gradebook(course, path=None, prefix="", keep=None):
    """Copy the gradebook to ``path`` or to ``<grading>/backups/``.

    Parameters
    ----------
    path : path or None
        Where to write the copy; None picks a time-stamped name in the
        backups folder: ``<prefix>gradebook-<date>-<time>.db``.
    prefix : str
        Start of the time-stamped name: "" for a backup asked for by
        hand, :data:`AUTO_PREFIX` or :data:`RESTORE_PREFIX` for the ones
        the grader makes.
    keep : int or None
        Keep only this many backups with this prefix (the oldest go), and
        skip the copy when the gradebook has not changed since the newest
        one. Backups with other prefixes are never removed.

    Returns
    -------
    Path or None
        The backup written (or the unchanged newest one), or None when
        there is no gradebook yet.
    """
    if not course.db_path.is_file():
        return None
    folder = course.grading_dir / "backups"
    if path is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"{prefix}gradebook-{stamp}.db"
        n = 1
        while path.exists():
            n += 1
            path = folder / f"{prefix}gradebook-{stamp}-{n}.db"
    path = Path(path)
    if path.is_dir():
        raise CourseError(
            f"{path} is a folder; give a file name, e.g. "
            f"{path / 'gradebook.db'}"
        )
    earlier = sorted(folder.glob(f"{prefix}gradebook-*.db")) if keep else []
    try:
        _copy_database(course.db_path, path)
    except sqlite3.DatabaseError as err:
        # A damaged gradebook is still worth keeping as it is.
        log.warning(
            "the gradebook is not a sound database (%s); copying its bytes",
            err,
        )
        shutil.copyfile(course.db_path, path)
    if earlier and _same_bytes(earlier[-1], path):
        path.unlink()
        return earlier[-1]
    if keep:
        for stale in sorted(folder.glob(f"{prefix}gradebook-*.db"))[:-keep]:
            stale.unlink()
    log.info("gradebook backed up to %s", _shown(course, path))
    return path


def _same_bytes(a, b):
    return (
        hashlib.sha256(a.read_bytes()).digest()
        == hashlib.sha256(b.read_bytes()).digest()
    )


def restore_gradebook(course, path):
    """Replace the gradebook with the backup at ``path``.

    The backup is checked first (an SQLite file that passes its integrity
    check and has nbgrader's tables); the current gradebook is itself
    backed up before it is replaced, so a restore can be undone.

    Returns
    -------
    Path or None
        The backup of the gradebook that was replaced.
    """
    _check_gradebook_file(path)
    previous = backup_gradebook(course, prefix=RESTORE_PREFIX)
    _copy_database(path, course.db_path)
    # The restored grades may be older than the submissions: the next
    # autograde must grade them again instead of keeping them.
    for record in (course.grading_dir / "outcomes").glob("*/*.json"):
        _record(course, record.parent.name, record.stem, fingerprint="")
    log.info(
        "gradebook restored from %s; the next `course autograde` grades "
        "every submission again",
        path,
    )
    return previous
