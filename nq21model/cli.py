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


# ----------------------------------------------------------------- arguments


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--cells", type=Path, help="cells table, CSV or XLSX (default: bundled data/raw/cells.csv)")
    g.add_argument("--history", type=Path, help="history table, CSV or XLSX (default: bundled data/raw/history.csv)")
    g.add_argument("--sheet", help="sheet of an XLSX input (name or 0-based number; default the first)")
    g.add_argument("--base-year", type=int, help="base year of the forecast (default: last year of history)")


def _add_scenario_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scenario")
    g.add_argument("--horizon", type=int, action="append", metavar="Y",
                   help="horizon year, repeatable (default: every target year after the base year)")
    g.add_argument("--admission-rate", type=float, metavar="R",
                   help="province admissions a year as a share of local members (default 0.035)")
    g.add_argument("--admissions-per-year", type=float, metavar="N",
                   help="province admissions a year as a number (instead of a rate)")
    g.add_argument("--attrition-rate", type=float, metavar="A", help="yearly attrition (default 0.02)")
    g.add_argument("--allocation", choices=("population", "members", "quota"), default=None,
                   help="how admissions are split over cells (default population; quota with --quotas)")
    g.add_argument("--quotas", type=Path, metavar="F", help="quota table cell_id, year, quota (CSV or XLSX)")
    g.add_argument("--method", choices=("exact", "monte-carlo"), default="exact")
    g.add_argument("--draws", type=int, default=10_000, help="Monte Carlo draws (default 10000)")
    g.add_argument("--seed", type=int, help="Monte Carlo seed")


def _sheet(value):
    if value is None:
        return None
    return int(value) if str(value).isdigit() else value


def load_data(args):
    """The dataset named by the command's data flags."""
    from .data import load_dataset

    return load_dataset(args.cells, args.history, sheet=_sheet(args.sheet))


def scenario_from_args(args, dataset):
    """A Scenario from the command's scenario flags."""
    from . import config
    from .data import load_quotas
    from .scenario import Scenario

    quotas = load_quotas(args.quotas, dataset.cells) if args.quotas else None
    allocation = args.allocation or ("quota" if quotas is not None else "population")
    return Scenario(
        admission_rate=config.ADMISSION_RATE if args.admission_rate is None else args.admission_rate,
        attrition_rate=config.ATTRITION_RATE if args.attrition_rate is None else args.attrition_rate,
        admissions_per_year=args.admissions_per_year,
        allocation=allocation,
        quotas=quotas,
    )


# ------------------------------------------------------------------ commands


def cmd_forecast(args) -> int:
    from .files import check_table_path, write_table
    from .forecast import forecast

    if args.out is not None:
        check_table_path(args.out)
    dataset = load_data(args)
    scenario = scenario_from_args(args, dataset)
    results = forecast(dataset, scenario, base_year=args.base_year, horizons=args.horizon,
                       method=args.method, draws=args.draws, seed=args.seed)
    if args.out is not None:
        if args.out.suffix.lower() == ".xlsx":
            write_table({"cells": results.cells, "units": results.units(args.unit),
                         "province": results.province}, args.out)
        else:
            write_table(results.cells, args.out)
    results.print_summary(args.unit)
    if args.out is not None:
        print(f"\nWrote {len(results.cells)} cell rows to {args.out}")
    return 0


def cmd_synth(args) -> int:
    from .synth import write_bundle

    paths = write_bundle(args.out, seed=args.seed)
    print(f"Wrote the synthetic province (seed {args.seed}) to {args.out}"
          + f": {', '.join(Path(p).name for p in paths.values())}")
    return 0


def cmd_targets(args) -> int:
    from .files import check_table_path, write_table
    from .targets import format_targets, load_tracker_data, province_table, track_targets

    if args.out is not None:
        check_table_path(args.out)
    dataset = load_data(args)
    data = load_tracker_data(dataset, roles=args.roles, organisations=args.organisations,
                             organisation_years=args.organisation_years, unit_counts=args.unit_counts)
    for name in ("admissions_per_year", "quotas", "allocation"):
        setattr(args, name, getattr(args, name, None))
    scenario = scenario_from_args(args, dataset)
    table = track_targets(data, by=args.unit, base_year=args.base_year, scenario=scenario)
    if args.out is not None:
        if args.out.suffix.lower() == ".xlsx":
            write_table({"targets": table, "Toàn tỉnh": province_table(table)}, args.out)
        else:
            write_table(table, args.out)
    print(format_targets(table))
    if args.out is not None:
        print(f"\nWrote {len(table)} rows to {args.out}")
    return 0


def cmd_template(args) -> int:
    from .data import write_template

    path = write_template(args.out)
    print(f"Wrote the Excel template (sheets Chi bộ, Lịch sử, Hướng dẫn) to {path}")
    return 0


def cmd_allocate(args) -> int:
    from .allocate import allocate, write_quota_workbooks
    from .files import check_table_path, write_table

    if args.out is not None:
        check_table_path(args.out)
    dataset = load_data(args)
    kwargs = {} if args.attrition_rate is None else {"attrition_rate": args.attrition_rate}
    allocation = allocate(dataset, base_year=args.base_year, horizon=args.horizon,
                          thresholds=args.threshold, admissions_per_year=args.admissions_per_year,
                          admission_rate=args.admission_rate, floor=args.floor, cap=args.cap,
                          achievement=args.achievement, **kwargs)
    if args.out is not None:
        if args.out.suffix.lower() == ".xlsx":
            write_table({"quotas": allocation.table, "summary": allocation.summary(args.unit)}, args.out)
        else:
            write_table(allocation.table, args.out)
    if args.workbooks is not None:
        paths = write_quota_workbooks(allocation, args.workbooks, by=args.unit)
    allocation.print_summary(args.unit)
    if args.out is not None:
        print(f"\nWrote {len(allocation.table)} quota rows (cell × year) to {args.out}")
    if args.workbooks is not None:
        print(f"Wrote {len(paths)} quota workbooks to {args.workbooks}")
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
    p.add_argument("--unit", default="district", help="cells column to summarise by (default district)")
    p.add_argument("--out", type=Path, metavar="F.csv|F.xlsx", help="write the cell table (XLSX: also units, province)")
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("targets", help="every quantitative target of the action programme, observed and forecast")
    _add_data_args(p)
    g = p.add_argument_group("tracker tables (default: the files of these names beside the cells file)")
    g.add_argument("--roles", type=Path, metavar="F", help="role booleans by cell and year (roles.csv)")
    g.add_argument("--organisations", type=Path, metavar="F", help="grassroots party organisations (organisations.csv)")
    g.add_argument("--organisation-years", type=Path, metavar="F",
                   help="yearly ratings and secretary roles of the organisations (organisation_years.csv)")
    g.add_argument("--unit-counts", type=Path, metavar="F", help="yearly counts per unit (unit_counts.csv)")
    g = p.add_argument_group("membership scenario")
    g.add_argument("--admission-rate", type=float, metavar="R",
                   help="province admissions a year as a share of local members (default 0.035)")
    g.add_argument("--attrition-rate", type=float, metavar="A", help="yearly attrition (default 0.02)")
    p.add_argument("--unit", default=None, metavar="COLUMN",
                   help="also report each unit of this cells column, e.g. district (default: the province only)")
    p.add_argument("--out", type=Path, metavar="F.csv|F.xlsx", help="write the table (XLSX: also the province sheet)")
    p.set_defaults(func=cmd_targets)

    p = sub.add_parser("allocate", help="admission quotas per cell that maximise the cells reaching the target")
    _add_data_args(p)
    g = p.add_argument_group("allocation")
    g.add_argument("--horizon", type=int, metavar="Y", help="target year (default the last target year, 2030)")
    g.add_argument("--threshold", type=int, action="append", metavar="K",
                   help="local members a cell needs at the horizon, repeatable (equal weights; "
                        "default the highest target threshold: 5 for 2030, 3 for 2025)")
    budget = g.add_mutually_exclusive_group()
    budget.add_argument("--admissions-per-year", type=float, metavar="N", help="province quota a year as a number")
    budget.add_argument("--admission-rate", type=float, metavar="R",
                        help="province quota a year as a share of local members (default 0.035)")
    g.add_argument("--attrition-rate", type=float, metavar="A", help="yearly attrition (default 0.02)")
    g.add_argument("--floor", type=float, default=0.25, metavar="F",
                   help="each cell keeps at least F of its population-proportional share (default 0.25)")
    g.add_argument("--cap", type=int, metavar="C",
                   help="most quota per cell and year (default the largest yearly admissions of any cell in history)")
    g.add_argument("--achievement", type=float, default=1.0, metavar="A",
                   help="realised admissions for a quota q are Poisson(q * A) (default 1)")
    p.add_argument("--unit", default="district", help="cells column to summarise by (default district)")
    p.add_argument("--out", type=Path, metavar="F.csv|F.xlsx", help="write the quota table (cell × year)")
    p.add_argument("--workbooks", type=Path, metavar="DIR", help="also write one XLSX quota list per unit")
    p.set_defaults(func=cmd_allocate)

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
        return args.func(args)
    except (DataError, ParameterError) as exc:
        print(f"nq21model {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
