"""Run student code inside a bubblewrap sandbox.

Autograding runs code that students wrote, with whatever it does. Every
process that runs such code (the notebook's kernel, the interpreter of
the out-of-kernel tests) is started through :func:`command`, which wraps
it in bubblewrap (``bwrap``):

* the file system is read-only and holds only what Python needs: the
  system's ``/usr``, the Python installation, the course's environment
  and ``lecture_lib``; the gradebook, the solutions, the hidden tests and
  other students' submissions are not there at all;
* the student's own submission folder is visible read-only, and
  ``/tmp`` and the home folder are small private scratch folders that
  vanish with the sandbox;
* there is no network (a private, empty network namespace), no view of
  the grader's processes (a private process namespace) and an empty
  environment apart from a few variables set here;
* resource limits cap the address space, the CPU time, the size of a
  written file and, when the grader runs as root and can drop to an
  unprivileged user inside, the number of processes.

Without bubblewrap the grader refuses to run student code unless the
instructor asks for it explicitly (``--unsafe``): see :func:`require`.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .course import CourseError

__all__ = [
    "Limits",
    "SandboxUnavailable",
    "available",
    "command",
    "require",
    "sandbox_uid",
]

#: Unprivileged user ids the sandbox runs as when the grader is root; one
#: per worker, so that one student's process limit never counts another's.
#: Two grading runs at once on one machine should each set
#: ``COURSE_SANDBOX_FIRST_UID`` to a range of their own (the tests do).
FIRST_UID = 61000
FIRST_UID_VARIABLE = "COURSE_SANDBOX_FIRST_UID"
#: Where the student's home folder is inside the sandbox.
HOME = "/home/student"
GiB = 1024**3
MiB = 1024**2


class SandboxUnavailable(CourseError):
    """Student code cannot be sandboxed here; the message says why."""


@dataclass(frozen=True)
class Limits:
    """Resource caps for one sandboxed process tree.

    ``memory`` caps the address space of each process, not the memory
    actually used: an idle numpy kernel reserves a few hundred MB, so
    leave headroom. ``cpu_seconds`` bounds the CPU time of each process,
    which stops a runaway loop that ignores interrupts. ``processes``
    counts processes and threads of the sandbox user; it is only enforced
    when the grader runs as root and can drop to a user of its own.
    """

    memory: int = 3 * GiB
    cpu_seconds: int = 300
    processes: int = 96
    file_size: int = 64 * MiB
    scratch: int = 64 * MiB


def sandbox_uid(slot=0):
    """The user id for worker ``slot`` when running as root, else None."""
    if os.geteuid() != 0:
        return None
    first = os.environ.get(FIRST_UID_VARIABLE, "")
    if not first.isdigit() or int(first) < 1000:
        first = FIRST_UID
    return int(first) + int(slot)


@lru_cache(maxsize=1)
def _probe():
    """(ok, reason): can bubblewrap start a trivial sandbox here?"""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, (
            "bubblewrap (the `bwrap` program) is not installed; install it "
            "with `apt-get install bubblewrap` (Debian and Ubuntu) or your "
            "system's package manager"
        )
    argv = command([sys.executable, "-c", "pass"], limits=Limits())
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"bubblewrap did not start a sandbox: {err}"
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()
        return False, (
            f"bubblewrap is installed but cannot create a sandbox here "
            f"({detail or f'exit status {done.returncode}'}); it needs user "
            f"namespaces, or to be run as root"
        )
    return True, ""


def available():
    """True when student code can be sandboxed on this machine."""
    return _probe()[0]


def require(unsafe=False):
    """Raise unless student code can be sandboxed, or ``unsafe`` is set.

    Returns True when the sandbox will be used, False when ``unsafe``
    lets student code run without it.
    """
    ok, reason = _probe()
    if ok:
        return True
    if unsafe:
        return False
    raise SandboxUnavailable(
        f"refusing to run student code without a sandbox: {reason}. "
        f"Unsandboxed student code runs with your rights and can read or "
        f"change the gradebook, the solutions and other students' work. "
        f"Pass --unsafe to grade anyway, only for submissions you trust."
    )


def _python_roots():
    """Folders the course's Python needs: its installation and the venv."""
    roots = {
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix).resolve(),
        Path(os.path.realpath(sys.executable)).parent.parent,
    }
    return sorted(roots)


def _system_binds():
    """Arguments that show the system's /usr and its top-level links."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib32", "lib64", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    # The dynamic loader's cache only lists library folders.
    if Path("/etc/ld.so.cache").is_file():
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def _parents(paths):
    """Arguments creating every parent folder of ``paths``, readable.

    bubblewrap creates missing parents of a mount point readable by its
    owner only, which an unprivileged user inside cannot enter.
    """
    made, args = set(), []
    for path in paths:
        for parent in reversed(Path(path).parents):
            key = str(parent)
            if key in ("/", "/usr") or key in made:
                continue
            made.add(key)
            args += ["--perms", "0755", "--dir", key]
    return args


def command(
    argv,
    *,
    read_only=(),
    writable=(),
    workdir=None,
    env=None,
    limits=None,
    uid=None,
):
    """The command line that runs ``argv`` inside the sandbox.

    Parameters
    ----------
    argv : list of str
        The program and its arguments, as they would run outside.
    read_only : iterable of path
        Extra files or folders visible read-only at the same path (the
        student's submission folder, ``lecture_lib``).
    writable : iterable of path
        Folders visible read-write at the same path (the kernel's
        private connection folder). They should belong to ``uid``.
    workdir : path or None
        The working folder inside; it must be one of the visible paths.
    env : dict or None
        Extra environment variables; the environment is otherwise empty
        apart from HOME, PATH, the locale and one BLAS thread.
    limits : Limits or None
        Resource caps; None uses the defaults.
    uid : int or None
        The user to run as inside, when the grader is root (see
        :func:`sandbox_uid`); None runs as the calling user in a user
        namespace.

    Returns
    -------
    list of str
    """
    limits = limits or Limits()
    bwrap = shutil.which("bwrap") or "bwrap"
    venv_bin = str(Path(sys.prefix) / "bin")
    variables = {
        "HOME": HOME,
        "PATH": f"{venv_bin}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "IPYTHONDIR": f"{HOME}/.ipython",
        "MPLCONFIGDIR": f"{HOME}/.config/matplotlib",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    variables.update(env or {})
    visible = [
        str(p)
        for p in [*_python_roots(), *map(Path, read_only)]
        if not Path(p).is_relative_to("/usr")
    ]
    # A folder mounted after one of its sub-folders would hide it.
    visible.sort(key=lambda p: len(Path(p).parts))
    rw = [str(p) for p in writable]
    args = [
        "prlimit",
        f"--as={limits.memory}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_size}",
        "--core=0",
    ]
    if uid is not None:
        args.append(f"--nproc={limits.processes}")
    args += ["--", bwrap, "--die-with-parent"]
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-net"]
    args += ["--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if uid is None:
        args.append("--unshare-user")
    args += _system_binds()
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(limits.scratch), "--perms", "1777"]
    args += ["--tmpfs", "/tmp"]
    args += _parents([*visible, *rw, HOME])
    args += ["--size", str(limits.scratch), "--perms", "0777"]
    args += ["--tmpfs", HOME]
    for path in visible:
        args += ["--ro-bind", path, path]
    for path in rw:
        args += ["--bind", path, path]
    args += ["--chdir", str(workdir or HOME), "--clearenv"]
    for key, value in sorted(variables.items()):
        args += ["--setenv", key, str(value)]
    args.append("--")
    if uid is not None:
        args += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
    return args + list(argv)
