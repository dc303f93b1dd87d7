"""What the bubblewrap sandbox around student code allows, and what not."""

import contextlib
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from course_tools import sandbox
from tests.helpers import ROOT, require_sandbox


@pytest.fixture(autouse=True)
def _needs_bubblewrap():
    require_sandbox()


def run(code, limits=None, read_only=(), timeout=60):
    """Run ``code`` with the sandbox's Python; return the completed run."""
    argv = sandbox.command(
        [sys.executable, "-c", textwrap.dedent(code)],
        read_only=read_only,
        limits=limits,
        uid=sandbox.sandbox_uid(0),
    )
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_python_numpy_and_lecture_lib_work_inside():
    done = run(
        "from lecture_lib.softmax import softmax; print(softmax([0.0, 0.0]))",
        read_only=[ROOT / "lecture_lib"],
    )
    assert done.returncode == 0, done.stderr
    assert "0.5" in done.stdout


def test_files_outside_the_sandbox_cannot_be_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the answer")
    for path in [secret, ROOT / "solutions", ROOT / "nbgrader_config.py"]:
        done = run(f"open({str(path)!r}).read()")
        assert done.returncode != 0
        assert "FileNotFoundError" in done.stderr or "IsADirectory" in (
            done.stderr
        ), done.stderr


def test_the_system_is_read_only():
    done = run(
        f"""
        import sys
        for path in ["/usr/evil", {str(sys.prefix)!r} + "/evil"]:
            try:
                open(path, "w")
            except OSError as err:
                print(type(err).__name__)
        """
    )
    assert done.stdout.split() == ["OSError", "OSError"], done.stderr


def test_scratch_folders_are_writable_and_bounded():
    done = run(
        """
        import os
        open("/tmp/note", "w").write("ok")
        open(os.path.expanduser("~/note"), "w").write("ok")
        try:
            with open("/tmp/big", "wb") as fh:
                for _ in range(200):
                    fh.write(b"x" * 1_000_000)
        except OSError as err:
            print("stopped", err.errno)
        """,
        limits=sandbox.Limits(scratch=16 * sandbox.MiB),
    )
    assert "stopped" in done.stdout, done.stderr


def test_there_is_no_network():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    done = run(
        f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2)
            print("connected")
        except OSError as err:
            print("refused", type(err).__name__)
        """
    )
    # A connection that got through would wait in the listen queue.
    server.setblocking(False)
    seen = []
    with contextlib.suppress(BlockingIOError):
        seen.append(server.accept())
    server.close()
    assert "refused" in done.stdout, done.stdout + done.stderr
    assert not seen, "the server was reached from inside the sandbox"


def test_the_environment_is_empty(monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "do-not-leak")
    done = run(
        "import os; print(sorted(os.environ)); "
        "print(open('/proc/1/environ').read())"
    )
    assert "GRADER_SECRET_TOKEN" not in done.stdout
    assert "do-not-leak" not in done.stdout


def test_the_grader_processes_are_invisible():
    done = run(
        "import os; print(len([p for p in os.listdir('/proc') "
        "if p.isdigit()]))"
    )
    assert int(done.stdout) < 5, done.stdout
    assert str(os.getpid()) not in done.stdout


def test_memory_is_capped():
    done = run(
        """
        import numpy as np
        try:
            np.ones(2 * 1024**3, dtype=np.uint8)
            print("allocated")
        except MemoryError:
            print("MemoryError")
        """,
        limits=sandbox.Limits(memory=1024**3),
    )
    assert "MemoryError" in done.stdout, done.stderr


def test_cpu_time_is_capped():
    done = run("while True: pass", limits=sandbox.Limits(cpu_seconds=1))
    assert done.returncode != 0


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the process cap needs a sandbox user of its own"
)
def test_processes_are_capped_and_the_user_is_not_root():
    done = run(
        """
        import os, time
        print(os.getuid())
        made = 0
        try:
            for _ in range(500):
                if os.fork() == 0:
                    time.sleep(3)
                    os._exit(0)
                made += 1
        except OSError:
            pass
        print(made)
        """,
        limits=sandbox.Limits(processes=20),
    )
    uid, made = done.stdout.split()
    assert int(uid) == sandbox.sandbox_uid(0) != 0
    assert int(made) < 20


def test_unavailable_bubblewrap_is_explained(monkeypatch):
    monkeypatch.setattr(sandbox, "_probe", lambda: (False, "no bwrap here"))
    with pytest.raises(sandbox.SandboxUnavailable) as info:
        sandbox.require()
    message = str(info.value)
    assert "no bwrap here" in message and "--unsafe" in message
    assert sandbox.require(unsafe=True) is False


def _run_notebook(tmp_path, *sources, timeout=5):
    """Execute code cells with the grader's sandboxed Execute."""
    import nbformat
    from traitlets.config import Config

    from course_tools.preprocessors import SandboxedExecute

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    config = Config()
    config.SandboxKernelManager.read_only = [str(ROOT / "lecture_lib")]
    ep = SandboxedExecute(config=config, timeout=timeout)
    ep.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    return nb


def _text(cell):
    return "".join(
        o.get("text", "") + o.get("ename", "") for o in cell.get("outputs", [])
    )


def test_the_kernel_cannot_write_to_its_folder_on_the_host(tmp_path):
    nb = _run_notebook(
        tmp_path,
        "import os, sys\n"
        "folder = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])\n"
        "try:\n"
        "    open(os.path.join(folder, 'filler'), 'w')\n"
        "    print('written')\n"
        "except OSError as err:\n"
        "    print('refused', type(err).__name__)\n",
    )
    assert "refused" in _text(nb.cells[0]), _text(nb.cells[0])


def test_a_dead_kernel_costs_only_its_cell(tmp_path):
    nb = _run_notebook(
        tmp_path,
        "x = 41",
        "import os\nos._exit(1)",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "while True:\n    pass",
        "print(x + 1)",
        timeout=2,
    )
    assert "KernelDied" in _text(nb.cells[1])
    assert "CellTimeoutError" in _text(nb.cells[2])
    assert "42" in _text(nb.cells[3]), "the state before must be rebuilt"


def test_each_grading_run_can_have_its_own_sandbox_users(monkeypatch):
    if os.geteuid() != 0:
        assert sandbox.sandbox_uid(3) is None
        return
    monkeypatch.setenv(sandbox.FIRST_UID_VARIABLE, "70000")
    assert sandbox.sandbox_uid(3) == 70003
    for junk in ("", "-5", "root", "0"):
        monkeypatch.setenv(sandbox.FIRST_UID_VARIABLE, junk)
        assert sandbox.sandbox_uid(3) == sandbox.FIRST_UID + 3
