"""Command line: a thin layer over the package (MODEL.md §4).

Bad input prints one message naming file, row and column and exits with code 2,
writing nothing. Imports are lazy so that a command starts fast.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_BUG = 1


def load_data(args):
    """The dataset named by the command's data flags (warnings shown once, on stderr)."""
    from .data import load_dataset

    from .tables import sheet_option

    return load_dataset(args.cells, args.history, totals=getattr(args, "totals", None), sheet=sheet_option(args.sheet),
                        history_sheet=sheet_option(getattr(args, "history_sheet", None)),
                        reconcile=getattr(args, "reconcile", False))


def scenario_from_args(args, dataset):
    """A Scenario from the command's scenario flags (ParameterError for flags that do
    not go together)."""
    from .model_tables import load_quotas
    from .exceptions import ParameterError
    from .scenario import Scenario

    fixed = getattr(args, "fixed_rates", False)
    if getattr(args, "attrition_rate", None) is not None and not fixed:
        raise ParameterError("--attrition-rate goes with --fixed-rates (calibrated attrition is fitted per cell)")
    if fixed and getattr(args, "calibration", None) is not None:
        raise ParameterError("--calibration F.json does not go with --fixed-rates")
    quotas = load_quotas(args.quotas, dataset.cells) if getattr(args, "quotas", None) else None
    return Scenario(admission_rate=args.admission_rate, admissions_per_year=getattr(args, "admissions_per_year", None),
                    admission_base=getattr(args, "admission_base", "all"), fixed_rates=fixed,
                    attrition_rate=config_attrition(args), allocation=getattr(args, "allocation", None),
                    quotas=quotas, max_lift=getattr(args, "max_lift", 2.0))


def config_attrition(args) -> float:
    from . import config

    value = getattr(args, "attrition_rate", None)
    return config.ATTRITION_RATE if value is None else value


def calibration_from_args(args, dataset, base_year):
    """The fitted Calibration the flags ask for (``--calibration F.json``, point
    estimates or draws), or None with --fixed-rates / too little history."""
    from .calibrate import Calibration, can_calibrate
    from .exceptions import ParameterError

    if getattr(args, "fixed_rates", False):
        return None
    # without parameter uncertainty the years to come are still uncertain (MODEL.md §2)
    uncertainty = True if getattr(args, "parameter_uncertainty", True) else "years"
    if getattr(args, "calibration", None) is not None:
        if not args.calibration.exists():
            raise ParameterError(f"{args.calibration}: file not found")
        cal = Calibration.from_json(args.calibration)
        if cal.base_year_ != base_year:
            raise ParameterError(f"{args.calibration.name} was fitted to base year {cal.base_year_}, "
                                 f"not {base_year}; run 'nq21model calibrate --base-year {base_year}'")
        cal.uncertainty = uncertainty
        return cal
    if not can_calibrate(dataset, base_year):
        return None
    return Calibration(uncertainty=uncertainty).fit(dataset, base_year)


def write_adjustments(dataset, out: Path | None) -> None:
    """With --reconcile: every adjusted history row into a file beside the output,
    else beside the history file (the bundled data's: outputs/), named on stdout."""
    from . import config
    from .files import write_table

    adjusted = dataset.adjustments
    if adjusted is None or adjusted.empty:
        return
    history = Path(dataset.sources.get("history", config.HISTORY_FILE))
    if out is not None:
        path = out.parent / f"{out.stem}-reconciled.csv"
    elif history.resolve().parent != config.RAW_DIR.resolve():
        path = history.parent / f"{history.stem}-reconciled.csv"
    else:
        path = config.OUTPUTS_DIR / "reconciled-history-rows.csv"
    write_table(adjusted, path)
    print(f"--reconcile: {len(adjusted)} history rows broke the yearly identity; local_members was trusted "
          f"and transferred_in/exited adjusted; every adjusted row is in {path}")


class _shown_warnings:
    """Print warnings (e.g. ConvergenceWarning) as one line each on stderr, never swallow them."""

    def __init__(self, args):
        self.command = getattr(args, "command", "nq21model")

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("always")
        command = self.command
        seen: dict[str, int] = {}
        self._seen = seen

        def show(message, category, filename, lineno, file=None, line=None):
            text = f"nq21model {command}: warning: {category.__name__}: {message}"
            seen[text] = seen.get(text, 0) + 1
            if seen[text] == 1:
                print(text, file=sys.stderr)

        warnings.showwarning = show
        return self

    def __exit__(self, *exc):
        repeated = sum(n - 1 for n in self._seen.values())
        if repeated:
            print(f"nq21model {self.command}: {repeated} repeated warning(s) not shown again", file=sys.stderr)
        return self._cm.__exit__(*exc)


# ------------------------------------------------------------------ commands


#: Units the forecast command prints at most (a country has thousands).
PRINTED_UNITS = 30


def cmd_forecast(args) -> int:
    from . import console
    from .files import check_table_path, table_written_meanwhile, write_table
    from .forecast import forecast

    for out in (args.out, args.out_units):
        if out is not None:
            check_table_path(out)
    dataset = load_data(args)
    scenario = scenario_from_args(args, dataset)
    base_year = dataset.last_year if args.base_year is None else args.base_year
    dataset.check_base_year(base_year)
    results = forecast(dataset, scenario, base_year=base_year, horizons=args.horizon,
                       calibration=calibration_from_args(args, dataset, base_year),
                       method=args.method, draws=args.draws, seed=args.seed)
    unit = args.unit or results.unit_column
    if args.out is not None and args.out.suffix.lower() == ".csv":  # the cells alone: written meanwhile
        with table_written_meanwhile(results.cells, args.out, synthetic=dataset.synthetic):
            results.units(unit), results.province
    elif args.out is not None:
        tables = {"cells": results.cells, "units": results.units(unit), "province": results.province}
        if len(results.absent):  # the cells not forecast, for the office that asks which
            tables["absent"] = results.absent
        write_table(tables, args.out, synthetic=dataset.synthetic)
    if args.out_units is not None:
        write_table(results.unit_paths(unit), args.out_units, synthetic=dataset.synthetic)
    results.print_summary(unit, max_units=PRINTED_UNITS)
    print(console.scenario_people_line(results))
    if len(results.absent):
        reasons = results.absent["reason"].value_counts()
        where = "listed by --out F.xlsx, in its sheet 'absent'" if args.out is None \
            or args.out.suffix.lower() != ".xlsx" else f"listed in the sheet 'absent' of {args.out}"
        print(f"Not forecast: {reasons.get('dissolved', 0)} cells dissolved before {results.base_year}, "
              f"{reasons.get('not_yet', 0)} with no history up to it ({where})")
        for text in results.full.units_without(results.base_year, unit).values():  # a whole district's report late
            print(f"  {text[0].upper()}{text[1:]}")
    if args.out is not None:
        print(f"\nWrote {len(results.cells)} cell rows to {args.out}")
    if args.out_units is not None:
        print(f"Wrote the yearly path of every {unit} and the province to {args.out_units}")
    write_adjustments(dataset, args.out)
    return 0


def cmd_calibrate(args) -> int:
    from . import config
    from .calibrate import Calibration
    from .exceptions import ParameterError
    from .files import check_writable

    out = args.out if args.out is not None else config.OUTPUTS_DIR / "calibration.json"
    if out.suffix.lower() != ".json":
        raise ParameterError(f"{out}: the output must end in .json")
    check_writable(out)
    dataset = load_data(args)
    cal = Calibration(draws=args.draws, uncertainty=args.parameter_uncertainty, seed=args.seed)
    cal.fit(dataset, args.base_year)
    print(cal.summary())
    print("\nSpread of the random effects (posterior mean variance α and sd of the multipliers):")
    print(cal.dispersion_.round(4).to_string())
    cal.to_json(out)
    print(f"\nWrote the fitted parameters to {out}")
    return 0


def cmd_backtest(args) -> int:
    from .backtest import backtest
    from .files import check_table_path, write_table

    if args.out is not None:
        check_table_path(args.out)
    dataset = load_data(args)
    result = backtest(dataset, args.base_year, args.horizon, draws=args.draws, seed=args.seed,
                      uncertainty=args.parameter_uncertainty)
    result.print_summary()
    if args.out is not None:
        tables = {"scores": result.scores, "reliability": result.reliability, "cells": result.cells}
        if result.units is not None:
            tables["units"] = result.units
        if result.crosscheck is not None:
            tables["province_crosscheck"] = result.crosscheck
        write_table(tables, args.out, synthetic=dataset.synthetic)  # CSV: the scores
        print(f"\nWrote the scores to {args.out}")
    return 0


def cmd_synth(args) -> int:
    from .synth import write_bundle

    paths = write_bundle(args.out, seed=args.seed)
    print(f"Wrote the synthetic province (seed {args.seed}) to {args.out}"
          + f": {', '.join(Path(p).name for p in paths.values())}")
    return 0


def cmd_targets(args) -> int:
    from .files import check_table_path, write_table
    from .target_views import format_targets, province_table
    from .targets import load_tracker_data, track_targets

    if args.out is not None:
        check_table_path(args.out)
    dataset = load_data(args)
    data = load_tracker_data(dataset, roles=args.roles, organisations=args.organisations,
                             organisation_years=args.organisation_years)
    scenario = scenario_from_args(args, dataset)
    table = track_targets(data, by=args.unit, base_year=args.base_year, scenario=scenario)
    if args.out is not None:
        write_table({"targets": table, "Toàn tỉnh": province_table(table)}, args.out,  # CSV: the first
                    synthetic=dataset.synthetic)
    print(format_targets(table))
    if args.out is not None:
        print(f"\nWrote {len(table)} rows to {args.out}")
    return 0


def cmd_briefings(args) -> int:
    from .briefings import notebook_parameters, run_briefings
    from .cluster import check_scheduler
    from .runner import start_server

    if args.scheduler:
        check_scheduler(args.scheduler)  # before the data are read and the province-wide parts made
    else:
        start_server()  # the local workers' server starts while the data are read
    dataset = load_data(args)
    # what is briefed, before the options are checked (they name only what was read)
    print(f"Briefings of {len(dataset.cells):,} cells, history {dataset.first_year}–{dataset.last_year}"
          + ("; SYNTHETIC DATA (Dữ liệu mô phỏng)" if dataset.synthetic else ""), flush=True)
    scenario = scenario_from_args(args, dataset)
    if args.method == "monte-carlo" and args.seed is None:  # one seed for the index and every briefing
        import secrets

        args.seed = secrets.randbelow(2**31)
    params = notebook_parameters(unit_column=args.unit or dataset.default_unit, cells=args.cells,
                                 history=args.history, totals=args.totals, sheet=args.sheet,
                                 history_sheet=args.history_sheet, quotas=args.quotas,
                                 scenario=scenario, base_year=args.base_year, horizons=args.horizon,
                                 method=args.method, draws=args.draws, seed=args.seed, reconcile=args.reconcile)
    run = run_briefings(params, only=args.only, jobs=args.jobs, out_dir=args.out, notebook=args.notebook,
                        kernel=args.kernel, progress=not args.quiet, command=["nq21model", *sys.argv[1:]],
                        dataset=dataset, scheduler=args.scheduler)
    print(run.report())
    write_adjustments(dataset, args.out / "index.html")
    if run.failures:
        print(run.failure_report(), file=sys.stderr)
        return 1
    return 0


def cmd_template(args) -> int:
    from .model_tables import write_template

    path = write_template(args.out)
    print(f"Wrote the Excel template (sheets Chi bộ, Lịch sử, Hướng dẫn) to {path}")
    return 0


def cmd_allocate(args) -> int:
    from .allocate import allocate
    from .quota_tables import remove_earlier_workbooks, write_quota_workbooks
    from .files import check_table_path, check_writable, write_table

    if args.out is not None:
        check_table_path(args.out)
    if args.workbooks is not None:
        check_writable(args.workbooks, folder=True)
    dataset = load_data(args)
    allocation = allocate(dataset, base_year=args.base_year, horizon=args.horizon, thresholds=args.threshold,
                          admissions_per_year=args.admissions_per_year, admission_rate=args.admission_rate,
                          admission_base=args.admission_base, unit=args.unit, pool=args.pool,
                          max_lift=args.max_lift, floor=None if args.no_floor else args.floor, cap=args.cap)
    if args.out is not None:
        write_table({"quotas": allocation.table, "summary": allocation.summary(),
                     "sensitivity": allocation.sensitivity()}, args.out, synthetic=dataset.synthetic)
    if args.workbooks is not None:
        paths = write_quota_workbooks(allocation, args.workbooks)
        removed = remove_earlier_workbooks(args.workbooks, paths.values())
    allocation.print_summary()
    if args.out is not None:
        print(f"\nWrote {len(allocation.table)} quota rows (cell × year) to {args.out}")
    if args.workbooks is not None:
        print(f"Wrote {len(paths)} quota workbooks to {args.workbooks}")
        if removed:
            print(f"Removed {len(removed)} quota lists of an earlier run that this plan does not make: "
                  + ", ".join(p.name for p in removed))
    write_adjustments(dataset, args.out)
    return 0


#: Each command's function (the parser's ``args.func``).
COMMANDS = {"forecast": cmd_forecast, "calibrate": cmd_calibrate, "backtest": cmd_backtest, "targets": cmd_targets,
            "allocate": cmd_allocate, "briefings": cmd_briefings, "synth": cmd_synth, "template": cmd_template}


def main(argv: list[str] | None = None) -> int:
    from .cli_parser import build_parser

    parser = build_parser(COMMANDS)
    args = parser.parse_args(argv)
    from .csv_arrow import forget_read_ahead, read_ahead
    from .exceptions import DataError, ParameterError

    read_ahead([getattr(args, "cells", None), getattr(args, "history", None)])  # while pandas imports
    try:
        with _shown_warnings(args):
            code = args.func(args)
        sys.stdout.flush()  # a reader gone (`| head`) is met here, not at the interpreter's exit
        return code
    except (DataError, ParameterError) as exc:
        print(f"nq21model {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # an output folder that cannot be made, a file that cannot be read…
        if isinstance(exc, BrokenPipeError) and _reader_gone():  # piped into `head` and the like
            return 0
        print(f"nq21model {args.command}: error: {exc.strerror or exc}"
              + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback in a file
        report = crash_report(args, exc)
        print(f"nq21model {args.command}: internal error ({type(exc).__name__}) on "
              f"{describe_inputs(args)}; this is a bug, not your data's fault. Details: {report}", file=sys.stderr)
        return EXIT_BUG
    finally:
        forget_read_ahead()


def run() -> None:
    """The program (``nq21model``, ``python -m nq21model``): :func:`main`, then exit.
    Its objects are frozen first (:func:`gc.freeze`): the interpreter's exit then
    skips the collections over them, a tenth of a second of a forecast's 1.3 s."""
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


def _reader_gone() -> bool:
    """Whether the standard output's reader went away (the pipe reports an error to
    poll), not some other pipe; then the output goes nowhere, and nothing is left to
    flush at exit."""
    import select

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        if not any(event & select.POLLERR for _, event in poller.poll(0)):
            return False
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    except (OSError, ValueError, AttributeError):  # an output without a file descriptor, no poll
        return False
    return True


def describe_inputs(args) -> str:
    """The inputs of a command, for a one-line message."""
    files = [str(getattr(args, name)) for name in ("cells", "history", "totals", "quotas")
             if getattr(args, name, None) is not None]
    return ", ".join(files) if files else "the bundled data"


def crash_report(args, exc: BaseException) -> str:
    """Write the traceback, the command and the versions to a file; return its path."""
    import datetime
    import platform
    import tempfile
    import traceback

    from . import __version__, config

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = "\n".join([f"nq21model {__version__} crash report, {stamp}",
                      f"command: nq21model {' '.join(sys.argv[1:])}", f"inputs: {describe_inputs(args)}",
                      f"python {platform.python_version()} on {platform.platform()}", "",
                      "".join(traceback.format_exception(exc))])
    for folder in (config.OUTPUTS_DIR, Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"nq21model-crash-{stamp}-{os.getpid()}.txt"
            path.write_text(text, encoding="utf-8")
            return str(path)
        except OSError:
            continue
    return "(no folder to write the report to)"


if __name__ == "__main__":  # pragma: no cover
    run()
