"""The conda environment and pyproject.toml name the same dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: Tools conda provides that pip cannot: pip itself, and Node.js with npm,
#: which fetches MathJax for the rendered notes.
CONDA_ONLY = {"pip", "nodejs"}


def _split(spec):
    """'numpy>=1.26' -> ('numpy', '>=1.26'), names normalised."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", spec)
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    return name, match.group(2).replace(" ", "")


def pyproject_requirements():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    specs = list(project["dependencies"])
    specs += project["optional-dependencies"]["dev"]
    deps = dict(_split(s) for s in specs)
    deps["python"] = project["requires-python"]
    return deps


def conda_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = {}
    for item in env["dependencies"]:
        if isinstance(item, str) and _split(item)[0] not in CONDA_ONLY:
            name, spec = _split(item)
            deps[name] = spec
    return env, deps


def test_same_packages_and_versions():
    want = pyproject_requirements()
    _, got = conda_requirements()
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not missing, f"environment.yml lacks {missing}: add them"
    assert not extra, f"environment.yml has {extra} not in pyproject.toml"
    differ = {n: (want[n], got[n]) for n in want if want[n] != got[n]}
    assert not differ, (
        f"version specifiers differ (pyproject, environment.yml): {differ}"
    )


def test_environment_installs_this_project():
    env, _ = conda_requirements()
    assert "conda-forge" in env["channels"]
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip and any("." in line.split()[-1] for line in pip[0]["pip"]), (
        "environment.yml must pip-install this project (`--editable .`)"
    )
