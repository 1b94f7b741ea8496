"""The forecast of a unit in a briefing: key figures and admissions against the
programme, the charts of local members and of the cells' chances, the at-risk and
the dissolved cells, and the index page's overview.

Data functions return numbers (tested); ``show_*`` functions return an
:class:`~nq21model.report_base.HTML` block or a figure with Vietnamese alt text.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import config
from .fmt import format_number, format_percent
from .report_base import (ADMISSION_TARGET_RATE, HTML, _block, focus, format_chance, format_decimal2,
                          html_table, light_html, new_figure, traffic_light, unit_order)
from .results import PROVINCE, ForecastResults
from .statuses import target_thresholds


def _unit_table(results: ForecastResults, unit: str | None, by: str) -> pd.DataFrame:
    if unit is None or unit == PROVINCE:
        return results.province
    table = results.units(by)
    return table[table["unit"] == unit].reset_index(drop=True)


# -------------------------------------------------------------------- admissions


def admissions(results: ForecastResults, *, unit: str | None = None, by: str | None = None) -> dict:
    """Admissions of a unit against the programme's 3 % a year of all party members.

    Returns ``observed`` (village cells' admissions in the base year),
    ``observed_rate`` (the unit's whole admissions over its members at the end of
    the year before, from the totals table; without one, the village cells' over
    their local members — ``base`` says which: "all" or "local"), ``expected``
    (village cells' expected admissions in base year + 1), ``expected_rate`` (the
    same on the same base, the village cells' share φ of admissions standing for the
    rest), ``needed`` (village admissions that make 3 %) and ``p_target`` (P(village
    admissions ≥ needed) from the model's own uncertainty; NaN when the scenario
    fixes admissions, since then it would only restate the assumption).
    """
    from .engine import binomial_poisson_pmf

    by = by or results.unit_column
    idx = results._unit_index(by, unit)
    base_year = results.base_year
    full = results.full
    mask = np.ones(len(full.cells), bool) if unit in (None, PROVINCE) else full.cells[by].eq(unit).to_numpy()
    village = full.panel("admitted").to_numpy()[mask]
    local = full.panel("local_members").to_numpy()[mask]
    years = list(full.years)
    j = years.index(base_year)
    observed = float(np.nansum(village[:, j]))
    lam = results.rates.admissions[:, idx, 0].sum(axis=1)  # (D,) expected village admissions in base + 1
    who = None if unit in (None, PROVINCE) else unit
    members = full.unit_totals("members", who) if by == full.default_unit or who is None else pd.Series(dtype=float)
    admitted = full.unit_totals("admitted", who) if by == full.default_unit or who is None else pd.Series(dtype=float)
    if (base_year - 1) in members.index and base_year in members.index and base_year in admitted.index:
        basis = "all"
        observed_rate = float(admitted[base_year] / members[base_year - 1])
        recent = [y for y in admitted.index if y <= base_year and y in years][-3:]
        phi = float(np.nansum(village[:, [years.index(y) for y in recent]]) / admitted[recent].sum())
        members_base = float(members[base_year])
    else:
        basis = "local"
        before = np.nansum(local[:, j - 1]) if j > 0 else float("nan")
        observed_rate = observed / before if before > 0 else float("nan")
        phi, members_base = 1.0, float(results.n0[idx].sum())
    expected = float(lam.mean())
    needed = math.ceil(ADMISSION_TARGET_RATE * members_base * phi - 1e-9)
    p_target = float("nan")
    if results.scenario.kind == "continue":
        pmf = binomial_poisson_pmf(np.zeros(1, dtype=np.int64), np.zeros((lam.size, 1)), lam[:, None])[0]
        p_target = float(min(1.0, pmf[needed:].sum())) if needed > 0 else 1.0
    return {"observed": observed, "observed_rate": observed_rate, "base": basis, "phi": phi,
            "members_base": members_base, "expected": expected,
            "expected_rate": expected / phi / members_base if members_base > 0 and phi > 0 else float("nan"),
            "needed": needed, "p_target": p_target}


def scenario_people(results: ForecastResults) -> dict:
    """What the scenario's admissions mean in people in the first forecast year:
    ``year``, ``village`` (the village cells' expected admissions, every cell of the
    province), ``unit`` (those of the results' own cells when they are one unit's,
    else None), and with a programme rate on all members ``rate``, ``members`` (all
    members at the end of the base year) and ``province`` (admissions of the whole
    province)."""
    info = results.rates.info
    year = results.base_year + 1
    own = float(results.rates.admissions[:, :, 0].sum(axis=1).mean())
    village = float(info["village_admissions"][0]) if "village_admissions" in info else own
    out = {"year": year, "village": village, "unit": own if results.subset_of is not None else None,
           "province": None, "rate": None, "members": None}
    base = info.get("programme_base")
    if base is not None and results.scenario.rate is not None:
        out.update(rate=results.scenario.rate, members=base.members_at(results.base_year),
                   province=float(info["province_admissions"][0]))
    return out


# ------------------------------------------------------------------- key figures


def key_figures(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> pd.DataFrame:
    """The unit's figures against the programme's targets, one row per indicator.

    Columns: ``indicator`` (Vietnamese), ``year``, ``threshold`` (k of a share
    row, else NaN), ``target`` (text), ``status``
    (``observed`` or ``forecast``), ``value`` (share, count or admissions), ``kind``
    (``share``, ``count`` or ``admissions``), ``observed_value`` (what history
    shows for a forecast year, else NaN), ``probability`` (that the target is met:
    0/1 when observed), ``light`` (green/amber/red) and ``verdict``.

    Rows: share of cells with ≥ k local members for each target year and threshold
    (2025: 3; 2030: 4 and 5) and each other horizon (:func:`target_thresholds`) —
    observed when the year is at or before the base year, forecast when it is a
    horizon; cells with no local member for the same years; admissions in the base
    year (observed) and the year after (forecast).
    """
    table = _unit_table(results, unit, by)
    share_txt = format_percent(config.TARGET_SHARE, 0)
    shares, zeros = [], []  # shown in this order: every share row, then the zero-cell rows
    idx = results._unit_index(by, unit)
    for year in sorted(set(config.TARGETS) | set(results.horizons)):
        found = table[table["horizon"] == year]
        if found.empty:
            continue
        r = found.iloc[0]
        observed = r["status"] == "observed"
        for k in target_thresholds(year):
            prob = float(r[f"p_share_95_at_least_{k}"])
            light, verdict = traffic_light(prob, observed=observed)
            shares.append({"indicator": f"Tỷ lệ chi bộ có từ {k} đảng viên tại chỗ trở lên",
                           "year": year, "threshold": k, "target": f"≥ {share_txt}", "status": r["status"],
                           "value": float(r[f"share_at_least_{k}"]), "kind": "share",
                           "observed_value": float("nan") if observed else float(r[f"observed_share_at_least_{k}"]),
                           "probability": prob, "light": light, "verdict": verdict})
        prob = float(r["p_no_zero_cell"])
        light, verdict = traffic_light(prob, observed=observed)
        seen = float("nan")
        if not observed and year in results.full.years:
            seen = float((results.dataset.members_at(year).to_numpy()[idx] == 0).sum())
        zeros.append({"indicator": "Chi bộ thôn, bản, tổ dân phố không có đảng viên tại chỗ (mọi loại)",
                      "year": year, "target": "0 chi bộ", "status": r["status"], "value": float(r["expected_zero_cells"]),
                      "kind": "count", "observed_value": seen, "probability": prob, "light": light,
                      "verdict": verdict})
    rows = shares + zeros
    adm = admissions(results, unit=unit, by=by)
    target = f"≥ {format_percent(ADMISSION_TARGET_RATE, 0)} " + (
        "tổng số đảng viên" if adm["base"] == "all" else "số đảng viên tại chỗ")
    if not math.isnan(adm["observed_rate"]):
        met = float(adm["observed_rate"] >= ADMISSION_TARGET_RATE - 1e-12)
        light, verdict = traffic_light(met, observed=True)
        rows.append({"indicator": "Kết nạp đảng viên mới trong năm (chi bộ thôn, bản)", "year": results.base_year,
                     "target": target, "status": "observed", "value": adm["observed"], "kind": "admissions",
                     "rate": adm["observed_rate"], "observed_value": float("nan"), "probability": met,
                     "light": light, "verdict": verdict})
    if math.isnan(adm["p_target"]):  # admissions fixed by the scenario: an assumption, not a forecast
        light, verdict = "grey", "theo giả định"
    else:
        light, verdict = traffic_light(adm["p_target"])
    next_year = results.base_year + 1
    seen = float("nan")
    if next_year in results.full.years:
        seen = float(results.dataset.panel("admitted")[next_year].to_numpy()[idx].sum())
    rows.append({"indicator": "Kết nạp đảng viên mới trong năm (chi bộ thôn, bản)", "year": next_year,
                 "target": target,
                 "status": "forecast", "value": adm["expected"], "kind": "admissions",
                 "rate": adm["expected_rate"], "observed_value": seen, "probability": adm["p_target"],
                 "light": light, "verdict": verdict})
    frame = pd.DataFrame(rows)
    if "rate" not in frame:
        frame["rate"] = np.nan
    return frame[["indicator", "year", "threshold", "target", "status", "value", "kind", "rate", "observed_value",
                  "probability", "light", "verdict"]]


def _value_text(kind: str, value: float, rate: float, status: str) -> str:
    if math.isnan(value):
        return "–"
    if kind == "share":
        return format_percent(value, 1)
    if kind == "count":
        return format_number(value, 0 if status == "observed" else 1)
    text = format_number(value, 0 if status == "observed" else 1)
    return text + (f" ({format_percent(rate, 1)})" if not math.isnan(rate) else "")


def show_key_figures(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> HTML:
    """The key figures with the probability that each target is met (appendix)."""
    table = key_figures(results, unit=unit, by=by)
    shown = pd.DataFrame({
        "Chỉ tiêu": table["indicator"],
        "Năm": table["year"].astype(str),
        "Mục tiêu": table["target"],
        "Số liệu": ["thực tế" if s == "observed" else "dự báo" for s in table["status"]],
        "Kết quả": [_value_text(k, v, r, s) for k, v, r, s in
                    zip(table["kind"], table["value"], table["rate"], table["status"])],
        "Xác suất đạt": ["–" if s == "observed" else format_chance(p)
                         for s, p in zip(table["status"], table["probability"])],
        "Đánh giá": [light_html(c, t) for c, t in zip(table["light"], table["verdict"])],
    })
    if table["observed_value"].notna().any():
        shown.insert(5, "Thực tế đã xảy ra", [
            "–" if math.isnan(v) else _value_text(k, v, float("nan"), "observed")
            for k, v in zip(table["kind"], table["observed_value"])])
    on_all = admissions(results, unit=unit, by=by)["base"] == "all"
    admitted = (f"số kết nạp của chi bộ thôn, bản trong năm đạt phần của họ trong "
                f"{format_percent(ADMISSION_TARGET_RATE, 0)} tổng số đảng viên" if on_all else
                f"số kết nạp của chi bộ thôn, bản trong năm từ {format_percent(ADMISSION_TARGET_RATE, 0)} số đảng "
                "viên tại chỗ")
    if on_all:
        basis = ("trong ngoặc là tỷ lệ kết nạp chung của cả đơn vị (mọi tổ chức đảng, theo bảng tổng số) so với "
                 "tổng số đảng viên cuối năm trước — tỷ lệ mà chỉ tiêu của Chương trình tính; năm dự báo: với chi "
                 "bộ thôn, bản vẫn chiếm phần kết nạp như mấy năm qua")
    else:
        basis = ("trong ngoặc là số đó so với số đảng viên tại chỗ của các chi bộ cuối năm trước (không có bảng "
                 "tổng số đảng viên của đơn vị)")
    note = ("Kết quả dự báo là giá trị kỳ vọng; <em>xác suất đạt</em> là xác suất để chỉ tiêu được hoàn thành "
            f"(tỷ lệ chi bộ đạt ≥ {format_percent(config.TARGET_SHARE, 0)}; không còn chi bộ thôn, bản, tổ dân phố nào "
            f"không có đảng viên tại chỗ; {admitted}). Chi bộ không có đảng viên tại chỗ: mọi "
            "chi bộ thôn, bản, tổ dân phố; chỉ tiêu của Chương trình (bảng các chỉ tiêu) chỉ tính chi bộ bản. "
            f"Kết nạp: số người do chi bộ thôn, bản, tổ dân phố kết nạp; {basis}.")
    return _block("<h3>Xác suất đạt chỉ tiêu về đảng viên tại chỗ và kết nạp</h3>",
                  html_table(shown, numeric=("Năm", "Kết quả", "Thực tế đã xảy ra", "Xác suất đạt"),
                             raw=("Đánh giá",), cls="nq21-lead"),
                  f'<p class="nq21-note">{note}</p>', cls="nq21-appendix")


# ------------------------------------------------------------------------ charts


def fan_chart_alt(path_frame: pd.DataFrame, *, base_year: int, unit: str) -> str:
    """The fan chart in words: first and base year observed, last year's forecast and band."""
    frame = path_frame.sort_values("year")
    seen = frame.dropna(subset=["observed"])
    ahead = frame[frame["year"] > base_year].dropna(subset=["expected"])
    text = f"Biểu đồ đường: số đảng viên tại chỗ của {unit}"
    if len(seen):
        first, last = seen.iloc[0], seen.iloc[-1]
        text += (f", thực tế từ {format_number(first['observed'])} năm {int(first['year'])} đến "
                 f"{format_number(last['observed'])} năm {int(last['year'])}")
    if len(ahead):
        end = ahead.iloc[-1]
        text += (f"; dự báo năm {int(end['year'])} khoảng {format_number(end['expected'])} người "
                 f"(khoảng 80%: {format_number(end['q10'])}–{format_number(end['q90'])})")
    return text + "."


def show_fan_chart(results: ForecastResults, *, unit: str | None = None, by: str = "district"):
    """Figure: local members of the unit, history then the 80 % band."""
    from .plots import plot_fan_chart

    fig, ax = new_figure(8.0, 3.3)
    path = results.path(by, unit)  # once: the chart and its words
    plot_fan_chart(path, base_year=results.base_year, title_unit=unit or PROVINCE, ax=ax)
    fig.alt = fan_chart_alt(path, base_year=results.base_year, unit=unit or PROVINCE)
    return fig


def classes_alt(classes: pd.Series, *, horizon: int, threshold: int, unit: str) -> str:
    """The probability classes in words."""
    parts = "; ".join(f"{label}: {format_number(int(n))} chi bộ" for label, n in classes.items())
    return (f"Biểu đồ cột: số chi bộ của {unit} theo xác suất có từ {threshold} đảng viên tại chỗ trở lên "
            f"năm {horizon} — {parts}.")


def show_probability_classes(results: ForecastResults, *, unit: str | None = None, by: str = "district"):
    """Figure: cells by class of P(≥ target) at the briefing's focus horizon."""
    from .plots import plot_probability_classes

    horizon, threshold = focus(results)
    classes = results.probability_classes(horizon, threshold, by=by, unit=unit)
    fig, ax = new_figure(8.0, 2.9)
    plot_probability_classes(classes, horizon=horizon, threshold=threshold, title_unit=unit or PROVINCE, ax=ax)
    fig.alt = classes_alt(classes, horizon=horizon, threshold=threshold, unit=unit or PROVINCE)
    return fig


def commune_shares(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> pd.DataFrame:
    """Expected share of cells reaching the focus threshold, per commune of the unit.

    Columns ``unit`` (commune), ``cells``, ``share``, ``p_share_95`` at the focus
    horizon; lowest share first.
    """
    horizon, threshold = focus(results)
    idx = results._unit_index(by, unit)
    communes = set(results.dataset.cells["commune"].iloc[idx])
    table = results.units("commune")
    table = table[(table["horizon"] == horizon) & (table["status"] == "forecast") & table["unit"].isin(communes)]
    out = pd.DataFrame({"unit": table["unit"], "cells": table["cells"],
                        "share": table[f"share_at_least_{threshold}"],
                        "p_share_95": table[f"p_share_95_at_least_{threshold}"]})
    return out.sort_values(["share", "unit"]).reset_index(drop=True)


def commune_shares_alt(table: pd.DataFrame, *, horizon: int, threshold: int, unit: str) -> str:
    """The communes' shares in words: how many reach the target, the lowest ones."""
    below = table[table["share"] < config.TARGET_SHARE]
    text = (f"Biểu đồ thanh ngang: tỷ lệ chi bộ có từ {threshold} đảng viên tại chỗ năm {horizon} (kỳ vọng) "
            f"ở {format_number(len(table))} xã của {unit}; {format_number(len(below))} xã dưới mục tiêu "
            f"{format_percent(config.TARGET_SHARE, 0)}")
    if len(below):
        text += ", thấp nhất: " + ", ".join(f"{r['unit']} {format_percent(r['share'], 1)}"
                                            for _, r in below.head(3).iterrows())
    return text + "."


def show_commune_shares(results: ForecastResults, *, unit: str | None = None, by: str = "district"):
    """Figure: the communes of the unit by expected share reaching the target (none
    when the briefing's unit is a commune)."""
    from .plots import plot_unit_shares

    if by == "commune":
        return HTML("")
    horizon, threshold = focus(results)
    table = commune_shares(results, unit=unit, by=by)
    fig, ax = new_figure(8.0, max(2.4, 0.2 * len(table) + 1.2))
    plot_unit_shares(table, threshold=threshold, horizon=horizon, title_unit=unit or PROVINCE, ax=ax)
    fig.alt = commune_shares_alt(table, horizon=horizon, threshold=threshold, unit=unit or PROVINCE)
    return fig


# ----------------------------------------------------------------------- at risk


def at_risk_cells(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> pd.DataFrame:
    """The unit's cells at risk, with Vietnamese headers (for the briefing and Excel).

    A cell is at risk when P(≥ threshold local members at the focus horizon) < 0.5
    or it has no local member at the base year (``ForecastResults.at_risk``).
    Columns: Mã chi bộ, Chi bộ, Xã, Huyện, Đảng viên tại chỗ <base>, Dự kiến <h>
    (expected, 1 decimal), Xác suất ≥ k (<h>) (2 decimals, rounded down), Lý do.
    """
    horizon, threshold = focus(results)
    table = results.at_risk(horizon, threshold, by=by, unit=unit)
    reasons = ["chưa có đảng viên tại chỗ" if n == 0 else f"xác suất có ≥ {threshold} ĐV dưới 0,5"
               for n in table["members_now"]]
    return pd.DataFrame({
        "Mã chi bộ": table["cell_id"],
        "Chi bộ": table["cell_name"],
        "Xã": table["commune"],
        **({"Huyện": table["district"]} if "district" in table else {}),
        f"Đảng viên tại chỗ {results.base_year}": table["members_now"].astype(int),
        f"Dự kiến {horizon}": table["expected_members"].round(1),
        # two decimals rounded down: below 0,5 as the rule says (0.4968 shows 0,49, never 0,50)
        f"Xác suất ≥ {threshold} ({horizon})": np.floor(table["p_at_least"].to_numpy() * 100 + 1e-9) / 100,
        "Lý do": reasons,
    })


#: Above this many units, at_risk.xlsx lists every unit's cells on one sheet (with the
#: unit's column, to filter) instead of a sheet per unit.
MAX_UNIT_SHEETS = 150
#: The one sheet of at_risk.xlsx when there are more units than :data:`MAX_UNIT_SHEETS`.
ALL_UNITS_SHEET = "Danh sách"


def at_risk_sheets(names) -> dict[str, str]:
    """The sheet of at_risk.xlsx that lists each unit's cells (``names`` in the
    batch's order): a sheet per unit (:func:`files.sheet_names`), or
    :data:`ALL_UNITS_SHEET` for all when there are more than :data:`MAX_UNIT_SHEETS`."""
    names = list(names)
    if len(names) > MAX_UNIT_SHEETS:
        return dict.fromkeys(names, ALL_UNITS_SHEET)
    from .files import sheet_names

    return sheet_names(names, reserved=("Ghi chú",))


def at_risk_rule(results: ForecastResults) -> str:
    """The rule that puts a cell on the at-risk list, in words."""
    horizon, threshold = focus(results)
    return (f"xác suất có từ {threshold} đảng viên tại chỗ trở lên vào năm {horizon} dưới 0,5, hoặc chưa có "
            f"đảng viên tại chỗ (năm {results.base_year})")


def show_at_risk(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> HTML:
    """The at-risk cells as a table, with the rule that picked them."""
    horizon, _ = focus(results)
    table = at_risk_cells(results, unit=unit, by=by)
    rule = (f"Chi bộ nguy cơ: {at_risk_rule(results)}. Cột <em>Dự kiến</em> là số đảng viên tại chỗ kỳ vọng. "
            "Danh sách của mọi đơn vị có trong tệp Excel at_risk.xlsx kèm theo.")
    if table.empty:
        return _block(f'<p><strong>Không có chi bộ nào thuộc diện nguy cơ.</strong></p><p class="nq21-note">{rule}</p>')
    if by == "district" and "Huyện" in table:
        table = table.drop(columns="Huyện")
    shown = table.copy()
    num_cols = [c for c in shown.columns if c.startswith(("Đảng viên", "Dự kiến", "Xác suất"))]
    for col in num_cols:
        digits = 0 if col.startswith("Đảng viên") else (1 if col.startswith("Dự kiến") else 2)
        shown[col] = [format_number(v, digits) if digits < 2 else format_decimal2(v) for v in shown[col]]
    return _block(f"<p><strong>{format_number(len(table))} chi bộ</strong> cần được quan tâm, rà soát và có kế "
                  "hoạch tạo nguồn, kết nạp đảng viên.</p>",
                  html_table(shown, numeric=tuple(num_cols), cls="nq21-compact"), f'<p class="nq21-note">{rule}</p>')


def absent_cells(results: ForecastResults, *, unit: str | None = None, by: str | None = None) -> pd.DataFrame:
    """The unit's cells that are not forecast, with Vietnamese headers: dissolved or
    merged before the base year, or with no history up to it."""
    from .data import ABSENCE_LABELS

    table = results.absent
    by = by or results.unit_column
    if len(table) and unit not in (None, PROVINCE) and by in table:
        table = table[table[by] == unit]
    if not len(table):
        return pd.DataFrame(columns=["Mã chi bộ", "Chi bộ", "Xã", "Tình trạng", "Năm có số liệu"])
    years = [f"{int(a)}–{int(b)}" if not (math.isnan(a) or math.isnan(b)) else "chưa có"
             for a, b in zip(table["first_year"], table["last_year"])]
    return pd.DataFrame({"Mã chi bộ": table["cell_id"], "Chi bộ": table["cell_name"], "Xã": table["commune"],
                         "Tình trạng": [ABSENCE_LABELS[r] for r in table["reason"]], "Năm có số liệu": years})


def show_absent(results: ForecastResults, *, unit: str | None = None, by: str | None = None) -> HTML:
    """Chi bộ đã giải thể, sáp nhập (and cells with no history yet): listed, not forecast."""
    table = absent_cells(results, unit=unit, by=by)
    if table.empty:
        return HTML("")
    return _block("<h3>Chi bộ đã giải thể, sáp nhập hoặc chưa có số liệu</h3>",
                  f"<p>{format_number(len(table))} chi bộ trong danh sách không được dự báo vì không có số liệu "
                  f"năm gốc {results.base_year}: đã giải thể, sáp nhập vào chi bộ khác, hoặc chưa có số liệu.</p>",
                  html_table(table, cls="nq21-compact"))


# ------------------------------------------------------------------ index page


def unit_overview(results: ForecastResults, *, by: str = "district") -> pd.DataFrame:
    """Province and each unit in one table for the index page.

    Columns: ``unit, cells, members_now`` (local members at the base year),
    for each target year Y and threshold k ``share_Y_k`` and ``p_Y_k`` (P(target
    met); observed 0/1), ``zero_now`` (cells with no local member at the base
    year) and ``at_risk`` (cells in :func:`at_risk_cells`). Units in
    :func:`unit_order`, after the province.
    """
    units = [None] + unit_order(results.dataset.cells[by].astype(str).unique())
    tables = pd.concat([results.province, results.units(by)], ignore_index=True)
    years = sorted(config.TARGETS)
    first = tables[tables["horizon"].isin(years)].drop_duplicates(["unit", "horizon"])
    found = {(r["unit"], r["horizon"]): r for r in first.to_dict("records")}  # a unit's row of a year, at once
    horizon, threshold = focus(results)
    cells = results.cells[results.cells["horizon"] == horizon]
    risky = (cells[f"p_at_least_{threshold}"].to_numpy() < 0.5) | (results.n0 == 0)
    groups = results._groups(by)
    rows = []
    for unit in units:
        name = unit or PROVINCE
        idx = np.arange(len(results.n0)) if unit is None else groups[unit]
        row = {"unit": name, "cells": int(idx.size), "members_now": int(results.n0[idx].sum()),
               "zero_now": int((results.n0[idx] == 0).sum()), "at_risk": int(risky[idx].sum())}
        for year in years:
            if (name, year) in found:
                for k in config.TARGETS[year]:
                    row[f"share_{year}_{k}"] = float(found[(name, year)][f"share_at_least_{k}"])
                    row[f"p_{year}_{k}"] = float(found[(name, year)][f"p_share_95_at_least_{k}"])
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["at_risk_sheets", "MAX_UNIT_SHEETS", "admissions", "scenario_people", "key_figures", "show_key_figures", "fan_chart_alt", "show_fan_chart",
           "classes_alt", "show_probability_classes", "commune_shares", "commune_shares_alt",
           "show_commune_shares", "at_risk_cells", "at_risk_rule", "show_at_risk", "absent_cells", "show_absent",
           "unit_overview"]
