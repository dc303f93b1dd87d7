"""The ``course`` command line: release, autograde, feedback, export, demo.

Run ``course --help`` for the commands and ``course <command> --help`` for
each command's options.
"""

import argparse
import logging
import sys
import warnings
from pathlib import Path

from .course import Course, CourseError, find_course_root

log = logging.getLogger("course")


def _positive(what):
    """An argparse type for a whole number > 0 of ``what``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(
                f"expected a whole number of {what} > 0, got {text!r}"
            )
        return value

    return parse


def _shown(course, path):
    """``path`` relative to the course root when it lies inside it."""
    path = Path(path)
    return (
        path.relative_to(course.root)
        if path.is_relative_to(course.root)
        else path
    )


def _course(args, **overrides):
    root = Path(args.course_dir) if args.course_dir else find_course_root()
    timeout = getattr(args, "cell_timeout", None)
    if args.grading_dir:
        overrides.setdefault("workspace", Path(args.grading_dir))
    if getattr(args, "unsafe", False):
        overrides["unsafe"] = True
    return Course(root, cell_timeout=timeout, **overrides)


def cmd_release(args):
    from .grading import release

    course = _course(args)
    for path in release(course, args.assignments or None):
        print(_shown(course, path))
    return 0


def cmd_autograde(args):
    from .grading import autograde, collect_submissions, format_table

    course = _course(args)
    if args.submissions:
        collect_submissions(course, args.submissions, args.assignment)
    try:
        results = autograde(
            course,
            args.assignment,
            args.students or None,
            progress=not args.quiet,
            workers=args.workers,
            force=args.force,
        )
    except KeyboardInterrupt:
        print(
            "\ninterrupted: grades finished so far are kept; run the same "
            "command again to grade the rest.",
            file=sys.stderr,
        )
        return 130
    print(format_table(results))
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(
            f"\n{len(failed)} submission(s) could not be graded; the "
            f"flags column says why.",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_gradebook(args):
    from .grading import backup_gradebook, restore_gradebook

    course = _course(args)
    if args.action == "backup":
        path = backup_gradebook(course, args.file)
        if path is None:
            raise CourseError(
                f"there is no gradebook at {course.db_path} to back up yet."
            )
        print(f"gradebook backed up to {path}")
    else:
        if not args.file:
            raise CourseError(
                "restore needs the backup to restore, e.g. `course gradebook "
                "restore grading/backups/gradebook-<date>-<time>.db`."
            )
        previous = restore_gradebook(course, args.file)
        print(f"gradebook restored from {args.file}")
        if previous:
            print(f"the gradebook it replaced is kept at {previous}")
    return 0


def cmd_feedback(args):
    from .grading import generate_feedback

    course = _course(args)
    written, problems = generate_feedback(
        course, args.assignment, args.students or None, progress=not args.quiet
    )
    for path in written:
        print(_shown(course, path))
    return 1 if problems else 0


def cmd_export(args):
    from .grading import export_grades, format_table

    course = _course(args)
    path, results = export_grades(course, args.output)
    print(format_table(results))
    print(f"\ngrades written to {path}")
    return 0


def cmd_execute(args):
    from .notebooks import execute_in_place

    course = _course(args)
    paths = [Path(p) for p in args.notebooks]
    if not paths:
        paths = sorted((course.root / "notebooks").glob("[0-9]*.ipynb"))
        paths += sorted(course.source_dir.glob("*/*.ipynb"))
    for path in paths:
        if not path.is_file():
            raise CourseError(f"no notebook at {path}")
        execute_in_place(path)
        print(path)
    return 0


def cmd_notes(args):
    from .notes import build_notes

    course = _course(args)
    index = build_notes(
        course, args.build_dir, jobs=args.jobs, quiet=args.quiet
    )
    print(f"notes written to {_shown(course, index.parent)}/")
    print(f"read them at {index.as_uri()}")
    return 0


def cmd_demo(args):
    from .demo import run_demo

    root = Path(args.course_dir) if args.course_dir else find_course_root()
    return run_demo(
        root, cell_timeout=args.cell_timeout, progress=not args.quiet
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="course",
        description="Release exercises, autograde a class and return "
        "feedback for the softmax and attention course.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--course-dir",
        metavar="DIR",
        help="course folder (holds nbgrader_config.py); default: the "
        "nearest one at or above the current folder",
    )
    common.add_argument(
        "--grading-dir",
        metavar="DIR",
        help="folder for submissions, autograded notebooks, feedback, the "
        "gradebook and grades.csv (default: grading/, as set in "
        "nbgrader_config.py); use one per class or term",
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars and no line per student: only warnings, "
        "errors and the result",
    )
    timed = argparse.ArgumentParser(add_help=False)
    timed.add_argument(
        "--cell-timeout",
        type=_positive("seconds"),
        metavar="SECONDS",
        help="seconds each cell of a student notebook may run (default: "
        "the course config's)",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND"
    )

    p = sub.add_parser(
        "release",
        parents=[common],
        help="write the student versions of assignments",
        description="Write the student version of each assignment (no "
        "solutions, no hidden tests) to notebooks/exercises/ and record "
        "it in the gradebook.",
    )
    p.add_argument(
        "assignments",
        nargs="*",
        metavar="ASSIGNMENT",
        help="assignments to release (default: all in solutions/)",
    )
    p.set_defaults(func=cmd_release)

    p = sub.add_parser(
        "autograde",
        parents=[common, timed],
        help="grade the submissions of an assignment",
        description="Run every submitted notebook of ASSIGNMENT in a "
        "fresh, sandboxed kernel with its test cells restored, run every "
        "test again (hidden ones included) outside the student's kernel, "
        "and record the scores in the gradebook. Submissions live in "
        "grading/submitted/<student>/<assignment>/. Exits with status 1 "
        "when a submission could not be graded (the table says why), 2 "
        "on a problem with the course or the sandbox, 130 when "
        "interrupted.",
    )
    p.add_argument("assignment", metavar="ASSIGNMENT")
    p.add_argument(
        "--submissions",
        metavar="DIR",
        help="first copy DIR/<student>/<assignment>/ into grading/submitted/",
    )
    p.add_argument(
        "--students",
        nargs="+",
        metavar="STUDENT",
        help="grade only these students",
    )
    p.add_argument(
        "--workers",
        type=_positive("worker processes"),
        metavar="N",
        help="submissions graded side by side (default: one per CPU core, "
        "plus one)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="grade every submission again, including those graded before "
        "and unchanged since (by default they are kept, so an interrupted "
        "run resumes where it stopped)",
    )
    p.add_argument(
        "--unsafe",
        action="store_true",
        help="run student code without the bubblewrap sandbox when it is "
        "not available; student code then runs with your rights and can "
        "read or change the gradebook, solutions and other submissions",
    )
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser(
        "gradebook",
        parents=[common],
        help="back up or restore the gradebook",
        description="Back up the gradebook (a consistent copy, safe while "
        "grading runs) or restore it from a backup. `course autograde` "
        "backs it up to grading/backups/ before every run and keeps the "
        "last 10. A restore checks the backup first and keeps the "
        "gradebook it replaces.",
    )
    p.add_argument("action", choices=["backup", "restore"])
    p.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="backup: where to write (default: grading/backups/"
        "gradebook-<date>-<time>.db); restore: the backup to restore",
    )
    p.set_defaults(func=cmd_gradebook)

    p = sub.add_parser(
        "feedback",
        parents=[common],
        help="write HTML feedback for graded students",
        description="Write one HTML file per autograded student to "
        "grading/feedback/<student>/<assignment>/, with points per test "
        "and the messages of failed tests; hidden tests are removed. The "
        "pages need no network. A student whose submission failed to "
        "grade, or is not graded since a gradebook restore, gets none and "
        "is named on stderr; the exit status is then 1.",
    )
    p.add_argument("assignment", metavar="ASSIGNMENT")
    p.add_argument("--students", nargs="+", metavar="STUDENT")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser(
        "export",
        parents=[common],
        help="write all grades to a CSV file",
        description="Write one row per student and assignment (status, "
        "score, max score, flags) to grading/grades.csv or --output.",
    )
    p.add_argument("--output", metavar="FILE")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "execute",
        parents=[common],
        help="re-run lectures and exercise sources, saving their outputs",
        description="Run notebooks top to bottom in a fresh kernel and "
        "save them with their outputs and without timing metadata, as the "
        "tests expect. Default: every lecture in notebooks/ and every "
        "source notebook in solutions/. A notebook with an error is not "
        "saved.",
    )
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK")
    p.set_defaults(func=cmd_execute)

    p = sub.add_parser(
        "notes",
        parents=[common],
        help="build the lectures as an offline HTML book",
        description="Run every lecture and render it, with the released "
        "exercises to download, as a website in _build/notes/html/ that "
        "needs no network to read (MathJax is fetched once with npm). "
        "Sphinx warnings count as errors.",
    )
    p.add_argument(
        "--build-dir",
        metavar="DIR",
        help="work folder of the build; the site goes to DIR/html "
        "(default: _build/notes)",
    )
    p.add_argument(
        "--jobs",
        type=_positive("processes"),
        metavar="N",
        help="lectures built side by side (default: one per CPU core)",
    )
    p.set_defaults(func=cmd_notes)

    p = sub.add_parser(
        "demo",
        parents=[common, timed],
        help="grade the bundled sample class from scratch",
        description="Release every assignment, autograde the sample class "
        "in sample_class/, write feedback and grades under grading/demo/ "
        "and print the table. Your own grading/ files are not touched.",
    )
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(name)s: %(message)s",
    )
    # nbgrader logs a great deal through the "traitlets" logger; its log of
    # each step is kept in a file per student instead (see grading.py), so
    # the console shows one line per student.
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: record.name.startswith("course"))
    # nbgrader 0.9 under SQLAlchemy 2 warns on every new submission that an
    # object "not in session" is skipped during autoflush; the records are
    # written all the same (the tests check the scores). nbformat warns
    # about the ids of cells that nbgrader restores. Neither is actionable.
    warnings.filterwarnings("ignore", message=".*not in session")
    warnings.filterwarnings("ignore", message="Cell is missing an id")
    try:
        return args.func(args)
    except CourseError as err:
        print(f"course {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C before a command's own handler is in place (while
        # nbgrader is imported, say): a word, not a traceback.
        print(f"\ncourse {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
