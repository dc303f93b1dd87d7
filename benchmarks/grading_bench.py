"""Grading speed: our parallel, sandboxed grader against stock nbgrader.

Both grade the same submissions of one assignment from scratch, each in
a folder of its own, through their command lines:

* stock: ``nbgrader autograde <assignment>`` in a copy of the course,
  serial, hidden tests inside the student's kernel, no sandbox;
* ours: ``course autograde <assignment>``, with its default workers
  (one per core, plus one), every kernel and answer interpreter in a
  bubblewrap sandbox, and every test run again outside the kernel.

The submissions are copies of the sample class's honest students (full
answers, blank, partial credit, errors), so the two graders must agree on
every score; the script says whether they do, and prints the ratio of
the wall times (stock / ours). Each grader runs ``--repeats`` times,
alternating, and its best time counts: a busy moment of the machine
then slows one run, not the ratio. Run with ``make bench`` or
``python benchmarks/grading_bench.py [--students N] [--repeats R]``.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_tools.grading import default_workers

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_class" / "submitted"
#: Honest sample students: both graders must give them the same score.
#: (erin's endless loop would time both graders out cell after cell.)
HONEST = ["alice", "bob", "carol", "dan", "frank", "grace"]


def make_class(dest, assignment, n):
    """``n`` submissions, copies of the honest sample students."""
    for i in range(n):
        model = HONEST[i % len(HONEST)]
        target = dest / f"{model}_{i:03d}" / assignment
        shutil.copytree(SAMPLE / model / assignment, target)


def _run(argv, cwd):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:"}
    env["PATH"] += os.environ.get("PATH", "")
    start = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(argv[:3])} failed:\n{done.stderr[-3000:]}")
    return elapsed


def _scores(db_url, assignment):
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return {
            sub.student.id: sub.score
            for sub in gb.assignment_submissions(assignment)
        }


def stock(work, submissions, assignment):
    """Time stock ``nbgrader autograde``; return (seconds, scores)."""
    course = work / "stock"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(
        ROOT / "solutions" / assignment, course / "solutions" / assignment
    )
    # nbgrader creates the gradebook but not the folder it lives in.
    (course / "grading").mkdir()
    nbgrader = [sys.executable, "-m", "nbgrader"]
    _run([*nbgrader, "generate_assignment", assignment, "--force"], course)
    shutil.copytree(submissions, course / "grading" / "submitted")
    seconds = _run([*nbgrader, "autograde", assignment, "--force"], course)
    db = f"sqlite:///{course / 'grading' / 'gradebook.db'}"
    return seconds, _scores(db, assignment)


def ours(work, submissions, assignment, workers):
    """Time ``course autograde``; return (seconds, scores)."""
    grading = work / "ours"
    course = [sys.executable, "-m", "course_tools"]
    common = ["--course-dir", str(ROOT), "--grading-dir", str(grading), "-q"]
    release = work / "release"
    # Release into the benchmark's folder, not the repository's.
    code = (
        "import sys; from course_tools.course import Course; "
        "from course_tools.grading import release; "
        f"release(Course({str(ROOT)!r}, workspace={str(grading)!r}, "
        f"release={str(release)!r}), [{assignment!r}])"
    )
    _run([sys.executable, "-c", code], ROOT)
    argv = [*course, "autograde", assignment, *common]
    argv += ["--submissions", str(submissions), "--force"]
    if workers:
        argv += ["--workers", str(workers)]
    seconds = _run(argv, ROOT)
    db = f"sqlite:///{grading / 'gradebook.db'}"
    return seconds, _scores(db, assignment)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--assignment", default="softmax")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="default: the grader's own (one per core, plus one)",
    )
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    t_stock = t_ours = float("inf")
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
            work = Path(tmp)
            submissions = work / "class"
            make_class(submissions, args.assignment, args.students)
            t, s_stock = stock(work, submissions, args.assignment)
            t_stock = min(t_stock, t)
            t, s_ours = ours(work, submissions, args.assignment, args.workers)
            t_ours = min(t_ours, t)
    same = s_stock == s_ours and len(s_ours) == args.students
    workers = args.workers or default_workers()
    print(
        f"grading {args.students} submissions of {args.assignment} "
        f"({os.cpu_count()} cores)"
    )
    print(f"  stock nbgrader autograde, serial       {t_stock:6.1f} s")
    print(f"  course autograde, {workers} workers, sandboxed  {t_ours:6.1f} s")
    print(f"  speed-up (stock / ours): {t_stock / t_ours:.2f}x")
    print(f"  identical scores: {'yes' if same else 'NO'}")
    if not same:
        for student in sorted(set(s_stock) | set(s_ours)):
            a, b = s_stock.get(student), s_ours.get(student)
            if a != b:
                print(f"    {student}: stock {a}, ours {b}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
