"""Batch of briefings: one executed notebook and one offline HTML page per unit.

:func:`run_briefings` checks every input first (a bad one raises DataError or
ParameterError before any notebook runs and nothing is written), then runs
``notebooks/briefing.ipynb`` once per unit with papermill in a process pool
(papermill is process-safe, not thread-safe), converts each executed notebook to
HTML with the code hidden through the offline template ``nq21model_offline``
(no require.js, MathJax or mermaid from a CDN; images embedded), and writes, in
the output folder::

    <unit_column>/<slug>.html     the briefing (e.g. district/tam-duong.html)
    <unit_column>/<slug>.ipynb    the executed notebook
    <unit_column>/<slug>.failed.ipynb   a unit that failed: its notebook with the error
    index.html                    the province summary with a link to every briefing
    at_risk.xlsx                  at-risk cells, a sheet per unit (one list above 150 units) and notes
    chi_tieu/                     the quota workbook of every unit
    _context/                     the province-wide parts the notebooks load (JSON; units/: each unit's rates, .npz)
    manifest.json                 parameters, data sha256, versions, durations, failures,
                                  and every unit's files

Everything is made in a staging folder inside the output folder. Each unit's files
are renamed into place only when the unit succeeded, and a failed unit does not
stop the others. The province-wide files (``_context/``, ``chi_tieu/``,
``at_risk.xlsx``, ``index.html``, ``manifest.json``) replace the earlier ones only
at the end of a batch that made at least one briefing: a batch that fails (no
briefing made, or stopped by an error) leaves every earlier output as it was.
File names come from :func:`fmt.unit_file_names` (distinct for every unit).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import config, runner
from .batch_files import write_at_risk_xlsx, write_index, write_manifest
from .exceptions import DataWarning, ParameterError
from .files import check_writable, replace_folder, staging_folder
from .fmt import slugify, unit_file_names  # noqa: F401 (slugify: re-exported)
from .html_export import REMOVE_TAG, TEMPLATE_NAME, TEMPLATES_DIR, export_html, html_exporter  # noqa: F401
from .runner import CELL_TIMEOUT, execute, execute_unit  # noqa: F401 (re-exported)

NOTEBOOK = config.NOTEBOOKS_DIR / "briefing.ipynb"
#: Longest a single notebook cell may run (seconds).
#: The batch's own files in the output folder (replaced together, the manifest last).
BATCH_FILES = ("at_risk.xlsx", "index.html", "manifest.json")


# ------------------------------------------------------------------------- names


def unit_slugs(units) -> dict[str, str]:
    """A distinct slug per unit (a numeric suffix on collisions), stable for a given
    set: :func:`fmt.unit_file_names`, which the quota workbooks use too."""
    return unit_file_names(units)


def check_kernel(name: str) -> None:
    """ParameterError unless the Jupyter kernel ``name`` is installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise ParameterError(
            f"Jupyter kernel '{name}' is not installed; run `make .venv/.installed` or "
            f"`python -m ipykernel install --sys-prefix --name {name}`") from None


# ---------------------------------------------------------------------- the run


@dataclass
class BriefingRun:
    """What a batch made: per-unit outcomes and the files written."""

    out_dir: Path
    unit_column: str
    outcomes: list[dict] = field(default_factory=list)
    index: Path | None = None
    xlsx: Path | None = None
    manifest: Path | None = None
    at_risk_cells: int = 0
    seconds: float = 0.0
    jobs: int = 1
    quota_books: dict = field(default_factory=dict)  # unit -> quota workbook (chi_tieu/)
    scheduler: str | None = None                       # the Dask cluster the units ran on, if any
    extras: object | None = None  # the province-wide parts (extras.BriefingExtras)
    kept_earlier: bool = False  # no briefing made: the earlier batch files were kept

    @property
    def failures(self) -> list[dict]:
        """Outcomes of the units that failed."""
        return [o for o in self.outcomes if o["status"] != "ok"]

    @property
    def made(self) -> list[dict]:
        """Outcomes of the units whose briefing was made."""
        return [o for o in self.outcomes if o["status"] == "ok"]

    def has_file(self, unit: str, path: Path) -> bool:
        """Whether ``unit``'s file ``path`` is there once the batch's files are in place:
        made now (its pages go in place with the index and the manifest) or kept from
        an earlier batch."""
        return any(o["unit"] == unit for o in self.made) or Path(path).exists()

    def report(self) -> str:
        """A short text of what was written where (and what failed)."""
        def rel(path):
            with contextlib.suppress(ValueError):
                return str(Path(path).relative_to(Path.cwd()))
            return str(path)

        folder = self.out_dir / self.unit_column
        if self.kept_earlier:
            return (f"Made 0 of {len(self.outcomes)} briefing{'s' if len(self.outcomes) != 1 else ''} "
                    f"by {self.unit_column}: nothing replaced in {rel(self.out_dir)} (the earlier "
                    + ", ".join(BATCH_FILES) + ", _context/ and chi_tieu/ are kept).")
        rows = []
        if self.made:
            plural = "s" if len(self.made) != 1 else ""
            rows.append((f"{rel(folder)}/*.html", f"{len(self.made)} briefing{plural} (offline HTML, code hidden)"))
            rows.append((f"{rel(folder)}/*.ipynb", "the executed notebooks"))
        rows.append((rel(self.index), "province summary with a link to every briefing"))
        rows.append((rel(self.xlsx), f"{self.at_risk_cells} at-risk cells, a sheet per unit"))
        if self.quota_books:
            rows.append((f"{rel(self.out_dir / 'chi_tieu')}/*.xlsx",
                         f"{len(self.quota_books)} admission-quota list{'s' * (len(self.quota_books) != 1)} "
                         "(đề xuất chỉ tiêu kết nạp), one per unit"))
        rows.append((rel(self.manifest), "parameters, data sha256, versions, durations, failures"))
        width = max(len(path) for path, _ in rows)
        lines = [f"Made {len(self.made)} of {len(self.outcomes)} briefing{'s' if len(self.outcomes) != 1 else ''} "
                 f"by {self.unit_column} "
                 f"in {self.seconds:.1f} s ({self.where()}):"]
        lines += [f"  {path:<{width}}  {what}" for path, what in rows]
        return "\n".join(lines)

    def where(self) -> str:
        """How the units ran: "2 jobs", or "3 Dask workers at tcp://…" (those that made one)."""
        if self.scheduler:
            n = len({o["worker"] for o in self.outcomes if o.get("worker")})
            return f"{n} Dask worker{'s' if n != 1 else ''} at {self.scheduler}"
        return f"{self.jobs} job{'s' if self.jobs != 1 else ''}"

    def failure_report(self) -> str:
        """The failed units, their error and the notebook that shows it."""
        if not self.failures:
            return ""
        lines = [f"{len(self.failures)} briefing{'s' if len(self.failures) > 1 else ''} failed "
                 "(earlier outputs of these units were kept):"]
        for o in self.failures:
            where = f"\n      see {o['kept_notebook']}" if o.get("kept_notebook") else ""
            lines.append(f"  {o['unit']}: {o['error']}{where}")
        return "\n".join(lines)


def notebook_parameters(*, unit_column: str = "", cells=None, history=None, totals=None, sheet=None,
                        history_sheet=None, quotas=None, scenario=None, base_year: int | None = None, horizons=None,
                        method: str = "exact", draws: int = 10_000, seed: int | None = None,
                        reconcile: bool = False) -> dict:
    """The briefing notebook's parameters (all but ``unit``) for these settings.

    Paths become absolute (the notebook runs in another folder); ``None`` → ``""``
    (the bundled data; totals: ``totals.csv`` beside the cells file).
    """
    from .scenario import Scenario

    scenario = scenario or Scenario()
    return {
        "unit_column": unit_column or "",
        "cells_path": str(Path(cells).resolve()) if cells else "",
        "history_path": str(Path(history).resolve()) if history else "",
        "totals_path": str(Path(totals).resolve()) if totals else "",
        "sheet": "" if sheet is None else str(sheet),
        "history_sheet": "" if history_sheet is None else str(history_sheet),
        "base_year": None if base_year is None else int(base_year),
        "horizons": None if not horizons else sorted(int(h) for h in horizons),
        "admission_rate": None if scenario.admission_rate is None else float(scenario.admission_rate),
        "admissions_per_year": None if scenario.admissions_per_year is None else float(scenario.admissions_per_year),
        "admission_base": scenario.admission_base,
        "fixed_rates": bool(scenario.fixed_rates),
        "attrition_rate": float(scenario.attrition_rate),
        "allocation": scenario.allocation,
        "quotas_path": str(Path(quotas).resolve()) if quotas else "",
        "max_lift": float(scenario.max_lift),
        "method": method,
        "draws": int(draws),
        "seed": None if seed is None else int(seed),
        "reconcile": bool(reconcile),
        "context_dir": "",  # set by run_briefings to the folder of the province-wide parts
    }


def _in_background() -> None:
    """Lower this thread's CPU priority (Linux: a thread's nice value is its own), so
    that the batch's side work takes the cores the notebooks leave, not theirs."""
    if sys.platform.startswith("linux"):  # elsewhere the id may name a process
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def run_briefings(parameters: dict | None = None, *, only=None, jobs: int | None = None,
                  out_dir: str | Path | None = None, notebook: str | Path | None = None,
                  kernel: str = config.KERNEL_NAME, progress: bool = True,
                  command: list[str] | None = None, dataset=None, scheduler: str | None = None) -> BriefingRun:
    """Make the briefings of every unit (or of ``only``) and the index, Excel and manifest.

    Parameters
    ----------
    parameters : dict, optional
        Notebook parameters but ``unit`` (see :func:`notebook_parameters`; default
        the bundled data, districts, the default scenario).
    only : list of str, optional
        Units to brief (values of ``parameters["unit_column"]``); default all.
    jobs : int, optional
        Notebooks run at once (default ``os.cpu_count()``).
    out_dir : path, optional
        Default ``outputs/``.
    notebook : path, optional
        The notebook to run (default ``notebooks/briefing.ipynb``).
    kernel : str
        Jupyter kernel (default ``nq21model``).
    dataset : Dataset, optional
        The data of ``parameters``' paths, when the caller loaded them already.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of an existing Dask cluster to run the units on
        (:mod:`nq21model.runner`); default the local process pool.

    Raises DataError / ParameterError before anything runs or is written.
    """
    from . import report

    started = time.perf_counter()
    params = dict(notebook_parameters() if parameters is None else parameters)
    params.pop("unit", None)
    notebook = Path(notebook) if notebook else NOTEBOOK
    out_dir = Path(out_dir).resolve() if out_dir else config.OUTPUTS_DIR
    jobs = (os.cpu_count() or 1) if jobs is None else int(jobs)
    by = params.get("unit_column") or None
    # ---- every check first: nothing is written before they all pass
    if jobs < 1:
        raise ParameterError(f"--jobs must be at least 1, got {jobs}")
    if not notebook.is_file():
        raise ParameterError(f"{notebook}: notebook not found")
    check_writable(out_dir, folder=True)
    params["context_dir"] = ""
    check_kernel(kernel)
    if scheduler:
        from .cluster import check_scheduler

        check_scheduler(scheduler)  # before the province-wide preparation, not after it
    if only:
        only = [unicodedata.normalize("NFC", str(u)).strip() for u in only]
    pool, logs = None, None
    if (dataset is not None and not scheduler and runner.STARTS_WITHOUT_THREAD
            and (by or dataset.default_unit) in dataset.cells):
        # the workers are started now and warm their kernels during the whole preparation
        # (the forecast's calibration runs on one core), once the quick checks passed
        from .forecast import check_horizons

        base = dataset.last_year if params.get("base_year") is None else int(params["base_year"])
        dataset.check_base_year(base)
        check_horizons(params.get("horizons") or None, base)
        data_units = report.unit_order(dataset.cells[by or dataset.default_unit].astype(str).unique())
        chosen = _chosen(data_units, only, by or dataset.default_unit)
        logs = tempfile.mkdtemp(prefix="nq21model-workers-")
        try:
            pool = runner.start_pool(min(jobs, len(chosen)), kernel=kernel, cwd=str(notebook.parent),
                                     log_path=os.path.join(logs, "workers.log"))
        except BaseException:
            shutil.rmtree(logs, ignore_errors=True)
            raise
    staging = None
    try:
        results = report.run_forecast(**params, dataset=dataset)
        by = params["unit_column"] = by or results.unit_column
        names = report.unit_order(results.dataset.cells[by].astype(str).unique())  # with a cell at the base year
        without = {u: f"{text}; no briefing" for u, text in results.full.units_without(results.base_year, by).items()}
        units = _chosen(names, only, by, without)
        if without:
            warnings.warn("; ".join(without.values()), DataWarning, stacklevel=2)
        slugs = unit_slugs(names)
        run = BriefingRun(out_dir=out_dir, unit_column=by, jobs=min(jobs, len(units)), scheduler=scheduler)
        folder = out_dir / by
        folder.mkdir(parents=True, exist_ok=True)
        staging = staging_folder(out_dir)

        # ---- province-wide parts, once for every unit: tracker, quotas, backtest (+ the calibration)
        from .context import save_extras
        from .extras import compute_extras
        from .unit_context import context_key, save_units, usable

        def say(part):
            if progress:
                print(f"Chuẩn bị: {part} ✓", file=sys.stderr, flush=True)

        context = staging / "_context"

        def meanwhile():
            """While the parts' own processes compute (called once they are forked: none
            forks a threaded process): the workers start, without an early pool, and each
            unit's cells' rates are saved, so that no notebook recomputes the whole data set."""
            nonlocal pool
            if pool is None and not scheduler:
                pool = runner.start_pool(run.jobs, kernel=kernel, cwd=str(notebook.parent),
                                         log_path=str(staging / "workers.log"))
            if usable(results.method, results.scenario, stand_in=bool(results.notes)):
                runs = report.scenario_runs(results, params.get("scenario_rates") or report.SCENARIO_RATES)
                save_units(results, runs, context, by=by, units=units, slugs=slugs,
                           key=context_key(results.full, results.base_year, by, results.scenario, results.horizons))
                say("phần của từng đơn vị")

        batch = staging / "batch"
        batch.mkdir()
        quota_books = {}
        run.xlsx, run.index, run.manifest = (out_dir / name for name in BATCH_FILES)

        def while_waiting(part, fields):
            """The quota workbooks, made while the costlier parts are still computed."""
            if part == "quotas" and fields.get("allocation") is not None:
                from .quota_tables import write_quota_workbooks

                if only and (out_dir / "chi_tieu").is_dir():  # keep the other units' lists of an earlier run
                    shutil.copytree(out_dir / "chi_tieu", staging / "chi_tieu")
                quota_books.update(write_quota_workbooks(fields["allocation"], staging / "chi_tieu", by=by,
                                                         units=units))

        if pool is not None:
            runner.launched(pool)  # the parts' processes are forked next: no other thread then
        extras = run.extras = compute_extras(results, by=by, progress=say, jobs=jobs, units=units,
                                             on_start=meanwhile, on_part=while_waiting)
        natural = results.rates.info.get("natural") or (results.rates if results.rates.source == "calibrated"
                                                        else None)
        calibration = natural.info.get("calibration") if natural is not None else None
        extras.calibration_json = calibration.to_json() if calibration is not None else None
        # the province-wide files are staged, and put in place only when the batch succeeds
        save_extras(extras, context)
        params["context_dir"] = str(context)
        run.quota_books = {unit: out_dir / "chi_tieu" / path.name for unit, path in quota_books.items()}
        units_dir = staging / "units"
        units_dir.mkdir()
        tasks = [{"unit": u, "slug": slugs[u], "notebook": str(notebook), "kernel": kernel,
                  "cwd": str(notebook.parent),
                  "parameters": {"unit": u, **params},
                  "notebook_out": str(units_dir / f"{slugs[u]}.ipynb"),
                  "html_out": str(units_dir / f"{slugs[u]}.html"),
                  "title": f"{report.title_text(results, unit=u, by=by)[0]}"} for u in units]
        # the largest units first, so that the batch does not end waiting for one big unit
        size = results.full.cells[by].astype(str).value_counts()
        tasks.sort(key=lambda task: -int(size.get(task["unit"], 0)))
        moves: list[tuple[str, Path]] = []  # (staged file, its place): made when the whole batch is

        def place(outcome: dict) -> None:
            """Where a finished unit's files go — moved there once the batch's own files are
            made too: a batch that fails later (its index, its Excel list) leaves the
            earlier briefings as they were — or its failed notebook is kept."""
            slug = slugs[outcome["unit"]]
            failed_copy = folder / f"{slug}.failed.ipynb"
            if outcome["status"] == "ok":
                moves.extend([(outcome["notebook"], folder / f"{slug}.ipynb"),
                              (outcome["html"], folder / f"{slug}.html"), (None, failed_copy)])
                outcome["notebook"], outcome["html"] = str(folder / f"{slug}.ipynb"), str(folder / f"{slug}.html")
            else:  # the failed notebook at once: it shows the error whatever becomes of the batch
                if outcome["notebook"]:
                    os.replace(outcome["notebook"], failed_copy)
                    outcome["kept_notebook"] = str(failed_copy)
                outcome["notebook"] = outcome["html"] = None

        # at_risk.xlsx and the index's figures are made on a thread of this process while
        # the workers run the notebooks (this process only waits for them); after the
        # scenario runs, so that the forecast's cell tables and those runs are not held at once
        from .index_page import index_parts

        with ThreadPoolExecutor(1, initializer=_in_background) as side:
            at_risk = side.submit(write_at_risk_xlsx, results, batch / run.xlsx.name, by=by, units=names)
            index_made = side.submit(index_parts, results, extras, by=by)
            try:
                outcomes = execute(tasks, jobs=run.jobs, log_path=str(staging / "workers.log"), progress=progress,
                                   on_done=place, scheduler=scheduler, context_dir=str(context), pool=pool)
            except BaseException:  # stopped (Ctrl-C, no cluster): the index will not be written
                index_made.cancel()
                raise
            run.at_risk_cells = at_risk.result()
            parts = index_made.result()
        if pool is not None:  # the kernels stop while the batch's own files are written
            runner.stop_pool(pool, wait=False)
        run.outcomes = sorted(outcomes, key=lambda o: units.index(o["unit"]))
        # ---- index and manifest (from the same forecast the notebooks make), staged too
        params["context_dir"] = str(out_dir / "_context")  # where the manifest will find it
        write_index(results, batch / run.index.name, by=by, slugs=slugs, run=run, parts=parts)
        run.seconds = round(time.perf_counter() - started, 2)
        write_manifest(batch / run.manifest.name, results=results, params=params, run=run, units=units,
                       slugs=slugs, notebook=notebook, kernel=kernel, command=command, names=names)
        # ---- the batch succeeded when it made a briefing: its pages and province-wide files
        # replace the earlier ones
        for staged, final in moves:  # units made (so the batch made a briefing)
            if staged is None:
                final.unlink(missing_ok=True)  # a unit made now: its earlier failure is gone
            else:
                os.replace(staged, final)
        if run.made:
            replace_folder(context, out_dir / "_context")
            if quota_books:
                replace_folder(staging / "chi_tieu", out_dir / "chi_tieu")
            for name in BATCH_FILES:  # the manifest last
                os.replace(batch / name, out_dir / name)
        else:
            run.kept_earlier = True
    finally:
        if pool is not None:
            runner.stop_pool(pool)
        for folder in (staging, logs):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
    return run


def _chosen(names: list[str], only, by: str, without: dict[str, str] | None = None) -> list[str]:
    """The units of ``names`` a batch makes: ``only`` (in the order of ``names``) or all;
    ParameterError for a name not among them (``without``: units of the data that
    cannot be briefed, and why)."""
    if not only:
        return names
    for unit in only:
        if unit in (without or {}):
            raise ParameterError(without[unit])
    unknown = [u for u in only if u not in names]
    if unknown:
        from .spelling import _fold, unit_name_key

        def key(name):  # no case, accents or unit word: "huyện mường tè" may be "Mường Tè"
            return _fold(unit_name_key(name)[1])

        close = {u: [n for n in names if key(n) == key(u)] for u in unknown}
        meant = [f"did you mean {' or '.join(repr(n) for n in close[u])}"
                 + ("?" if len(unknown) == 1 else f" for {u!r}?") for u in unknown if close[u]]
        raise ParameterError(f"no {by} named {', '.join(repr(u) for u in unknown)} "
                             + (f"({'; '.join(meant)})" if meant else f"(choose from: {', '.join(names)})"))
    return [u for u in names if u in set(only)]
