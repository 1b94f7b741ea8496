"""The command line's arguments (MODEL.md §4): every command, its options and help;
what runs them is :mod:`nq21model.cli`."""
from __future__ import annotations

import argparse
from pathlib import Path


def _add_data_args(p: argparse.ArgumentParser, *,
                   base_year: str = "base year of the forecast (default: last year of history)") -> None:
    g = p.add_argument_group("data")
    g.add_argument("--cells", type=Path, help="cells table, CSV or XLSX (default: bundled data/raw/cells.csv)")
    g.add_argument("--history", type=Path, help="history table, CSV or XLSX (default: bundled data/raw/history.csv)")
    g.add_argument("--totals", type=Path, metavar="F",
                   help="yearly members and admissions of the whole party organisation per unit (unit, year, "
                        "members, admitted); default totals.csv beside the cells file, if there is one")
    g.add_argument("--sheet", help="sheet of an XLSX input (name or 0-based number; default: the sheet named for "
                                   "the table or whose first rows hold its headers, as the template's 'Chi bộ' "
                                   "and 'Lịch sử', else the first): the cells' sheet, or the history's when only "
                                   "the history is a workbook")
    g.add_argument("--history-sheet", help="the history's sheet, when the cells' is given by --sheet or is in "
                                           "another workbook (name or 0-based number)")
    g.add_argument("--base-year", type=int, help=base_year)
    g.add_argument("--reconcile", action="store_true",
                   help="history rows that break the yearly identity: trust local_members, adjust "
                        "transferred_in/exited, and list every adjusted row in a file (default: an error)")


def _add_scenario_args(p: argparse.ArgumentParser, *, horizons: bool = True, calibration: bool = True) -> None:
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
    g.add_argument("--quotas", type=Path, metavar="F", help="quota table cell_id, year, quota (CSV or XLSX; allocate --out's), or a quota list "
                        "with a column a year (a workbook of allocate --workbooks or of chi_tieu/)")
    g.add_argument("--max-lift", type=float, default=2.0, metavar="L",
                   help="a cell admits at most L times its calibrated rate, whatever its quota (default 2)")
    g.add_argument("--method", choices=("exact", "monte-carlo"), default="exact")
    g.add_argument("--draws", type=int, default=10_000, help="Monte Carlo draws (default 10000)")
    g.add_argument("--seed", type=int, help="Monte Carlo seed")
    g.add_argument("--calibrated", action="store_true",
                   help="accepted for old scripts: calibrated rates are the default")
    if not calibration:  # briefings fit the calibration once per batch, with parameter uncertainty
        return
    g.add_argument("--calibration", type=Path, metavar="F.json",
                   help="use the parameters saved by 'nq21model calibrate --out F.json' (same data and base "
                        "year) instead of fitting again")
    g.add_argument("--no-parameter-uncertainty", dest="parameter_uncertainty", action="store_false",
                   help="calibrated point estimates, only the years to come drawn (default: mix over "
                        "parameter draws)")


def build_parser(commands: dict) -> argparse.ArgumentParser:
    """The command line's parser; ``commands`` maps each command's name to the function
    that runs it (``args.func``)."""
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
    p.add_argument("--out", type=Path, metavar="F.csv|F.xlsx",
                   help="write the cell table (XLSX: also units, province, the cells not forecast)")
    p.add_argument("--out-units", type=Path, metavar="F.csv",
                   help="write the yearly path of every unit and the province: members, admissions, shares")
    p.set_defaults(func=commands["forecast"])

    p = sub.add_parser("calibrate", help="fit rates on history up to the base year; print the statsmodels "
                                         "summaries and write the fitted parameters (JSON)")
    _add_data_args(p)
    p.add_argument("--out", type=Path, metavar="F.json", help="output (default outputs/calibration.json)")
    p.add_argument("--draws", type=int, default=100, help="parameter draws used by forecasts (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the parameter draws (default 0)")
    p.add_argument("--no-parameter-uncertainty", dest="parameter_uncertainty", action="store_false",
                   help="forecasts from these parameters use point estimates only")
    p.set_defaults(func=commands["calibrate"])

    p = sub.add_parser("backtest", help="replay a base year and score forecasts against what happened",
                       description="Fit every method on history up to --base-year (default: 5 years before "
                                   "the last year of history) and score its forecast of --horizon (default: "
                                   "the last year) against what happened: Brier, log score, reliability, "
                                   "80 % interval coverage, for k = 3, 4, 5.")
    _add_data_args(p, base_year="base year of the replay (default: 5 years before the last year of history)")
    p.add_argument("--horizon", type=int, metavar="Y",
                   help="year scored, covered by the history (default: the last year)")
    p.add_argument("--draws", type=int, default=100, help="parameter draws (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the parameter draws (default 0)")
    p.add_argument("--no-parameter-uncertainty", dest="parameter_uncertainty", action="store_false",
                   help="calibrated model with point estimates only")
    p.add_argument("--out", type=Path, metavar="F.csv|F.xlsx",
                   help="write the scores (XLSX: also reliability, cells, province cross-check)")
    p.set_defaults(func=commands["backtest"])

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
    p.set_defaults(func=commands["targets"])

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
    p.set_defaults(func=commands["allocate"])

    p = sub.add_parser("briefings", help="one HTML briefing per district (or commune), index, Excel, manifest")
    _add_data_args(p)
    _add_scenario_args(p, calibration=False)
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
    p.set_defaults(func=commands["briefings"])

    p = sub.add_parser("synth", help="regenerate the bundled synthetic data set, bit for bit")
    p.add_argument("--out", type=Path, default=config.RAW_DIR, help="folder (default data/raw)")
    p.add_argument("--seed", type=int, default=21, help="generator seed (default 21)")
    p.set_defaults(func=commands["synth"])

    p = sub.add_parser("template", help="write the Excel template for entering a province's data")
    p.add_argument("--out", type=Path, default=Path("nq21model-template.xlsx"), help="XLSX path")
    p.set_defaults(func=commands["template"])
    return parser
