"""The grader against broken and hostile submissions (``tests/corpus/``).

Every submission of the corpus written by ``sample_class/make_corpus.py``
is graded once, through the real grader with its sandbox, in a temporary
workspace. Then, for each case, the status, the points of every test cell
and the flags must be what ``tests/corpus/expected.json`` says a fair
grader gives; and for the class as a whole, the gradebook must be intact,
the network server this module runs on 127.0.0.1 must have seen no
connection, and nothing outside the workspace may have been written.

A case the grader gets wrong is never "fixed" by changing what is
expected: it is marked ``xfail(strict=True)`` in :data:`KNOWN_BUGS` with
the reason, so that the fix of the grader shows up as an XPASS.
"""

import filecmp
import html
import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from course_tools.course import Course
from course_tools.grading import (
    autograde,
    cell_scores,
    collect_submissions,
    export_grades,
    generate_feedback,
    release,
)
from tests.helpers import (
    GRADING_WORKERS,
    MARKERS,
    ROOT,
    require_sandbox,
    secret_lines,
)

CORPUS = ROOT / "tests" / "corpus"
MAKE_CORPUS = ROOT / "sample_class" / "make_corpus.py"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
CASES = EXPECTED["cases"]
#: Seconds a cell may run; the corpus is built to be graded with this.
CELL_TIMEOUT = 3

# -- grader bugs the corpus finds ------------------------------------------

#: (assignment, student) -> {check: reason}, where check is "status",
#: "scores" or "flags": those checks are xfail(strict=True) until the
#: grader is fixed.
KNOWN_BUGS = {}


def _key(case):
    return case["assignment"], case["student"]


def _cases(check):
    """The cases as pytest parameters, known bugs marked."""
    params = []
    for case in CASES:
        reason = KNOWN_BUGS.get(_key(case), {}).get(check)
        marks = (
            [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        )
        params.append(
            pytest.param(
                case, id=f"{case['assignment']}-{case['student']}", marks=marks
            )
        )
    return params


# -- what must stay untouched ----------------------------------------------

#: Course folders whose files no grading run may change.
PROTECTED = ["solutions", "notebooks", "lecture_lib"]


def _tree(folder):
    """{relative path: (size, mtime)} of the files under ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def _snapshot():
    """The protected course files, and the names at the course root."""
    files = {name: _tree(ROOT / name) for name in PROTECTED}
    files["tests/corpus"] = _tree(CORPUS / "submitted")
    files["grading"] = _tree(ROOT / "grading")
    top = sorted(p.name for p in ROOT.iterdir())
    return files, top


def _canaries(workspace):
    """Files named like the corpus's canary wherever they could land."""
    name = EXPECTED["canary"]
    found = []
    for root in (ROOT, Path(workspace)):
        found += root.rglob(f"{name}*")
    shallow = [
        Path("/tmp"),
        Path("/var/tmp"),
        Path("/dev/shm"),
        Path.home(),
        Path(sys.prefix),
        Path(sys.base_prefix),
    ]
    for folder in shallow:
        found += folder.glob(f"{name}*")
        found += folder.glob(f"*/{name}*")
    return sorted({str(p) for p in found})


class _Server:
    """A TCP server on 127.0.0.1 that records every connection it gets."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, address = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(address)
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


# -- grading the corpus ----------------------------------------------------


@dataclass
class Graded:
    course: Course
    workspace: Path
    results: dict
    no_feedback: list
    connections: list
    before: tuple
    after: tuple
    seconds: float


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release, collect and autograde every corpus submission once."""
    require_sandbox()
    workspace = tmp_path_factory.mktemp("corpus")
    course = Course(
        ROOT,
        workspace=workspace,
        release=workspace / "release",
        cell_timeout=CELL_TIMEOUT,
    )
    before = _snapshot()
    server = _Server()
    start = time.monotonic()
    results, no_feedback = {}, []
    try:
        release(course)
        assignments = list(dict.fromkeys(c["assignment"] for c in CASES))
        for assignment in assignments:
            collect_submissions(course, CORPUS / "submitted", assignment)
            for case in CASES:
                if case["assignment"] == assignment and "port_file" in case:
                    folder = course.submitted_dir / case["student"]
                    path = folder / assignment / case["port_file"]
                    path.write_text(str(server.port))
            for result in autograde(
                course, assignment, progress=False, workers=GRADING_WORKERS
            ):
                results[(assignment, result.student)] = result
            _, problems = generate_feedback(course, assignment, progress=False)
            no_feedback += [(assignment, p.split(":")[0]) for p in problems]
        export_grades(course)
    finally:
        server.close()
    seconds = time.monotonic() - start
    print(f"graded {len(results)} corpus submissions in {seconds:.0f} s")
    return Graded(
        course,
        workspace,
        results,
        no_feedback,
        server.connections,
        before,
        _snapshot(),
        seconds,
    )


def _log(graded, case, lines=25):
    """The end of nbgrader's log of one case, for a failure message."""
    path = (
        graded.course.grading_dir
        / "logs"
        / case["assignment"]
        / f"{case['student']}.log"
    )
    if not path.is_file():
        return f"(no log at {path})"
    return "\n".join(path.read_text().splitlines()[-lines:])


def _result(graded, case):
    result = graded.results.get(_key(case))
    assert result is not None, f"{_key(case)} was not graded at all"
    return result


# -- each case -------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("status"))
def test_status(graded, case):
    result = _result(graded, case)
    assert result.status == case["status"], (
        f"{case['description']}: status {result.status!r} "
        f"({result.message}), expected {case['status']!r}\n"
        f"{_log(graded, case)}"
    )


@pytest.mark.parametrize("case", _cases("scores"))
def test_scores(graded, case):
    got = cell_scores(graded.course, case["assignment"], case["student"])
    want = case["scores"]
    assert set(got) <= set(want), f"unknown test cells {set(got) - set(want)}"
    # A submission that could not be graded may have no grades at all;
    # it must not have points.
    got = {grade_id: got.get(grade_id, 0.0) for grade_id in want}
    assert got == want, (
        f"{case['description']}: per-cell scores differ (status "
        f"{_result(graded, case).status})\n{_log(graded, case)}"
    )


@pytest.mark.parametrize("case", _cases("flags"))
def test_flags(graded, case):
    result = _result(graded, case)
    assert result.flags == case["flags"], (
        f"{case['description']}: flags {result.flags}, expected "
        f"{case['flags']} (status {result.status}: {result.message})"
    )


# -- the class as a whole --------------------------------------------------


def test_every_submission_got_a_result(graded):
    assert set(graded.results) == {_key(c) for c in CASES}


def test_the_gradebook_is_intact(graded):
    db = graded.course.db_path
    assert db.is_file(), "the gradebook is gone"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tampered = con.execute(
            "SELECT count(*) FROM grade WHERE manual_score IS NOT NULL"
        ).fetchone()[0]
        submissions = set(
            con.execute(
                "SELECT assignment.name, student.id "
                "FROM submitted_assignment "
                "JOIN assignment ON assignment.id = "
                "submitted_assignment.assignment_id "
                "JOIN student ON student.id = submitted_assignment.student_id"
            ).fetchall()
        )
    assert tampered == 0, "grades were given by hand: the gradebook was edited"
    graded_cases = {_key(c) for c in CASES if c["status"] == "graded"}
    assert graded_cases <= submissions, (
        f"submissions missing from the gradebook: {graded_cases - submissions}"
    )
    for assignment, student in sorted(graded_cases):
        assert cell_scores(graded.course, assignment, student), (
            f"{assignment} {student}: no grades in the gradebook"
        )


def test_the_network_server_saw_no_connection(graded):
    assert any("port_file" in c for c in CASES)
    assert graded.connections == []


def test_nothing_was_written_outside_the_workspace(graded):
    before_files, before_top = graded.before
    after_files, after_top = graded.after
    for folder, files in before_files.items():
        assert after_files[folder] == files, f"{folder}/ changed"
    assert after_top == before_top, (
        f"new files at the course root: {set(after_top) - set(before_top)}"
    )
    assert _canaries(graded.workspace) == []


def test_submissions_were_not_changed(graded):
    """Student code cannot edit its own or a classmate's submission."""

    def contents(folder, skip=()):
        # by content, not name: collect_submissions renames a lone,
        # renamed notebook back
        return sorted(
            p.read_bytes() for p in folder.iterdir() if p.name not in skip
        )

    for case in CASES:
        original = CORPUS / "submitted" / case["student"] / case["assignment"]
        copy = (
            graded.course.submitted_dir / case["student"] / case["assignment"]
        )
        skip = [case["port_file"]] if "port_file" in case else []
        assert contents(copy, skip) == contents(original), (
            f"{_key(case)}: the submitted files changed"
        )


# -- the corpus itself -----------------------------------------------------


def test_corpus_is_what_make_corpus_writes(tmp_path):
    subprocess.run(
        [sys.executable, str(MAKE_CORPUS), "--out", str(tmp_path)],
        check=True,
        cwd=ROOT,
    )
    stale = []

    def walk(cmp, prefix=""):
        stale.extend(
            prefix + name
            for name in cmp.left_only + cmp.right_only + cmp.diff_files
        )
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    # Only what the script writes; tools leave caches (.ruff_cache) there.
    for name in ("expected.json", "conftest.py", "ruff.toml"):
        if not filecmp.cmp(tmp_path / name, CORPUS / name, shallow=False):
            stale.append(name)
    walk(
        filecmp.dircmp(tmp_path / "submitted", CORPUS / "submitted"),
        "submitted/",
    )
    assert not stale, (
        f"tests/corpus is stale ({stale}); run "
        f"`python sample_class/make_corpus.py` and commit the result"
    )


def test_corpus_covers_every_assignment_and_the_key_cases():
    by_student = {}
    for case in CASES:
        by_student.setdefault(case["student"], set()).add(case["assignment"])
    assert {c["assignment"] for c in CASES} == {
        "softmax",
        "selection",
        "mlp_head",
        "attention",
        "rnn_attention",
    }
    assert len(by_student["correct"]) == 5
    assert len(by_student["patch_allclose"]) >= 3
    assert {c["status"] for c in CASES} == {"graded", "failed"}


def test_feedback_is_refused_exactly_where_grading_failed(graded):
    failed = {_key(c) for c in CASES if c["status"] != "graded"}
    assert set(graded.no_feedback) <= failed
    folder = graded.course.feedback_dir
    for assignment, student in failed:
        assert not list((folder / student / assignment).glob("*.html"))


def test_no_feedback_or_export_shows_a_hidden_test(graded):
    """Hostile notebooks print what they can find: their own notebook,
    ``In``, the files around them. None of it may hold hidden tests."""
    folder = graded.course.feedback_dir
    files = sorted(folder.glob("*/*/*.html"))
    graded_cases = {_key(c) for c in CASES if c["status"] == "graded"}
    with_feedback = {(p.parent.name, p.parent.parent.name) for p in files}
    assert graded_cases <= with_feedback, "feedback is missing"
    files.append(graded.course.grading_dir / "grades.csv")
    assignments = {c["assignment"] for c in CASES}
    secrets = {a: secret_lines(a, MARKERS[1:]) for a in assignments}
    for path in files:
        # A feedback file is checked against its own assignment's hidden
        # lines (one assignment's hidden line may be another's visible
        # one); the CSV against all of them.
        owner = path.parent.name
        checked = {owner: secrets[owner]} if owner in secrets else secrets
        text = html.unescape(path.read_text(errors="replace"))
        plain = " ".join(re.sub(r"<[^>]+>", "", text).split())
        assert "HIDDEN TESTS" not in plain, path
        for assignment, lines in checked.items():
            for line in lines:
                assert " ".join(line.split()) not in plain, (
                    f"{path.relative_to(graded.workspace)} shows the hidden "
                    f"line {line!r} of {assignment}"
                )
