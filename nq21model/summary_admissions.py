"""How many admissions a year would make a unit's last target likely, by the model
of the page (:func:`admissions_needed`: every cell's admissions scaled by one
factor, the smallest that makes P(share of cells ≥ 95 %) reach the "có khả năng
đạt" level) and the conclusion's sentence of it (:func:`admissions_sentence`)."""
from __future__ import annotations

import math

import numpy as np

from . import config, engine, engine_groups
from .fmt import format_number, format_percent
from .report_base import format_chance, unit_name
from .report_forecast import admissions
from .results import ForecastResults
from .statuses import risk_threshold, target_thresholds

__all__ = ["MAX_FACTOR", "MAX_SHOWN_RATE", "admissions_needed", "admissions_sentence"]

#: Probability from which a target counts as likely ("có khả năng đạt").
LIKELY = config.STATUS_LIKELY


def _reach(n0, p, mu_admitted, mu_other, factor: float, threshold: int, *, thin: bool = False) -> float:
    """P(share of cells with ≥ threshold ≥ 95 %) when admissions are ``factor`` times
    as many: the engine's exact per-cell distributions given each parameter draw,
    the Poisson-binomial over cells, mixed over the draws. ``thin``: above the
    engine's :data:`~nq21model.engine.LARGE_CELL_DRAWS`, from
    :data:`~nq21model.engine.QUANTILE_DRAWS` evenly spaced draws (a search step)."""
    if thin and p.size > engine.LARGE_CELL_DRAWS and p.shape[0] > engine.QUANTILE_DRAWS:
        rows = engine.thinned_draws(p.shape[0])
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
                "riêng cho từng chi bộ có nguy cơ.")
    text = (f"Để {target} có khả năng đạt (xác suất từ {format_percent(need['level'], 0)}) khi mọi chi bộ tăng "
            f"kết nạp như nhau, chi bộ thôn, bản của {unit_name(unit)} cần kết nạp khoảng {_people(need['needed'])} "
            f"người/năm, gấp {format_number(need['factor'], 1)} lần mức {now} (≈ {current})")
    if not math.isnan(need["needed_rate"]) and need["needed_rate"] <= MAX_SHOWN_RATE:
        # the programme's rate (all admissions over all members), not these admissions over all members
        text += (f", tức là tỷ lệ kết nạp chung của {unit_name(unit)} khoảng {format_percent(need['needed_rate'], 1)} "
                 f"tổng số đảng viên/năm, nếu chi bộ thôn, bản vẫn chiếm khoảng "
                 f"{format_percent(need['phi'], 0)} số kết nạp như hiện nay")
    if need["kind"] == "continue" and round(need["factor"], 1) > need["lift"]:  # "gấp 2 lần … (gấp 2 lần)" is no news
        text += (f"; mức này vượt khả năng kết nạp giả định của các chi bộ (gấp {format_number(need['lift'], 1)} lần "
                 "mức bình quân các năm gần đây), nên cần tập trung vào các chi bộ có nguy cơ")
    return text + "."


def _people(value: float) -> str:
    """A number of people as the page's tables show it (whole people)."""
    return format_number(round(value))
