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

import numpy as np
import pandas as pd

from . import config, engine, engine_groups
from .fmt import format_number, format_percent, format_point_change
from .report_base import (HTML, STATUS_LIGHTS, _block, _esc, focus, format_chance, light_html, unit_name,
                          unit_order)
from .report_forecast import admissions, at_risk_cells, at_risk_rule, key_figures
from .results import PROVINCE, ForecastResults
from .statuses import NOT_APPLICABLE, NOT_APPLICABLE_WHY, risk_threshold, target_thresholds

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

#: Probability from which a target counts as likely ("có khả năng đạt").
LIKELY = config.STATUS_LIKELY


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
    """The programme's target in words: '95%', '0 chi bộ', '3–4% tổng số đảng viên'."""
    if code.startswith("no_empty"):
        return "0 chi bộ"
    if code == "2a":
        return "3–4% tổng số đảng viên"
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
        return f"Cả {format_number(total)} chi bộ nguy cơ của {unit_name(unit)} ở {spots['place'].iloc[0]}."
    text = (f"Tập trung chỉ đạo ở {', '.join(parts)}: {format_number(covered)} trong {format_number(total)} chi bộ "
            f"nguy cơ của {unit_name(unit)}")
    rest = len(spots) - len(top)
    if rest:
        kind = "đơn vị" if unit in (None, PROVINCE) else "xã"
        text += f"; {format_number(total - covered)} chi bộ còn lại ở {format_number(rest)} {kind} khác"
        last = int(top["cells"].iloc[-1])
        tied = int((spots["cells"].iloc[len(top):] == last).sum())
        if tied and last > 1:  # the names shown are not the only ones with that many (the others further from it)
            text += f", trong đó {format_number(tied)} {kind} cũng có {format_number(last)} chi bộ nguy cơ"
    return text + "."


def _reach(n0, p, mu_admitted, mu_other, factor: float, threshold: int, *, thin: bool = False) -> float:
    """P(share of cells with ≥ threshold ≥ 95 %) when admissions are ``factor`` times
    as many: the engine's exact per-cell distributions given each parameter draw,
    the Poisson-binomial over cells, mixed over the draws. ``thin``: above the
    engine's :data:`~nq21model.engine.LARGE_CELL_DRAWS`, from
    :data:`~nq21model.engine.QUANTILE_DRAWS` evenly spaced draws (a search step)."""
    if thin and p.size > engine.LARGE_CELL_DRAWS and p.shape[0] > engine.QUANTILE_DRAWS:
        rows = np.linspace(0, p.shape[0] - 1, engine.QUANTILE_DRAWS).round().astype(int)
        p, mu_admitted, mu_other = p[rows], mu_admitted[rows], mu_other[rows]
    below = engine.low_tails(n0, p, mu_other + factor * mu_admitted, threshold - 1)[..., threshold - 1]
    draws = np.clip(1.0 - below, 0.0, 1.0)  # P(≥ threshold) of each cell given each draw
    return float(engine_groups.share_reach_groups(draws, [np.arange(n0.size)], config.TARGET_SHARE).mean())


#: Largest multiple of today's admissions :func:`admissions_needed` looks at.
MAX_FACTOR = 10.0


def admissions_needed(results: ForecastResults, *, unit: str | None = None, by: str | None = None,
                      horizon: int | None = None, threshold: int | None = None, level: float = LIKELY,
                      tolerance: float = 0.01) -> dict:
    """Admissions a year the unit's village cells would need for the last target to
    become likely, by the model of the page.

    Every cell's admissions (its Poisson means, every year and parameter draw) are
    multiplied by one factor m — the cells keep their shares, as in the programme
    scenarios — and m is the smallest (to ``tolerance``) with P(share of cells with
    ≥ ``threshold`` local members at ``horizon`` ≥ 95 %) ≥ ``level``. Defaults: the
    last horizon; the first of its thresholds (2030: 4, then 5) whose target is not
    yet likely, or the highest when all are; ``level`` the "có khả năng đạt"
    probability (0.8). On a country's cells (more cell-draws than the engine's
    ``LARGE_CELL_DRAWS``) the search steps use evenly spaced draws; ``p_now`` always
    uses every draw.

    Returns ``horizon, threshold, level, current`` (village admissions of the unit
    in the first forecast year, as :func:`admissions` ``expected``), ``p_now`` (the
    probability at m = 1), ``factor`` (m; 1.0 when already likely; NaN when even
    :data:`MAX_FACTOR` is not enough), ``needed`` (m × current), ``needed_rate``
    (the same as a share of all party members of the unit, when the totals give
    them; else NaN) and ``lift`` (the scenario's largest lift a cell can make).
    """
    by = by or results.unit_column
    horizon = int(horizon or max(results.horizons))
    idx = results._unit_index(by, unit)
    steps = horizon - results.base_year
    rates = results.rates
    admitted = rates.admissions[:, idx]
    other = rates.lam[:, idx] - admitted
    p, mu_admitted = engine.horizon_parameters(rates.survival[:, idx], admitted, steps)
    _, mu_other = engine.horizon_parameters(rates.survival[:, idx], other, steps)
    n0 = results.n0[idx]
    adm = admissions(results, unit=unit, by=by)
    current = adm["expected"]

    now: dict[int, float] = {}  # threshold → the page's own probability (every draw), at today's admissions

    def reach_now(k: int) -> float:
        if k not in now:
            now[k] = _reach(n0, p, mu_admitted, mu_other, 1.0, k)
        return now[k]

    if threshold is None:  # the first of the year's thresholds not yet likely (all likely: the highest)
        ladder = [k for k in target_thresholds(horizon) if k >= risk_threshold(horizon)] or [risk_threshold(horizon)]
        threshold = next((k for k in ladder if reach_now(k) < level), ladder[-1])
    threshold = int(threshold)

    def reach(m):  # a step of the search: thinned draws on a country's cells
        return _reach(n0, p, mu_admitted, mu_other, m, threshold, thin=True)

    p_now = reach_now(threshold)
    if p_now >= level:
        factor = 1.0
    else:
        thinned = p.size > engine.LARGE_CELL_DRAWS and p.shape[0] > engine.QUANTILE_DRAWS
        factor = _smallest_factor(reach, level, tolerance, at_one=reach(1.0) if thinned else p_now)
    needed = factor * current
    rate = float("nan")
    if adm["base"] == "all" and adm["phi"] > 0 and adm["members_base"] > 0:
        rate = needed / adm["phi"] / adm["members_base"]
    return {"horizon": horizon, "threshold": threshold, "level": level, "current": current, "p_now": p_now,
            "factor": factor, "needed": needed, "needed_rate": rate, "phi": float(adm.get("phi") or float("nan")),
            "lift": float(results.scenario.max_lift), "kind": results.scenario.kind}


def _smallest_factor(reach, level: float, tolerance: float, *, at_one: float) -> float:
    """The smallest m in [1, MAX_FACTOR] (to ``tolerance``, relative) with
    ``reach(m) ≥ level``, given ``reach(1) = at_one < level`` and ``reach`` rising in m;
    NaN when even MAX_FACTOR falls short. Regula falsi on the logit of the
    probability against log m (where the S-shaped curve is nearly straight), with the
    Illinois step (the bracket [low, high] keeps reach(low) < level ≤ reach(high); an
    end that stays twice is halved in weight): five or six evaluations where halving
    the bracket took eleven."""
    def gap(value: float) -> float:
        value = min(max(value, 1e-9), 1 - 1e-9)
        return math.log(value / (1 - value)) - math.log(level / (1 - level))

    high, g_high = MAX_FACTOR, reach(MAX_FACTOR)
    if g_high < level:
        return float("nan")
    g_high, low, g_low, kept = gap(g_high), 1.0, gap(at_one), 0
    while high - low > tolerance * low:
        step = 0.5 * tolerance * low  # strictly inside, so that each evaluation narrows the bracket
        a, b = math.log(low), math.log(high)
        x = math.exp((a * g_high - b * g_low) / (g_high - g_low)) if g_high > g_low else 0.5 * (low + high)
        x = min(max(x, low + step), high - step)
        value = reach(x)
        if value >= level:
            high, g_high = x, gap(value)
            g_low, kept = (g_low / 2, 1) if kept == 1 else (g_low, 1)
        else:
            low, g_low = x, gap(value)
            g_high, kept = (g_high / 2, -1) if kept == -1 else (g_high, -1)
    return high


#: Above this share of all members a year, the admissions needed are not restated as a
#: rate (a small unit's "131 % of its members" says nothing the lift clause does not).
MAX_SHOWN_RATE = 0.25


def admissions_sentence(need: dict, *, unit: str | None = None) -> str:
    """The admissions a year the target needs, in one sentence (from :func:`admissions_needed`)."""
    target = (f"chỉ tiêu {format_percent(config.TARGET_SHARE, 0)} chi bộ có từ {need['threshold']} đảng viên tại "
              f"chỗ năm {need['horizon']}")
    now = "hiện nay" if need["kind"] == "continue" else "theo kịch bản của báo cáo"
    current = _people(need["current"])
    if need["factor"] == 1.0:
        return (f"Giữ mức kết nạp {now} của chi bộ thôn, bản ở {unit_name(unit)} (≈ {current} người/năm) là đủ để "
                f"{target} có khả năng đạt (xác suất {format_chance(need['p_now'])}); cần duy trì, không để giảm.")
    if math.isnan(need["factor"]):
        return (f"Chỉ tăng đều số kết nạp ở mọi chi bộ thì {target} khó đạt ở {unit_name(unit)}, kể cả khi gấp "
                f"{format_number(MAX_FACTOR)} lần mức {now} (≈ {current} người/năm): cần tạo nguồn, giao chỉ tiêu "
                "riêng cho từng chi bộ nguy cơ.")
    text = (f"Để {target} có khả năng đạt (xác suất từ {format_percent(need['level'], 0)}) khi mọi chi bộ tăng "
            f"kết nạp như nhau, chi bộ thôn, bản của {unit_name(unit)} cần kết nạp khoảng {_people(need['needed'])} "
            f"người/năm, gấp {format_number(need['factor'], 1)} lần mức {now} (≈ {current})")
    if not math.isnan(need["needed_rate"]) and need["needed_rate"] <= MAX_SHOWN_RATE:
        # the programme's rate (all admissions over all members), not these admissions over all members
        text += (f", tức là tỷ lệ kết nạp chung của {unit_name(unit)} khoảng {format_percent(need['needed_rate'], 1)} "
                 f"tổng số đảng viên/năm, nếu chi bộ thôn, bản vẫn chiếm khoảng "
                 f"{format_percent(need['phi'], 0)} số kết nạp như hiện nay")
    if need["kind"] == "continue" and need["factor"] > need["lift"]:
        text += (f"; mức này vượt khả năng kết nạp giả định của các chi bộ (gấp {format_number(need['lift'], 1)} lần "
                 "mức mấy năm qua), nên cần tập trung vào các chi bộ nguy cơ")
    return text + "."


def _people(value: float) -> str:
    return format_number(round(value, -1) if value >= 100 else round(value))


def quota_effect(extras, *, unit: str | None = None, by: str | None = None) -> dict | None:
    """What the quota proposal gains over the population split for the unit:
    ``threshold, horizon, lift`` (assumed), ``quotas`` (admissions of the period),
    ``share_plan, share_population, gain`` at the assumed lift and ``gain_low`` if
    cells can only admit as many as in recent years (lift 1). None without a
    proposal."""
    a = getattr(extras, "allocation", None)
    if a is None:
        return None
    mask = a.unit_mask(by, unit)
    sens = a.sensitivity(mask).set_index("lift")
    at = sens.loc[a.lift]
    low = sens.loc[min(sens.index)]
    return {"threshold": a.threshold, "horizon": a.horizon, "lift": a.lift, "years": (a.years[0], a.years[-1]),
            "quotas": int(a.quotas[mask].sum()), "share_plan": float(at["share_optimised"]),
            "share_population": float(at["share_proportional"]), "gain": float(at["gain"]),
            "gain_low": float(low["gain"]), "lift_low": float(min(sens.index)),
            "share_plan_low": float(low["share_optimised"]), "share_population_low": float(low["share_proportional"])}


def quota_sentence(effect: dict | None, *, unit: str | None = None) -> str | None:
    """Whether the quota proposal helps and by how much, in one sentence (from :func:`quota_effect`)."""
    if effect is None:
        return None
    what = f"tỷ lệ chi bộ có từ {effect['threshold']} đảng viên tại chỗ năm {effect['horizon']}"
    plan = (f"Giao chỉ tiêu kết nạp theo đề xuất ({format_number(effect['quotas'])} người trong "
            f"{effect['years'][0]}–{effect['years'][1]} ở {unit_name(unit)}) thay vì chia theo dân số")
    if abs(effect["gain"]) < 0.0005:
        return (f"{plan} hầu như không thay đổi {what} ({format_percent(effect['share_plan'], 1)}): các chi bộ đều "
                "đã được giao sát khả năng kết nạp.")
    text = (f"{plan} nâng {what} dự kiến từ {format_percent(effect['share_population'], 1)} lên "
            f"{format_percent(effect['share_plan'], 1)} "
            f"({format_point_change(effect['share_plan'], effect['share_population'])}), nếu các chi bộ kết nạp được gấp "
            f"{format_number(effect['lift'], 1)} lần mức mấy năm qua")
    if effect["lift_low"] < effect["lift"]:
        text += (f"; nếu chỉ bằng mức mấy năm qua, chênh lệch còn "
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
             quota_sentence(quota_effect(extras, unit=unit, by=by), unit=unit)]
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
