"""The briefings' units on an existing Dask cluster (``nq21model briefings
--scheduler tcp://HOST:PORT``, the optional package ``distributed``).

The client (:func:`execute_dask`) scatters the batch's province-wide context to
every worker once and each unit's own part (``_context/units/<slug>.*``) with its
task, keeps a few tasks a worker thread in flight, and writes the notebooks and HTML
the workers send back. A worker (:func:`execute_unit_remote`) writes the context
once per batch into a folder of its own, runs the unit in its warm kernel
(:func:`nq21model.runner.execute_unit`) and deletes the unit's files after it; the
batch's folder goes when the batch ends, the worker's when it stops (or, if it was
killed, when the next worker starts on its machine). The workers need the project's
environment and the data files at the same paths, not a shared disk.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

from .runner import _failed, execute_unit


def _context_files(folder: str | None) -> dict[str, bytes]:
    """The batch's province-wide files (the context folder's own files): sent to
    every worker once."""
    if not folder or not Path(folder).is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}


def _unit_files(folder: str | None, slug: str) -> dict[str, bytes]:
    """The unit's own part of the context (``units/<slug>.*``, :mod:`unit_context`):
    sent with its task, so that its notebook does not forecast the whole data set."""
    from .unit_context import FOLDER

    units = Path(folder) / FOLDER if folder else None
    if units is None or not units.is_dir():
        return {}
    return {f"{FOLDER}/{p.name}": p.read_bytes() for p in sorted(units.glob(f"{slug}.*")) if p.is_file()}


#: On a Dask worker: each batch's context folder, by the batch's token, in
#: :func:`_worker_folder`.
_CONTEXTS: dict[str, str] = {}
_CONTEXTS_LOCK = threading.Lock()
_FOLDER: list[Path] = []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _worker_folder() -> Path:
    """This Dask worker's folder for its batches' files (``nq21-worker-<pid>`` in the
    temporary folder); the folders of workers that are gone (killed, so that they
    could not delete theirs) deleted on the way."""
    with _CONTEXTS_LOCK:
        if not _FOLDER:
            base = Path(tempfile.gettempdir())
            for old in base.glob("nq21-worker-*"):
                pid = old.name.rpartition("-")[2]
                if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                    shutil.rmtree(old, ignore_errors=True)
            _FOLDER.append(base / f"nq21-worker-{os.getpid()}")
            _FOLDER[0].mkdir(exist_ok=True)
        return _FOLDER[0]


def _drop_contexts(batch: str | None = None) -> None:
    """Delete a batch's context folder on this worker (``None``: the worker's folder,
    as the worker stops)."""
    with _CONTEXTS_LOCK:
        for token in [batch] if batch is not None else list(_CONTEXTS):
            folder = _CONTEXTS.pop(token, None)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        if batch is None and _FOLDER:
            shutil.rmtree(_FOLDER.pop(), ignore_errors=True)


atexit.register(_drop_contexts)  # a worker that stops keeps no folder (a batch that ended dropped its own)


def _batch_context(batch: str, context: dict[str, bytes]) -> str:
    """The folder of the batch's province-wide files on this worker, written once."""
    root = _worker_folder()
    with _CONTEXTS_LOCK:
        if batch not in _CONTEXTS:
            folder = Path(tempfile.mkdtemp(prefix="context-", dir=root))
            for name, data in context.items():
                (folder / name).write_bytes(data)
            _CONTEXTS[batch] = str(folder)
        return _CONTEXTS[batch]


def execute_unit_remote(task: dict, context: dict[str, bytes], unit_files: dict[str, bytes],
                        batch: str) -> dict:
    """:func:`execute_unit` on a Dask worker: the batch's context written once into a
    folder of the worker's own (``batch``: the batch's token), the unit's own part
    beside it while it runs, the notebook run in the worker's warm kernel into a
    temporary folder, and its notebook and HTML returned as bytes with the
    worker's address."""
    folder = _batch_context(batch, context) if context or unit_files else ""
    mine = [Path(folder) / name for name in unit_files]
    for path, data in zip(mine, unit_files.values()):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    work = Path(tempfile.mkdtemp(prefix="unit-", dir=_worker_folder()))
    try:
        local = dict(task, notebook_out=str(work / "unit.ipynb"), html_out=str(work / "unit.html"),
                     parameters=dict(task["parameters"], context_dir=folder))
        outcome = execute_unit(local)
        for key in ("notebook", "html"):
            path = outcome.get(key)
            outcome[f"{key}_bytes"] = Path(path).read_bytes() if path and Path(path).exists() else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for path in mine:  # read once: a country's units would fill the disk
            path.unlink(missing_ok=True)
    try:
        from distributed import get_worker

        outcome["worker"] = get_worker().address
    except Exception:
        outcome["worker"] = None
    return outcome


def check_scheduler(scheduler: str, timeout: float = 3.0) -> None:
    """Raise :class:`~nq21model.exceptions.ParameterError` before any work when the
    units cannot go to ``scheduler``: the optional package missing, an address that
    is not ``tcp://HOST:PORT``, or nothing listening there (a batch would otherwise
    prepare its province-wide parts first, then wait for the connection to time out)."""
    import socket
    from urllib.parse import urlsplit

    from .exceptions import ParameterError

    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ParameterError("--scheduler needs the optional package 'distributed': "
                             "pip install -e '.[dask]'") from None
    try:
        address = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
        host, port = address.hostname, address.port
    except ValueError:  # a port that is not a number
        host = port = None
    if not host or port is None:
        raise ParameterError(f"--scheduler {scheduler}: give the scheduler's address as tcp://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ParameterError(f"no Dask scheduler answers at {scheduler} ({exc})") from None


def execute_dask(tasks, scheduler, context_dir, done) -> list[dict]:
    """The units on the cluster: the province-wide context scattered to every worker
    once; each unit's part scattered with its task (in the task, a country's parts
    would all wait in the scheduler), a few tasks a worker thread in flight, the
    largest units first; a unit whose part was lost with a worker sent again once."""
    from distributed import Client, as_completed  # checked by check_scheduler at the batch's start
    from distributed.client import FutureCancelledError

    outcomes = []
    try:
        client = Client(scheduler, timeout=10)
    except OSError as exc:
        from .exceptions import ParameterError

        raise ParameterError(f"no Dask scheduler answers at {scheduler} ({exc})") from None
    batch = uuid.uuid4().hex
    context = None  # the province-wide files' futures, a future per file
    futures: dict = {}
    running = as_completed()
    waiting = list(reversed(tasks))  # popped from the end: the largest first
    sent_again: set[str] = set()

    def submit(task) -> None:
        nonlocal context
        if context is None or any(f.status != "finished" for f in context.values()):  # every holder gone
            context = client.scatter(_context_files(context_dir), broadcast=True)
        own, = client.scatter([_unit_files(context_dir, task["slug"])], hash=False)
        future = client.submit(execute_unit_remote, task, context, own, batch, pure=False,
                               key=f"nq21-{task['unit']}-{time.time_ns()}")
        futures[future] = task
        running.add(future)

    def top_up() -> None:
        window = 2 * max(1, sum(client.nthreads().values()))  # workers may join while it runs
        while waiting and len(futures) < window:
            submit(waiting.pop())

    try:
        top_up()
        for future in running:
            task = futures.pop(future)
            try:
                outcome = future.result()
            except FutureCancelledError as exc:  # its part or the context went with a worker
                if task["unit"] not in sent_again:
                    sent_again.add(task["unit"])
                    submit(task)
                    continue
                outcome = _failed(task, exc, "Dask worker failed")
            except Exception as exc:  # a worker died running it, or lost the task
                outcome = _failed(task, exc, "Dask worker failed")
            for key, path in (("notebook", task["notebook_out"]), ("html", task["html_out"])):
                data = outcome.pop(f"{key}_bytes", None)
                if data is not None:
                    Path(path).write_bytes(data)
                    outcome[key] = path
                else:
                    outcome[key] = None
            done(outcome)
            outcomes.append(outcome)
            top_up()
    finally:
        # a batch's folder is deleted by every worker still there; one killed leaves its
        # own, deleted by the next worker started on its machine (_worker_folder)
        with contextlib.suppress(Exception):
            client.run(_drop_contexts, batch)
        client.close()
    return outcomes
