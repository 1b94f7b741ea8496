"""The conclusion a briefing and the index page open with, in plain Vietnamese.

Three parts, each made from numbers of tested functions:

* :func:`programme_verdicts` — each 2025 and 2030 target of the programme (cells
  with ≥ 3 local members in 2025, no bản cell without a local member, ≥ 4 and ≥ 5
  in 2030, admissions of 3–4 % of all members a year) with its verdict (đạt / không
  đạt; có khả năng đạt / nguy cơ không đạt / khó đạt) and the one number behind it, taken
  from the programme's tracker (the targets table of the page);
* :func:`action_cells` — how many cells need action and where their list is;
* recommendations, one sentence each: :func:`hotspot_sentence` (where the at-risk
  cells are), :func:`admissions_sentence` (how many admissions a year would make
  the last target likely, from :func:`admissions_needed`, the model's own
  forecast with the unit's admissions scaled), :func:`quota_sentence` (what the
  quota proposal gains at its assumed lift, :func:`quota_effect`).

:func:`show_conclusion` assembles the box.
"""
from __future__ import annotations

import math

import pandas as pd

from . import config
from .fmt import format_number, format_percent, format_point_change
from .report_base import (HTML, STATUS_LIGHTS, _block, _esc, focus, light_html, unit_name,
                          unit_order)
from .report_forecast import at_risk_cells, at_risk_rule, key_figures
from .results import PROVINCE, ForecastResults
from .statuses import NOT_APPLICABLE, NOT_APPLICABLE_WHY
from .summary_admissions import MAX_FACTOR, _people, admissions_needed, admissions_sentence

#: The programme's targets the conclusion speaks of: (tracker indicator, year), in order.
CONCLUSION_TARGETS = (("2d_3", 2025), ("no_empty_cell", 2025), ("2a", 2025),
                      ("2d_4", 2030), ("2d_5", 2030), ("no_empty_cell", 2030), ("2a", 2030))

#: Each target in plain words.
TARGET_WORDS = {
    "2d_3": "Chi bộ có từ 3 đảng viên tại chỗ trở lên",
    "2d_4": "Chi bộ có từ 4 đảng viên tại chỗ trở lên",
    "2d_5": "Chi bộ có từ 5 đảng viên tại chỗ trở lên",
    "no_empty_cell": "Không còn chi bộ bản không có đảng viên tại chỗ",
    "no_empty_any": "Không còn chi bộ không có đảng viên tại chỗ",
    "2a": "Kết nạp đảng viên mới hằng năm",
}


# --------------------------------------------------------------------- verdicts


def _share_text(code: str, value: float) -> str:
    return format_percent(value, 2 if code == "2a" and abs(value) < 0.1 else 1)


def verdict_number(code: str, value: float, *, observed: bool, low: float | None = None,
                   high: float | None = None) -> str:
    """The one number behind a verdict, in words: '94,1%', 'dự báo 91,1%', 'còn 2
    chi bộ', 'dự báo còn khoảng 2,6 chi bộ' (the expected number), 'không có số liệu'.

    A forecast with its 80 % range (``low``, ``high``) says it, so that a status
    of "nguy cơ" beside a value inside the target reads right: 'dự báo 3,44%
    (80% khả năng trong 2,34%–4,47%)'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "không có số liệu"
    band = ""
    if not observed and low is not None and high is not None and not (math.isnan(low) or math.isnan(high)):
        show = (lambda v: format_number(v)) if code.startswith("no_empty") else (lambda v: _share_text(code, v))
        if show(low) != show(high):
            band = f" (80% khả năng trong {show(low)}–{show(high)})"
    if code.startswith("no_empty"):
        if observed:
            return "không còn chi bộ nào" if value == 0 else f"còn {format_number(value)} chi bộ"
        if value < 0.05:
            return "dự báo gần như không còn chi bộ nào"
        return f"dự báo còn khoảng {format_number(value, 1)} chi bộ{band}"
    text = _share_text(code, value)
    return text if observed else f"dự báo {text}{band}"


def target_text(code: str, year: int) -> str:
    """The programme's target in words: '95%', '0 chi bộ', 'từ 3% tổng số đảng viên, khung 3–4%'."""
    if code.startswith("no_empty"):
        return "0 chi bộ"
    if code == "2a":
        return "từ 3% tổng số đảng viên, khung 3–4%"
    return format_percent(config.TARGET_SHARE, 0)


def programme_verdicts(results: ForecastResults, extras=None, *, unit: str | None = None,
                       by: str | None = None) -> pd.DataFrame:
    """Each programme target of :data:`CONCLUSION_TARGETS` for the unit, one row each.

    Columns: ``code, year, words`` (:data:`TARGET_WORDS`), ``target`` (text),
    ``observed`` (the year is at or before the base year), ``value`` (share, count
    of cells, or admission rate), ``status`` and ``number`` (:func:`verdict_number`).

    From the programme's tracker (``extras.targets``, the targets table of the
    page) when there is one; else from :func:`key_figures` (the cells' shares and
    cells without local members, of every kind; admissions observed in the base
    year). Targets of years the data cannot speak of are left out.
    """
    by = by or results.unit_column
    name = unit or PROVINCE
    rows = []
    tracker = getattr(extras, "targets", None)
    if tracker is not None and name in set(tracker["unit"]):
        part = tracker[tracker["unit"] == name].set_index(["indicator", "year"])
        for code, year in CONCLUSION_TARGETS:
            if (code, year) not in part.index:
                continue
            r = part.loc[(code, year)]
            observed = year <= results.base_year
            number = NOT_APPLICABLE_WHY if r["status"] == NOT_APPLICABLE else \
                verdict_number(code, float(r["value"]), observed=observed, low=float(r["low"]), high=float(r["high"]))
            rows.append({"code": code, "year": year, "words": TARGET_WORDS[code], "target": target_text(code, year),
                         "observed": bool(observed), "value": float(r["value"]), "status": r["status"],
                         "number": number})
    else:
        table = key_figures(results, unit=unit, by=by)
        for _, r in table.iterrows():
            year = int(r["year"])
            if r["kind"] == "share" and year in config.TARGETS:
                code = f"2d_{int(r['threshold'])}"
            elif r["kind"] == "count" and year in config.TARGETS:
                code = "no_empty_any"
            elif r["kind"] == "admissions" and r["status"] == "observed" and not math.isnan(r["rate"]):
                code = "2a"
            else:
                continue
            observed = r["status"] == "observed"
            value = float(r["rate"]) if code == "2a" else float(r["value"])
            rows.append({"code": code, "year": year, "words": TARGET_WORDS[code], "target": target_text(code, year),
                         "observed": bool(observed), "value": value, "status": r["verdict"],
                         "number": verdict_number(code, value, observed=observed)})
    return pd.DataFrame(rows, columns=["code", "year", "words", "target", "observed", "value", "status", "number"])


def verdict_line(row) -> str:
    """One target as a sentence: 'Chi bộ có từ 3 đảng viên tại chỗ trở lên: 94,1% (chỉ tiêu 95%)'."""
    return f"{row['words']}: {row['number']} (chỉ tiêu {row['target']})"


# ----------------------------------------------------------------- cells to act on


def action_cells(results: ForecastResults, *, unit: str | None = None, by: str | None = None) -> dict:
    """The cells that need action: ``count`` (the at-risk list, :func:`at_risk_cells`),
    ``without_members`` (of them, with no local member now), ``bans_without``
    (of those, bản cells: what the programme's "no bản cell without a local member"
    counts; None when the data give no cell types), ``horizon``, ``threshold`` and
    ``cells`` (all cells of the unit)."""
    by = by or results.unit_column
    horizon, threshold = focus(results)
    table = at_risk_cells(results, unit=unit, by=by)
    now = table[f"Đảng viên tại chỗ {results.base_year}"]
    idx = results._unit_index(by, unit)
    bans = None  # no cell types in the data: nothing to say about bản cells
    if "cell_type" in results.dataset.cells:
        bans = int(((results.n0[idx] == 0) & results.dataset.cells["cell_type"].eq("ban").to_numpy()[idx]).sum())
    return {"count": int(len(table)), "without_members": int((now == 0).sum()), "bans_without": bans,
            "horizon": horizon, "threshold": threshold, "cells": int(idx.size)}


def action_sentence(results: ForecastResults, *, unit: str | None = None, by: str | None = None,
                    where: str = "") -> str:
    """How many cells need action, why, and where their list is (``where``: the
    files and sections to name)."""
    act = action_cells(results, unit=unit, by=by)
    if act["count"] == 0:
        return (f"Không có chi bộ nào của {unit_name(unit)} thuộc diện nguy cơ ({at_risk_rule(results)}).")
    text = (f"{format_number(act['count'])} trong {format_number(act['cells'])} chi bộ của {unit_name(unit)} cần có kế "
            f"hoạch tạo nguồn, kết nạp đảng viên: {at_risk_rule(results)}")
    if act["without_members"]:
        text += f" ({format_number(act['without_members'])} chi bộ chưa có đảng viên tại chỗ"
        bans = act["bans_without"]
        if bans is not None and 0 < bans < act["without_members"]:  # the programme's target counts bản cells only
            text += f", trong đó {format_number(bans)} chi bộ bản"
        elif bans == 0:
            text += ", không có chi bộ bản nào"
        text += ")"
    return text + (f". Danh sách: {where}." if where else ".")


# ------------------------------------------------------------------ recommendations


def hotspots(results: ForecastResults, *, unit: str | None = None, by: str | None = None) -> pd.DataFrame:
    """Where the unit's at-risk cells are: ``place`` (the communes of a unit; the
    units of ``by`` for the province; the cells themselves for a commune),
    ``cells`` (at-risk cells there) and ``shortfall`` (the sum of their chances of
    missing the threshold), most cells first, then the larger shortfall (a place
    whose cells are furthest from it), then by name."""
    by = by or results.unit_column
    table = results.at_risk(*focus(results), by=by, unit=unit)  # the list of at_risk_cells, unrounded
    if unit in (None, PROVINCE):
        cells = results.dataset.cells.set_index("cell_id")[by]
        places = cells.loc[table["cell_id"]].astype(str).to_numpy()
    elif by == "commune":
        places = table["cell_name"].astype(str).to_numpy()
    else:
        places = table["commune"].astype(str).to_numpy()
    out = pd.DataFrame({"place": places, "miss": 1.0 - table["p_at_least"].to_numpy(dtype=float)}).groupby(
        "place", sort=False).agg(cells=("miss", "size"), shortfall=("miss", "sum")).reset_index()
    out["place"] = out["place"].astype(str)
    return out.sort_values(["cells", "shortfall", "place"], ascending=[False, False, True],
                           kind="stable").reset_index(drop=True)


def hotspot_sentence(results: ForecastResults, *, unit: str | None = None, by: str | None = None,
                     n: int = 3) -> str | None:
    """Where to concentrate: the ``n`` places with most at-risk cells and their share
    of the unit's list; None when no cell is at risk."""
    by = by or results.unit_column
    spots = hotspots(results, unit=unit, by=by)
    if spots.empty:
        return None
    total = int(spots["cells"].sum())
    if unit not in (None, PROVINCE) and by == "commune":
        names = ", ".join(spots["place"].head(n))
        more = f" và {format_number(total - min(n, total))} chi bộ khác" if total > n else ""
        return f"Tập trung tạo nguồn, kết nạp đảng viên ở {names}{more}."
    top = spots.head(n)
    if top["cells"].iloc[0] > 1:  # places with a single at-risk cell are not a hotspot
        top = top[top["cells"] > 1]
    parts = [f"{p} ({format_number(c)} chi bộ)" for p, c in zip(top["place"], top["cells"])]
    covered = int(top["cells"].sum())
    if len(spots) == 1:
        if total == 1:
            return f"Chi bộ có nguy cơ duy nhất của {unit_name(unit)} ở {spots['place'].iloc[0]}."
        return f"Cả {format_number(total)} chi bộ có nguy cơ của {unit_name(unit)} ở {spots['place'].iloc[0]}."
    text = (f"Tập trung chỉ đạo ở {', '.join(parts)}: {format_number(covered)} trong {format_number(total)} chi bộ "
            f"có nguy cơ của {unit_name(unit)}")
    rest = len(spots) - len(top)
    if rest:
        kind = "đơn vị" if unit in (None, PROVINCE) else "xã"
        text += f"; {format_number(total - covered)} chi bộ còn lại ở {format_number(rest)} {kind} khác"
        last = int(top["cells"].iloc[-1])
        tied = int((spots["cells"].iloc[len(top):] == last).sum())
        if tied and last > 1:  # the names shown are not the only ones with that many (the others further from it)
            text += f", trong đó {format_number(tied)} {kind} cũng có {format_number(last)} chi bộ có nguy cơ"
    return text + "."


def quota_effect(extras, results: ForecastResults | None = None, *, unit: str | None = None,
                 by: str | None = None) -> dict | None:
    """What the quota proposal gains for the unit: ``threshold, horizon, lift``
    (assumed), ``years``, ``quotas`` (admissions of the period), ``share_plan,
    share_population, gain`` at the assumed lift (the plan against the population
    split of the same quotas), ``share_plan_low, share_population_low, gain_low`` if
    cells can only admit as many as in recent years (lift 1), ``realised`` (the
    admissions the plan is expected to make at the assumed lift). With the page's
    ``results`` (same base year, the horizon among its own), also what the page
    forecasts without the plan: ``share_now`` (the expected share at the horizon),
    ``admitted_now`` (the village cells' expected admissions over the same years)
    and ``kind`` (the page's scenario). None without a proposal."""
    a = getattr(extras, "allocation", None)
    if a is None:
        return None
    mask = a.unit_mask(by, unit)
    sens = a.sensitivity(mask).set_index("lift")
    at = sens.loc[a.lift]
    low = sens.loc[min(sens.index)]
    effect = {"threshold": a.threshold, "horizon": a.horizon, "lift": a.lift, "years": (a.years[0], a.years[-1]),
              "quotas": int(a.quotas[mask].sum()), "share_plan": float(at["share_optimised"]),
              "share_population": float(at["share_proportional"]), "gain": float(at["gain"]),
              "gain_low": float(low["gain"]), "lift_low": float(min(sens.index)),
              "share_plan_low": float(low["share_optimised"]), "share_population_low": float(low["share_proportional"]),
              "realised": float(at["realised_optimised"])}
    if results is not None and results.base_year == a.base_year and a.horizon in results.horizons:
        by = by or results.unit_column
        table = results.province if unit in (None, PROVINCE) else results.units(by)
        row = table[(table["unit"] == (unit or PROVINCE)) & (table["horizon"] == a.horizon)].iloc[0]
        idx = results._unit_index(by, unit)
        steps = a.horizon - a.base_year
        effect.update(share_now=float(row[f"share_at_least_{a.threshold}"]), kind=results.scenario.kind,
                      admitted_now=float(results.rates.admissions[:, idx, :steps].mean(axis=0).sum()))
    return effect


def quota_sentence(effect: dict | None, *, unit: str | None = None) -> str | None:
    """Whether the quota proposal helps and by how much (from :func:`quota_effect`):
    the share it is expected to give against the page's forecast without it and
    against the population split of the same quotas, at the assumed lift and at the
    rate of recent years; and the admissions it is expected to make against the
    forecast's, where the page's results are given."""
    if effect is None:
        return None
    what = f"tỷ lệ chi bộ có từ {effect['threshold']} đảng viên tại chỗ năm {effect['horizon']}"
    now = "nếu giữ như hiện nay" if effect.get("kind") == "continue" else "theo kịch bản của báo cáo"
    plan = (f"Giao chỉ tiêu kết nạp theo đề xuất ({format_number(effect['quotas'])} người trong "
            f"{effect['years'][0]}–{effect['years'][1]} ở {unit_name(unit)})")
    lift = f"gấp {format_number(effect['lift'], 1)} lần mức bình quân các năm gần đây"
    if "share_now" in effect:
        text = (f"{plan}: nếu các chi bộ kết nạp được tối đa {lift}, {what} dự kiến là "
                f"{format_percent(effect['share_plan'], 1)} "
                f"({format_point_change(effect['share_plan'], effect['share_now'])} so với "
                f"{format_percent(effect['share_now'], 1)} {now}; chia cùng số chỉ tiêu theo dân số: "
                f"{format_percent(effect['share_population'], 1)})")
        if effect["lift_low"] < effect["lift"]:
            text += (f"; nếu chỉ kết nạp được bằng mức bình quân các năm gần đây: "
                     f"{format_percent(effect['share_plan_low'], 1)} (chia theo "
                     f"dân số: {format_percent(effect['share_population_low'], 1)})")
        realised, forecast = _people(effect["realised"]), _people(effect["admitted_now"])
        text += f". Dự kiến kết nạp được khoảng {realised} người"
        if realised != forecast and effect["realised"] < effect["admitted_now"]:
            return text + (f", ít hơn so với khoảng {forecast} người {now}, nên chỉ tiêu kết nạp từ 3% tổng số "
                           "đảng viên mỗi năm khó đạt hơn.")
        return text + f" (khoảng {forecast} người {now})."
    plan += " thay vì chia theo dân số"
    if abs(effect["gain"]) < 0.0005:
        return (f"{plan} hầu như không thay đổi {what} "
                f"({format_percent(effect['share_plan'], 1)}): các chi bộ đều đã được giao sát khả năng kết nạp.")
    text = (f"{plan} nâng {what} dự kiến từ {format_percent(effect['share_population'], 1)} "
            f"lên {format_percent(effect['share_plan'], 1)} "
            f"({format_point_change(effect['share_plan'], effect['share_population'])}), nếu các chi bộ kết nạp được "
            f"tối đa {lift}")
    if effect["lift_low"] < effect["lift"]:
        text += (f"; nếu chỉ bằng mức bình quân các năm gần đây, chênh lệch còn "
                 f"{format_point_change(effect['share_plan_low'], effect['share_population_low'])}")
    return text + "."


def recommendations(results: ForecastResults, extras=None, *, unit: str | None = None,
                    by: str | None = None) -> list[str]:
    """The two or three recommendations of the conclusion, each a sentence of a
    tested function: where the at-risk cells are, the admissions a year the last
    target needs, what the quota proposal gains."""
    by = by or results.unit_column
    items = [hotspot_sentence(results, unit=unit, by=by),
             admissions_sentence(admissions_needed(results, unit=unit, by=by), unit=unit),
             quota_sentence(quota_effect(extras, results, unit=unit, by=by), unit=unit)]
    return [item for item in items if item]


# ----------------------------------------------------------------------- the box


def list_places(results: ForecastResults, extras=None, *, unit: str | None = None, by: str | None = None,
                index: bool = False) -> str:
    """Where the list of cells to act on is: the section, the sheet of at_risk.xlsx
    and the unit's quota workbook (chi_tieu)."""
    from .report_forecast import ALL_UNITS_SHEET, at_risk_sheets

    by = by or results.unit_column
    names = unit_order(results.full.cells[by].astype(str).unique())  # as the batch names its sheets
    sheets = at_risk_sheets(names)
    if index or unit in (None, PROVINCE):
        layout = "mỗi đơn vị một trang" if len(set(sheets.values())) == len(names) else "lọc theo đơn vị"
        return (f"tệp at_risk.xlsx ({layout}), mục «Chi bộ có nguy cơ không đạt chỉ tiêu» của báo cáo "
                "từng đơn vị, và chỉ tiêu kết nạp đề xuất cho từng chi bộ trong thư mục chi_tieu")
    from .fmt import unit_file_names

    sheet = sheets.get(unit, unit)
    where = f"trang «{sheet}»" + (f" (lọc theo đơn vị {unit})" if sheet == ALL_UNITS_SHEET else "")
    text = f"mục «Chi bộ có nguy cơ không đạt chỉ tiêu» bên dưới, {where} của tệp at_risk.xlsx"
    a = getattr(extras, "allocation", None)
    slug = unit_file_names(a.dataset.cells[by].unique()).get(unit) if a is not None and by in a.dataset.cells \
        else None
    if slug:
        text += f", và chỉ tiêu kết nạp đề xuất cho từng chi bộ trong tệp chi_tieu/chi_tieu_ket_nap_{slug}.xlsx"
    return text


def show_conclusion(results: ForecastResults, extras=None, *, unit: str | None = None, by: str | None = None,
                    index: bool = False) -> HTML:
    """The conclusion box: each 2025 and 2030 target with its verdict and number,
    the cells that need action and where their list is, the recommendations, and the
    forecast's notes (e.g. a short history forecast with fixed rates)."""
    by = by or results.unit_column
    verdicts = programme_verdicts(results, extras, unit=unit, by=by)
    parts = ["<h2>Kết luận</h2>"]
    for year in sorted(set(verdicts["year"])):
        rows = verdicts[verdicts["year"] == year]
        kind = "số liệu thực tế" if year <= results.base_year else "dự báo"
        items = "".join(f"<li>{light_html(STATUS_LIGHTS.get(r['status'], 'grey'), r['status'])} — "
                        f"{_esc(verdict_line(r))}</li>" for _, r in rows.iterrows())
        parts.append(f'<p class="nq21-year">Chỉ tiêu năm {year} ({kind}):</p><ul class="nq21-verdicts">{items}</ul>')
    where = list_places(results, extras, unit=unit, by=by, index=index)
    parts.append(f"<p><strong>Chi bộ cần hành động:</strong> {_esc(action_sentence(results, unit=unit, by=by, where=where))}</p>")
    recs = recommendations(results, extras, unit=unit, by=by)
    if recs:
        parts.append("<p><strong>Đề xuất:</strong></p><ol>" + "".join(f"<li>{_esc(r)}</li>" for r in recs) + "</ol>")
    parts += [f"<p><strong>Lưu ý:</strong> {_esc(note)}</p>" for note in results.notes]
    parts.append('<p class="nq21-note">Cách tính và độ tin cậy: xem Phụ lục kỹ thuật ở cuối '
                 + ("từng báo cáo" if index else "báo cáo") + ".</p>")
    return _block('<section class="nq21-summary" aria-label="Kết luận">' + "".join(parts) + "</section>")


__all__ = ["CONCLUSION_TARGETS", "TARGET_WORDS", "verdict_number", "target_text", "programme_verdicts",
           "verdict_line", "action_cells", "action_sentence", "hotspots", "hotspot_sentence", "MAX_FACTOR",
           "admissions_needed", "admissions_sentence", "quota_effect", "quota_sentence", "recommendations",
           "list_places", "show_conclusion"]
