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
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, engine
from .data import Dataset, load_dataset
from .model_tables import CELL_COLUMNS
from .tracker_tables import (UNIT_HEAD_KINDS, load_organisation_years, load_organisations, load_roles,
                             load_unit_counts)
from .exceptions import ParameterError
from .results import PROVINCE
from .statuses import AT_RISK, LIKELY_MET, MET, MISSED, NO_DATA, NOT_APPLICABLE, UNLIKELY_MET, target_status
from .trends import count_future, fit_share_trend, predict_share

__all__ = [
    "Indicator", "INDICATORS", "TrackerData", "load_tracker_data", "track_targets",
    "status_for", "project_share", "project_count", "COLUMNS", "LIKELY", "UNLIKELY",
    "MET", "LIKELY_MET", "AT_RISK", "MISSED", "UNLIKELY_MET", "NO_DATA", "NOT_APPLICABLE", "PROGRAMME_START",
    "share_counts", "count_series", "indicator_paths", "unit_table", "province_table",
    "SHARE_FUNCTIONS", "share_1_org", "share_1_member", "share_2a", "share_2c", "share_3a", "share_3b",
    "share_3c", "share_4a", "share_4b",
    "format_targets", "METHOD_LABELS",
]

#: Columns of the tracker table, in order.
COLUMNS = ["indicator", "unit", "year", "target", "value", "low", "high", "status", "method"]


#: A forecast reaches the target with probability ≥ LIKELY: "có khả năng đạt"; below
#: UNLIKELY: "khó đạt" (a small chance); between: "nguy cơ không đạt". The same
#: scale as the briefings' traffic lights (config.STATUS_LIKELY / STATUS_UNLIKELY).
LIKELY = config.STATUS_LIKELY
UNLIKELY = config.STATUS_UNLIKELY

#: First year counted by the cumulative targets (2b, owners): the first full year
#: of the 2020–2025 term, whose targets the programme restates.
PROGRAMME_START = 2021

#: Quantile levels of the band.
BAND = config.BAND


@dataclass(frozen=True)
class Indicator:
    """One indicator of the programme.

    ``targets`` maps a year to the target value; ``strict`` means the value must
    exceed it ("trên 90 %"); ``lower_is_better`` flips the comparison (a count of
    empty cells); ``province_only`` means the programme sets it for the province
    alone; ``kind`` is ``"share"``, ``"count"`` or ``"membership"``.
    """

    code: str
    name: str
    short: str
    targets: dict
    kind: str = "share"
    strict: bool = False
    lower_is_better: bool = False
    province_only: bool = False
    percent: bool = True
    trend: bool = True

    def met(self, value: float, year: int) -> bool:
        """Whether ``value`` meets the target of ``year``."""
        target = self.targets[year]
        if self.lower_is_better:
            return value <= target + 1e-12
        return value > target + 1e-12 if self.strict else value >= target - 1e-12


_I = Indicator
#: The indicators in the order of the programme.
INDICATORS: dict[str, Indicator] = {i.code: i for i in (
    _I("1_org", "Tỷ lệ tổ chức cơ sở đảng được xếp loại từ hoàn thành tốt nhiệm vụ trở lên",
       "TCCS đảng hoàn thành tốt nhiệm vụ trở lên", {2025: 0.90, 2030: 0.90}, strict=True),
    _I("1_member", "Tỷ lệ đảng viên được xếp loại từ hoàn thành tốt nhiệm vụ trở lên",
       "Đảng viên hoàn thành tốt nhiệm vụ trở lên", {2025: 0.90, 2030: 0.90}, strict=True),
    _I("2a", "Tỷ lệ kết nạp đảng viên mới hằng năm so với tổng số đảng viên",
       "Tỷ lệ kết nạp đảng viên mới", {2025: 0.03, 2030: 0.03}),
    _I("2b", "Số đảng viên kết nạp trong doanh nghiệp tư nhân (từ năm 2021)",
       "Kết nạp trong doanh nghiệp tư nhân", {2025: 30}, kind="count", province_only=True, percent=False),
    _I("2b_owner", "Số chủ doanh nghiệp tư nhân được kết nạp vào Đảng (từ năm 2021)",
       "Kết nạp chủ doanh nghiệp tư nhân", {2025: 3}, kind="count", province_only=True, percent=False),
    _I("2c", "Tỷ lệ thôn, bản, tổ dân phố có chi bộ",
       "Thôn, bản, tổ dân phố có chi bộ", {2025: 1.0, 2030: 1.0}, trend=False),
    _I("2d_3", "Tỷ lệ chi bộ thôn, bản, tổ dân phố có từ 3 đảng viên tại chỗ trở lên",
       "Chi bộ có ≥ 3 đảng viên tại chỗ", {2025: 0.95}, kind="membership"),
    _I("2d_4", "Tỷ lệ chi bộ thôn, bản, tổ dân phố có từ 4 đảng viên tại chỗ trở lên",
       "Chi bộ có ≥ 4 đảng viên tại chỗ", {2030: 0.95}, kind="membership"),
    _I("2d_5", "Tỷ lệ chi bộ thôn, bản, tổ dân phố có từ 5 đảng viên tại chỗ trở lên",
       "Chi bộ có ≥ 5 đảng viên tại chỗ", {2030: 0.95}, kind="membership"),
    _I("3a", "Tỷ lệ bí thư chi bộ đồng thời là trưởng thôn, bản, tổ dân phố hoặc trưởng ban công tác mặt trận",
       "Bí thư chi bộ là trưởng thôn hoặc trưởng ban CTMT", {2025: 0.40, 2030: 0.70}),
    _I("3b", "Tỷ lệ trưởng thôn, bản, tổ dân phố là đảng viên",
       "Trưởng thôn, bản, tổ dân phố là đảng viên", {2025: 0.80, 2030: 0.90}),
    _I("3c", "Tỷ lệ trưởng ban công tác mặt trận là đảng viên",
       "Trưởng ban công tác mặt trận là đảng viên", {2025: 0.60, 2030: 0.80}),
    _I("4a", "Tỷ lệ bí thư cấp ủy đồng thời là chủ tịch HĐND cấp xã",
       "Bí thư cấp ủy là chủ tịch HĐND cấp xã", {2025: 0.65, 2030: 0.85}),
    _I("4b", "Tỷ lệ bí thư cấp ủy đồng thời là thủ trưởng cơ quan, đơn vị",
       "Bí thư cấp ủy là thủ trưởng cơ quan, đơn vị", {2025: 0.90, 2030: 0.95}),
    _I("no_empty_cell", "Số chi bộ bản không có đảng viên tại chỗ",
       "Chi bộ bản không có đảng viên tại chỗ", {2025: 0, 2030: 0}, kind="membership",
       lower_is_better=True, percent=False),
    _I("owner_per_district", "Huyện, thành phố kết nạp được ít nhất 1 chủ doanh nghiệp tư nhân",
       "Huyện kết nạp được chủ doanh nghiệp", {2025: 1}, kind="count", percent=False),
)}

#: Indicators of organisations that a commune has one of (its party committee): a
#: share of one is not an indicator of the commune, so commune tables leave them out.
COMMUNE_EXCLUDED = ("1_org", "4a", "4b")

#: Method codes and their Vietnamese labels.
METHOD_LABELS = {
    "observed": "số liệu thực tế", "exact": "mô hình chính xác (nhị thức + Poisson)",
    "logit_trend": "xu hướng theo năm, có biến động từng năm", "poisson_glm": "hồi quy Poisson theo năm",
    "scenario": "theo giả định của kịch bản",
    "constant": "giữ nguyên mức hiện tại", "none": "",
}


# ----------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class TrackerData:
    """The validated inputs of the tracker. A table that is ``None`` gives "không
    có dữ liệu" for the indicators that need it."""

    dataset: Dataset
    roles: pd.DataFrame | None = None
    organisations: pd.DataFrame | None = None
    organisation_years: pd.DataFrame | None = None
    unit_counts: pd.DataFrame | None = None
    sources: dict = field(default_factory=dict)
    #: Yearly counts already made from these tables (:func:`share_counts`,
    #: :func:`count_series`): a batch's paths of a hundred units group them once.
    _made: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def made(self, key: tuple, make):
        """``make()``, made once for ``key`` (the caller does not change what it returns)."""
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]


_FILES = {"roles": "roles.csv", "organisations": "organisations.csv",
          "organisation_years": "organisation_years.csv"}


def load_tracker_data(dataset: Dataset | None = None, *, roles=None, organisations=None,
                      organisation_years=None, unit_counts=None, directory=None) -> TrackerData:
    """Load the tracker's tables beside the dataset (or from the given paths).

    Each table defaults to the file of that name (``roles.csv``,
    ``organisations.csv``, ``organisation_years.csv``) in ``directory`` (default:
    the folder of the cells file); a default file that does not exist is simply
    absent, a path given explicitly must exist. The yearly counts per unit are the
    dataset's totals table unless ``unit_counts`` names another file. Without
    ``roles``, role booleans in the cells table (MODEL.md §1) count for the last
    year of history. Every file is validated (DataError naming file, row, column).
    """
    dataset = dataset if dataset is not None else load_dataset()
    folder = Path(directory) if directory is not None else Path(dataset.sources.get("cells", config.CELLS_FILE)).parent
    given = {"roles": roles, "organisations": organisations, "organisation_years": organisation_years,
             "unit_counts": unit_counts}
    paths = {}
    for key, value in given.items():
        if value is not None:
            paths[key] = Path(value)
        elif key in _FILES and (folder / _FILES[key]).exists():
            paths[key] = folder / _FILES[key]
    cells_name = Path(dataset.sources.get("cells", "cells")).name
    tables: dict = {}
    if "roles" in paths:
        tables["roles"] = load_roles(paths["roles"], dataset.cells, cells_name=cells_name)
    else:
        tables["roles"] = _roles_from_cells(dataset)
    if "organisations" in paths:
        tables["organisations"] = load_organisations(paths["organisations"])
    if "organisation_years" in paths:
        if "organisations" not in paths:
            raise ParameterError(f"{paths['organisation_years'].name}: the yearly ratings need the table of "
                                 "organisations (organisations.csv beside it, or --organisations)")
        tables["organisation_years"] = load_organisation_years(
            paths["organisation_years"], tables["organisations"], organisations_name=paths["organisations"].name)
    if "unit_counts" in paths:
        tables["unit_counts"] = load_unit_counts(paths["unit_counts"])
    elif dataset.totals is not None:
        tables["unit_counts"] = dataset.totals
        paths["unit_counts"] = Path(dataset.sources["totals"])
    return TrackerData(dataset=dataset, sources={k: str(v) for k, v in paths.items()}, **tables)


def _roles_from_cells(dataset: Dataset) -> pd.DataFrame | None:
    names = [c.name for c in CELL_COLUMNS if c.kind == "bool_or_blank"]
    if not all(n in dataset.cells for n in names):
        return None
    roles = dataset.cells[["cell_id", *names]].copy()
    roles.insert(1, "year", dataset.last_year)
    return roles.dropna()


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
    return engine.cells_needed(target, n)


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


# ------------------------------------------------------------ indicator counts


def _unit_of_cells(data: TrackerData, by: str | None) -> pd.Series:
    cells = data.dataset.cells
    return pd.Series(cells[by].to_numpy() if by else PROVINCE, index=cells["cell_id"])


def _share_by(frame: pd.DataFrame, units: pd.Series | np.ndarray | None, success, trial=None) -> pd.DataFrame:
    """Sum successes (bool/int) and trials (default 1 a row) by unit and year, plus the province."""
    out = pd.DataFrame({"unit": units if units is not None else PROVINCE, "year": frame["year"].to_numpy(),
                        "successes": np.asarray(success, dtype=float),
                        "trials": np.ones(len(frame)) if trial is None else np.asarray(trial, dtype=float)})
    by_unit = out.dropna(subset=["unit"]).groupby(["unit", "year"], as_index=False)[["successes", "trials"]].sum()
    province = out.groupby("year", as_index=False)[["successes", "trials"]].sum()
    province.insert(0, "unit", PROVINCE)
    return pd.concat([province, by_unit[by_unit["unit"] != PROVINCE]], ignore_index=True)


def _role_share(data: TrackerData, by: str | None, success) -> pd.DataFrame | None:
    roles = data.roles
    if roles is None:
        return None
    units = roles["cell_id"].map(_unit_of_cells(data, by)).to_numpy() if by else None
    return _share_by(roles, units, success(roles))


def _organisation_share(data: TrackerData, by: str | None, column: str, kinds=None) -> pd.DataFrame | None:
    orgs, years = data.organisations, data.organisation_years
    if orgs is None or years is None or column not in years:
        return None
    merged = years.merge(orgs, on="org_id", how="left")
    keep = merged[column].notna()
    if kinds is not None:
        keep &= merged["kind"].isin(kinds)
    if column == "rating":
        success = merged["rating"].isin(["xuat_sac", "tot"])
    else:
        success = merged[column].fillna(False).astype(bool)
    units = None
    if by:  # a grouping the organisations do not carry gives no unit rows
        units = (merged[by].to_numpy() if by in merged else np.full(len(merged), None))[keep.to_numpy()]
    return _share_by(merged.loc[keep], units, success[keep])


def _count_share(data: TrackerData, by: str | None, success: str, trials: str,
                 trials_year_before: bool = False) -> pd.DataFrame | None:
    counts = data.unit_counts
    if counts is None or not {success, trials} <= set(counts):
        return None
    frame = counts[["unit", "year", success]].merge(
        counts[["unit", "year", trials]].assign(year=counts["year"] + int(trials_year_before)), on=["unit", "year"])
    frame = frame.rename(columns={success: "successes", trials: "trials"})
    return _unit_count_shares(frame, data, by)


def share_1_org(data: TrackerData, by: str | None = None) -> pd.DataFrame | None:
    """1 (organisations): organisations rated "hoàn thành tốt nhiệm vụ" or better / rated."""
    return _organisation_share(data, by, "rating")


def share_1_member(data: TrackerData, by: str | None = None) -> pd.DataFrame | None:
    """1 (members): members rated "hoàn thành tốt nhiệm vụ" or better / members rated."""
    return _count_share(data, by, "members_rated_good", "members_rated")


def share_2a(data: TrackerData, by: str | None = None) -> pd.DataFrame | None:
    """2a: admissions of the year / all members at the end of the year before."""
    return _count_share(data, by, "admitted", "members", trials_year_before=True)


def share_2c(data: TrackerData, by: str | None = None) -> pd.DataFrame | None:
    """2c: villages (thôn, bản, tổ dân phố) with a party cell / villages."""
    return _count_share(data, by, "villages_with_cell", "villages")


def share_3a(data: TrackerData, by: str | None = None) -> pd.DataFrame | None:
    """3a: cells whose secretary is also village head or Front head / cells."""
    return _role_share(data, by, lambda r: r["secretary_is_village_head"].astype(bool)
                       | r["secretary_is_front_head"].astype(bool))


def share_3b(data: TrackerData, by: str | None = None) -> pd.DataFrame | None:
    """3b: cells whose village head is a party member / cells."""
    return _role_share(data, by, lambda r: r["village_head_is_member"].astype(bool))


def share_3c(data: TrackerData, by: str | None = None) -> pd.DataFrame | None:
    """3c: cells whose head of the Front work committee is a party member / cells."""
    return _role_share(data, by, lambda r: r["front_head_is_member"].astype(bool))


def share_4a(data: TrackerData, by: str | None = None) -> pd.DataFrame | None:
    """4a: commune party committees whose secretary chairs the People's Council / reported."""
    return _organisation_share(data, by, "secretary_is_council_chair", ("commune",))


def share_4b(data: TrackerData, by: str | None = None) -> pd.DataFrame | None:
    """4b: agencies, schools, health units whose secretary heads the unit / reported."""
    return _organisation_share(data, by, "secretary_is_unit_head", UNIT_HEAD_KINDS)


#: The function computing each share indicator's yearly counts.
SHARE_FUNCTIONS = {"1_org": share_1_org, "1_member": share_1_member, "2a": share_2a, "2c": share_2c,
                   "3a": share_3a, "3b": share_3b, "3c": share_3c, "4a": share_4a, "4b": share_4b}


def share_counts(code: str, data: TrackerData, by: str | None = None) -> pd.DataFrame | None:
    """Yearly ``unit, year, successes, trials`` of the share indicator ``code`` (its
    ``share_<code>`` function); province rows have unit "Toàn tỉnh"; None when the
    data for it are absent."""
    if code not in SHARE_FUNCTIONS:
        raise ParameterError(f"'{code}' is not a share indicator")
    return data.made(("share", code, by), lambda: SHARE_FUNCTIONS[code](data, by))


def unit_rows(data: TrackerData, key: tuple, frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """The rows of ``unit`` in ``frame`` (the table ``key`` of :meth:`TrackerData.made`),
    the table split by unit once."""
    split = data.made(("by unit", *key), lambda: dict(tuple(frame.groupby("unit", sort=False))))
    return split.get(unit, frame.iloc[:0])


def _unit_count_shares(frame: pd.DataFrame, data: TrackerData, by: str | None,
                       all_units: bool = False) -> pd.DataFrame:
    """Province = its own row of the totals table ("Toàn tỉnh") when there is one, else
    the sum over units in the years every unit reports; unit rows kept only when the
    grouping is the one the counts are by (or all, ``all_units``)."""
    from .model_tables import PROVINCE_UNITS
    from .tables import _fold

    own = frame["unit"].map(_fold).isin(PROVINCE_UNITS)
    if own.any():
        province = frame[own].groupby("year", as_index=False)[["successes", "trials"]].sum()
        frame = frame[~own]
    else:
        n_units = frame["unit"].nunique()
        full = frame.groupby("year")["unit"].transform("nunique").eq(n_units)
        province = frame[full].groupby("year", as_index=False)[["successes", "trials"]].sum()
    province.insert(0, "unit", PROVINCE)
    parts = [province]
    if all_units:
        parts.append(frame[["unit", "year", "successes", "trials"]])
    elif by:
        known = set(data.dataset.cells[by]) if by in data.dataset.cells else set()
        parts.append(frame[frame["unit"].isin(known)][["unit", "year", "successes", "trials"]])
    return pd.concat(parts, ignore_index=True)


def count_series(code: str, data: TrackerData, by: str | None = None, *,
                 all_units: bool = False) -> pd.DataFrame | None:
    """Yearly ``unit, year, count`` of a count indicator (``2b``: admissions in
    private enterprises; ``2b_owner`` and ``owner_per_district``: owners admitted);
    None when absent. The province is the sum over units in years all report."""
    col = {"2b": "admitted_private", "2b_owner": "admitted_owners", "owner_per_district": "admitted_owners"}[code]
    counts = data.unit_counts
    if counts is None or col not in counts:
        return None

    def make():
        frame = counts[["unit", "year", col]].rename(columns={col: "successes"}).assign(trials=0.0)
        out = _unit_count_shares(frame, data, by, all_units).rename(columns={"successes": "count"})
        return out[["unit", "year", "count"]]

    return data.made(("count", code, by, all_units), make)


# -------------------------------------------------------------------- tracker


def _groups(dataset: Dataset, by: str | None) -> dict[str, np.ndarray]:
    groups = {PROVINCE: np.arange(len(dataset.cells))}
    if by:
        if by not in dataset.cells:
            raise ParameterError(f"no column '{by}' in the cells table")
        groups.update(dataset.cells.groupby(by, sort=False).indices)
    return groups


def _band_and_tail(draws: np.ndarray, needed: int | None, scale: float = 1.0) -> tuple[float, float, float]:
    """The 80 % band of a count of successes (over ``scale``) mixed over parameter
    draws (``draws`` (D, n)), and P(count ≥ needed) (P(count = 0) when None)."""
    offset, cdf = engine.count_cdf(draws)
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
    forecast_groups = {} if by is None else dict(forecast_cells.groupby(by, sort=False).indices)
    for unit, idx in groups.items():
        fidx = np.arange(len(forecast_cells)) if unit == PROVINCE else \
            np.asarray(forecast_groups.get(unit, np.array([], np.int64)))
        for code in ("2d_3", "2d_4", "2d_5", "no_empty_cell"):
            ind = INDICATORS[code]
            for year in sorted(ind.targets):
                if year <= base_year:
                    sel = idx[is_ban[idx]] if code == "no_empty_cell" else idx
                    if code == "no_empty_cell" and sel.size == 0 and idx.size:
                        rows.append(_row(code, unit, year, status=NOT_APPLICABLE))  # no bản cells to count
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
                    empty = code == "no_empty_cell" and fidx.size
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
                    lo, hi, p = _band_and_tail(draws, engine.cells_needed(ind.targets[year], n), n)
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
                pmf = engine.poisson_binomial_pmf(probs)
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
    """Indicator 2a after the base year from the forecast's own admissions (one number,
    one meaning: the same admissions as the briefing's): the village cells' expected
    admissions of the year over their share φ of all admissions, over all members at
    the end of the year before (:func:`scenario.programme_base`). Continue: the band and
    the probability from the model's Poisson mixture; a scenario that fixes the
    admissions: its rate, marked as assumed."""
    from .scenario import programme_base

    ind = INDICATORS["2a"]
    cells = results.dataset.cells
    out = []
    for row in rows:
        year = int(row["year"])
        if row["indicator"] != "2a" or row["method"] == "none" or year <= base_year \
                or year - base_year > results.rates.lam.shape[-1]:
            out.append(row)
            continue
        unit = row["unit"]
        try:
            base = programme_base(dataset, base_year, None if unit == PROVINCE else unit, by)
        except ParameterError:
            out.append(row)
            continue
        idx = np.arange(len(cells)) if unit == PROVINCE else np.flatnonzero(cells[by].eq(unit).to_numpy())
        scale = base.phi * base.members_at(year - 1)
        if not scale > 0:   # no village admissions in the totals' years, or no members: the trend stands
            out.append(row)
            continue
        if results.scenario.kind != "continue":
            value = float(results.rates.admissions[:, idx, year - base_year - 1].sum(axis=1).mean()) / scale
            out.append(_row("2a", unit, year, value, value, value, float(ind.met(value, year)), "scenario"))
            continue
        lam = results.rates.admissions[:, idx, year - base_year - 1].sum(axis=1)          # (D,)
        size = int(lam.max() + 10 * np.sqrt(lam.max()) + 30)
        from scipy import stats

        pmf = stats.poisson.pmf(np.arange(size)[None, :], lam[:, None]).mean(axis=0)
        cdf = np.cumsum(pmf)
        lo, hi = (float(np.searchsorted(cdf, q - 1e-12)) / scale for q in BAND)
        needed = math.ceil(ind.targets[max(ind.targets)] * scale - 1e-9)
        reach = 1.0 if needed <= 0 else float(1 - cdf[needed - 1]) if needed <= size else 0.0  # beyond the mass
        out.append(_row("2a", unit, year, float(lam.mean()) / scale, lo, hi, reach, "exact"))
    return out


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
            value, lo, hi, _ = predict_share(fit, year)
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
        return "3–4%"
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
