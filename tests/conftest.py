"""Fixtures shared by the tests of the course tooling."""

import os

import pytest

from course_tools import sandbox
from course_tools.course import Course
from course_tools.grading import release
from tests.helpers import ROOT


def pytest_configure(config):
    # pytest-xdist runs test files side by side. Each test process grades
    # as users of its own, so that one file's fork bomb never uses up the
    # process limit of a sandbox that another file is running.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    os.environ[sandbox.FIRST_UID_VARIABLE] = str(62000 + 100 * index)


@pytest.fixture(scope="session")
def root():
    """The course folder of this repository."""
    return ROOT


@pytest.fixture(scope="session")
def fresh_release(tmp_path_factory):
    """A course whose release, gradebook and grading live in a temp folder.

    Every assignment is released from ``solutions/`` into that folder, so
    tests see what a fresh generation gives without touching the repo.
    """
    workspace = tmp_path_factory.mktemp("course")
    course = Course(ROOT, workspace=workspace, release=workspace / "release")
    release(course)
    return course
