"""The briefings on a real Dask cluster: a scheduler and two workers started as
separate processes on 127.0.0.1, the 8 district briefings sent to them with
``nq21model briefings --scheduler``, gathered into the same outputs."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

pytest.importorskip("distributed")
DASK = Path(sys.executable).with_name("dask")


def _end_with_this_process() -> None:
    """In a cluster process, before it runs: SIGTERM when the test process ends (Linux's
    parent-death signal), so that a test run killed before its teardown leaves no
    scheduler or worker (and no kernel of theirs) running on a developer's machine."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    scratch = tmp_path / "workers-tmp"  # the workers' temporary folders: none may stay
    scratch.mkdir()
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=open(logs / "scheduler.log", "w"),
                              stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_end_with_this_process)]
    try:
        for i in range(2):
            procs.append(subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--no-dashboard", "--name", f"w{i}", "--host", "127.0.0.1"],
                                          env={**os.environ, "TMPDIR": str(scratch)},
                                          stdout=open(logs / f"worker{i}.log", "w"), stderr=subprocess.STDOUT,
                                          start_new_session=True, preexec_fn=_end_with_this_process))
        deadline = time.time() + 90
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=60)
                    workers = set(client.scheduler_info()["workers"])
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        yield address, workers, scratch
    finally:
        for proc in procs:  # the process groups: workers, and the kernels they started
            _signal_group(proc, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)


def _signal_group(proc, sig) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


@pytest.mark.slow
def test_district_briefings_on_a_dask_cluster(cluster, tmp_path):
    address, workers, scratch = cluster
    out = tmp_path / "out"
    proc = run_cli("briefings", "--scheduler", address, "--out", out, "--quiet", timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert f"(2 Dask workers at {address})" in proc.stdout
    assert "Sending large graph" not in proc.stderr and "Large object" not in proc.stderr  # parts scattered
    assert not [p for p in scratch.glob("nq21-*/**/*") if p.is_file()]  # the batch's and units' files, dropped
    assert not list(scratch.glob("nq21-*/*"))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scheduler"] == address
    units = manifest["units"]
    assert len(units) == 8 and all(u["status"] == "ok" for u in units)
    used = {u["worker"] for u in units}
    assert used <= workers and len(used) == 2          # both workers ran briefings
    for u in units:
        html = (out / u["html"]).read_text(encoding="utf-8")
        assert u["unit"] in html and "Dữ liệu mô phỏng" in html
    assert (out / "index.html").exists() and len(list((out / "chi_tieu").glob("*.xlsx"))) == 8


def test_an_unreachable_scheduler_is_a_clear_error_before_any_work(tmp_path):
    """Said before the data are read (a cells file that is not there is not reached)
    and the province-wide parts made: it came after them and a 10 s connection
    timeout. Nothing is written."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    proc = run_cli("briefings", "--scheduler", address, "--out", tmp_path / "out", "--quiet", "--only", "Mường Tè",
                   "--cells", tmp_path / "no-such-cells.csv", timeout=300)
    assert proc.returncode == 2 and f"no Dask scheduler answers at {address}" in proc.stderr
    assert "no-such-cells" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_scheduler_address_without_a_port_is_a_clear_error(tmp_path):
    proc = run_cli("briefings", "--scheduler", "tcp://127.0.0.1", "--out", tmp_path / "out", "--quiet",
                   timeout=300)
    assert proc.returncode == 2 and "tcp://HOST:PORT" in proc.stderr and "Traceback" not in proc.stderr
