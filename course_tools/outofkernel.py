"""Run an assignment's tests where the student's code cannot reach them.

In a notebook kernel, a test and the code it tests share one interpreter:
an answer can patch ``np.allclose``, install an input transformer that
drops ``assert`` statements, or read the test's source from ``In``. Here
the two are split:

* the student's cells (answers, and cells the student added) run in a
  fresh interpreter of their own, inside the sandbox
  (:mod:`course_tools.answer_runner`), together with the instructor's
  locked set-up cells, exactly as the notebook ran them;
* the test cells, visible and hidden parts alike, run here in the
  grader. Every name the student's cells defined is stood in for by a
  :class:`Remote` proxy: calling it sends the arguments across as plain
  data, runs the student's function there, and brings back the result as
  plain data (numbers, strings, lists, dicts, numpy arrays). Comparisons,
  reference values and ``np.allclose`` all happen here.

Nothing the student's code does, in the kernel or in its own interpreter,
changes what runs here. Its results, the warnings it raised and the
arguments it modified in place are all it can send back.
"""

import ast
import base64
import builtins
import contextlib
import io
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import sandbox
from .answer_runner import array_spec

__all__ = [
    "Remote",
    "Runner",
    "RunnerFailure",
    "StudentCodeError",
    "Verdict",
    "forbidden_in_source",
    "run_tests",
]

RUNNER = Path(__file__).with_name("answer_runner.py")
#: Largest message read from the student's side; tests exchange small
#: arrays, and a bigger reply is an attempt to exhaust the grader.
MAX_MESSAGE = 32 * 1024 * 1024
#: Random generators a test may pass (their state crosses as plain data).
BIT_GENERATORS = {"PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"}
NUMERIC_KINDS = "biufc"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
#: How often the answer interpreter may be restarted after it hung or
#: died during one submission's tests.
MAX_RESTARTS = 2
#: How many cells that hang or stop Python are left out before the answer
#: interpreter gives up (each costs a restart that re-runs the cells).
MAX_SKIPPED = 3
BUILTIN_NAMES = frozenset(dir(builtins))
#: Exceptions from student code re-raised here as themselves; anything
#: else arrives as StudentCodeError.
PASSED_EXCEPTIONS = {
    name
    for name in dir(builtins)
    if isinstance(getattr(builtins, name), type)
    and issubclass(getattr(builtins, name), Exception)
}


class StudentCodeError(Exception):
    """The student's code raised an exception that is not a builtin."""


class RunnerFailure(Exception):
    """The answer interpreter hung, died or sent something unreadable."""


# -- plain data across the boundary ---------------------------------------


def _from_array(spec):
    dtype = np.dtype(spec["dtype"])
    if dtype.kind not in NUMERIC_KINDS or dtype.hasobject:
        raise RunnerFailure(f"unexpected array dtype {dtype}")
    shape = [int(n) for n in spec["shape"]]
    raw = base64.b64decode(spec["data"], validate=True)
    if len(raw) != int(np.prod(shape)) * dtype.itemsize:
        raise RunnerFailure("array data does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def encode(value, depth=0):
    """Plain data for an argument sent to the student's code."""
    if depth > 20:
        raise TypeError("arguments nest too deeply to send")
    if isinstance(value, Remote):
        return {"__handle__": value._handle}
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) is int:
        return value if abs(value) < 2**63 else {"__int__": str(value)}
    if type(value) is float:
        return {"__float__": repr(value)}
    if type(value) is complex:
        return {"__complex__": [repr(value.real), repr(value.imag)]}
    if isinstance(value, np.generic) and value.dtype.kind in NUMERIC_KINDS:
        return {"__scalar__": array_spec(np.asarray(value))}
    if isinstance(value, np.ndarray) and value.dtype.kind in NUMERIC_KINDS:
        return {"__ndarray__": array_spec(value)}
    if type(value) is np.random.Generator:
        return {"__rng__": value.bit_generator.state}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict) and all(type(k) is str for k in value):
        return {
            "__dict__": {k: encode(v, depth + 1) for k, v in value.items()}
        }
    raise TypeError(
        f"cannot send a {type(value).__name__} to the student's code; "
        f"tests may pass numbers, strings, numpy arrays, random generators "
        f"and lists, tuples or dicts of these"
    )


def decode(data, runner):
    """The grader-side value for plain data from the student's side."""
    if isinstance(data, list):
        return [decode(v, runner) for v in data]
    if data is None or isinstance(data, (bool, int, str)):
        return data
    if not isinstance(data, dict):
        raise RunnerFailure(f"unexpected value of type {type(data).__name__}")
    if "__float__" in data:
        return float(data["__float__"])
    if "__int__" in data:
        return int(data["__int__"])
    if "__complex__" in data:
        re_, im = data["__complex__"]
        return complex(float(re_), float(im))
    if "__ndarray__" in data:
        return _from_array(data["__ndarray__"])
    if "__scalar__" in data:
        return _from_array(data["__scalar__"])[()]
    if "__rng__" in data:
        state = data["__rng__"]
        name = str(state.get("bit_generator"))
        if name not in BIT_GENERATORS:
            raise RunnerFailure(f"unexpected random generator {name[:40]!r}")
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    if "__tuple__" in data:
        return tuple(decode(v, runner) for v in data["__tuple__"])
    if "__dict__" in data:
        return {str(k): decode(v, runner) for k, v in data["__dict__"].items()}
    if "__handle__" in data:
        return Remote(runner, int(data["__handle__"]), data)
    raise RunnerFailure(f"unexpected value {sorted(data)[:5]}")


def _copy_back(original, after, runner):
    """Apply in-place changes the student's code made to arguments."""
    if after is None:
        return
    if isinstance(original, (list, tuple)) and isinstance(after, list):
        for orig, new in zip(original, after, strict=False):
            _copy_back(orig, new, runner)
    elif isinstance(original, dict) and isinstance(after, dict):
        for key, new in after.items():
            if key in original:
                _copy_back(original[key], new, runner)
    elif isinstance(original, np.ndarray) and isinstance(after, dict):
        new = decode(after, runner)
        if (
            isinstance(new, np.ndarray)
            and new.shape == original.shape
            and new.dtype == original.dtype
            and original.flags.writeable
        ):
            np.copyto(original, new)
    elif type(original) is np.random.Generator and isinstance(after, dict):
        if "__rng__" in after:
            original.bit_generator.state = after["__rng__"]


class Remote:
    """A function, class or object that lives in the student's interpreter.

    Calling it or reading an attribute runs in that interpreter; what
    comes back is plain data, or another ``Remote``.
    """

    __slots__ = ("_runner", "_handle", "_info")

    def __init__(self, runner, handle, info):
        self._runner = runner
        self._handle = handle
        self._info = {
            "type": str(info.get("type") or "object"),
            "name": info.get("name"),
            "callable": bool(info.get("callable")),
        }

    def __call__(self, *args, **kwargs):
        return self._runner.call(self, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._runner.getattr(self, name)

    @property
    def __name__(self):
        return self._info["name"] or self._info["type"]

    def __repr__(self):
        return f"<student's {self._info['type']} {self.__name__}>"


# -- the answer interpreter -----------------------------------------------


@dataclass
class Verdict:
    """The outcome of one test cell run here.

    ``where`` is ``"visible"`` or ``"hidden"``: the part of the test cell
    that failed, so that feedback quotes messages of visible tests only.
    """

    passed: bool
    where: str = ""
    error: str = ""
    message: str = ""

    def feedback(self):
        """What the student may read about this verdict."""
        if self.passed:
            return ""
        if self.where == "hidden":
            return (
                f"a hidden test of this part failed ({self.error}); the "
                f"hidden tests try more cases than the visible ones"
            )
        if self.message:
            return f"{self.error}: {self.message}"
        return self.error


class Runner:
    """The student's cells, running in a sandboxed interpreter of their own.

    Parameters
    ----------
    cells : list of str
        Code to run, in order: the instructor's set-up cells and the
        student's cells, as in the notebook.
    workdir : path
        The student's submission folder (read-only inside).
    names : list of str
        The names the tests may call: those the exercise's answer cells
        define. Only these come across, and never a builtin's name, so a
        student's ``range`` or ``len`` cannot replace the grader's.
    cell_timeout : float
        Seconds each cell, and each test cell's calls together, may take.
    use_sandbox : bool
        False runs the interpreter without bubblewrap (``--unsafe``).
    slot : int
        The worker number, which picks the sandbox's user.
    read_only : list of path
        Extra paths the interpreter may read (``lecture_lib``).
    """

    def __init__(
        self,
        cells,
        workdir,
        names=(),
        cell_timeout=10.0,
        use_sandbox=True,
        slot=0,
        read_only=(),
        limits=None,
    ):
        self.cells = list(cells)
        self.wanted = [n for n in names if n not in BUILTIN_NAMES]
        self.workdir = str(workdir)
        self.cell_timeout = float(cell_timeout)
        self.use_sandbox = use_sandbox
        self.slot = slot
        self.read_only = [str(p) for p in read_only]
        self.limits = limits or sandbox.Limits()
        self.proc = None
        self.deadline = None
        #: index -> why the cell was left out ("timeout" or "exited")
        self.skipped = {}
        #: index -> the exception a cell raised (type and message)
        self.cell_errors = {}
        self.names = {}

    # process handling

    def _spawn(self):
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        argv = [sys.executable, "-I", str(RUNNER), str(req_r), str(rep_w)]
        if self.use_sandbox:
            argv = sandbox.command(
                argv,
                read_only=[str(RUNNER), self.workdir, *self.read_only],
                workdir=self.workdir,
                limits=self.limits,
                uid=sandbox.sandbox_uid(self.slot),
            )
        env = None
        if not self.use_sandbox:
            env = {**os.environ, "MPLBACKEND": "Agg"}
        try:
            self.proc = subprocess.Popen(
                argv,
                pass_fds=(req_r, rep_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(req_r)
            os.close(rep_w)
        self._out = req_w
        self._in = rep_r
        self._buffer = b""
        os.set_blocking(self._out, False)

    def close(self):
        """Stop the interpreter and everything it started."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            os.close(self._out)
        with contextlib.suppress(OSError):
            os.close(self._in)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.proc = None

    # framing

    def _remaining(self):
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def _send(self, message):
        data = json.dumps(message).encode()
        data = struct.pack(">Q", len(data)) + data
        view = memoryview(data)
        while view:
            remaining = self._remaining()
            _, ready, _ = select.select([], [self._out], [], remaining)
            if not ready:
                raise RunnerFailure("timeout")
            try:
                sent = os.write(self._out, view)
            except (BrokenPipeError, OSError):
                raise RunnerFailure("exited") from None
            view = view[sent:]

    def _read(self, n):
        while len(self._buffer) < n:
            ready, _, _ = select.select([self._in], [], [], self._remaining())
            if not ready:
                raise RunnerFailure("timeout")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RunnerFailure("exited")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _recv(self):
        (size,) = struct.unpack(">Q", self._read(8))
        if size > MAX_MESSAGE:
            raise RunnerFailure("sent a message larger than 32 MiB")
        try:
            return json.loads(self._read(size))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RunnerFailure(f"sent unreadable data ({err})") from None

    # start-up

    def start(self):
        """Run the cells; leave out any cell that hangs or kills Python.

        Returns the names the cells defined, as plain data or handles.
        """
        for _ in range(min(len(self.cells), MAX_SKIPPED) + 1):
            self.close()
            self._spawn()
            cells = [
                "" if i in self.skipped else src
                for i, src in enumerate(self.cells)
            ]
            self.deadline = time.monotonic() + self.cell_timeout
            current = None
            try:
                self._send({"cells": cells, "names": self.wanted})
                while True:
                    event = self._recv()
                    if event.get("event") == "cell":
                        current = int(event["index"])
                        self.deadline = time.monotonic() + self.cell_timeout
                    elif event.get("event") == "ready":
                        break
                    else:
                        raise RunnerFailure("unexpected start-up message")
            except RunnerFailure as err:
                if current is None or current in self.skipped:
                    self.close()
                    raise RunnerFailure(
                        f"the answer interpreter did not start ({err})"
                    ) from None
                self.skipped[current] = str(err)
                continue
            self.deadline = None
            self.cell_errors = {
                int(k): v for k, v in event.get("errors", {}).items()
            }
            self.names = event.get("names", {})
            return self.names
        raise RunnerFailure(
            f"more than {MAX_SKIPPED} cells hung or stopped the interpreter"
        )

    # requests

    def _request(self, message, args=None):
        if self.proc is None:
            raise RunnerFailure("exited")
        try:
            self._send(message)
            reply = self._recv()
        except RunnerFailure:
            self.close()
            raise
        if not isinstance(reply, dict):
            raise RunnerFailure("sent an unreadable reply")
        if args is not None:
            _copy_back(args, reply.get("after"), self)
        for w in reply.get("warnings", [])[:20]:
            category = getattr(builtins, str(w.get("category")), None)
            if not (
                isinstance(category, type) and issubclass(category, Warning)
            ):
                category = UserWarning
            warnings.warn(str(w.get("message", "")), category, stacklevel=3)
        if "error" in reply:
            err = reply["error"]
            name = str(err.get("type", "Exception"))
            message = str(err.get("message", ""))
            if err.get("builtin") and name in PASSED_EXCEPTIONS:
                error = getattr(builtins, name)(message)
            else:
                error = StudentCodeError(f"{name}: {message}")
            # Its message is the student's: it may carry what their code
            # saw of hidden inputs, so feedback shows its type only.
            error.from_student = True
            raise error
        return decode(reply.get("value"), self)

    def _check(self, remote):
        if remote._runner is not self or self.proc is None:
            raise RunnerFailure("exited")

    def call(self, remote, args, kwargs):
        self._check(remote)
        message = {
            "op": "call",
            "handle": remote._handle,
            "args": encode(list(args)),
            "kwargs": encode(dict(kwargs)),
        }
        return self._request(message, args=[list(args), dict(kwargs)])

    def getattr(self, remote, name):
        self._check(remote)
        return self._request(
            {"op": "getattr", "handle": remote._handle, "name": name}
        )

    def values(self):
        """The student's names as grader-side values (proxies or data)."""
        out = {}
        for name, data in self.names.items():
            try:
                out[name] = decode(data, self)
            except (RunnerFailure, ValueError, TypeError, KeyError):
                continue
        return out


# -- forbidden libraries, found in the source ------------------------------

#: Names that import or run code by name: with them any library is in reach.
DYNAMIC = {
    "__import__",
    "importlib",
    "import_module",
    "exec",
    "eval",
    "compile",
}
#: Modules through which any other module can be imported.
DYNAMIC_MODULES = {"importlib", "builtins"}


#: Cells longer than this are not translated from IPython syntax when
#: read for forbidden imports (the translation is slow on huge cells).
MAX_TRANSLATED = 100_000


def _parse(source):
    try:
        return ast.parse(source)
    except SyntaxError:
        if len(source) > MAX_TRANSLATED:
            return None
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            return ast.parse(TransformerManager().transform_cell(source))
        except (SyntaxError, ImportError):
            return None


def parse_sources(sources):
    """The syntax trees of the student's cells (unparsable ones left out)."""
    return [t for t in (_parse(s) for s in sources) if t is not None]


def forbidden_in_source(
    sources,
    name,
    modules=("lecture_lib", "scipy", "sklearn", "torch", "jax"),
    attributes=(),
    trees=None,
):
    """Names in function ``name`` that reach forbidden libraries.

    The student's cells are read, not run: the function's body, and the
    bodies of the student's functions it calls, are searched for names
    bound by an import of one of ``modules``, for ``attributes``, and for
    dynamic imports (``__import__``, ``importlib``, ``exec``, ``eval``),
    which could reach anything.
    """
    if trees is None:
        trees = parse_sources(sources)
    functions, imported = {}, {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.ClassDef):
                functions.setdefault(node.name, []).append(node)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    imported[bound] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    imported[alias.asname or alias.name] = node.module
    found, seen, todo = set(), set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for fn in functions.get(current, []):
            for node in ast.walk(fn):
                used = None
                if isinstance(node, ast.Name):
                    used = node.id
                elif isinstance(node, ast.Attribute):
                    if node.attr in attributes or node.attr in DYNAMIC:
                        found.add(node.attr)
                    if node.attr == "modules" and isinstance(
                        node.value, ast.Name
                    ):
                        found.add(f"{node.value.id}.modules")
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    mods = [a.name for a in node.names]
                    if isinstance(node, ast.ImportFrom):
                        mods = [node.module or ""]
                    for mod in mods:
                        if mod.split(".")[0] in modules:
                            found.add(mod)
                if used is None:
                    continue
                top = imported.get(used, "").split(".")[0]
                if used in DYNAMIC or top in DYNAMIC_MODULES:
                    found.add(used)
                elif top in modules:
                    found.add(used)
                elif used == "getattr" and attributes:
                    # getattr(rng, "cho" + "ice") reaches any attribute.
                    found.add(used)
                elif used in functions:
                    todo.append(used)
    return sorted(found)


# -- running the tests ----------------------------------------------------


def hidden_lines(source):
    """Line numbers (1-based) inside hidden-test regions of ``source``."""
    lines, inside = set(), False
    for number, line in enumerate(source.splitlines(), start=1):
        if HIDDEN_BEGIN in line:
            inside = True
        elif HIDDEN_END in line:
            inside = False
        if inside or HIDDEN_BEGIN in line or HIDDEN_END in line:
            lines.add(number)
    return lines


def _where(err, filename, source):
    """``"hidden"`` if the failing line of the test is a hidden one."""
    line = None
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None:
        # Failed in code the cell called (a reference defined elsewhere):
        # do not guess, treat it as hidden.
        return "hidden"
    return "hidden" if line in hidden_lines(source) else "visible"


def _forbidden_checker(sources):
    """A stand-in for ``exercise_checks.forbidden_names`` on proxies."""
    trees = parse_sources(sources)

    def forbidden_names(func, modules=None, attributes=()):
        from lecture_lib.exercise_checks import FORBIDDEN_MODULES

        name = getattr(func, "__name__", "")
        return forbidden_in_source(
            sources, name, modules or FORBIDDEN_MODULES, attributes, trees
        )

    return forbidden_names


def run_tests(program, student_sources, runner, skip=()):
    """Run the test program against the student's interpreter.

    Parameters
    ----------
    program : list of (kind, grade_id, source)
        The instructor's cells in notebook order; ``kind`` is ``"setup"``
        (locked set-up code) or ``"test"`` (a test cell with its hidden
        parts).
    student_sources : list of str
        The student's own cells, read for forbidden imports.
    runner : Runner
        Started or not; it is (re)started as needed.
    skip : set of str
        Test cells not to run (they timed out in the kernel already and
        score 0 whatever happens here).

    Returns
    -------
    dict
        grade_id -> :class:`Verdict` for every test cell not skipped.
    """
    from lecture_lib import exercise_checks

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    injected = {}
    checker = _forbidden_checker(student_sources)
    restarts = 0
    verdicts = {}

    def inject():
        for name, value in runner.values().items():
            if name in BUILTIN_NAMES:
                continue
            if isinstance(value, Remote):
                # The name the test calls it by, not the one it reports.
                value._info["name"] = name
            if name not in namespace or namespace[name] is injected.get(name):
                namespace[name] = value
                injected[name] = value

    startup_error = None
    if any(k == "test" and g not in skip for k, g, _ in program):
        try:
            runner.start()
            inject()
        except RunnerFailure as err:
            startup_error = str(err)
    for kind, grade_id, source in program:
        if kind == "test" and grade_id in skip:
            continue
        filename = f"<test cell {grade_id}>" if kind == "test" else "<setup>"
        if kind == "test" and startup_error:
            verdicts[grade_id] = Verdict(
                False, "visible", "AnswerCellsFailed", startup_error
            )
            continue
        if runner.proc is None and kind == "test":
            if restarts >= MAX_RESTARTS:
                verdicts[grade_id] = Verdict(
                    False,
                    "visible",
                    "AnswerCellsFailed",
                    "your code stopped responding too many times",
                )
                continue
            restarts += 1
            try:
                runner.start()
                inject()
            except RunnerFailure as err:
                startup_error = str(err)
                verdicts[grade_id] = Verdict(
                    False, "visible", "AnswerCellsFailed", startup_error
                )
                continue
        runner.deadline = time.monotonic() + runner.cell_timeout
        sink = io.StringIO()
        try:
            with (
                warnings.catch_warnings(),
                contextlib.redirect_stdout(sink),
                contextlib.redirect_stderr(sink),
            ):
                warnings.simplefilter("ignore")
                exec(compile(source, filename, "exec"), namespace)
        except RunnerFailure as err:
            if kind == "setup":
                raise
            reason, name = str(err), "AnswerCrashed"
            if reason == "timeout":
                name = "AnswerTimeout"
                message = (
                    f"your code did not finish within "
                    f"{runner.cell_timeout:g} seconds during this test"
                )
            elif reason == "exited":
                message = "your code stopped Python during this test"
            else:
                message = f"your code's interpreter failed: {reason}"
            verdicts[grade_id] = Verdict(False, "visible", name, message)
        except BaseException as err:  # noqa: BLE001 - a failed test
            if kind == "setup":
                raise RuntimeError(
                    f"the set-up cell {grade_id} failed in the grader: "
                    f"{type(err).__name__}: {err}"
                ) from err
            message = str(err)[:1000]
            if getattr(err, "from_student", False):
                message = "raised by your code (its message is not shown)"
            verdicts[grade_id] = Verdict(
                False,
                _where(err, filename, source),
                type(err).__name__,
                message,
            )
        else:
            if kind == "test":
                verdicts[grade_id] = Verdict(True)
        finally:
            runner.deadline = None
        # The set-up imports forbidden_names; on proxies it must read the
        # student's source instead of their (remote) function objects.
        for key, value in list(namespace.items()):
            if value is exercise_checks.forbidden_names:
                namespace[key] = checker
    return verdicts


def defined_names(sources):
    """Names the top level of ``sources`` defines (functions, classes,
    assigned variables), in order of first definition."""
    names = {}
    for tree in parse_sources(sources):
        for node in tree.body:
            if isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ):
                names[node.name] = None
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else [node.target]
                )
                for target in targets:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Name):
                            names[leaf.id] = None
    return list(names)


def answer_names(source_nb):
    """The names a test may call: what the source's answer cells define.

    These are the cells the student edits (solutions, and unlocked cells
    such as worked examples), read in the instructor's version.
    """
    sources = []
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("locked"):
            continue
        if meta.get("grade") and not meta.get("solution"):
            continue
        sources.append(cell.source)
    return defined_names(sources)


def split_notebook(source_nb, submitted_nb):
    """The grader's program and the answer interpreter's cells.

    ``source_nb`` is the instructor's notebook: its locked code cells that
    are not tests make the set-up, its test cells (with hidden parts) the
    tests. ``submitted_nb`` is the student's notebook as the kernel ran
    it: every code cell except the tests, in order, goes to the answer
    interpreter; locked cells there carry the instructor's source again.

    Returns
    -------
    program : list of (kind, grade_id, source)
    cells : list of str
        What the answer interpreter runs.
    student_sources : list of str
        The cells the student wrote (answers and added cells).
    """
    program, setup_ids, test_ids = [], set(), set()
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade_id"):
            continue
        if meta.get("grade") and not meta.get("solution"):
            program.append(("test", meta["grade_id"], cell.source))
            test_ids.add(meta["grade_id"])
        elif meta.get("locked") and not meta.get("solution"):
            program.append(("setup", meta["grade_id"], cell.source))
            setup_ids.add(meta["grade_id"])
    cells, student_sources = [], []
    for cell in submitted_nb.cells:
        if cell.cell_type != "code":
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in test_ids:
            continue
        cells.append(cell.source)
        if grade_id not in setup_ids:
            student_sources.append(cell.source)
    return program, cells, student_sources
