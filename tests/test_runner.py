"""The batch's workers: one warm kernel each, reused unit after unit, each unit
starting from an emptied namespace and output history."""
from __future__ import annotations

import nbformat

from nq21model import runner


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('unit = "?"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params,
                nbformat.v4.new_code_cell(
                    'import gc, os\n'
                    'assert "leftover" not in globals(), f"the unit before left {leftover!r}"\n'
                    'assert not Out, "the unit before left its outputs"\n'
                    'leftover = unit\n'
                    'print(os.getpid(), gc.get_freeze_count() > 0)'),
                nbformat.v4.new_code_cell("list(range(3))")]
    nb.metadata["kernelspec"] = {"name": "nq21model", "display_name": "nq21model", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_units_share_a_warm_kernel_but_not_its_state(tmp_path):
    notebook = _notebook(tmp_path / "unit.ipynb")
    tasks = [{"unit": u, "notebook": str(notebook), "kernel": "nq21model", "cwd": str(tmp_path),
              "parameters": {"unit": u}, "notebook_out": str(tmp_path / f"{u}.ipynb"),
              "html_out": str(tmp_path / f"{u}.html"), "title": u} for u in ("A", "B", "C")]
    outcomes = runner.execute(tasks, jobs=1, log_path=str(tmp_path / "workers.log"), progress=False)
    assert [o["status"] for o in sorted(outcomes, key=lambda o: o["unit"])] == ["ok"] * 3, outcomes
    printed = set()
    for u in ("A", "B", "C"):
        cell = nbformat.read(tmp_path / f"{u}.ipynb", as_version=4).cells[2]  # after the injected parameters
        printed.add(cell.outputs[0]["text"].strip())
    assert len(printed) == 1, printed            # one kernel process ran every unit
    assert printed.pop().endswith("True")        # its imports frozen out of the collector's walks
