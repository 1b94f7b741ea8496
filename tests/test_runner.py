"""The batch's workers: one warm kernel each, reused unit after unit, each unit
starting from an emptied namespace and output history."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

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


def test_warm_kernel_loads_the_data_once_and_hands_out_copies(tmp_path, monkeypatch):
    """In a warm kernel (report.warm_up), the units of a batch load the data files
    once: each gets a copy (a change one makes is not seen by the next), the loading's
    warnings again, and a changed file is read again."""
    import warnings

    from conftest import make_tables
    from nq21model import data, report
    from nq21model.exceptions import DataWarning

    cells, history = make_tables()
    cells.to_csv(tmp_path / "cells.csv", index=False)
    history.to_csv(tmp_path / "history.csv", index=False)
    paths = {"cells_path": str(tmp_path / "cells.csv"), "history_path": str(tmp_path / "history.csv"),
             "fixed_rates": True, "admission_base": "local"}
    loads = []
    real = data.load_dataset

    def counted(*args, **kwargs):
        loads.append(args)
        warnings.warn("a unit admitted more than its total", DataWarning, stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "load_dataset", counted)
    monkeypatch.setattr(report, "_DATA", None)  # a notebook on its own: every run loads
    with pytest.warns(DataWarning):
        report.run_forecast(**paths)
        report.run_forecast(**paths)
    assert len(loads) == 2
    monkeypatch.setattr(report, "_DATA", [])  # what warm_up turns on
    loads.clear()
    with pytest.warns(DataWarning, match="more than its total"):
        first = report.run_forecast(**paths)
    first.dataset.cells.loc[0, "population"] = -1
    with pytest.warns(DataWarning, match="more than its total"):
        second = report.run_forecast(**paths)
    second.dataset.cells.loc[0, "population"] = -2
    with pytest.warns(DataWarning):
        third = report.run_forecast(**paths)
    assert len(loads) == 1 and len({id(first.dataset), id(second.dataset), id(third.dataset)}) == 3
    assert third.dataset.cells["population"].tolist() == cells["population"].tolist()
    assert third.dataset.history.equals(first.dataset.history)
    with pytest.warns(DataWarning):
        report.run_forecast(**paths, reconcile=True)  # other options: loaded again
    assert len(loads) == 2
    history.iloc[::-1].to_csv(tmp_path / "history.csv", index=False)  # the same rows, another file
    with pytest.warns(DataWarning):
        report.run_forecast(**paths, reconcile=True)  # a changed file: read again
    assert len(loads) == 3


def test_a_pool_given_no_unit_still_stops(tmp_path, monkeypatch):
    """``execute`` with no task starts a pool that is never given one: its workers
    must still be told to stop (a worker waits for a task otherwise, for ever)."""
    import time

    workers, pools = [], []
    real = runner.start_pool

    def start(*args, **kwargs):
        pool = real(*args, **kwargs)
        runner.launched(pool)
        workers.extend(pool._processes)
        pools.append(pool)  # kept alive: what stops the workers is the pool's shutdown, not its collection
        return pool

    monkeypatch.setattr(runner, "start_pool", start)
    # the worker is up and waiting before the pool is shut down (at once, it dies unpickling its queue)
    monkeypatch.setattr(runner, "_run_in", lambda pool, tasks, done: time.sleep(2) or [])
    assert runner.execute([], jobs=1, log_path=str(tmp_path / "w.log"), progress=False) == []
    assert len(workers) == 1
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
              for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
                   for pid in workers)


def test_a_pool_whose_workers_cannot_start_says_so_when_it_is_used(tmp_path, monkeypatch):
    """The workers are launched on a thread while the batch reads its data: what fails
    there is raised to the batch when it next uses the pool (``launched``, before it
    forks its parts or submits a unit), and the pool still stops."""
    from concurrent.futures import ProcessPoolExecutor

    def broken(self):
        raise OSError("no fork server today")

    monkeypatch.setattr(ProcessPoolExecutor, "_launch_processes", broken, raising=False)
    if not runner.STARTS_WITHOUT_THREAD:
        pytest.skip("this Python starts the workers with the executor's own thread")
    pool = runner.start_pool(1, kernel="", cwd=str(tmp_path), log_path=str(tmp_path / "w.log"))
    with pytest.raises(OSError, match="no fork server today"):
        runner.launched(pool)
    runner.launched(pool)  # said once
    runner.stop_pool(pool)


def test_a_launch_that_fails_after_its_first_worker_stops_that_worker(tmp_path):
    """A launch that starts one worker and then fails for good (no file descriptors
    left, say): ``launched`` raises the failure, and ``stop_pool`` stops the worker
    started, without trying to start the others again; the process then exits."""
    import subprocess
    import sys

    code = f"""
import os, time
from concurrent.futures import ProcessPoolExecutor
from nq21model import runner

real, calls = ProcessPoolExecutor._spawn_process, []

def spawn(self):
    calls.append(1)
    if len(calls) > 1:
        raise OSError(24, "Too many open files")
    real(self)

ProcessPoolExecutor._spawn_process = spawn
pool = runner.start_pool(2, kernel="", cwd={str(tmp_path)!r}, log_path={str(tmp_path / "w.log")!r})
try:
    runner.launched(pool)
except OSError as exc:
    print("raised", exc.errno)
workers = list(pool._processes)
runner.stop_pool(pool)
time.sleep(0.5)
alive = [p for p in workers if os.path.exists(f"/proc/{{p}}")
         and "zombie" not in open(f"/proc/{{p}}/status").read()]
print(len(workers), "started;", len(alive), "alive")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split("\n")[:2] == ["raised 24", "1 started; 0 alive"], proc.stdout + proc.stderr
    assert proc.returncode == 0


def test_a_ctrl_c_while_waiting_for_the_launch_still_waits_for_it_after(tmp_path, monkeypatch):
    """A Ctrl-C while the batch waits for its workers' launch: the launch goes on, and
    the next ``launched`` (``stop_pool``'s) waits for it again — Python < 3.13 marks a
    thread stopped when a Ctrl-C interrupts a join of it."""
    import signal
    import threading
    import time
    from concurrent.futures import ProcessPoolExecutor

    if not runner.STARTS_WITHOUT_THREAD or threading.current_thread() is not threading.main_thread():
        pytest.skip("needs the pool's launch thread and the main thread's signals")
    release = threading.Event()
    launched = []

    def slow(self):
        release.wait(10)
        launched.append(True)

    monkeypatch.setattr(ProcessPoolExecutor, "_launch_processes", slow, raising=False)
    pool = runner.start_pool(1, kernel="", cwd=str(tmp_path), log_path=str(tmp_path / "w.log"))
    previous = signal.signal(signal.SIGALRM, signal.default_int_handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            runner.launched(pool)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not launched
    threading.Timer(0.3, release.set).start()
    start = time.monotonic()
    runner.launched(pool)  # waits for the launch that is still going on
    assert launched and time.monotonic() - start > 0.2
    pool.shutdown(wait=True)


def test_the_workers_server_starts_before_the_pool(tmp_path):
    """``start_server`` (what ``briefings`` calls before it reads the data) starts the
    server the pool's workers are then forked from, in a process that had none: the
    pool's start finds it running and starts no second one."""
    import multiprocessing
    import subprocess
    import sys

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform (the workers are spawned)")
    code = f"""
import re, sys
from multiprocessing import forkserver
from pathlib import Path
from nq21model import runner
assert forkserver._forkserver._forkserver_pid is None
runner.start_server()
server = forkserver._forkserver._forkserver_pid
assert server is not None and Path(f"/proc/{{server}}").exists()
pool = runner.start_pool(1, kernel="", cwd={str(tmp_path)!r}, log_path={str(tmp_path / "w.log")!r})
try:
    runner.launched(pool)
    (worker,) = pool._processes
    status = Path(f"/proc/{{worker}}/status").read_text()
    assert int(re.search(r"PPid:\\s+(\\d+)", status).group(1)) == server
    assert forkserver._forkserver._forkserver_pid == server
finally:
    runner.stop_pool(pool)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr
