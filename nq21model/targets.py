"""The programme's indicator tracker: every quantitative target, observed and forecast.

The Lai Châu action programme for Resolution 21-NQ/TW (``shared/programme/TARGETS.md``,
section II.2) sets ten indicators for 2025 and 2030; two more targets come from its
sections III–IV. :func:`track_targets` puts all of them in one table with the columns
``indicator, unit, year, target, value, low, high, status, method``:

=====================  ===========================================================
indicator              meaning (``target`` by 2025 / 2030)
=====================  ===========================================================
``1_org``              share of grassroots party organisations rated "hoàn thành tốt
                       nhiệm vụ" or better (> 90 % / > 90 %) — code 1, organisations
``1_member``           share of members rated so (> 90 % / > 90 %) — code 1, members
``2a``                 admissions of the year / all members at the end of the year
                       before (≥ 3 %, the low end of the programme's "3–4 %")
``2b``                 members admitted in private enterprises since 2021 (≥ 30;
                       province only)
``2b_owner``           of them, owners of the enterprise (≥ 3; province only)
``2c``                 villages (thôn, bản, tổ dân phố) with a party cell (100 %)
``2d_3``               cells with ≥ 3 local members (95 % by 2025)
``2d_4``, ``2d_5``     cells with ≥ 4, ≥ 5 local members (95 % by 2030)
``3a``                 cell secretaries who are also village head or head of the
                       village Front work committee (40 % / 70 %)
``3b``                 village heads who are party members (80 % / 90 %)
``3c``                 heads of the village Front work committee who are members
                       (60 % / 80 %)
``4a``                 commune party secretaries who chair the commune People's
                       Council (65 % / 85 %)
``4b``                 agency / unit party secretaries who head the agency or unit
                       (90 % / 95 %)
``no_empty_cell``      bản cells without a local member (0 by 2025, kept in 2030)
``owner_per_district`` owners admitted since 2021 in the district (≥ 1 by 2025); for
                       the province, the share of districts with one (100 %)
=====================  ===========================================================

``value`` is observed for a year up to the base year that the data cover, and
forecast otherwise:

* membership indicators (``2d_*``, ``no_empty_cell``) by the exact engine
  (:func:`nq21model.forecast.forecast`, MODEL.md §2), ``method = "exact"``;
* share indicators by a line on the logit scale with a yearly shock of its own
  (:func:`nq21model.trends.fit_share_trend`), ``method = "logit_trend"``. The
  interval and the probability of reaching the target are those of the *realised*
  share of the unit's current number of trials. A series that never varies (e.g.
  100 % every year) is carried forward, ``method = "constant"``;
* counts since 2021 (``2b``, ``2b_owner``, ``owner_per_district``) by a Poisson GLM
  of the yearly counts on the year with a gamma year effect
  (:func:`nq21model.trends.count_future`), ``method = "poisson_glm"``.

``low``/``high`` are an 80 % band (the engine's q10–q90). ``status``:

* observed: ``đạt`` if the target is met, else ``không đạt``;
* forecast, from the probability P that the target is reached:
  ``có khả năng đạt`` if P ≥ :data:`LIKELY` (0.8), ``nguy cơ không đạt`` if
  :data:`UNLIKELY` (0.2) ≤ P < 0.8, ``khó đạt`` if P < 0.2 (the one scale of
  the package, :func:`nq21model.statuses.target_status`);
* ``không có dữ liệu`` where the unit has no data for the indicator (a missing
  file, a missing column, a grouping the table does not carry, too few years);
* ``không áp dụng`` where the unit has nothing the indicator counts (a ward
  without bản cells and ``no_empty_cell``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import config, engine_groups
from .data import Dataset
from .exceptions import ParameterError
from .indicators import (COMMUNE_EXCLUDED, INDICATORS, PROGRAMME_START, SHARE_FUNCTIONS, Indicator, TrackerData,
                         count_series, load_tracker_data, share_1_member, share_1_org, share_2a, share_2c, share_3a,
                         share_3b, share_3c, share_4a, share_4b, share_counts, unit_rows)
from .results import PROVINCE
from .results_base import group_indices
from .statuses import AT_RISK, LIKELY_MET, MET, MISSED, NO_DATA, NOT_APPLICABLE, UNLIKELY_MET, target_status
from .trends import count_future, fit_share_trend, predict_share

#: The tracker (this module) and, for its callers, the indicators it tracks
#: (:mod:`nq21model.indicators`); what briefings show of it is :mod:`nq21model.target_views`.
__all__ = [
    "Indicator", "INDICATORS", "COMMUNE_EXCLUDED", "TrackerData", "load_tracker_data", "track_targets",
    "status_for", "project_share", "project_count", "COLUMNS", "LIKELY", "UNLIKELY",
    "MET", "LIKELY_MET", "AT_RISK", "MISSED", "UNLIKELY_MET", "NO_DATA", "NOT_APPLICABLE", "PROGRAMME_START",
    "share_counts", "count_series", "unit_rows", "SHARE_FUNCTIONS", "share_1_org", "share_1_member", "share_2a",
    "share_2c", "share_3a", "share_3b", "share_3c", "share_4a", "share_4b",
]

#: Columns of the tracker table, in order.
COLUMNS = ["indicator", "unit", "year", "target", "value", "low", "high", "status", "method"]


#: A forecast reaches the target with probability ≥ LIKELY: "có khả năng đạt"; below
#: UNLIKELY: "khó đạt" (a small chance); between: "nguy cơ không đạt". The same
#: scale as the briefings' traffic lights (config.STATUS_LIKELY / STATUS_UNLIKELY).
LIKELY = config.STATUS_LIKELY
UNLIKELY = config.STATUS_UNLIKELY


#: Quantile levels of the band.
BAND = config.BAND





# ----------------------------------------------------------------------- status


def status_for(probability: float | None, *, observed: bool) -> str:
    """The status of a row from the probability that its target is reached
    (:func:`nq21model.statuses.target_status`, the one scale of the package)."""
    return target_status(probability, observed=observed)


def _row(code, unit, year, value=np.nan, low=np.nan, high=np.nan, p=None, method="none", observed=False,
         status=None):
    ind = INDICATORS[code]
    return {"indicator": code, "unit": unit, "year": int(year), "target": float(ind.targets[year]),
            "value": float(value), "low": float(low), "high": float(high),
            "status": status or status_for(p, observed=observed), "method": method}


# ------------------------------------------------------------- share projection




def _needed(target: float, n: int, strict: bool) -> int:
    """Smallest count k of n with k/n meeting the target."""
    if strict:
        return int(math.floor(target * n + 1e-9)) + 1
    return engine_groups.cells_needed(target, n)


def project_share(series: pd.DataFrame, years, *, base_year: int, indicator: Indicator,
                  unit: str = PROVINCE) -> list[dict]:
    """Observed or projected rows of a share indicator for one unit.

    Parameters
    ----------
    series : DataFrame
        ``year, successes, trials`` (one row a year; trials > 0).
    years : iterable of int
        Years to report (target years of the indicator).
    base_year : int
        Data after it are ignored; years up to it are observed where present.
    """
    s = series[(series["year"] <= base_year) & (series["trials"] > 0)].sort_values("year")
    rows = []
    fit = None
    for year in years:
        seen = s[s["year"] == year]
        if not seen.empty:
            value = float(seen["successes"].iloc[0] / seen["trials"].iloc[0])
            rows.append(_row(indicator.code, unit, year, value, value, value,
                             float(indicator.met(value, year)), "observed", observed=True))
            continue
        if s.empty or year < s["year"].min():
            rows.append(_row(indicator.code, unit, year))
            continue
        fit = fit or fit_share_trend(s, trend=indicator.trend)
        if fit is None:
            rows.append(_row(indicator.code, unit, year))
            continue
        needed = _needed(indicator.targets[year], max(1, fit["n"]), indicator.strict)
        value, low, high, p = predict_share(fit, year, needed)
        rows.append(_row(indicator.code, unit, year, value, low, high, p, fit["method"]))
    return rows


# ------------------------------------------------------------- count projection


def project_count(series: pd.DataFrame, years, *, base_year: int, indicator: Indicator,
                  unit: str = PROVINCE, start: int = PROGRAMME_START) -> list[dict]:
    """Rows of a cumulative count (``year, count``) from ``start`` to each year.

    Observed where the data cover ``start`` … year (year ≤ base); otherwise the
    observed part plus a Poisson GLM projection of the later years; "không có
    dữ liệu" with fewer than 3 years or a gap since ``start``.
    """
    s = series[series["year"] <= base_year].sort_values("year")
    rows = []
    for year in years:
        target = indicator.targets[year]
        need = set(range(start, year + 1))
        have = set(int(y) for y in s["year"])
        cum = float(s.loc[s["year"].between(start, year), "count"].sum())
        if need <= have:
            rows.append(_row(indicator.code, unit, year, cum, cum, cum, float(cum >= target), "observed",
                             observed=True))
            continue
        last = int(s["year"].max()) if not s.empty else None
        if last is None or len(s) < 3 or not set(range(start, last + 1)) <= have:
            rows.append(_row(indicator.code, unit, year))
            continue
        mu, dist, method = count_future(s, range(last + 1, year + 1))
        low, high = (cum + dist.ppf(BAND[0]), cum + dist.ppf(BAND[1])) if dist is not None else (cum, cum)
        p = float(dist.sf(math.ceil(target - cum) - 1)) if dist is not None else float(cum >= target)
        if cum >= target:
            p = 1.0
        rows.append(_row(indicator.code, unit, year, cum + mu, low, high, p, method))
    return rows



# -------------------------------------------------------------------- tracker


def _groups(dataset: Dataset, by: str | None) -> dict[str, np.ndarray]:
    groups = {PROVINCE: np.arange(len(dataset.cells))}
    if by:
        if by not in dataset.cells:
            raise ParameterError(f"no column '{by}' in the cells table")
        groups.update(group_indices(dataset.cells[by]))
    return groups


def _band_and_tail(draws: np.ndarray, needed: int | None, scale: float = 1.0) -> tuple[float, float, float]:
    """The 80 % band of a count of successes (over ``scale``) mixed over parameter
    draws (``draws`` (D, n)), and P(count ≥ needed) (P(count = 0) when None)."""
    offset, cdf = engine_groups.count_cdf(draws)
    lo, hi = ((offset + float(np.searchsorted(cdf, q - 1e-12))) / scale for q in BAND)
    if needed is None:
        p = float(cdf[0]) if offset == 0 else 0.0
    else:
        j = needed - 1 - offset
        p = 1.0 if j < 0 else float(max(0.0, 1.0 - cdf[min(j, cdf.size - 1)]))
    return lo, hi, p


def _membership_rows(results, dataset: Dataset, groups, base_year: int, by: str | None) -> list[dict]:
    """Indicators 2d and "no empty cell": observed years count every cell of the year
    (``dataset``); forecast years the cells of ``results`` (present in the base year),
    with the share's distribution mixed over parameter draws."""
    rows = []
    panel = dataset.panel("local_members")
    is_ban = dataset.cells["cell_type"].eq("ban").to_numpy()
    forecast_cells = results.dataset.cells
    forecast_ban = forecast_cells["cell_type"].eq("ban").to_numpy()
    forecast_groups = {} if by is None else group_indices(forecast_cells[by])
    seen = panel.notna().to_numpy()
    years = panel.columns.to_numpy()
    recorded = seen.any(axis=1)                                  # a cell without history: it may exist
    first = np.where(recorded, years[seen.argmax(axis=1)], 0)
    last = np.where(recorded, years[len(years) - 1 - seen[:, ::-1].argmax(axis=1)], 0)

    def no_ban_cell(idx, year: int, forecast: bool) -> bool:
        """The unit has no bản cell then ("không áp dụng"): none in the cells table
        but those dissolved before (the base year of a forecast) or founded after."""
        ban = idx[is_ban[idx]]
        live = ~recorded[ban] | ((last[ban] >= base_year) if forecast else ((first[ban] <= year) & (last[ban] >= year)))
        return not live.any()

    for unit, idx in groups.items():
        fidx = np.arange(len(forecast_cells)) if unit == PROVINCE else \
            np.asarray(forecast_groups.get(unit, np.array([], np.int64)))
        for code in ("2d_3", "2d_4", "2d_5", "no_empty_cell"):
            ind = INDICATORS[code]
            for year in sorted(ind.targets):
                if year <= base_year:
                    sel = idx[is_ban[idx]] if code == "no_empty_cell" else idx
                    if code == "no_empty_cell" and idx.size and no_ban_cell(idx, year, forecast=False):
                        rows.append(_row(code, unit, year, status=NOT_APPLICABLE))  # no bản cell to count
                        continue
                    counts = panel[year].to_numpy()[sel] if year in panel.columns else np.array([])
                    counts = counts[~np.isnan(counts)]
                    if counts.size == 0:
                        rows.append(_row(code, unit, year))
                        continue
                    value = float((counts == 0).sum()) if code == "no_empty_cell" else float(
                        (counts >= int(code[-1])).mean())
                    rows.append(_row(code, unit, year, value, value, value, float(ind.met(value, year)),
                                     "observed", observed=True))
                    continue
                sel = fidx[forecast_ban[fidx]] if code == "no_empty_cell" else fidx
                if sel.size == 0:
                    empty = code == "no_empty_cell" and idx.size and no_ban_cell(idx, year, forecast=True)
                    rows.append(_row(code, unit, year, status=NOT_APPLICABLE if empty else None))
                    continue
                stats = results.stats(year)
                if code == "no_empty_cell":
                    draws = stats.get("draws_zero", stats["p_zero"][None, :])[:, sel]
                    lo, hi, p = _band_and_tail(draws, None)
                    rows.append(_row(code, unit, year, float(stats["p_zero"][sel].sum()), lo, hi, p, "exact"))
                else:
                    k = int(code[-1])
                    draws = stats.get(f"draws_at_least_{k}", stats[f"p_at_least_{k}"][None, :])[:, sel]
                    n = sel.size
                    lo, hi, p = _band_and_tail(draws, engine_groups.cells_needed(ind.targets[year], n), n)
                    rows.append(_row(code, unit, year, float(stats[f"p_at_least_{k}"][sel].mean()), lo, hi, p,
                                     "exact"))
    return rows


def _owner_rows(data: TrackerData, groups, by, base_year) -> list[dict]:
    """owner_per_district: per unit ≥ 1 owner since 2021; province: share of units."""
    ind = INDICATORS["owner_per_district"]
    # the province counts every unit of the counts table, whatever the grouping
    series = count_series("owner_per_district", data, all_units=True)
    rows = []
    for year in sorted(ind.targets):
        per_unit = {}
        if series is not None:
            for unit, part in series[series["unit"] != PROVINCE].groupby("unit"):
                per_unit[unit] = project_count(part, [year], base_year=base_year, indicator=ind, unit=unit)[0]
        if not per_unit:
            rows.append({**_row("owner_per_district", PROVINCE, year)})
        else:
            # probability of ≥ 1 owner per unit: 1 if observed met, else from the row's method
            probs, observed = [], True
            for unit, r in per_unit.items():
                if r["method"] == "observed":
                    probs.append(1.0 if r["value"] >= 1 else 0.0)
                elif r["status"] == NO_DATA:
                    probs.append(np.nan)
                    observed = False
                else:
                    part = series[(series["unit"] == unit) & (series["year"] <= base_year)]
                    cum = float(part.loc[part["year"] >= PROGRAMME_START, "count"].sum())
                    mu = r["value"] - cum
                    probs.append(1.0 if cum >= 1 else float(1 - math.exp(-mu)))
                    observed = False
            probs = np.asarray(probs)
            if np.isnan(probs).any():
                rows.append(_row("owner_per_district", PROVINCE, year))
            elif observed:
                value = float(probs.mean())
                rows.append(_row("owner_per_district", PROVINCE, year, value, value, value,
                                 float(value >= 1.0), "observed", observed=True))
            else:
                pmf = engine_groups.poisson_binomial_pmf(probs)
                cdf = np.cumsum(pmf)
                lo, hi = (float(np.searchsorted(cdf, q - 1e-12)) / probs.size for q in BAND)
                rows.append(_row("owner_per_district", PROVINCE, year, probs.mean(), lo, hi,
                                 float(np.prod(probs)), "poisson_glm"))
            rows[-1]["target"] = 1.0  # every unit: a share of 100 %
        for unit in groups:
            if unit != PROVINCE:
                rows.append(per_unit.get(unit) or _row("owner_per_district", unit, year))
    return rows


def track_targets(data: TrackerData | Dataset | None = None, *, by: str | None = None,
                  base_year: int | None = None, scenario=None, results=None) -> pd.DataFrame:
    """The tracker table: every indicator for the province (and each unit of ``by``).

    Parameters
    ----------
    data : TrackerData or Dataset, optional
        Default: the bundled synthetic data (:func:`load_tracker_data`).
    by : str, optional
        Cells column to report by (e.g. ``"district"``); default the province only.
    base_year : int, optional
        Default the last year of history. Data after it are not used.
    scenario : Scenario, optional
        Scenario of the membership forecast (default ``Scenario()``).
    results : ForecastResults, optional
        A membership forecast already made (its base year is used).

    Returns
    -------
    DataFrame with columns :data:`COLUMNS`, one row per indicator, unit and target year.
    """
    from .forecast import forecast

    if data is None or isinstance(data, Dataset):
        data = load_tracker_data(data)
    dataset = data.dataset
    if results is not None:
        if results.subset_of is not None:
            raise ParameterError(f"the forecast given is of one {results.subset_of[0]} "
                                 f"({results.subset_of[1]}); the tracker needs every cell's")
        base_year = results.base_year
        wanted = {y for i in INDICATORS.values() if i.kind == "membership" for y in i.targets if y > base_year}
        if not wanted <= set(results.horizons):
            raise ParameterError(f"the forecast given covers {results.horizons}; the tracker needs "
                                 f"{sorted(wanted)} after its base year {base_year}")
    base_year = dataset.last_year if base_year is None else int(base_year)
    dataset.check_base_year(base_year)
    groups = _groups(dataset, by)
    if results is None:
        horizons = sorted({y for i in INDICATORS.values() if i.kind == "membership" for y in i.targets
                           if y > base_year})
        results = forecast(dataset, scenario, base_year=base_year, horizons=horizons or None)
    rows: list[dict] = []
    membership = _membership_rows(results, dataset, groups, base_year, by)
    commune_level = by is not None and by != "district"
    for code, ind in INDICATORS.items():
        years = sorted(ind.targets)
        units = [PROVINCE] if ind.province_only else list(groups)
        if ind.kind == "membership":
            rows += [r for r in membership if r["indicator"] == code]
        elif code == "owner_per_district":
            rows += [r for r in _owner_rows(data, groups, by, base_year)
                     if not commune_level or r["unit"] == PROVINCE]
        else:
            if ind.kind == "count":
                series, project = count_series(code, data, by), project_count
            else:
                series, project = share_counts(code, data, by), project_share
            for unit in units:
                part = None if series is None else unit_rows(data, (ind.kind, code, by), series, unit)
                if commune_level and unit != PROVINCE and (code in COMMUNE_EXCLUDED or part is None or part.empty):
                    continue  # not an indicator of a commune (one organisation, or counted by district)
                if part is None or part.empty:
                    rows += [_row(code, unit, y) for y in years]
                else:
                    rows += project(part, years, base_year=base_year, indicator=ind, unit=unit)
    rows = _admission_rows(rows, results, dataset, by, base_year)
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = {u: i for i, u in enumerate(groups)}
    table["_i"] = table["indicator"].map({c: i for i, c in enumerate(INDICATORS)})
    table["_u"] = table["unit"].map(order)
    table = table.sort_values(["_i", "_u", "year"], kind="stable").drop(columns=["_i", "_u"])
    table.attrs.update(base_year=base_year, synthetic=dataset.synthetic, by=by)
    return table.reset_index(drop=True)


def _admission_rows(rows: list[dict], results, dataset: Dataset, by: str | None, base_year: int) -> list[dict]:
    """Indicator 2a after the base year from the forecast's own admissions
    (:func:`admission_rate`), where it can be had; the trend's row elsewhere."""
    out = []
    for row in rows:
        year = int(row["year"])
        exact = None
        if row["indicator"] == "2a" and row["method"] != "none":
            exact = admission_rate(results, dataset, by, base_year, row["unit"], year)
        out.append(row if exact is None else _row("2a", row["unit"], year, *exact))
    return out


def admission_rate(results, dataset: Dataset, by: str | None, base_year: int, unit: str,
                   year: int) -> tuple | None:
    """Indicator 2a of a year after the base year from the forecast's own admissions
    (one number, one meaning: the same admissions as the briefing's, in its table and
    its chart): the village cells' expected admissions of the year over their share φ
    of all admissions, over all members at the end of the year before
    (:func:`scenario.programme_base`). Continue: the band and the probability from the
    model's Poisson mixture; a scenario that fixes the admissions: its rate, marked
    as assumed. ``(value, low, high, p, method)``, or None where the data cannot say
    (no totals, no village admissions in them, a year the forecast does not cover):
    the trend then stands."""
    from .scenario import programme_base

    if year <= base_year or year - base_year > results.rates.lam.shape[-1]:
        return None
    ind = INDICATORS["2a"]
    cells = results.dataset.cells
    try:
        base = programme_base(dataset, base_year, None if unit == PROVINCE else unit, by)
    except ParameterError:
        return None
    idx = np.arange(len(cells)) if unit == PROVINCE else \
        results._groups(by).get(unit, np.zeros(0, np.int64))  # the results' cached groups: a country's thousands
    scale = base.phi * base.members_at(year - 1)
    if not scale > 0:   # no village admissions in the totals' years, or no members
        return None
    if results.scenario.kind != "continue":
        value = float(results.rates.admissions[:, idx, year - base_year - 1].sum(axis=1).mean()) / scale
        return value, value, value, float(ind.met(value, year)) if year in ind.targets else np.nan, "scenario"
    lam = results.rates.admissions[:, idx, year - base_year - 1].sum(axis=1)          # (D,)
    size = int(lam.max() + 10 * np.sqrt(lam.max()) + 30)
    from scipy import stats

    pmf = stats.poisson.pmf(np.arange(size)[None, :], lam[:, None]).mean(axis=0)
    cdf = np.cumsum(pmf)
    lo, hi = (float(np.searchsorted(cdf, q - 1e-12)) / scale for q in BAND)
    needed = math.ceil(ind.targets[max(ind.targets)] * scale - 1e-9)
    reach = 1.0 if needed <= 0 else float(1 - cdf[needed - 1]) if needed <= size else 0.0  # beyond the mass
    return float(lam.mean()) / scale, lo, hi, reach, "exact"


#: What briefings show of the tracker moved to :mod:`nq21model.target_views`; these
#: names still work from here (looked up when asked for: target_views imports this module).
_VIEWS = ("indicator_paths", "unit_table", "province_table", "format_targets", "METHOD_LABELS")


def __getattr__(name: str):
    if name in _VIEWS:
        from . import target_views

        return getattr(target_views, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
