"""The scenarios of admissions side by side: continue as now, and the programme's
3 %, 3,5 %, 4 % of all party members (labels in people)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from . import config
from .fmt import format_number, format_percent
from .report_base import SCENARIO_RATES, HTML, _block, band_text, format_chance, html_table, new_figure
from .report_forecast import _unit_table, admissions, scenario_people
from .results import PROVINCE, ForecastResults
from .statuses import target_thresholds


def scenario_label(results: ForecastResults) -> str:
    """A scenario in words and people, e.g. 'Kết nạp 3,5% tổng số đảng viên toàn tỉnh
    ≈ 1.040 người/năm, trong đó chi bộ thôn, bản ≈ 660' (the first forecast year)."""
    people = scenario_people(results)
    village = format_number(round(people["village"], -1) if people["village"] >= 100 else people["village"])
    unit = "" if people["unit"] is None else \
        f"; {results.subset_of[1]} ≈ {format_number(people['unit'], 0 if people['unit'] >= 10 else 1)}"
    sc = results.scenario
    if sc.kind == "continue":
        return f"Giữ nguyên xu hướng hiện nay: chi bộ thôn, bản toàn tỉnh kết nạp ≈ {village} người/năm{unit}"
    if people["province"] is not None:
        province = format_number(round(people["province"], -1))
        return (f"Kết nạp {format_percent(people['rate'], 1)} tổng số đảng viên toàn tỉnh ≈ {province} người/năm, "
                f"trong đó chi bộ thôn, bản ≈ {village}{unit}")
    return f"{sc.label[0].upper()}{sc.label[1:]} (chi bộ thôn, bản ≈ {village} người/năm{unit})"


def comparison_scenarios(results: ForecastResults, rates=SCENARIO_RATES) -> list[tuple]:
    """The scenarios :func:`compare_scenarios` shows, each with whether it is the
    page's own: continue (when the rates are calibrated) and each rate of ``rates``
    on the programme's base (all party members; without a totals table, the village
    cells' local members), every other setting the page's."""
    from .scenario import Scenario

    own = results.scenario
    basis = "all" if results.full.totals is not None else "local"
    wanted = [Scenario()] if results.rates.source == "calibrated" else []
    wanted += [Scenario(admission_rate=float(r), admission_base=basis, fixed_rates=own.fixed_rates,
                        attrition_rate=own.attrition_rate) for r in rates]
    return [(sc, sc.kind == own.kind and sc.rate == own.rate and sc.admission_base == own.admission_base
             and sc.split == own.split) for sc in wanted]


def scenario_key(scenario) -> float | None:
    """The key of a comparison scenario in :func:`scenario_runs` (its rate; None: continue)."""
    return None if scenario.kind == "continue" else float(scenario.rate)


def scenario_runs(results: ForecastResults, rates=SCENARIO_RATES):
    """The whole data's forecast under each comparison scenario that is not the
    page's own, as pairs (:func:`scenario_key`, ForecastResults) made one at a time:
    what a batch computes once for all its units."""
    natural = _natural(results)
    for sc, current in comparison_scenarios(results, rates):
        if not current:
            yield scenario_key(sc), _rerun(results, sc, natural)


def compare_scenarios(results: ForecastResults, *, unit: str | None = None, by: str | None = None,
                      rates=SCENARIO_RATES) -> pd.DataFrame:
    """The unit under the programme's admission rates beside "continue as now".

    Scenarios: :func:`comparison_scenarios`, plus the briefing's own scenario when it
    is another; the calibration is the same. The runs of the other scenarios are
    ``results.scenario_runs`` when a batch handed them over (:mod:`unit_context`),
    else computed here. One row per scenario and horizon: ``scenario`` (in words and
    people), ``admission_rate`` (NaN for continue), ``current``, ``horizon``,
    ``expected_members, members_q10, members_q90, share_at_least_k,
    p_share_95_at_least_k, expected_zero_cells, p_no_zero_cell, admissions``
    (expected village admissions of the unit in base year + 1).
    """
    runs = results.scenario_runs or {}
    frames, matched, natural = [], False, None
    for scenario, current in comparison_scenarios(results, rates):
        matched |= current
        if current:
            res = results
        elif scenario_key(scenario) in runs:
            res = runs[scenario_key(scenario)]
        else:
            natural = natural if natural is not None else _natural(results)
            res = _rerun(results, scenario, natural)
        frames.append(_scenario_frame(res, unit, by, current))
    if not matched:
        frames.append(_scenario_frame(results, unit, by, True))
    return pd.concat(frames, ignore_index=True)


def _natural(results: ForecastResults):
    """The calibrated rates of every cell present in the base year, before any
    scenario (None for fixed rates): the forecast's own, or fitted again (the same
    deterministic fit) when these are a unit's results handed over by a batch."""
    if results.rates.source != "calibrated":
        return None
    natural = results.rates.info.get("natural")
    if natural is not None:
        return natural
    if results.scenario.kind == "continue" and results.subset_of is None:
        return results.rates
    from .calibrate import Calibration

    active = results.full.at_base(results.base_year)
    return Calibration().fit(results.full, results.base_year).rates(active, max(results.horizons))


def _rerun(results: ForecastResults, scenario, natural) -> ForecastResults:
    from .forecast import forecast
    from .scenario import scenario_rates

    rates = scenario_rates(results.full, scenario, results.base_year, max(results.horizons), natural=natural)
    res = forecast(results.full, scenario, base_year=results.base_year, horizons=results.horizons, rates=rates,
                   method=results.method, draws=results.draws or 10_000, seed=results.seed)
    return res if results.subset_of is None else res.subset(*results.subset_of)


def _scenario_frame(res: ForecastResults, unit, by, current: bool) -> pd.DataFrame:
    table = _unit_table(res, unit, by)
    table = table[table["status"] == "forecast"].copy()
    table.insert(0, "scenario", scenario_label(res))
    table.insert(1, "admission_rate", res.scenario.rate if res.scenario.rate is not None else np.nan)
    table.insert(2, "current", current)
    table["admissions"] = admissions(res, unit=unit, by=by)["expected"]
    return table.drop(columns=["unit", "status"])


def scenario_shares(table: pd.DataFrame) -> pd.DataFrame:
    """Long form of :func:`compare_scenarios` for the chart: ``scenario, horizon,
    threshold, share, p_share_95`` for the programme's thresholds of each horizon
    (:func:`~nq21model.statuses.target_thresholds`)."""
    rows = []
    for _, r in table.iterrows():
        for k in target_thresholds(int(r["horizon"])):
            rows.append({"scenario": r["scenario"], "horizon": int(r["horizon"]), "threshold": k,
                         "share": r[f"share_at_least_{k}"], "p_share_95": r[f"p_share_95_at_least_{k}"]})
    return pd.DataFrame(rows, columns=["scenario", "horizon", "threshold", "share", "p_share_95"])


def show_scenarios(table: pd.DataFrame) -> HTML:
    """The scenarios side by side: members, shares and P(target) at each target year."""
    cols = {}
    for _, r in table.iterrows():
        name = r["scenario"] + (" (kịch bản của báo cáo)" if r["current"] else "")
        col = cols.setdefault(name, {})
        h = int(r["horizon"])
        col["Chi bộ thôn, bản kết nạp năm đầu (kỳ vọng)"] = format_number(r["admissions"], 0)
        col[f"Đảng viên tại chỗ năm {h} (khoảng 80%)"] = (
            f"{format_number(r['expected_members'])} ({band_text(r['members_q10'], r['members_q90'])})")
        for k in target_thresholds(h):
            col[f"Tỷ lệ chi bộ ≥ {k} ĐV năm {h}"] = format_percent(r[f"share_at_least_{k}"], 1)
            col[f"Xác suất đạt {format_percent(config.TARGET_SHARE, 0)} (≥ {k} ĐV, {h})"] = \
                format_chance(r[f"p_share_95_at_least_{k}"])
        col[f"Chi bộ (mọi loại) không có ĐV tại chỗ năm {h} (kỳ vọng)"] = format_number(r["expected_zero_cells"], 1)
    shown = pd.DataFrame(cols)
    shown.insert(0, "Chỉ số", shown.index)
    return _block(html_table(shown.reset_index(drop=True), numeric=tuple(cols), cls="nq21-scenarios nq21-lead"),
                  '<p class="nq21-note">Các kịch bản chỉ khác nhau ở số kết nạp đảng viên mới hằng năm: giữ nguyên '
                  "xu hướng hiện nay của từng chi bộ, hoặc toàn tỉnh kết nạp 3%, 3,5%, 4% tổng số đảng viên/năm "
                  "(Chương trình hành động: 3–4%/năm), chi bộ thôn, bản nhận phần kết nạp như mấy năm gần đây; "
                  "các giả định khác giữ nguyên.</p>")


def scenarios_alt(shares: pd.DataFrame, *, unit: str) -> str:
    """The scenario chart in words: each target's expected share under each scenario."""
    parts = []
    for (h, k), group in shares.groupby(["horizon", "threshold"], sort=False):
        values = ", ".join(f"{_short(s)} {format_percent(v, 1)}" for s, v in zip(group["scenario"], group["share"]))
        parts.append(f"≥ {k} đảng viên năm {h}: {values}")
    return (f"Biểu đồ cột nhóm: tỷ lệ chi bộ đạt số đảng viên tại chỗ theo kịch bản kết nạp ở {unit} "
            f"(mục tiêu {format_percent(config.TARGET_SHARE, 0)}) — " + "; ".join(parts) + ".")


def _short(label: str) -> str:
    """A scenario's label up to its first colon, semicolon, comma or bracket ('Kết nạp
    3,5% tổng số …'): not a decimal comma, which has a digit after it."""
    return re.split(r"[:;(]|,(?!\d)", label, maxsplit=1)[0].strip()


def show_scenarios_chart(table: pd.DataFrame, *, unit: str | None = None):
    """Figure: expected share of cells reaching each target, per scenario."""
    from .plots import plot_scenarios

    shares = scenario_shares(table)
    fig, ax = new_figure(8.0, 4.0)
    plot_scenarios(shares, title_unit=unit or PROVINCE, ax=ax)
    fig.alt = scenarios_alt(shares, unit=unit or PROVINCE)
    return fig


__all__ = ["scenario_label", "compare_scenarios", "comparison_scenarios", "scenario_runs", "scenario_key", "scenario_shares", "show_scenarios", "scenarios_alt",
           "show_scenarios_chart"]
