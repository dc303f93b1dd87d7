"""A kernel manager that starts every kernel inside the sandbox.

nbgrader's ``Execute`` preprocessor hands nbclient a kernel manager class
explicitly, so configuration cannot swap it; :class:`SandboxedExecute` in
:mod:`course_tools.preprocessors` subclasses it to use this one.

The kernel has no network, so it talks to the grader over unix sockets
(jupyter's ``ipc`` transport) in a private folder made for each kernel
and bound into its sandbox. Interrupts are sent as messages: the default,
a SIGINT to the kernel's process group, would reach bubblewrap and end
the sandbox instead of the running cell.
"""

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode

from . import sandbox

__all__ = ["SandboxKernelManager", "LAUNCHES"]

#: Kernels started by this process, sandboxed or not: (sandboxed, cwd).
#: The grader checks it to make sure no notebook ran outside the sandbox
#: because a setting was lost on the way.
LAUNCHES = []


def _load_libc():
    """The C library, for ``prctl``; None where that is not Linux's."""
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()
#: Linux prctl option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def _die_with(parent):
    """A ``preexec_fn`` that ties the kernel's life to process ``parent``.

    The kernel runs in a session of its own, so only the parent-death
    signal ends it when the grading process is killed. bubblewrap sets
    that signal itself, but only once it is running: a grader killed
    between the fork and that moment (Ctrl-C as a kernel starts) would
    leave the kernel running. Set here, right after the fork, and checked
    against the parent's pid, the window is closed.
    """

    def preexec():
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


class SandboxKernelManager(AsyncKernelManager):
    """Start the kernel with ``sandbox.command`` around it."""

    use_sandbox = Bool(
        True, help="Wrap the kernel in bubblewrap (False: --unsafe)."
    ).tag(config=True)
    slot = Integer(0, help="Worker number; picks the sandbox user.").tag(
        config=True
    )
    read_only = List(
        Unicode(), help="Extra paths visible read-only in the sandbox."
    ).tag(config=True)
    memory = Integer(sandbox.Limits.memory).tag(config=True)
    cpu_seconds = Integer(sandbox.Limits.cpu_seconds).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.use_sandbox:
            # unix socket paths are limited to about 107 bytes: keep the
            # folder short, under the system's temporary folder.
            self._runtime = tempfile.mkdtemp(prefix="ck-", dir="/tmp")
            self.transport = "ipc"
            self.connection_file = os.path.join(self._runtime, "k.json")
            self.ip = os.path.join(self._runtime, "s")
        else:
            self._runtime = None

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None and self.use_sandbox:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments=None):
        argv = super().format_kernel_cmd(extra_arguments)
        cwd = self._launch_args.get("cwd")
        LAUNCHES.append((self.use_sandbox, cwd))
        if not self.use_sandbox:
            return argv
        if argv and Path(argv[0]).name.startswith("python"):
            # -P: the submission folder is the working folder; a student's
            # ipykernel_launcher.py there must not run in place of ours.
            argv[0:1] = [sys.executable, "-P"]
        uid = sandbox.sandbox_uid(self.slot)
        if uid is not None:
            os.chown(self._runtime, uid, uid, follow_symlinks=False)
            os.chown(self.connection_file, uid, uid, follow_symlinks=False)
        os.chmod(self._runtime, 0o700)
        read_only = [*self.read_only]
        if cwd:
            read_only.append(cwd)
        env = {"NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION", "")}
        limits = sandbox.Limits(
            memory=self.memory, cpu_seconds=self.cpu_seconds
        )
        return sandbox.command(
            argv,
            read_only=read_only,
            writable=[self._runtime],
            workdir=cwd,
            env={k: v for k, v in env.items() if v},
            limits=limits,
            uid=uid,
        )

    def lock_runtime(self):
        """Make the kernel's folder read-only to it, once it is running.

        The folder is a real folder on the grader's disk (unix sockets
        must be visible on both sides); the kernel needs to write there
        only while it creates its sockets. Afterwards a student could fill
        the disk through it. When the grader is root the folder goes back
        to root; otherwise it loses its write bit.
        """
        if not self._runtime:
            return
        if os.geteuid() == 0:
            os.chown(self._runtime, 0, 0)
        os.chmod(self._runtime, 0o555)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # The kernel's own console output (its connection banner, warnings
        # from its start-up) is noise in the grader's log.
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        if _LIBC is not None:
            kw.setdefault("preexec_fn", _die_with(os.getpid()))
        await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart=False):
        if self._runtime:
            os.chmod(self._runtime, 0o700)
        await super()._async_cleanup_resources(restart=restart)
        if self._runtime and not restart:
            shutil.rmtree(self._runtime, ignore_errors=True)
