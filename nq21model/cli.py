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


def cmd_briefings(args) -> int:
    from .briefings import notebook_parameters, run_briefings

    dataset = load_data(args)
    scenario = scenario_from_args(args, dataset)
    params = notebook_parameters(unit_column=args.unit, cells=args.cells, history=args.history, sheet=args.sheet,
                                 quotas=args.quotas, scenario=scenario, base_year=args.base_year,
                                 horizons=args.horizon, method=args.method, draws=args.draws, seed=args.seed)
    run = run_briefings(params, only=args.only, jobs=args.jobs, out_dir=args.out, notebook=args.notebook,
                        kernel=args.kernel, progress=not args.quiet, command=["nq21model", *sys.argv[1:]],
                        dataset=dataset)
    print(run.report())
    if run.failures:
        print(run.failure_report(), file=sys.stderr)
        return 1
    return 0


def cmd_template(args) -> int:
    from .data import write_template

    path = write_template(args.out)
    print(f"Wrote the Excel template (sheets Chi bộ, Lịch sử, Hướng dẫn) to {path}")
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

    p = sub.add_parser("briefings", help="one HTML briefing per district (or commune), index, Excel, manifest")
    _add_data_args(p)
    _add_scenario_args(p)
    p.add_argument("--unit", default="district", metavar="COLUMN",
                   help="cells column whose values are the units briefed (default district; e.g. commune)")
    p.add_argument("--only", action="append", metavar="NAME", help="brief only this unit, repeatable")
    p.add_argument("--jobs", type=int, metavar="N", help="notebooks run at once (default: number of cores)")
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
