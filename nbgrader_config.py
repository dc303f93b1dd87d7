"""nbgrader configuration for the softmax and attention course.

Paths are relative to this folder, the course root:

* ``solutions/<assignment>/``: the instructor's source notebooks, with
  solutions and hidden tests;
* ``notebooks/exercises/<assignment>/``: the released student versions;
* ``grading/``: everything produced while grading (submissions,
  autograded notebooks, feedback, the gradebook). It is not tracked by git
  and is created on demand by the ``course`` command.

The ``course`` command line reads this file and may point the grading
folders elsewhere (the demo uses ``grading/demo/``).
"""

from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

ROOT = Path(__file__).resolve().parent
GRADING = "grading"

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.course_id = "softmax-attention"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks/exercises"
c.CourseDirectory.submitted_directory = f"{GRADING}/submitted"
c.CourseDirectory.autograded_directory = f"{GRADING}/autograded"
c.CourseDirectory.feedback_directory = f"{GRADING}/feedback"
c.CourseDirectory.db_url = f"sqlite:///{ROOT / GRADING / 'gradebook.db'}"

# The `course` command lists assignments in course order (nbgrader itself
# ignores this section).
c.Course.assignment_order = [
    "softmax",
    "selection",
    "mlp_head",
    "attention",
    "rnn_attention",
]

# Each cell of a student notebook gets this many seconds; a cell that runs
# longer is interrupted and its test scores 0.
c.Execute.timeout = 10

# Kernels log a warning about their transport at start-up; keep the
# grader's console to one line per student. Their input history stays in
# memory (nbgrader's default, which setting this list replaces).
c.Execute.extra_arguments = [
    "--IPKernelApp.log_level=ERROR",
    "--HistoryManager.hist_file=:memory:",
]

# nbgrader scores a test cell 0 when anything is printed to stderr. A
# failed test raises an exception, which is recorded as an error either
# way; stderr output (a DeprecationWarning from a library, a logging call,
# a debug print) must not cost a correct answer its points. Drop it.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?s)."

# A student who deletes a test cell gets it back, and it is run.
c.OverwriteCells.add_missing_cells = True

# Feedback shows the student's notebook with the grades; test cells lose
# their hidden tests, and failures in them show the message only, since a
# traceback would quote hidden lines.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course_tools.preprocessors.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Feedback pages read offline: formulas are written as MathML and no
# MathJax is loaded (nbgrader's template would fetch it from a CDN).
c.GenerateFeedback.exporter_class = (
    "course_tools.feedback.OfflineFeedbackExporter"
)
