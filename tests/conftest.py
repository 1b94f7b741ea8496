"""Shared fixtures. Every test runs hermetic: temporary HOME, matplotlib and
Jupyter folders, so nothing of the user's machine leaks in or is touched."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

_HERMETIC = Path(tempfile.mkdtemp(prefix="nq21-test-home-"))
for var, sub in {"HOME": "home", "MPLCONFIGDIR": "mpl", "XDG_CACHE_HOME": "cache",
                 "JUPYTER_CONFIG_DIR": "jupyter/config", "JUPYTER_DATA_DIR": "jupyter/data",
                 "JUPYTER_RUNTIME_DIR": "jupyter/runtime", "IPYTHONDIR": "ipython"}.items():
    path = _HERMETIC / sub
    path.mkdir(parents=True, exist_ok=True)
    os.environ[var] = str(path)
os.environ["MPLBACKEND"] = "Agg"
os.environ.pop("JUPYTER_PATH", None)

# The suite is deterministic: hypothesis draws the same examples on every run, so CI
# passes or fails for a reason in the code. `make fuzz` explores new examples.
try:
    from hypothesis import settings as _hs

    _hs.register_profile("suite", derandomize=True)
    _hs.register_profile("fuzz", derandomize=False)
    _hs.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass


def run_cli(*args, cwd=None, check=False, timeout=600) -> subprocess.CompletedProcess:
    """Run ``python -m nq21model ARGS`` as a user would, capturing output."""
    proc = subprocess.run([sys.executable, "-m", "nq21model", *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def make_tables(n_cells: int = 12, years=range(2018, 2026), seed: int = 0):
    """A small valid (cells, history) pair with a spread of cell sizes."""
    rng = np.random.default_rng(seed)
    types = ["ban", "thon", "to_dan_pho"]
    cells = pd.DataFrame({
        "cell_id": [f"C{i:03d}" for i in range(n_cells)],
        "cell_name": [f"Chi bộ bản Nà {i}" for i in range(n_cells)],
        "commune": [f"Xã {i % 3}" for i in range(n_cells)],
        "district": ["Tam Đường" if i % 2 else "Sìn Hồ" for i in range(n_cells)],
        "cell_type": [types[i % 3] for i in range(n_cells)],
        "population": rng.integers(150, 1500, n_cells),
    })
    rows = []
    for i, cid in enumerate(cells["cell_id"]):
        n = int(rng.integers(0, 12))
        for j, y in enumerate(years):
            if j == 0:
                adm = ext = tin = 0
            else:
                adm, tin = int(rng.poisson(0.4)), int(rng.poisson(0.05))
                ext = int(rng.binomial(n, 0.03))
                n = n + adm + tin - ext
            rows.append({"cell_id": cid, "year": y, "local_members": n, "admitted": adm, "exited": ext,
                         "assigned_members": i % 2, "transferred_in": tin})
    return cells, pd.DataFrame(rows)


@pytest.fixture
def small_files(tmp_path):
    """Write a small valid data set as CSV; return (cells_path, history_path)."""
    cells, history = make_tables()
    cp, hp = tmp_path / "cells.csv", tmp_path / "history.csv"
    cells.to_csv(cp, index=False)
    history.to_csv(hp, index=False)
    return cp, hp


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory):
    """A small valid data set of 30 cells on disk (cells.csv, history.csv), shared by
    the tests that read a briefing's numbers."""
    folder = tmp_path_factory.mktemp("small")
    cells, history = make_tables(n_cells=30, seed=3)
    cells.to_csv(folder / "cells.csv", index=False)
    history.to_csv(folder / "history.csv", index=False)
    return folder
