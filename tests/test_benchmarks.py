"""The benchmark script runs and prints a ratio for every row.

Nothing here is timed: the speed goals live in `make bench`'s output.
"""

import re
import sys

from tests.helpers import ROOT, require_sandbox

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402
import grading_bench  # noqa: E402


def test_quick_run_prints_every_row(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for name in (
        "softmax float32 axis=-1",
        "logsumexp float64 axis=0",
        "attention causal",
        "cross-entropy fwd+bwd",
    ):
        assert name in out
    ratios = re.findall(r"(np\.exp|scipy|torch): +(\d+\.\d+)x", out)
    assert ratios and all(float(r) > 0 for _, r in ratios)
    errors = [float(e) for e in re.findall(r"max rel err (\S+)", out)]
    assert len(errors) == 12 and max(errors) < 1e-5, "accuracy lost"
    errors = re.findall(r"max err / max \|float64\| (\S+)", out)
    assert len(errors) == 2 and max(map(float, errors)) < 1e-5
    # Every row with a goal says whether it was met, or, when its
    # reference is missing (torch is optional), that it was not measured.
    verdicts = re.findall(
        r"^(\S.*?)  +.*  (met|MISSED: .*|not measured: .*)$", out, re.M
    )
    assert len(verdicts) == 6
    for name, verdict in verdicts:
        if name.startswith("attention") and bench.torch is None:
            assert verdict == "not measured: no torch"
        else:
            assert verdict == "met" or verdict.startswith("MISSED")


def test_a_goal_without_its_reference_is_not_called_met():
    fields = bench.row(
        "attention f32 tiny", lambda: None, [("torch", None)], repeats=1
    )
    assert fields[-1] == "not measured: no torch"


def test_grading_benchmark_prints_the_ratio_and_agrees(capsys):
    require_sandbox()
    assert grading_bench.main(["--students", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"speed-up \(stock / ours\): \d+\.\d+x", out)
    assert "identical scores: yes" in out
