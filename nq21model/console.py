"""Plain-text tables the commands print (a country's thousands of units cut to
the ones that need attention)."""
from __future__ import annotations

import pandas as pd

from . import config
from .data import PROVINCE
from .results_base import OBSERVED_COLUMNS
from .statuses import risk_threshold


def forecast_text(results, by: str | None = None, *, max_units: int | None = None) -> str:
    """:meth:`~nq21model.results.ForecastResults.summary` as a plain text table; with
    more than ``max_units`` units, the province and the units least likely to reach
    their target at the last horizon, and a line saying where every unit is."""
    table = results.summary(by)
    seen = pd.concat([results.province, results.units(by)], ignore_index=True)  # the summary's rows, in order
    for col in OBSERVED_COLUMNS:  # a replay: what happened in a forecast year the history covers
        table[col] = seen[col].to_numpy()
    units = table["unit"].iloc[len(results.province):].unique()
    note = ""
    if max_units is not None and len(units) > max_units:
        horizon = max(results.horizons)
        k = risk_threshold(horizon)
        last = table[(table["horizon"] == horizon) & (table["unit"] != PROVINCE)]
        worst = last.sort_values([f"p_share_95_at_least_{k}", f"share_at_least_{k}"], kind="stable")["unit"]
        table = table[(table["unit"] == PROVINCE) | table["unit"].isin(set(worst.iloc[:max_units]))]
        note = (f"\n{max_units} of {len(units):,} units ({by or results.unit_column}) shown: those least likely "
                f"to have ≥ {k} local members in 95 % of cells by {horizon}; every unit: --out F.xlsx "
                "(sheet 'units') or --out-units F.csv")
    return format_summary(table, results) + note


def format_summary(table: pd.DataFrame, results=None) -> str:
    """Plain-text table of a summary (with ``results``, the scenario above it), shares
    against the 95 % target; under a forecast row of a year the history covers (a
    replay), what happened, when ``table`` has :data:`OBSERVED_COLUMNS`."""
    def pct(v):
        return "" if pd.isna(v) else f"{100 * v:5.1f}%"

    def prob(v):
        return "" if pd.isna(v) else f"{v:4.2f}"

    width = max(12, int(table["unit"].str.len().max()))
    head = f"{'unit':<{width}} {'year':>4} {'status':<8} {'cells':>5} {'members':>8}"
    for k in config.THRESHOLDS:
        head += f"  {'≥' + str(k):>6} {'P95':>4}"
    lines = []
    if results is not None:
        rates = ("calibrated rates with parameter uncertainty" if results.rates.draws > 1 else
                 "calibrated rates (point estimates)" if results.rates.source == "calibrated" else "fixed rates")
        lines.append(f"Base year {results.base_year}; scenario: {results.scenario.label}; {rates}; "
                     f"method: {results.method}"
                     + ("; SYNTHETIC DATA (Dữ liệu mô phỏng)" if results.dataset.synthetic else ""))
        lines += [f"Note: {note}" for note in results.notes]
        lines.append("Share of cells with ≥ k local members; P95 = probability that the share reaches 95 %."
                     + (" 'happened': what the history holds for a forecast year (a replay: its cells are those "
                        "with a count that year)."
                        if "observed_members" in table and (table["status"].eq("forecast")
                                                            & table["observed_members"].notna()).any() else ""))
    lines += [head, "-" * len(head)]
    for r in table.to_dict("records"):
        line = (f"{r['unit']:<{width}} {int(r['horizon']):>4} {r['status']:<8} {int(r['cells']):>5} "
                f"{r['expected_members']:>8.0f}")
        for k in config.THRESHOLDS:
            line += f"  {pct(r[f'share_at_least_{k}']):>6} {prob(r[f'p_share_95_at_least_{k}']):>4}"
        lines.append(line)
        if r["status"] == "forecast" and pd.notna(r.get("observed_members", float("nan"))):
            line = (f"{r['unit']:<{width}} {int(r['horizon']):>4} {'happened':<8} {int(r['observed_cells']):>5} "
                    f"{r['observed_members']:>8.0f}")
            for k in config.THRESHOLDS:
                line += f"  {pct(r[f'observed_share_at_least_{k}']):>6} {'':>4}"
            lines.append(line.rstrip())
    return "\n".join(lines)


def scenario_people_line(results) -> str:
    """What the scenario's admissions mean in people, the first year."""
    from .report import scenario_people

    people = scenario_people(results)
    line = f"Admissions in {people['year']}: village cells ≈ {people['village']:,.0f}"
    if people.get("province") is not None:
        line += (f" of ≈ {people['province']:,.0f} for the whole province "
                 f"({people['rate']:.1%} of ≈ {people['members']:,.0f} party members)")
    return line
