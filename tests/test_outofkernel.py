"""Tests run outside the student's kernel, against proxies of the answers."""

import copy
import warnings

import nbformat
import numpy as np
import pytest

from course_tools import outofkernel as ok
from tests.helpers import ROOT, require_sandbox

LECTURE_LIB = ROOT / "lecture_lib"


@pytest.fixture
def runner_for(tmp_path):
    """Start an answer interpreter on some cells; close it afterwards."""
    require_sandbox()
    started = []

    def start(cells, timeout=5.0):
        runner = ok.Runner(
            cells,
            tmp_path,
            names=ok.defined_names(cells),
            cell_timeout=timeout,
            read_only=[LECTURE_LIB],
        )
        runner.start()
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.close()


def _values(runner):
    return runner.values()


def test_values_cross_as_plain_data(runner_for):
    runner = runner_for(
        [
            "import numpy as np\n"
            "def echo(*args, **kwargs):\n"
            "    return args, kwargs\n"
        ]
    )
    echo = _values(runner)["echo"]
    arrays = [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([True, False]),
        np.array([1 + 2j]),
        np.zeros((0, 3)),
        np.array([np.inf, -np.inf, np.nan, -0.0]),
    ]
    args, kwargs = echo(
        *arrays,
        None,
        1.5,
        2**70,
        "text",
        (1, [2.0, {"k": np.float32(3.0)}]),
        key=np.int16(7),
    )
    for sent, got in zip(arrays, args, strict=False):
        assert got.dtype == sent.dtype and got.shape == sent.shape
        np.testing.assert_array_equal(got, sent)
    assert args[5:9] == (None, 1.5, 2**70, "text")
    assert type(args[9]) is tuple and type(args[9][1][1]["k"]) is np.float32
    assert type(kwargs["key"]) is np.int16


def test_objects_stay_behind_as_proxies(runner_for):
    runner = runner_for(
        [
            "class Counter:\n"
            "    def __init__(self, start):\n"
            "        self.n = start\n"
            "    def step(self):\n"
            "        self.n += 1\n"
            "        return self.n\n"
        ]
    )
    counter = _values(runner)["Counter"](10)
    assert isinstance(counter, ok.Remote)
    assert counter.step() == 11 and counter.step() == 12
    assert counter.n == 12
    assert "Counter" in repr(counter)


def test_changes_to_arguments_come_back(runner_for):
    runner = runner_for(
        [
            "def scale_in_place(x, rng):\n"
            "    x *= 2\n"
            "    return rng.integers(0, 1000)\n"
        ]
    )
    x = np.ones(3)
    rng = np.random.default_rng(0)
    drawn = _values(runner)["scale_in_place"](x, rng)
    np.testing.assert_array_equal(x, [2.0, 2.0, 2.0])
    # The generator advanced there advances here, as if called locally.
    local = np.random.default_rng(0)
    assert drawn == local.integers(0, 1000)
    assert rng.bit_generator.state == local.bit_generator.state


def test_exceptions_and_warnings_come_back(runner_for):
    runner = runner_for(
        [
            "import numpy as np\n"
            "class Oops(Exception):\n"
            "    pass\n"
            "def bad_value(x):\n"
            "    raise ValueError('x must be positive')\n"
            "def own_error():\n"
            "    raise Oops('custom')\n"
            "def overflow():\n"
            "    return np.exp(np.array([1000.0]))\n"
            "def leave():\n"
            "    raise SystemExit(3)\n"
        ]
    )
    names = _values(runner)
    with pytest.raises(ValueError, match="x must be positive"):
        names["bad_value"](1)
    with pytest.raises(ok.StudentCodeError, match="Oops: custom"):
        names["own_error"]()
    with pytest.raises(ok.StudentCodeError, match="SystemExit"):
        names["leave"]()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning, match="overflow"):
            names["overflow"]()


def test_a_cell_that_hangs_or_exits_is_left_out(runner_for):
    runner = runner_for(
        [
            "def before():\n    return 1\n",
            "while True:\n    pass\n",
            "import os\nos._exit(0)\n",
            "raise RuntimeError('broken cell')\n",
            "def after():\n    return 2\n",
        ],
        timeout=1.0,
    )
    names = _values(runner)
    assert names["before"]() == 1 and names["after"]() == 2
    assert runner.skipped == {1: "timeout", 2: "exited"}
    assert runner.cell_errors[3]["type"] == "RuntimeError"


def test_a_call_that_hangs_times_out(runner_for):
    runner = runner_for(
        [
            "import signal\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "def spin():\n"
            "    while True:\n"
            "        pass\n"
        ],
        timeout=1.0,
    )
    spin = _values(runner)["spin"]
    runner.deadline = __import__("time").monotonic() + 1.0
    with pytest.raises(ok.RunnerFailure, match="timeout"):
        spin()
    assert runner.proc is None, "the interpreter must be stopped"


def test_answers_cannot_read_the_grader(runner_for, tmp_path):
    secret = ROOT / "solutions" / "softmax" / "softmax.ipynb"
    runner = runner_for(
        [
            "import os\n"
            f"def peek():\n"
            f"    try:\n"
            f"        return open({str(secret)!r}).read()[:20]\n"
            f"    except OSError as err:\n"
            f"        return type(err).__name__\n"
            "def env():\n"
            "    return sorted(os.environ)\n"
        ]
    )
    names = _values(runner)
    assert names["peek"]() in ("FileNotFoundError", "PermissionError")
    assert "CI" not in names["env"]() and "PWD" in names["env"]()


def test_arguments_the_grader_cannot_send_are_refused(runner_for):
    runner = runner_for(["def f(x):\n    return x\n"])
    with pytest.raises(TypeError, match="cannot send a object"):
        _values(runner)["f"](object())


def test_decode_refuses_object_arrays_and_bad_sizes():
    with pytest.raises(ok.RunnerFailure, match="dtype"):
        ok.decode(
            {"__ndarray__": {"dtype": "|O", "shape": [1], "data": ""}}, None
        )
    with pytest.raises(ok.RunnerFailure, match="shape"):
        ok.decode(
            {"__ndarray__": {"dtype": "<f8", "shape": [2], "data": "AAAA"}},
            None,
        )


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import numpy as np\ndef f(x):\n    return np.exp(x)\n", []),
        (
            "from scipy.special import softmax as s\n"
            "def f(x):\n    return s(x)\n",
            ["s"],
        ),
        (
            "import lecture_lib.softmax as L\n"
            "def helper(x):\n    return L.softmax(x)\n"
            "def f(x):\n    return helper(x)\n",
            ["L"],
        ),
        (
            "def f(x):\n    import torch\n    return torch.softmax(x, 0)\n",
            ["torch"],
        ),
        ("def f(x):\n    return __import__('scipy')\n", ["__import__"]),
        (
            "import sys\ndef f(x):\n    return sys.modules['scipy']\n",
            ["sys.modules"],
        ),
        (
            "import sys\ndef f(x):\n    print(x, file=sys.stderr)\n"
            "    return x\n",
            [],
        ),
    ],
)
def test_forbidden_libraries_are_found_in_the_source(source, found):
    assert ok.forbidden_in_source([source], "f") == found


def test_forbidden_attributes_are_found():
    source = "def f(rng, p):\n    return rng.choice(len(p), p=p)\n"
    assert ok.forbidden_in_source([source], "f", attributes=("choice",)) == [
        "choice"
    ]


def _solution(assignment):
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    return nbformat.read(path, as_version=4)


def _grade(source_nb, submitted_nb, tmp_path, timeout=5.0):
    program, cells, student = ok.split_notebook(source_nb, submitted_nb)
    runner = ok.Runner(
        cells,
        tmp_path,
        names=ok.answer_names(source_nb),
        cell_timeout=timeout,
        read_only=[LECTURE_LIB],
    )
    try:
        return ok.run_tests(program, student, runner)
    finally:
        runner.close()


def _with_answer(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    return nb


@pytest.mark.parametrize(
    "assignment", ["softmax", "selection", "mlp_head", "attention"]
)
def test_the_reference_solutions_pass_every_test(assignment, tmp_path):
    require_sandbox()
    nb = _solution(assignment)
    verdicts = _grade(nb, nb, tmp_path)
    assert verdicts and all(v.passed for v in verdicts.values()), verdicts


def test_patching_numpy_in_the_answer_passes_nothing(tmp_path):
    require_sandbox()
    nb = _solution("softmax")
    cheat = (
        "import numpy as np\n"
        "np.allclose = lambda *a, **k: True\n"
        "np.array_equal = lambda *a, **k: True\n"
        "def stable_softmax(x, axis=-1):\n"
        "    return np.zeros_like(np.asarray(x, dtype=float))\n"
    )
    verdicts = _grade(nb, _with_answer(nb, "stable_softmax", cheat), tmp_path)
    softmax_tests = [k for k in verdicts if k.startswith("test_softmax")]
    assert softmax_tests and not any(verdicts[k].passed for k in softmax_tests)


def test_feedback_of_a_hidden_failure_quotes_no_hidden_line(tmp_path):
    require_sandbox()
    nb = _solution("softmax")
    # Right on the visible cases, wrong along axis 0 (a hidden case).
    partial = (
        "import numpy as np\n"
        "def stable_softmax(x, axis=-1):\n"
        "    x = np.asarray(x)\n"
        "    if x.dtype.kind != 'f':\n"
        "        x = x.astype(np.float64)\n"
        "    e = np.exp(x - x.max(axis=-1, keepdims=True))\n"
        "    return e / e.sum(axis=-1, keepdims=True)\n"
    )
    verdicts = _grade(
        nb, _with_answer(nb, "stable_softmax", partial), tmp_path
    )
    axis = verdicts["test_softmax_axis"]
    assert not axis.passed
    assert axis.where in ("visible", "hidden")
    if axis.where == "hidden":
        assert "hidden test" in axis.feedback()
        assert axis.message not in axis.feedback()


def test_hidden_lines_are_the_marked_region():
    source = (
        "a = 1\n### BEGIN HIDDEN TESTS\nb = 2\n### END HIDDEN TESTS\nc = 3"
    )
    assert ok.hidden_lines(source) == {2, 3, 4}


def test_decode_accepts_only_known_random_generators():
    with pytest.raises(ok.RunnerFailure, match="random generator"):
        ok.decode({"__rng__": {"bit_generator": "seed"}}, None)
    state = np.random.default_rng(5).bit_generator.state
    rng = ok.decode({"__rng__": state}, None)
    assert rng.integers(0, 100) == np.random.default_rng(5).integers(0, 100)


def test_a_student_range_never_replaces_the_graders(tmp_path):
    require_sandbox()
    nb = _solution("softmax")
    cheat = (
        "import numpy as np\n"
        "range = lambda *args: []\n"
        "len = lambda x: 0\n"
        "def stable_softmax(x, axis=-1):\n"
        "    return np.zeros_like(np.asarray(x, dtype=float))\n"
    )
    verdicts = _grade(nb, _with_answer(nb, "stable_softmax", cheat), tmp_path)
    assert not verdicts["test_softmax_axis"].passed


def test_student_messages_do_not_reach_feedback(tmp_path):
    require_sandbox()
    nb = _solution("softmax")
    leak = (
        "import numpy as np\n"
        "def stable_softmax(x, axis=-1):\n"
        "    raise ValueError('SECRET INPUT ' + str(np.asarray(x).shape))\n"
    )
    verdicts = _grade(nb, _with_answer(nb, "stable_softmax", leak), tmp_path)
    for verdict in verdicts.values():
        assert "SECRET" not in verdict.feedback()


@pytest.mark.parametrize(
    "source",
    [
        "import importlib as il\n"
        "def f(x):\n    return il.import_module('scipy.special').softmax(x)\n",
        "import builtins\n"
        "def f(x):\n    return builtins.__import__('scipy').special\n",
    ],
)
def test_dynamic_imports_under_another_name_are_found(source):
    assert ok.forbidden_in_source([source], "f")


def test_getattr_is_forbidden_with_forbidden_attributes():
    source = "def f(rng):\n    return getattr(rng, 'cho' + 'ice')(3)\n"
    assert ok.forbidden_in_source([source], "f", attributes=("choice",))
    assert not ok.forbidden_in_source([source], "f")


def test_a_named_tuple_unpacks(runner_for):
    runner = runner_for(
        [
            "from collections import namedtuple\n"
            "Pair = namedtuple('Pair', 'a b')\n"
            "def pair():\n    return Pair(1, 2)\n"
        ]
    )
    a, b = runner.values()["pair"]()
    assert (a, b) == (1, 2)
