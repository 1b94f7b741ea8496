"""The programme's indicators (:data:`INDICATORS`: their codes, words and targets) and
their counts from the tracker's tables (:class:`TrackerData`): per unit and year,
the successes and trials of each share indicator and the events of each count.
:mod:`nq21model.targets` projects and judges them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .data import Dataset, load_dataset
from .exceptions import ParameterError
from .model_tables import CELL_COLUMNS
from .results import PROVINCE
from .tracker_tables import (UNIT_HEAD_KINDS, load_organisation_years, load_organisations, load_roles,
                             load_unit_counts)

__all__ = [
    "Indicator", "INDICATORS", "COMMUNE_EXCLUDED", "PROGRAMME_START", "TrackerData", "load_tracker_data",
    "share_counts", "count_series", "unit_rows", "SHARE_FUNCTIONS", "share_1_org", "share_1_member", "share_2a",
    "share_2c", "share_3a", "share_3b", "share_3c", "share_4a", "share_4b",
]

#: First year counted by the cumulative targets (2b, owners): the first full year
#: of the 2020–2025 term, whose targets the programme restates.
PROGRAMME_START = 2021


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
    from .spelling import _fold

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

