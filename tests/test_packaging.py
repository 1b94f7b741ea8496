"""The project's metadata and files agree with each other."""
from __future__ import annotations

import json
import re
import tomllib

from conftest import ROOT


def _names(specs):
    return {re.split(r"[<>=!~\[ ;]", s.strip(), maxsplit=1)[0].lower() for s in specs}


def test_environment_yml_lists_the_runtime_packages_of_pyproject():
    deps = _names(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    conda = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"\s+-\s+([A-Za-z0-9_.\-]+)", line)
        if m:
            conda.add(m.group(1).lower())
    assert deps == conda - {"python", "pip"}


def test_notebooks_are_committed_without_outputs():
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            assert not cell.get("outputs"), f"{path.name} has outputs"
            assert cell.get("execution_count") in (None, ""), f"{path.name} has execution counts"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in readme.split("\n\n", 3)[1] + readme[:600]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
