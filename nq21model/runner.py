"""Running the briefing notebook for many units: a local process pool whose workers
each keep one warm kernel, or an existing Dask cluster.

A unit's run (:func:`execute_unit`) injects the parameters as papermill does
(``papermill.parameterize.parameterize_notebook``: the tagged ``parameters`` cell,
then an ``injected-parameters`` cell) and executes the notebook with nbclient in the
worker's kernel, started once and reused for every unit the worker runs: the
kernel's start and the package's imports are paid once per worker, not once per
unit. :func:`start_pool` starts the workers before the batch prepares its
province-wide parts, and each warms its kernel meanwhile (:func:`warm_up`:
imports, fonts, the HTML template; then ``gc.freeze`` so that the collector does
not walk the imported objects again); the kernel's client is kept too. Before each
unit the kernel's namespace and output history are emptied (IPython's ``reset``),
so a unit never sees the one before and the figures of earlier units do not stay
alive. A failed unit restarts its worker's kernel (warmed again by the next unit).
One notebook by hand is still ``papermill -k nq21model notebooks/briefing.ipynb
out.ipynb -r unit "Sìn Hồ"``.

On a Dask cluster (``scheduler="tcp://HOST:PORT"``) the same :func:`execute_unit`
runs in each Dask worker's warm kernel: :mod:`nq21model.cluster`.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

#: Seconds a single notebook cell may run.
CELL_TIMEOUT = 600

_KERNELS: dict = {}
#: Each warm kernel's client, started once: a new client waits 0.2 s for the
#: kernel's messages to settle (jupyter_client's wait_for_ready), every unit.
_CLIENTS: dict = {}


def _key(name: str, cwd: str) -> tuple:
    # a kernel per thread: a Dask worker started with several threads runs several units at once
    return name, cwd, threading.get_ident()


def _shutdown_kernels() -> None:
    for key in list(_KERNELS):
        _drop(key)


atexit.register(_shutdown_kernels)


def _warm_kernel(name: str, cwd: str):
    """This process's kernel ``name`` (started on first use, and again if it died)."""
    from jupyter_client.manager import KernelManager

    km = _KERNELS.get(_key(name, cwd))
    if km is None or not km.is_alive():
        _drop_kernel(name, cwd)
        km = KernelManager(kernel_name=name)
        km.start_kernel(cwd=cwd)
        _KERNELS[_key(name, cwd)] = km
    return km


def _warm_client(name: str, cwd: str):
    """The started client of this process's kernel ``name`` (:func:`_warm_kernel`),
    the kernel warmed (``WARM_UP_CODE``) when it is new: a local worker's before its
    first unit, a Dask worker's by its first, a kernel restarted after a failed unit
    by the next."""
    km = _warm_kernel(name, cwd)
    client = _CLIENTS.get(_key(name, cwd))
    if client is None:
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=CELL_TIMEOUT)
        client.allow_stdin = False
        _CLIENTS[_key(name, cwd)] = client
        client.execute_interactive(WARM_UP_CODE, store_history=False, timeout=CELL_TIMEOUT)
    return client


def _drop_kernel(name: str, cwd: str) -> None:
    _drop(_key(name, cwd))


def _drop(key: tuple) -> None:
    client = _CLIENTS.pop(key, None)
    if client is not None:
        try:
            client.stop_channels()
        except Exception:
            pass
    km = _KERNELS.pop(key, None)
    if km is not None:
        try:
            km.shutdown_kernel(now=True)
        except Exception:
            pass


def execute_unit(task: dict) -> dict:
    """Run the notebook for one unit, then make its HTML.

    ``task``: ``unit, notebook, kernel, cwd, parameters, notebook_out, html_out,
    title`` (and ``warm``: reuse the worker's kernel, default True). Never raises:
    returns ``{"unit", "status": "ok"|"failed", "seconds", "error", "notebook",
    "html"}``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from .html_export import export_html

    start = time.perf_counter()
    out = {"unit": task["unit"], "status": "failed", "error": None, "notebook": task["notebook_out"],
           "html": None}
    nb = load_notebook_node(task["notebook"])  # as papermill reads it: every cell with its tags
    warm = task.get("warm", True)
    try:
        nb = parameterize_notebook(nb, task["parameters"], kernel_name=task["kernel"])
        client = NotebookClient(nb, km=_warm_kernel(task["kernel"], task["cwd"]) if warm else None,
                                kernel_name=task["kernel"], timeout=CELL_TIMEOUT,
                                resources={"metadata": {"path": task["cwd"]}})
        if warm:
            client.kc = _warm_client(task["kernel"], task["cwd"])
            client.kc.execute_interactive(RESET_CODE, silent=True, store_history=False, timeout=CELL_TIMEOUT)
        client.execute()
    except CellExecutionError as exc:
        failed = next((c for c in nb.cells if c.get("cell_type") == "code" and any(
            o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        where = f" (cell {failed.get('execution_count')})" if failed is not None else ""
        out["error"] = f"{exc.ename}: {exc.evalue}{where}"
        _drop_kernel(task["kernel"], task["cwd"])
    except Exception as exc:  # kernel did not start, died, timed out …
        out["error"] = f"{type(exc).__name__}: {exc}"
        _drop_kernel(task["kernel"], task["cwd"])
    else:
        out["status"] = "ok"
    try:
        nbformat.write(nb, task["notebook_out"])
    except OSError as exc:
        out["status"], out["error"], out["notebook"] = "failed", f"notebook not written: {exc}", None
    if out["status"] == "ok":
        try:
            export_html(task["notebook_out"], task["html_out"], title=task["title"])
            out["html"] = task["html_out"]
        except Exception as exc:
            out["status"], out["error"] = "failed", f"HTML conversion failed: {type(exc).__name__}: {exc}"
    out["seconds"] = round(time.perf_counter() - start, 2)
    return out


#: What a worker's kernel runs once, before its first unit (:func:`nq21model.report.warm_up`).
WARM_UP_CODE = "from nq21model import report as _nq21\n_nq21.warm_up()\ndel _nq21"
#: What it runs before each unit: the namespace, Out[n] and the output history of the
#: unit before emptied (its figures would stay alive, and slow every collection, in
#: a kernel that runs fifty units); the imported modules stay.
RESET_CODE = "get_ipython().reset(new_session=False)"


def warm_up(kernel: str, cwd: str) -> None:
    """Start this process's kernel and have it import what a briefing uses; build
    the HTML exporter. What fails here is left for the first unit to meet and report."""
    _warm_kernel(kernel, cwd)  # the kernel starts in its own process while the rest is imported
    import nbclient  # noqa: F401 (what a unit's run imports: paid here, not by the first unit)
    import papermill.iorw  # noqa: F401
    import papermill.parameterize  # noqa: F401

    from .html_export import html_exporter

    html_exporter()
    _warm_client(kernel, cwd)


def _worker_init(log_path: str, kernel: str | None = None, cwd: str | None = None) -> None:
    """Send a worker's and its kernels' console noise to a log file, not the terminal;
    with ``kernel``, warm it (:func:`warm_up`). Its kernels stop when it ends (a worker
    forked from the fork server ends without running ``atexit``)."""
    from multiprocessing import util

    util.Finalize(None, _shutdown_kernels, exitpriority=10)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    if kernel:
        try:
            warm_up(kernel, cwd)
        except Exception as exc:  # the unit that meets it says what it is
            print(f"warm-up failed: {type(exc).__name__}: {exc}", flush=True)
            _drop_kernel(kernel, cwd)


def _ready() -> int:
    return os.getpid()


#: Whether :func:`start_pool` starts its workers with no thread in this process
#: (``ProcessPoolExecutor._launch_processes``, Python 3.11–3.13), so that a batch may
#: start them before it forks its parts; else it starts them after.
STARTS_WITHOUT_THREAD = hasattr(ProcessPoolExecutor, "_launch_processes")


def start_pool(jobs: int, *, kernel: str, cwd: str, log_path: str):
    """A local pool of ``jobs`` worker processes, each warming its kernel
    (:func:`warm_up`) while the caller goes on preparing: what :func:`execute` runs
    the units in. The workers are forked from a fresh server process that imported
    the HTML exporter once (spawned where there is no fork server); they are launched
    on a short-lived thread, since the server answers only once its imports are done
    (half a second the caller spends reading its data instead). The caller may still
    fork once :func:`launched` returned: no other thread is started in this process
    before the first task is submitted (the batch's province-wide parts are forked
    then). :func:`stop_pool` ends it, also before any task."""
    pool = ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=_pool_context(),
                               initializer=_worker_init, initargs=(log_path, kernel, cwd))
    if STARTS_WITHOUT_THREAD:  # what the first submit would do (Python 3.11–3.13), without its thread
        failed: list[BaseException] = []
        done = threading.Event()

        def launch():
            try:
                pool._launch_processes()
            except BaseException as exc:  # raised by launched(), in the caller's thread
                failed.append(exc)
            finally:
                done.set()

        pool._nq21_launch = (threading.Thread(target=launch, name="nq21model-pool-start"), failed, done)
        pool._nq21_launch[0].start()
    else:  # another Python: the workers start, and the executor's thread with them
        for _ in range(max(1, jobs)):
            pool.submit(_ready)
    return pool


def launched(pool) -> None:
    """Wait until :func:`start_pool` has launched ``pool``'s workers (raising what
    failed there): before this process forks, submits or stops the pool."""
    launch = getattr(pool, "_nq21_launch", None)
    if launch is not None:
        # the thread's own event first: Python < 3.13 marks a thread stopped when a Ctrl-C
        # interrupts a join() of it (python/cpython#90882), and a later join returns at once
        launch[2].wait()
        launch[0].join()
        pool._nq21_launch = None
        if launch[1]:
            pool._max_workers = len(pool._processes)  # no worker started after a failed launch (stop_pool's submit)
            raise launch[1][0]


def _pool_context():
    """The workers' multiprocessing context: forked from a server that imports the HTML
    exporter (nbconvert: ≈ 0.7 s of CPU) once, spawned where there is no fork server
    (Windows)."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([f"{__package__}.html_export", "nbconvert", "nbclient", "papermill.iorw"])
    return context


def start_server() -> None:
    """Start the server :func:`start_pool` forks the workers from, and return without
    waiting for it: it imports the exporter on the other core while the caller loads
    and checks the data (the pool's start waited for it, half a second of a district
    batch). Nothing where there is no fork server."""
    if _pool_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def stop_pool(pool, *, wait: bool = True) -> None:
    """Shut ``pool`` down, cancelling the units not started. Workers that were never
    given a task wait for one: a no-op task starts the executor's thread that tells
    them to stop (they finish their warm-up first and stop their kernels). With
    ``wait``, return once that thread has stopped them, also when an earlier call
    did not wait (a batch that forks again must not have it running)."""
    with contextlib.suppress(Exception):  # a launch that failed: the workers it started are stopped below
        launched(pool)
    with contextlib.suppress(RuntimeError):  # already shut down
        if pool._processes is None or pool._processes:  # none started: no thread to start, none to stop
            pool.submit(_ready)
    manager = getattr(pool, "_executor_manager_thread", None) or getattr(pool, "_nq21_manager", None)
    pool._nq21_manager = manager  # shutdown() forgets its thread; a later call joins it
    pool.shutdown(wait=wait, cancel_futures=True)
    if wait and manager is not None:
        manager.join()


def execute(tasks: list[dict], *, jobs: int, log_path: str, progress: bool, on_done=None,
            scheduler: str | None = None, context_dir: str | None = None, pool=None) -> list[dict]:
    """Run the tasks — in ``pool`` (:func:`start_pool`), a new local pool of ``jobs``
    workers, or on the Dask cluster at ``scheduler`` — with a progress bar;
    ``on_done(outcome)`` as each unit finishes."""
    from tqdm.auto import tqdm

    with tqdm(total=len(tasks), desc="Briefings", unit="unit", file=sys.stderr, disable=not progress,
              dynamic_ncols=True) as bar:
        def done(outcome: dict) -> None:
            if on_done is not None:
                on_done(outcome)
            bar.set_postfix_str(f"{outcome['unit']} {'✓' if outcome['status'] == 'ok' else '✗'}")
            bar.update(1)

        if scheduler:
            from .cluster import execute_dask

            return execute_dask(tasks, scheduler, context_dir, done)
        if pool is not None:
            return _run_in(pool, tasks, done)
        own = start_pool(jobs, kernel=tasks[0]["kernel"] if tasks else "", cwd=tasks[0]["cwd"] if tasks else "",
                         log_path=log_path)
        try:
            return _run_in(own, tasks, done)
        finally:
            stop_pool(own)


def _failed(task: dict, exc: BaseException, what: str = "worker failed") -> dict:
    return {"unit": task["unit"], "status": "failed", "seconds": None, "html": None,
            "error": f"{what}: {type(exc).__name__}: {exc}",
            "notebook": task["notebook_out"] if Path(task["notebook_out"]).exists() else None}


def _run_in(pool, tasks, done) -> list[dict]:
    from concurrent.futures import as_completed

    outcomes = []
    launched(pool)
    futures = {pool.submit(execute_unit, task): task for task in tasks}
    try:
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as exc:  # the worker process itself died
                outcome = _failed(futures[future], exc)
            done(outcome)
            outcomes.append(outcome)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return outcomes
