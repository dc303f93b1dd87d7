"""Course tooling: release exercises, autograde a class, return feedback.

This package is for instructors and for the course's own tests. Students
never import it; the lecture notebooks use :mod:`lecture_lib` only. The
command line is ``course`` (see ``course --help``).
"""
