"""Command line: a thin layer over the package (MODEL.md §4).

Bad input prints one message naming file, row and column and exits with code 2,
writing nothing. Imports are lazy so that a command starts fast.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_BUG = 1


# ----------------------------------------------------------------- arguments


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--cells", type=Path, help="cells table, CSV or XLSX (default: bundled data/raw/cells.csv)")
    g.add_argument("--history", type=Path, help="history table, CSV or XLSX (default: bundled data/raw/history.csv)")
    g.add_argument("--totals", type=Path, metavar="F",
                   help="yearly members and admissions of the whole party organisation per unit (unit, year, "
                        "members, admitted); default totals.csv beside the cells file, if there is one")
    g.add_argument("--sheet", help="sheet of an XLSX input (name or 0-based number; default the first)")
    g.add_argument("--base-year", type=int, help="base year of the forecast (default: last year of history)")
    g.add_argument("--reconcile", action="store_true",
                   help="history rows that break the yearly identity: trust local_members, adjust "
                        "transferred_in/exited, and list every adjusted row in a file (default: an error)")


def _add_scenario_args(p: argparse.ArgumentParser, *, horizons: bool = True) -> None:
    g = p.add_argument_group("scenario (default: continue as calibrated on history up to the base year)")
    if horizons:
        g.add_argument("--horizon", type=int, action="append", metavar="Y",
                       help="horizon year, repeatable (default: every target year after the base year)")
    budget = g.add_mutually_exclusive_group()
    budget.add_argument("--admission-rate", type=float, metavar="R",
                        help="the programme's rate: admissions a year as a share of ALL party members (the "
                             "totals table), e.g. 0.035; village cells get their historical share of them")
    budget.add_argument("--admissions-per-year", type=float, metavar="N",
                        help="admissions of the village cells a year, as a number")
    g.add_argument("--admission-base", choices=("all", "local"), default="all",
                   help="base of --admission-rate: all party members (default) or the village cells' local members")
    g.add_argument("--fixed-rates", action="store_true",
                   help="one attrition rate for every cell and no calibration (the textbook process)")
    g.add_argument("--attrition-rate", type=float, metavar="A",
                   help="with --fixed-rates: yearly share of local members who leave (default 0.02)")
    g.add_argument("--allocation", choices=("calibrated", "population", "members", "quota"), default=None,
                   help="how admissions are split over cells (default: each cell's calibrated share; "
                        "population with --fixed-rates; quota with --quotas)")
    g.add_argument("--quotas", type=Path, metavar="F", help="quota table cell_id, year, quota (CSV or XLSX)")
    g.add_argument("--max-lift", type=float, default=2.0, metavar="L",
                   help="a cell admits at most L times its calibrated rate, whatever its quota (default 2)")
    g.add_argument("--method", choices=("exact", "monte-carlo"), default="exact")
    g.add_argument("--draws", type=int, default=10_000, help="Monte Carlo draws (default 10000)")
    g.add_argument("--seed", type=int, help="Monte Carlo seed")
    g.add_argument("--calibrated", action="store_true",
                   help="accepted for old scripts: calibrated rates are the default")
    g.add_argument("--calibration", type=Path, metavar="F.json",
                   help="use the parameters saved by 'nq21model calibrate --out F.json' (same data and base "
                        "year) instead of fitting again")
    g.add_argument("--no-parameter-uncertainty", dest="parameter_uncertainty", action="store_false",
                   help="calibrated point estimates, only the years to come drawn (default: mix over "
                        "parameter draws)")


def _sheet(value):
    if value is None:
        return None
    return int(value) if str(value).isdigit() else value


def load_data(args):
    """The dataset named by the command's data flags (warnings shown once, on stderr)."""
    from .data import load_dataset

    return load_dataset(args.cells, args.history, totals=getattr(args, "totals", None), sheet=_sheet(args.sheet),
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
    """With --reconcile: every adjusted history row into a file beside the output
    (or outputs/), named on stdout."""
    from . import config
    from .files import write_table

    adjusted = dataset.adjustments
    if adjusted is None or adjusted.empty:
        return
    path = (out.parent / f"{out.stem}-reconciled.csv") if out is not None else \
        config.OUTPUTS_DIR / "reconciled-history-rows.csv"
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
    from .files import check_table_path, write_table
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
    if args.out is not None:
        write_table({"cells": results.cells, "units": results.units(unit),
                     "province": results.province}, args.out, synthetic=dataset.synthetic)  # CSV: the first table
    if args.out_units is not None:
        write_table(results.unit_paths(unit), args.out_units, synthetic=dataset.synthetic)
    results.print_summary(unit, max_units=PRINTED_UNITS)
    print(console.scenario_people_line(results))
    if len(results.absent):
        reasons = results.absent["reason"].value_counts()
        print(f"Not forecast: {reasons.get('dissolved', 0)} cells dissolved before {results.base_year}, "
              f"{reasons.get('not_yet', 0)} with no history up to it (see 'absent' in the Python API)")
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

    out = args.out if args.out is not None else config.OUTPUTS_DIR / "calibration.json"
    if out.suffix.lower() != ".json":
        raise ParameterError(f"{out}: the output must end in .json")
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
    from .exceptions import ParameterError

    if not args.scheduler:
        from .runner import start_server

        start_server()  # the local workers' server starts while the data are read
    dataset = load_data(args)
    scenario = scenario_from_args(args, dataset)
    if args.calibration is not None or not args.parameter_uncertainty:
        raise ParameterError("briefings fit the calibration once per run, with parameter uncertainty: "
                             "--calibration and --no-parameter-uncertainty are for forecast")
    if args.method == "monte-carlo" and args.seed is None:  # one seed for the index and every briefing
        import secrets

        args.seed = secrets.randbelow(2**31)
    params = notebook_parameters(unit_column=args.unit or dataset.default_unit, cells=args.cells,
                                 history=args.history, totals=args.totals, sheet=args.sheet, quotas=args.quotas,
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
    from .quota_tables import write_quota_workbooks
    from .files import check_table_path, write_table

    if args.out is not None:
        check_table_path(args.out)
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
    allocation.print_summary()
    if args.out is not None:
        print(f"\nWrote {len(allocation.table)} quota rows (cell × year) to {args.out}")
    if args.workbooks is not None:
        print(f"Wrote {len(paths)} quota workbooks to {args.workbooks}")
    write_adjustments(dataset, args.out)
    return 0


# -------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from . import __version__, config

    parser = argparse.ArgumentParser(
        prog="nq21model",
        description="Local party members per village cell, forecast against the targets of "
                    "Resolution 21-NQ/TW (Lai Châu). With no options every command uses the "
                    "bundled synthetic data.")
    parser.add_argument("--version", action="version", version=f"nq21model {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("forecast", help="exact forecast per cell, district and province")
    _add_data_args(p)
    _add_scenario_args(p)
    p.add_argument("--unit", default=None, metavar="COLUMN",
                   help="cells column to summarise by (default district, or commune when there is none)")
    p.add_argument("--out", type=Path, metavar="F.csv|F.xlsx", help="write the cell table (XLSX: also units, province)")
    p.add_argument("--out-units", type=Path, metavar="F.csv",
                   help="write the yearly path of every unit and the province: members, admissions, shares")
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("calibrate", help="fit rates on history up to the base year; print the statsmodels "
                                         "summaries and write the fitted parameters (JSON)")
    _add_data_args(p)
    p.add_argument("--out", type=Path, metavar="F.json", help="output (default outputs/calibration.json)")
    p.add_argument("--draws", type=int, default=100, help="parameter draws used by forecasts (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the parameter draws (default 0)")
    p.add_argument("--no-parameter-uncertainty", dest="parameter_uncertainty", action="store_false",
                   help="forecasts from these parameters use point estimates only")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("backtest", help="replay a base year and score forecasts against what happened",
                       description="Fit every method on history up to --base-year (default: 5 years before "
                                   "the last year of history) and score its forecast of --horizon (default: "
                                   "the last year) against what happened: Brier, log score, reliability, "
                                   "80 % interval coverage, for k = 3, 4, 5.")
    _add_data_args(p)
    p.add_argument("--horizon", type=int, metavar="Y",
                   help="year scored, covered by the history (default: the last year)")
    p.add_argument("--draws", type=int, default=100, help="parameter draws (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the parameter draws (default 0)")
    p.add_argument("--no-parameter-uncertainty", dest="parameter_uncertainty", action="store_false",
                   help="calibrated model with point estimates only")
    p.add_argument("--out", type=Path, metavar="F.csv|F.xlsx",
                   help="write the scores (XLSX: also reliability, cells, province cross-check)")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("targets", help="every quantitative target of the action programme, observed and forecast")
    _add_data_args(p)
    g = p.add_argument_group("tracker tables (default: the files of these names beside the cells file)")
    g.add_argument("--roles", type=Path, metavar="F", help="role booleans by cell and year (roles.csv)")
    g.add_argument("--organisations", type=Path, metavar="F", help="grassroots party organisations (organisations.csv)")
    g.add_argument("--organisation-years", type=Path, metavar="F",
                   help="yearly ratings and secretary roles of the organisations (organisation_years.csv)")
    _add_scenario_args(p, horizons=False)
    p.add_argument("--unit", default=None, metavar="COLUMN",
                   help="also report each unit of this cells column, e.g. district (default: the province only)")
    p.add_argument("--out", type=Path, metavar="F.csv|F.xlsx", help="write the table (XLSX: also the province sheet)")
    p.set_defaults(func=cmd_targets)

    p = sub.add_parser("allocate", help="admission quotas per cell that cells can meet and that lift the most "
                                        "cells to the target, handed down province → unit → cell")
    _add_data_args(p)
    g = p.add_argument_group("allocation")
    g.add_argument("--horizon", type=int, metavar="Y", help="target year (default the last target year, 2030)")
    g.add_argument("--threshold", type=int, action="append", metavar="K",
                   help="local members a cell needs at the horizon, repeatable (equal weights; "
                        "default the highest target threshold: 5 for 2030, 3 for 2025)")
    budget = g.add_mutually_exclusive_group()
    budget.add_argument("--admissions-per-year", type=float, metavar="N",
                        help="the village cells' admissions a year to hand out, as a number")
    budget.add_argument("--admission-rate", type=float, metavar="R",
                        help="the programme's rate of all party members (default 0.035); village cells get "
                             "their historical share of it")
    g.add_argument("--admission-base", choices=("all", "local"), default=None,
                   help="base of --admission-rate (default all members when there is a totals table)")
    g.add_argument("--max-lift", type=float, default=2.0, metavar="L",
                   help="a cell admits at most L times its calibrated rate, whatever its quota (default 2)")
    g.add_argument("--pool", action="store_true",
                   help="let the province move admissions between units (default: each unit keeps its budget)")
    g.add_argument("--floor", type=float, default=2.0, metavar="F",
                   help="a cell whose population share of the period is at least F admissions gets at least 1 "
                        "(default 2)")
    g.add_argument("--no-floor", action="store_true", help="no floor")
    g.add_argument("--cap", type=int, metavar="C", help="most quota per cell and year (default: its capacity)")
    p.add_argument("--unit", default=None, metavar="COLUMN",
                   help="cells column the budget is handed down by (default district, or commune)")
    p.add_argument("--out", type=Path, metavar="F.csv|F.xlsx",
                   help="write the quota table (cell × year; XLSX: also the summary and the sensitivity)")
    p.add_argument("--workbooks", type=Path, metavar="DIR", help="also write one XLSX quota list per unit")
    p.set_defaults(func=cmd_allocate)

    p = sub.add_parser("briefings", help="one HTML briefing per district (or commune), index, Excel, manifest")
    _add_data_args(p)
    _add_scenario_args(p)
    p.add_argument("--unit", default=None, metavar="COLUMN",
                   help="cells column whose values are the units briefed (default district, or commune when "
                        "there is none; e.g. commune_2025)")
    p.add_argument("--only", action="append", metavar="NAME", help="brief only this unit, repeatable")
    p.add_argument("--jobs", type=int, metavar="N", help="notebooks run at once (default: number of cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the units on an existing Dask cluster (pip install -e '.[dask]'; every worker needs "
                        "the project's environment and the data files at the same paths)")
    p.add_argument("--out", type=Path, default=config.OUTPUTS_DIR, metavar="DIR", help="folder (default outputs/)")
    p.add_argument("--notebook", type=Path, metavar="F", help="notebook to run (default notebooks/briefing.ipynb)")
    p.add_argument("--kernel", default=config.KERNEL_NAME, help=f"Jupyter kernel (default {config.KERNEL_NAME})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_briefings)

    p = sub.add_parser("synth", help="regenerate the bundled synthetic data set, bit for bit")
    p.add_argument("--out", type=Path, default=config.RAW_DIR, help="folder (default data/raw)")
    p.add_argument("--seed", type=int, default=21, help="generator seed (default 21)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("template", help="write the Excel template for entering a province's data")
    p.add_argument("--out", type=Path, default=Path("nq21model-template.xlsx"), help="XLSX path")
    p.set_defaults(func=cmd_template)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .exceptions import DataError, ParameterError

    try:
        with _shown_warnings(args):
            return args.func(args)
    except (DataError, ParameterError) as exc:
        print(f"nq21model {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # an output folder that cannot be made, a file that cannot be read…
        print(f"nq21model {args.command}: error: {exc.strerror or exc}"
              + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback in a file
        report = crash_report(args, exc)
        print(f"nq21model {args.command}: internal error ({type(exc).__name__}) on "
              f"{describe_inputs(args)}; this is a bug, not your data's fault. Details: {report}", file=sys.stderr)
        return EXIT_BUG


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
    sys.exit(main())
