"""The bundled sample class is what its generator script makes."""

import filecmp
import json
import subprocess
import sys

from tests.helpers import ROOT

SAMPLE = ROOT / "sample_class"


def test_sample_class_is_up_to_date(tmp_path):
    subprocess.run(
        [
            sys.executable,
            str(SAMPLE / "make_submissions.py"),
            "--out",
            str(tmp_path),
        ],
        check=True,
        cwd=ROOT,
    )
    fresh = json.loads((tmp_path / "expected.json").read_text())
    assert fresh == json.loads((SAMPLE / "expected.json").read_text())
    compare = filecmp.dircmp(tmp_path / "submitted", SAMPLE / "submitted")
    stale = []

    def walk(cmp):
        stale.extend(cmp.left_only + cmp.right_only + cmp.diff_files)
        for sub in cmp.subdirs.values():
            walk(sub)

    walk(compare)
    assert not stale, (
        f"sample_class/submitted is stale ({stale}); run "
        f"`python sample_class/make_submissions.py` and commit the result"
    )


def test_sample_class_has_the_kinds_of_submission_a_class_has():
    expected = json.loads((SAMPLE / "expected.json").read_text())
    all_flags = set()
    for students in expected.values():
        assert len(students) >= 5
        scores = [s["score"] for s in students.values()]
        all_flags |= {f for s in students.values() for f in s["flags"]}
        assert max(scores) > 0 and min(scores) == 0
        assert any(0 < s < max(scores) for s in scores), "partial credit"
    assert {"blank", "error", "timeout", "restored"} <= all_flags
