"""Committed notebooks hold nothing tied to one machine or one run."""

import re

import nbformat
import pytest

from tests.helpers import ROOT

NOTEBOOKS = sorted(
    p
    for folder in ("notebooks", "solutions", "sample_class")
    for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
MACHINE = re.compile(
    r"(/(home|root|tmp|work|Users)/|[A-Z]:\\\\|site-packages"
    r"|0x[0-9a-fA-F]{6,}|\b\d+(\.\d+)? ?(ms|µs|us) ±)"
)


def _output_text(nb):
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(
                str(v)
                for k, v in out.get("data", {}).items()
                if k.startswith("text/")
            )
            parts.extend(out.get("traceback", []))
    return "\n".join(parts)


@pytest.mark.parametrize(
    "path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_machine_paths_times_or_addresses(path):
    nb = nbformat.read(path, as_version=4)
    text = _output_text(nb)
    found = MACHINE.search(text)
    assert not found, f"{path.name}: output holds {found.group(0)!r}"
    for cell in nb.cells:
        assert "execution" not in cell.metadata, (
            f"{path.name}: cell timing metadata is stored; clear it"
        )


@pytest.mark.parametrize(
    "path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT))
)
def test_notebook_is_valid(path):
    nbformat.validate(nbformat.read(path, as_version=4))


def test_released_and_submitted_notebooks_carry_no_outputs():
    for path in NOTEBOOKS:
        rel = path.relative_to(ROOT).parts
        if rel[:2] == ("notebooks", "exercises") or rel[0] == "sample_class":
            nb = nbformat.read(path, as_version=4)
            assert not _output_text(nb), f"{path} has outputs"


def test_lectures_have_outputs_and_a_kernel():
    lectures = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert lectures
    for path in lectures:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "python3"
        assert _output_text(nb), f"{path.name} is stored without outputs"
