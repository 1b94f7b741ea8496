"""What the briefings show of the tracker: each indicator's yearly path for the
charts (:func:`indicator_paths`), a unit's and the province's targets as tables
(:func:`unit_table`, :func:`province_table`) and as plain text for the command line
(:func:`format_targets`)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .data import Dataset
from .exceptions import ParameterError
from .indicators import (COMMUNE_EXCLUDED, INDICATORS, PROGRAMME_START, TrackerData, count_series,
                         load_tracker_data, share_counts, unit_rows)
from .results import PROVINCE
from .targets import BAND, _band_and_tail, _groups, admission_rate
from .trends import count_future, fit_share_trend, predict_share

__all__ = ["indicator_paths", "unit_table", "province_table", "format_targets", "METHOD_LABELS"]

#: Method codes and their Vietnamese labels.
METHOD_LABELS = {
    "observed": "số liệu thực tế", "exact": "mô hình chính xác (nhị thức + Poisson)",
    "logit_trend": "xu hướng theo năm, có biến động từng năm", "poisson_glm": "hồi quy Poisson theo năm",
    "scenario": "theo giả định của kịch bản",
    "constant": "giữ nguyên mức hiện tại", "none": "",
}


# --------------------------------------------------------------------- paths


def indicator_paths(data: TrackerData | Dataset | None = None, *, by: str | None = None,
                    unit: str = PROVINCE, base_year: int | None = None, scenario=None,
                    last_year: int | None = None, results=None) -> pd.DataFrame:
    """Yearly history and projection of every indicator for one unit (for charts).

    Columns ``indicator, year, observed, expected, low, high, target`` (target only
    in the indicator's target years). Projections run from the base year to
    ``last_year`` (default the last target year, 2030) by the tracker's methods;
    the membership indicators from ``results`` (a forecast covering those years)
    or a forecast of ``scenario`` made here.
    """
    from .forecast import forecast

    if data is None or isinstance(data, Dataset):
        data = load_tracker_data(data)
    dataset = data.dataset
    base_year = dataset.last_year if base_year is None else int(base_year)
    last_year = last_year or max(y for i in INDICATORS.values() for y in i.targets)
    groups = _groups(dataset, by)
    if unit not in groups:
        raise ParameterError(f"no {by or 'unit'} named '{unit}' (choose from: {', '.join(groups)})")
    future = list(range(base_year + 1, last_year + 1))
    idx = groups[unit]
    rows = []

    def add(code, year, observed=np.nan, expected=np.nan, low=np.nan, high=np.nan):
        target = INDICATORS[code].targets.get(year, np.nan)
        if code == "owner_per_district" and unit == PROVINCE and not np.isnan(target):
            target = 1.0
        rows.append({"indicator": code, "year": int(year), "observed": float(observed),
                     "expected": float(expected), "low": float(low), "high": float(high),
                     "target": float(target)})

    # membership: yearly history (every cell of the year), yearly exact forecast (mixed over draws)
    panel = dataset.panel("local_members")
    is_ban = dataset.cells["cell_type"].eq("ban").to_numpy()
    if future and (results is None or not set(future) <= set(results.years)):
        results = forecast(dataset, scenario, base_year=base_year, horizons=future)
    fcells = results.dataset.cells if future else dataset.cells
    fidx = np.arange(len(fcells)) if unit == PROVINCE else np.flatnonzero(fcells[by].eq(unit).to_numpy())
    fban = fcells["cell_type"].eq("ban").to_numpy()
    for code in ("2d_3", "2d_4", "2d_5", "no_empty_cell"):
        sel = idx[is_ban[idx]] if code == "no_empty_cell" else idx
        if sel.size == 0:
            continue
        for year in [y for y in dataset.years if y <= base_year]:
            counts = panel[year].to_numpy()[sel]
            counts = counts[~np.isnan(counts)]
            if counts.size:
                add(code, year, observed=(counts == 0).sum() if code == "no_empty_cell"
                    else (counts >= int(code[-1])).mean())
        fsel = fidx[fban[fidx]] if code == "no_empty_cell" else fidx
        for year in future:
            stats = results.stats(year)
            key = "zero" if code == "no_empty_cell" else f"at_least_{code[-1]}"
            marginal = stats["p_zero" if code == "no_empty_cell" else f"p_{key}"][fsel]
            draws = stats[f"draws_{key}"][:, fsel] if f"draws_{key}" in stats else marginal[None, :]
            scale = 1.0 if code == "no_empty_cell" else max(1, fsel.size)
            lo, hi, _ = _band_and_tail(draws, None, scale)
            add(code, year, expected=marginal.sum() / scale, low=lo, high=hi)
    # shares: yearly observed, GLM projection
    commune_level = by is not None and by != "district" and unit != PROVINCE
    for code, ind in INDICATORS.items():
        if ind.kind != "share" or (commune_level and code in COMMUNE_EXCLUDED):
            continue  # not an indicator of a commune: not in its table (track_targets), not in its chart
        counts = share_counts(code, data, by)
        if counts is None:
            continue
        part = unit_rows(data, ("share", code, by), counts, unit)
        part = part[(part["year"] <= base_year) & (part["trials"] > 0)].sort_values("year")
        for year, successes, trials in zip(part["year"], part["successes"], part["trials"]):
            add(code, year, observed=successes / trials)
        fit = fit_share_trend(part, trend=ind.trend) if len(part) else None
        if fit is None:
            continue
        start = int(part["year"].max())
        for year in range(start + 1, last_year + 1):
            # admissions after the base year: the forecast's own, as the targets table has them
            exact = admission_rate(results, dataset, by, base_year, unit, year) if code == "2a" and future else None
            value, lo, hi = exact[:3] if exact else predict_share(fit, year)[:3]
            add(code, year, expected=value, low=lo, high=hi)
    # counts since 2021, cumulative
    for code in ("2b", "2b_owner", "owner_per_district"):
        if code != "owner_per_district" and unit != PROVINCE:
            continue
        if code == "owner_per_district" and unit == PROVINCE:
            continue  # a share of districts: shown in the table, not as a path
        series = count_series(code, data, by)
        if series is None:
            continue
        part = series[(series["unit"] == unit) & (series["year"] <= base_year)].sort_values("year")
        if part.empty:
            continue
        cum = 0.0
        for _, r in part[part["year"] >= PROGRAMME_START].iterrows():
            cum += r["count"]
            add(code, r["year"], observed=cum)
        start = int(part["year"].max())
        for year in range(start + 1, min(last_year, max(INDICATORS[code].targets)) + 1):
            mu, dist, _ = count_future(part, range(start + 1, year + 1))
            add(code, year, expected=cum + mu, low=cum + dist.ppf(BAND[0]) if dist else cum,
                high=cum + dist.ppf(BAND[1]) if dist else cum)
    frame = pd.DataFrame(rows, columns=["indicator", "year", "observed", "expected", "low", "high", "target"])
    frame.attrs.update(unit=unit, base_year=base_year, synthetic=dataset.synthetic)
    return frame


# ------------------------------------------------------------------ briefings


def _fmt_value(code: str, value: float) -> str:
    from .fmt import format_number, format_percent

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if INDICATORS[code].percent:  # small shares (admission rates) with two decimals: 2,96% is not "3%"
        return format_percent(value, 2 if abs(value) < 0.1 else 1)
    return format_number(value, 1)


def _fmt_target(code: str, unit: str, year: int) -> str:
    from .fmt import format_number, format_percent

    ind = INDICATORS[code]
    t = ind.targets[year]
    if code == "owner_per_district":
        return "100% huyện, thành phố" if unit == PROVINCE else "≥ 1 chủ doanh nghiệp"
    if code == "2a":
        return "≥ 3% (khung 3–4%)"  # judged as at least 3 %: above 4 % is more than the programme asks, not a miss
    if ind.lower_is_better:
        return f"{format_number(t)} chi bộ"
    if ind.percent:
        return ("> " if ind.strict else "≥ ") + format_percent(t, 0)
    return f"≥ {format_number(t)}"


def unit_table(table: pd.DataFrame, unit: str = PROVINCE) -> pd.DataFrame:
    """The tracker rows of one unit, in Vietnamese, for a briefing.

    Columns ``Chỉ tiêu, Năm, Mục tiêu, Kết quả, Khoảng 80%, Đánh giá, Cách tính``;
    numbers formatted the Vietnamese way; "Kết quả" is the observed value or the
    forecast (the method says which).
    """
    from .fmt import format_percent

    part = table[table["unit"] == unit]
    if part.empty:
        units = ", ".join(dict.fromkeys(table["unit"]))
        raise ParameterError(f"no unit '{unit}' in the tracker table (units: {units})")
    rows = []
    for _, r in part.iterrows():
        code = r["indicator"]
        band = ""
        if r["method"] not in ("observed", "none") and not math.isnan(r["low"]):
            low, high = _fmt_value(code, r["low"]), _fmt_value(code, r["high"])
            # one value when both ends read the same (a mean of 99,7% beside "100%–100%" read as outside it)
            band = low if low == high else f"{low} – {high}"
        value = _fmt_value(code, r["value"])
        if code == "owner_per_district" and unit == PROVINCE and not math.isnan(r["value"]):
            value = format_percent(r["value"], 0)
        rows.append({"Chỉ tiêu": INDICATORS[code].name, "Năm": str(r["year"]),
                     "Mục tiêu": _fmt_target(code, unit, r["year"]),
                     "Kết quả": value, "Khoảng 80%": band, "Đánh giá": r["status"],
                     "Cách tính": METHOD_LABELS.get(r["method"], r["method"])})
    return pd.DataFrame(rows)


def province_table(table: pd.DataFrame) -> pd.DataFrame:
    """The index page's table: one row per indicator and target year, the
    province's target, result and status, then each unit's status.

    Columns ``Chỉ tiêu, Năm, Mục tiêu, Toàn tỉnh, Đánh giá`` and one column per unit
    (its status; "–" where the programme sets the indicator for the province only).
    """
    province = unit_table(table, PROVINCE).rename(columns={"Kết quả": PROVINCE})
    out = province[["Chỉ tiêu", "Năm", "Mục tiêu", PROVINCE, "Đánh giá"]].reset_index(drop=True)
    key = pd.MultiIndex.from_frame(table[table["unit"] == PROVINCE][["indicator", "year"]])
    units = [u for u in dict.fromkeys(table["unit"]) if u != PROVINCE]
    status = (table[table["unit"] != PROVINCE].pivot_table(index=["indicator", "year"], columns="unit",
                                                           values="status", aggfunc="first")
              .reindex(index=key, columns=units).fillna("–"))
    return pd.concat([out, pd.DataFrame(status.to_numpy(), columns=units)], axis=1)


def format_targets(table: pd.DataFrame) -> str:
    """Plain-text rendering of the tracker table (for the command line)."""
    width = max(10, int(table["unit"].str.len().max()))
    head = (f"{'indicator':<18} {'unit':<{width}} {'year':>4} {'target':>7} {'value':>7} "
            f"{'low':>7} {'high':>7}  {'status':<18} method")
    lines = []
    base = table.attrs.get("base_year")
    if base is not None:
        lines.append(f"Programme targets (Resolution 21-NQ/TW, Lai Châu action programme); base year {base}"
                     + ("; SYNTHETIC DATA (Dữ liệu mô phỏng)" if table.attrs.get("synthetic") else ""))
        lines.append("Observed up to the base year, forecast after it; low–high = 80 % band.")
    lines += [head, "-" * len(head)]
    for _, r in table.iterrows():
        code = r["indicator"]
        target = r["target"]
        t = f"{100 * target:.0f}%" if INDICATORS[code].percent or (
            code == "owner_per_district" and r["unit"] == PROVINCE) else f"{target:.0f}"
        fmt = (lambda v: "" if math.isnan(v) else f"{100 * v:.1f}%") if t.endswith("%") else (
            lambda v: "" if math.isnan(v) else f"{v:.1f}")
        lines.append(f"{code:<18} {r['unit']:<{width}} {r['year']:>4} {t:>7} {fmt(r['value']):>7} "
                     f"{fmt(r['low']):>7} {fmt(r['high']):>7}  {r['status']:<18} {r['method']}")
    return "\n".join(lines)

