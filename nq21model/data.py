"""The model's input tables (MODEL.md §1) and the :class:`Dataset` they make.

Cells, history, the optional totals of the whole party organisation, and quotas;
read and checked by :mod:`nq21model.tables` (every violation listed at once, with
the file, the Excel row and the column as the user spells it).

Real files are uneven, and that is not an error: a cell's history may start late
(founded) or end early (dissolved, merged into a neighbour); a cell of the cells
table may have no history yet; a file made after July 2025 has no ``district``.
:meth:`Dataset.at_base` keeps the cells present in a base year and lists the others.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .exceptions import DataError, DataWarning, Violation
from .tables import Column, _excel_row, _finish, _fold, _check_keys, _not_greater, _parse_table

#: Cell types: folded spelling -> code. "Khu phố", "tiểu khu" are tổ dân phố by another
#: name; "xóm", "ấp" are thôn.
CELL_TYPES = {
    "thon": "thon", "xom": "thon", "ap": "thon",
    "ban": "ban",
    "todanpho": "to_dan_pho", "tdp": "to_dan_pho", "khupho": "to_dan_pho", "tieukhu": "to_dan_pho",
}
#: Vietnamese labels of the cell types, for reports.
CELL_TYPE_LABELS = {"thon": "thôn", "ban": "bản", "to_dan_pho": "tổ dân phố"}

CELL_COLUMNS = (
    Column("cell_id", "Mã chi bộ", "id"),
    Column("cell_name", "Tên chi bộ", "text"),
    Column("commune", "Xã", "text", extra_aliases=("Xã, phường", "Xã/phường", "Phường")),
    Column("district", "Huyện", "text", required=False, extra_aliases=("Huyện, thành phố", "Huyện/thành phố")),
    Column("cell_type", "Loại", "choice", extra_aliases=("Loại chi bộ",), choices=CELL_TYPES, choice_what="cell type",
           choice_help="thon, ban or to_dan_pho (thôn, bản, tổ dân phố; also khu phố, tiểu khu, xóm)"),
    Column("population", "Dân số", "int", minimum=1),
    Column("commune_2025", "Xã mới", "text", required=False,
           extra_aliases=("Xã, phường mới", "Xã/phường mới", "Xã phường sau sắp xếp")),
    Column("secretary_is_village_head", "Bí thư là trưởng thôn", "bool_or_blank", required=False),
    Column("secretary_is_front_head", "Bí thư là trưởng ban công tác mặt trận", "bool_or_blank", required=False),
    Column("village_head_is_member", "Trưởng thôn là đảng viên", "bool_or_blank", required=False),
    Column("front_head_is_member", "Trưởng ban công tác mặt trận là đảng viên", "bool_or_blank", required=False),
)

HISTORY_COLUMNS = (
    Column("cell_id", "Mã chi bộ", "id"),
    Column("year", "Năm", "int", minimum=1900),
    Column("local_members", "Đảng viên tại chỗ", "int", minimum=0),
    Column("admitted", "Kết nạp", "int", minimum=0),
    Column("exited", "Giảm", "int", minimum=0),
    Column("assigned_members", "Cán bộ xã cử đến", "int", minimum=0),
    Column("transferred_in", "Chuyển đến", "int", required=False, minimum=0),
)

QUOTA_COLUMNS = (
    Column("cell_id", "Mã chi bộ", "id"),
    Column("year", "Năm", "int", minimum=1900),
    Column("quota", "Chỉ tiêu", "int", minimum=0, extra_aliases=("Chỉ tiêu kết nạp",)),
)

#: Yearly counts per unit of the whole party organisation (MODEL.md §1 "totals"):
#: ``members`` and ``admitted`` give the programme's base of admission rates; the
#: other columns feed the target tracker.
TOTALS_COLUMNS = (
    Column("unit", "Đơn vị", "text", extra_aliases=("Huyện", "Huyện, thành phố", "Xã", "Xã, phường")),
    Column("year", "Năm", "int", minimum=1900),
    Column("members", "Tổng số đảng viên", "int", required=False, minimum=0),
    Column("admitted", "Kết nạp", "int", required=False, minimum=0),
    Column("members_rated", "Đảng viên được xếp loại", "int", required=False, minimum=0),
    Column("members_rated_good", "Đảng viên hoàn thành tốt trở lên", "int", required=False, minimum=0),
    Column("villages", "Số thôn, bản, tổ dân phố", "int", required=False, minimum=0),
    Column("villages_with_cell", "Thôn, bản, tổ dân phố có chi bộ", "int", required=False, minimum=0),
    Column("admitted_private", "Kết nạp trong doanh nghiệp tư nhân", "int", required=False, minimum=0),
    Column("admitted_owners", "Kết nạp chủ doanh nghiệp", "int", required=False, minimum=0),
)

#: How the province's own row of a totals table may be named (folded).
PROVINCE_UNITS = {"toantinh", "tinh", "province", "tongso", "tong"}
#: The name results give the province.
PROVINCE = "Toàn tỉnh"

# ------------------------------------------------------------------------ tables


def load_cells(path: str | Path, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Load and validate the cells table.

    Returns a DataFrame with the canonical columns ``cell_id, cell_name, commune,
    district`` (when the file has it), ``cell_type, population``, the optional
    ``commune_2025`` and role booleans present in the file, then any other column
    of the file as text (another grouping, e.g. a cluster of villages), in file
    order. Raises :class:`DataError` listing every violation.
    """
    path = Path(path)
    frame, headers, problems = _parse_table(path, CELL_COLUMNS, sheet, allow_extra="keep")
    name = path.name
    ids = frame["cell_id"]
    dup = ids.notna() & ids.duplicated(keep=False)
    for cell_id, rows in frame.loc[dup].groupby("cell_id").groups.items():
        rows = [_excel_row(i) for i in rows]
        for row in rows[1:]:
            problems.append(Violation(name, row, headers["cell_id"],
                                      f"duplicate cell_id '{cell_id}' (first at row {rows[0]})"))
    if problems:
        raise DataError(problems)
    frame = frame.reset_index(drop=True)
    frame["population"] = frame["population"].astype(np.int64)
    for col in CELL_COLUMNS:
        if col.kind == "bool_or_blank" and col.name in frame:  # a blank answer stays unknown (NA)
            frame[col.name] = frame[col.name].astype("boolean")
    for text in ("cell_id", "cell_name", "commune", "district", "cell_type"):
        if text in frame:
            frame[text] = frame[text].astype(str)
    return frame


def load_history(path: str | Path, cells: pd.DataFrame | None = None, *,
                 sheet: str | int | None = None, cells_name: str = "cells",
                 reconcile: bool = False) -> pd.DataFrame:
    """Load and validate the yearly history (see :func:`_load_history`)."""
    return _load_history(path, cells, sheet=sheet, cells_name=cells_name, reconcile=reconcile)[0]


#: Columns of the table of rows adjusted by ``reconcile``.
ADJUSTMENT_COLUMNS = ["file", "row", "cell_id", "year", "column", "value", "adjusted", "local_members",
                      "previous_local_members"]


def _load_history(path: str | Path, cells: pd.DataFrame | None = None, *,
                  sheet: str | int | None = None, cells_name: str = "cells",
                  reconcile: bool = False) -> tuple[pd.DataFrame, np.ndarray | None, pd.DataFrame]:
    """Load and validate the yearly history.

    Checks counts, consecutive years per cell (a cell's years may start after the
    first year of the file and end before the last: founded and dissolved cells),
    the yearly identity
    ``local_members[y] = local_members[y-1] + admitted[y] + transferred_in[y] - exited[y]``
    and, when ``cells`` is given, that every history row names a known cell.

    ``reconcile``: a row that breaks the identity is not an error; ``local_members``
    is trusted and the gap goes to ``transferred_in`` (more members than the flows
    explain) or to ``exited`` (fewer). Every adjusted row is in the third value
    returned (:data:`ADJUSTMENT_COLUMNS`).

    Returns the rows grouped by cell (in the order cells first appear), years
    ascending; when ``cells`` is given, each row's position in the cells table
    (else None); and the adjustments (empty unless ``reconcile``).
    """
    path = Path(path)
    frame, headers, problems = _parse_table(path, HISTORY_COLUMNS, sheet)
    name = path.name
    if "transferred_in" not in frame:
        frame["transferred_in"] = 0
        headers["transferred_in"] = "transferred_in"
    # Rows whose key failed to parse cannot be checked further.
    good = frame.dropna(subset=["cell_id", "year"])
    codes, uniques = pd.factorize(good["cell_id"])
    names = np.asarray(uniques, dtype=object)  # a cell's id: names[codes[i]]
    year = good["year"].to_numpy(dtype=np.int64)
    ordered = (np.diff(codes) > 0) | ((np.diff(codes) == 0) & (np.diff(year) > 0))
    if not ordered.all():  # most files are already by cell, years ascending
        order = np.lexsort((year, codes))  # stable: a duplicate's first row in the file comes first
        good = good.iloc[order]
        codes, year = codes[order], year[order]
    rows = good.index.to_numpy() + 2  # as Excel numbers them (header = row 1)
    same = np.r_[False, codes[1:] == codes[:-1]]
    prev_year = np.r_[0, year[:-1]]
    dup = same & (year == prev_year)
    for i in np.flatnonzero(dup):
        problems.append(Violation(name, int(rows[i]), headers["year"],
                                  f"a second row for cell '{names[codes[i]]}' in {year[i]}"))
    # a cell with a row whose year did not parse (already reported) would show a false gap
    unread = frame.loc[frame["year"].isna() & frame["cell_id"].notna(), "cell_id"]
    damaged = np.isin(codes, pd.Index(names).get_indexer(unread.to_numpy())) if len(unread) else \
        np.zeros(len(codes), bool)
    gap = same & ~dup & (year != prev_year + 1) & ~damaged
    for i in np.flatnonzero(gap):
        problems.append(Violation(name, int(rows[i]), headers["year"],
                                  f"cell '{names[codes[i]]}': years jump from {prev_year[i]} to {year[i]}; "
                                  "years must be consecutive"))
    in_cells = None if cells is None else pd.Index(cells["cell_id"]).get_indexer(names)  # -1: unknown
    if cells is not None:
        unknown = in_cells < 0
        if unknown.any():
            padded = {c.lstrip("0"): c for c in cells["cell_id"] if c.isdigit()}
            for i in np.flatnonzero(unknown[codes]):
                hint = padded.get(str(names[codes[i]]).lstrip("0")) if str(names[codes[i]]).isdigit() else None
                problems.append(Violation(name, int(rows[i]), headers["cell_id"],
                                          f"cell '{names[codes[i]]}' is not in the {cells_name} file"
                                          + (f" (did Excel drop the leading zeros of '{hint}'? "
                                             "store ids as text)" if hint else "")))
    counts = {c: pd.to_numeric(good[c]).to_numpy(dtype=float)
              for c in ("local_members", "admitted", "exited", "transferred_in")}
    members = counts["local_members"]
    expected = np.r_[np.nan, members[:-1]] + counts["admitted"] + counts["transferred_in"] - counts["exited"]
    broken = same & ~dup & (year == prev_year + 1) & ~np.isnan(expected) & (members != expected)
    broken &= ~np.isnan(members)
    adjustments = pd.DataFrame(columns=ADJUSTMENT_COLUMNS)
    if reconcile and broken.any():
        i = np.flatnonzero(broken)
        gap = members[i] - expected[i]
        column = np.where(gap > 0, "transferred_in", "exited")
        value = np.where(gap > 0, counts["transferred_in"][i], counts["exited"][i])
        adjustments = pd.DataFrame({"file": name, "row": rows[i].astype(np.int64), "cell_id": names[codes[i]].astype(str),
                                    "year": year[i], "column": column, "value": value.astype(np.int64),
                                    "adjusted": (value + np.abs(gap)).astype(np.int64),
                                    "local_members": members[i].astype(np.int64),
                                    "previous_local_members": members[i - 1].astype(np.int64)})
        good = good.copy()
        position = good.index[i]
        up = gap > 0
        good.loc[position[up], "transferred_in"] = (counts["transferred_in"][i] + gap)[up]
        good.loc[position[~up], "exited"] = (counts["exited"][i] - gap)[~up]
        broken[:] = False
    for n_broken, i in enumerate(np.flatnonzero(broken)):
        problems.append(Violation(
            name, int(rows[i]), headers["local_members"],
            f"cell '{names[codes[i]]}' {year[i]}: local_members {int(members[i])} ≠ "
            f"{int(members[i - 1])} (end of {year[i] - 1}) + admitted {int(counts['admitted'][i])} + "
            f"transferred_in {int(counts['transferred_in'][i])} − exited {int(counts['exited'][i])} "
            f"= {int(expected[i])}" + ("" if n_broken else
                                        " (--reconcile trusts local_members and lists the rows it adjusts)")))
    if problems:
        problems.sort(key=lambda v: (v.row is None, v.row or 0))
        raise DataError(problems)
    out = good.reset_index(drop=True)
    for col in ("year", *counts, "assigned_members"):
        out[col] = out[col].astype(np.int64)
    out["cell_id"] = _text_column(names, codes)
    out = out[[c.name for c in HISTORY_COLUMNS]]
    return out, None if cells is None else in_cells[codes], adjustments


def _text_column(names: np.ndarray, codes: np.ndarray) -> pd.Series:
    """``names[codes]`` as a column of text, taken by pyarrow (a million ids in
    milliseconds, where Python strings take a tenth of a second)."""
    import pyarrow as pa

    return pd.Series(pd.array(pa.array(names.tolist(), type=pa.string()).take(pa.array(codes)), dtype="str"))


def load_quotas(path: str | Path, cells: pd.DataFrame | None = None, *,
                sheet: str | int | None = None) -> pd.DataFrame:
    """Load admission quotas ``cell_id, year, quota`` (other columns are ignored,
    so the file written by ``nq21model allocate`` loads as it is)."""
    path = Path(path)
    frame, headers, problems = _parse_table(path, QUOTA_COLUMNS, sheet, allow_extra=True)
    frame["_row"] = [_excel_row(i) for i in frame.index]
    good = frame.dropna(subset=["cell_id", "year"])
    if cells is not None:
        known = set(cells["cell_id"])
        for _, r in good.loc[~good["cell_id"].isin(known)].iterrows():
            problems.append(Violation(path.name, r["_row"], headers["cell_id"],
                                      f"cell '{r['cell_id']}' is not in the cells file"))
    for _, r in good.loc[good.duplicated(["cell_id", "year"])].iterrows():
        problems.append(Violation(path.name, r["_row"], headers["year"],
                                  f"a second quota for cell '{r['cell_id']}' in {r['year']}"))
    if problems:
        raise DataError(problems)
    out = frame.drop(columns="_row").reset_index(drop=True)
    out = out.astype({"cell_id": str, "year": np.int64, "quota": np.int64})
    out.attrs["source"] = path.name
    return out



def load_totals(path: str | Path, *, sheet: str | int | None = None,
                required: tuple[str, ...] = ()) -> pd.DataFrame:
    """Load yearly counts per unit (MODEL.md §1 "totals"): ``unit, year`` and any of
    ``members, admitted`` (the whole party organisation of the unit: the programme's
    base of admission rates) and the tracker's ``members_rated, members_rated_good,
    villages, villages_with_cell, admitted_private, admitted_owners``. A unit is a
    district, a commune, or the province ("Toàn tỉnh"). ``required`` names columns
    that must be there. Checks members_rated_good ≤ members_rated ≤ members,
    villages_with_cell ≤ villages, admitted_owners ≤ admitted_private."""
    path = Path(path)
    columns = tuple(replace(c, required=c.required or c.name in required) for c in TOTALS_COLUMNS)
    frame, headers, problems = _parse_table(path, columns, sheet)
    name = path.name
    frame["_row"] = [_excel_row(i) for i in frame.index]
    _check_keys(frame, headers, name, ("unit", "year"), "unit", problems)
    for small, big in (("members_rated_good", "members_rated"), ("members_rated", "members"),
                       ("villages_with_cell", "villages"), ("admitted_owners", "admitted_private"),
                       ("admitted", "members")):
        _not_greater(frame, headers, name, small, big, problems)
    counts = [c.name for c in TOTALS_COLUMNS[1:]]
    out = _finish(frame, problems, TOTALS_COLUMNS, ints=counts)
    out["unit"] = out["unit"].astype(str)
    out.attrs["source"] = str(path)
    return out.sort_values(["unit", "year"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------- dataset

#: Why a cell of the cells table is not forecast from a base year.
DISSOLVED, NOT_YET = "dissolved", "not_yet"
#: Their Vietnamese names, for briefings.
ABSENCE_LABELS = {DISSOLVED: "đã giải thể, sáp nhập", NOT_YET: "chưa có số liệu đến năm gốc"}


@dataclass(frozen=True)
class Dataset:
    """Validated cells and history (and, optionally, totals), with where they came from.

    ``synthetic`` is True when a ``SYNTHETIC.json`` marker lies beside the cells
    file (the bundled data set carries one): reports then say "Dữ liệu mô phỏng".
    ``adjustments`` lists the history rows that ``reconcile`` adjusted.
    """

    cells: pd.DataFrame
    history: pd.DataFrame
    sources: dict = field(default_factory=dict)
    synthetic: bool = False
    synthetic_info: dict = field(default_factory=dict)
    #: Row of the cells table for each history row, when loading knew it (saves a lookup).
    cell_rows: np.ndarray | None = field(default=None, repr=False, compare=False)
    totals: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    adjustments: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    #: Cells of the cells table left out by :meth:`at_base` (cell_id, reason, first/last year).
    absent: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def first_year(self) -> int:
        """First year of history."""
        return int(self.history["year"].min())

    @property
    def last_year(self) -> int:
        """Last year of history (the default base year)."""
        return int(self.history["year"].max())

    @cached_property
    def years(self) -> list[int]:
        """Every year from the first to the last of history (a year no cell reports
        stays in, with no values: cells may start and end in different years)."""
        return list(range(self.first_year, self.last_year + 1))

    @property
    def default_unit(self) -> str:
        """The grouping of briefings and tables: ``district`` when the cells table has
        it, else ``commune`` (files made after the July 2025 reform)."""
        return "district" if "district" in self.cells else "commune"

    @property
    def place_columns(self) -> list[str]:
        """The cells table's columns that locate a cell, coarsest first (for outputs)."""
        return [c for c in ("district", "commune_2025", "commune") if c in self.cells]

    def members_at(self, year: int) -> pd.Series:
        """Local members at the end of ``year``, indexed by cell_id in cells order
        (NaN for a cell with no row that year)."""
        return self.panel("local_members").loc[:, year]

    def panel(self, column: str) -> pd.DataFrame:
        """One history column as a cells × years table (cells in cells order; NaN
        where a cell has no row for a year). Cached."""
        cache = self.__dict__.setdefault("_panels", {})
        if column not in cache:
            if "_positions" not in cache:
                rows = self.cell_rows
                if rows is None or len(rows) != len(self.history):
                    rows = pd.Index(self.cells["cell_id"]).get_indexer(self.history["cell_id"])
                cols = self.history["year"].to_numpy() - self.first_year
                cache["_positions"] = (rows, cols)
            rows, cols = cache["_positions"]
            values = self.history[column].to_numpy()
            full = len(self.history) == len(self.cells) * len(self.years)
            table = np.zeros((len(self.cells), len(self.years)), dtype=values.dtype) if full \
                else np.full((len(self.cells), len(self.years)), np.nan)
            table[rows, cols] = values
            cache[column] = pd.DataFrame(table, index=pd.Index(self.cells["cell_id"], name="cell_id"),
                                         columns=pd.Index(self.years, name="year"))
        return cache[column]

    @cached_property
    def spans(self) -> pd.DataFrame:
        """First and last year of each cell's history (NaN when it has none), cells order."""
        present = self.panel("local_members").notna().to_numpy()
        years = np.array(self.years)
        has = present.any(axis=1)
        first = np.where(has, years[np.argmax(present, axis=1)], np.nan)
        last = np.where(has, years[len(years) - 1 - np.argmax(present[:, ::-1], axis=1)], np.nan)
        return pd.DataFrame({"first_year": first, "last_year": last}, index=self.cells["cell_id"])

    def check_base_year(self, base_year: int) -> None:
        """Raise DataError unless ``base_year`` is within history and some cell has a
        row in it."""
        name = Path(self.sources.get("history", "history")).name
        if not self.first_year <= base_year <= self.last_year:
            raise DataError(Violation(name, None, "year",
                                      f"base year {base_year} is outside the history "
                                      f"({self.first_year}–{self.last_year})"))
        if not self.panel("local_members")[base_year].notna().any():
            raise DataError(Violation(name, None, "year", f"no cell has history in base year {base_year}"))

    def at_base(self, base_year: int) -> "Dataset":
        """The cells present in ``base_year`` (a row that year): what a forecast from it
        covers. The others are in ``.absent`` — dissolved (history ends before) or not
        yet in the data (history starts after, or none) — with their years; the
        history keeps only the present cells' rows. Returns ``self`` when every cell
        is present."""
        self.check_base_year(base_year)
        present = self.panel("local_members")[base_year].notna().to_numpy()
        if present.all():
            return self if self.absent is not None else replace(self, absent=_no_absent())
        spans = self.spans.iloc[~present]
        reason = np.where(spans["last_year"].to_numpy() < base_year, DISSOLVED, NOT_YET)
        cols = ["cell_id", "cell_name", *self.place_columns]
        absent = self.cells.loc[~present, cols].reset_index(drop=True)
        absent["reason"] = reason
        absent["first_year"] = spans["first_year"].to_numpy()
        absent["last_year"] = spans["last_year"].to_numpy()
        cells = self.cells.loc[present].reset_index(drop=True)
        keep = self.history["cell_id"].isin(cells["cell_id"]).to_numpy()
        history = self.history.loc[keep].reset_index(drop=True)
        rows = None
        if self.cell_rows is not None and len(self.cell_rows) == len(keep):
            new_position = np.cumsum(present) - 1
            rows = new_position[self.cell_rows[keep]]
        return replace(self, cells=cells, history=history, cell_rows=rows, absent=absent)

    def subset(self, mask: np.ndarray) -> "Dataset":
        """The cells of ``mask`` (cells order) with their history; ``absent`` keeps the
        absent cells of the same unit when given as ``absent=`` by the caller."""
        mask = np.asarray(mask, bool)
        cells = self.cells.loc[mask].reset_index(drop=True)
        keep = self.history["cell_id"].isin(cells["cell_id"]).to_numpy()
        rows = None
        if self.cell_rows is not None and len(self.cell_rows) == len(keep):
            rows = (np.cumsum(mask) - 1)[self.cell_rows[keep]]
        return replace(self, cells=cells, history=self.history.loc[keep].reset_index(drop=True), cell_rows=rows)

    # ---------------------------------------------------------------- totals
    def unit_totals(self, column: str, unit: str | None = None) -> pd.Series:
        """A column of the totals table by year, for one unit or the province
        (``None``: the province's own row when the table has one, else the sum of the
        unit rows of years where every unit of the default grouping reports).
        Empty when there is no totals table or no such column."""
        if self.totals is None or column not in self.totals:
            return pd.Series(dtype=float)
        cache = self.__dict__.setdefault("_totals", {})
        if column not in cache:
            table = self.totals.dropna(subset=[column])
            wide = table.pivot_table(index="year", columns="unit", values=column, aggfunc="sum").astype(float)
            own = [u for u in wide.columns if _fold(u) in PROVINCE_UNITS]
            if own:
                province = wide[own[0]].dropna()
            else:
                units = [u for u in set(self.cells[self.default_unit]) if u in wide.columns]
                complete = len(units) == self.cells[self.default_unit].nunique()
                province = wide[units].dropna().sum(axis=1) if complete and units else pd.Series(dtype=float)
            cache[column] = (wide, province.sort_index())
        wide, province = cache[column]
        if unit is None:
            return province
        return wide[unit].dropna().sort_index() if unit in wide.columns else pd.Series(dtype=float)

    def village_share(self, base_year: int, unit: str | None = None, by: str | None = None,
                      years: int = 3) -> tuple[float, tuple]:
        """φ, the village cells' share of all admissions (the totals table) over the
        last ``years`` years up to ``base_year`` that both record, for the province or
        for ``unit`` (a value of ``by``, default the data's grouping) → (φ, the years);
        NaN when the totals do not say."""
        admitted = self.unit_totals("admitted", unit)
        panel = self.panel("admitted")
        if unit is not None:
            panel = panel[(self.cells[by or self.default_unit] == unit).to_numpy()]
        village = panel.sum(axis=0)
        common = [y for y in admitted.index if self.first_year < y <= base_year and y in village.index][-years:]
        if not common or admitted[common].sum() <= 0:
            return float("nan"), ()
        return min(1.0, float(village[common].sum() / admitted[common].sum())), tuple(int(y) for y in common)

    def check_totals(self) -> list[str]:
        """Where village cells admitted more than their whole unit (or have more local
        members than it has members): one line per unit and year (a warning, not an
        error: real files seldom add up exactly)."""
        if self.totals is None:
            return []
        lines = []
        by = self.default_unit
        checks = (("admitted", "admitted", "admitted", "admissions"),
                  ("local_members", "members", "have", "members"))
        for village_col, total_col, verb, noun in checks:
            if total_col not in self.totals:
                continue
            village = self.history.assign(_unit=self.history["cell_id"].map(
                dict(zip(self.cells["cell_id"], self.cells[by])))).groupby(["_unit", "year"])[village_col].sum()
            for unit in [PROVINCE, *sorted(set(self.cells[by]))]:
                totals = self.unit_totals(total_col, None if unit == PROVINCE else unit)
                cells_side = village.groupby(level=1).sum() if unit == PROVINCE else \
                    village.xs(unit, level=0) if unit in village.index.get_level_values(0) else pd.Series(dtype=float)
                both = pd.concat([cells_side.rename("cells"), totals.rename("unit")], axis=1).dropna()
                for year, row in both[both["cells"] > both["unit"]].iterrows():
                    lines.append(f"{Path(self.sources.get('totals', 'totals')).name}: {unit} {int(year)}: "
                                 f"village cells {verb} {int(row['cells'])} {noun}, more than the "
                                 f"{'province' if unit == PROVINCE else 'unit'}'s total {int(row['unit'])}")
        return lines


def _no_absent() -> pd.DataFrame:
    return pd.DataFrame(columns=["cell_id", "cell_name", "reason", "first_year", "last_year"])


def dataset_files(cells: str | Path | None = None, history: str | Path | None = None,
                  totals: str | Path | None | bool = None) -> dict[str, Path | None]:
    """The files :func:`load_dataset` reads for these arguments: ``cells``,
    ``history``, ``totals`` (given, else ``totals.csv`` beside the cells file whether
    or not it exists; None for ``False``) and ``marker`` (``SYNTHETIC.json`` beside
    the cells file)."""
    cells_path = Path(cells) if cells is not None else config.CELLS_FILE
    history_path = Path(history) if history is not None else config.HISTORY_FILE
    totals_path = None if totals is False else Path(totals) if totals is not None else \
        cells_path.parent / config.TOTALS_FILE.name
    return {"cells": cells_path, "history": history_path, "totals": totals_path,
            "marker": cells_path.parent / config.SYNTHETIC_MARKER}


def load_dataset(cells: str | Path | None = None, history: str | Path | None = None, *,
                 totals: str | Path | None | bool = None, sheet: str | int | None = None,
                 history_sheet: str | int | None = None, reconcile: bool = False) -> Dataset:
    """Load the tables (default: the bundled synthetic province in ``data/raw``).

    Parameters
    ----------
    cells, history : path, optional
        CSV or XLSX files; default ``data/raw/cells.csv`` and ``data/raw/history.csv``.
    totals : path or False, optional
        Yearly members and admissions of the whole party organisation per unit
        (:func:`load_totals`); default ``totals.csv`` beside the cells file when there
        is one; ``False``: none.
    sheet, history_sheet : str or int, optional
        Sheet of an XLSX file (name or 0-based number); default the sheet named for
        the table ("Chi bộ", "Lịch sử"), else the first. ``history_sheet`` defaults to
        ``sheet`` when both tables are in one workbook.
    reconcile : bool
        Trust ``local_members`` where a history row breaks the yearly identity (see
        :func:`load_history`); the adjusted rows are in ``Dataset.adjustments``.

    Warns (:class:`~nq21model.exceptions.DataWarning`) where village cells admitted
    more than their unit's total.
    """
    files = dataset_files(cells, history, totals)
    cells_path, history_path = files["cells"], files["history"]
    if history_sheet is None and cells_path == history_path:
        history_sheet = sheet
    cells_df = load_cells(cells_path, sheet=sheet)
    history_df, rows, adjustments = _load_history(history_path, cells_df, sheet=history_sheet,
                                                  cells_name=cells_path.name, reconcile=reconcile)
    if history_df.empty:
        raise DataError(Violation(history_path.name, None, None, "the history has no rows"))
    sources = {"cells": str(cells_path), "history": str(history_path)}
    totals_df = None
    if totals is None:  # the one beside the cells file, if there is one
        totals = files["totals"] if files["totals"].exists() else False
    if totals is not False:
        totals_df = load_totals(Path(totals))
        sources["totals"] = str(totals)
    marker = files["marker"]
    info = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
    dataset = Dataset(cells=cells_df, history=history_df, sources=sources,
                      synthetic=bool(info.get("synthetic", False)), synthetic_info=info, cell_rows=rows,
                      totals=totals_df, adjustments=adjustments)
    for line in dataset.check_totals():
        warnings.warn(line, DataWarning, stacklevel=2)
    return dataset


def load_lai_chau() -> Dataset:
    """The bundled synthetic Lai Châu province (``data/raw``), 2015–2025.

    About 1,100 village cells in 8 district-level units, with the totals of the
    whole party organisation per district; made by :func:`nq21model.synth.write_bundle`.
    Synthetic: never real data.
    """
    return load_dataset()


# ---------------------------------------------------------------------- template

TEMPLATE_HELP = [
    ("Mã chi bộ", "Mã ổn định, không trùng, dùng chung cho hai bảng (ví dụ LC-TDU-001)."),
    ("Tên chi bộ", "Ví dụ: Chi bộ bản Nà Tăm."),
    ("Xã", "Xã, phường, thị trấn (trước hoặc sau sắp xếp năm 2025). Có thể thêm cột \"Xã mới\" ghi xã, "
           "phường sau sắp xếp để báo cáo theo đơn vị mới."),
    ("Huyện", "Huyện, thành phố trước 01/7/2025 (không bắt buộc): có cột này thì báo cáo theo huyện; tệp lập "
              "sau khi bỏ cấp huyện thì xóa cột, báo cáo theo xã."),
    ("Loại", "thôn, bản hoặc tổ dân phố (khu phố, tiểu khu được tính là tổ dân phố)."),
    ("Dân số", "Số nhân khẩu của thôn, bản, tổ dân phố (số nguyên > 0; \"2.000\" đọc là hai nghìn)."),
    ("Năm", "Mỗi chi bộ một dòng cho mỗi năm, các năm liên tục, không bỏ năm. Chi bộ mới thành lập bắt đầu từ "
            "năm thành lập; chi bộ đã giải thể, sáp nhập dừng ở năm cuối cùng."),
    ("Đảng viên tại chỗ", "Số đảng viên tại chỗ cuối năm; KHÔNG tính cán bộ, công chức xã cử đến sinh hoạt."),
    ("Kết nạp", "Số đảng viên kết nạp trong năm."),
    ("Giảm", "Số đảng viên giảm trong năm (từ trần, xóa tên, khai trừ, chuyển đi, miễn sinh hoạt)."),
    ("Cán bộ xã cử đến", "Số cán bộ, công chức xã cử đến sinh hoạt (không tính vào chỉ tiêu)."),
    ("Chuyển đến", "Số đảng viên chuyển đến trong năm (không bắt buộc, mặc định 0)."),
    ("Kiểm tra", "Đảng viên tại chỗ năm nay = năm trước + Kết nạp + Chuyển đến − Giảm."),
    ("Lưu ý", "Chỉ ghi số lượng; không ghi họ tên hay thông tin cá nhân của đảng viên."),
]


def write_template(path: str | Path) -> Path:
    """Write the Excel template for the organisation's staff: sheets "Chi bộ" and
    "Lịch sử" with the Vietnamese headers and one example row, and "Hướng dẫn"."""
    from .exceptions import ParameterError
    from .files import write_table

    if Path(path).suffix.lower() != ".xlsx":
        raise ParameterError(f"{path}: the template is written as .xlsx")
    shown = ("cell_id", "cell_name", "commune", "district", "cell_type", "population")
    cells = pd.DataFrame([["LC-TDU-001", "Chi bộ bản Nà Tăm", "Xã Bản Bo", "Tam Đường", "bản", 520]],
                         columns=[c.alias for name in shown for c in CELL_COLUMNS if c.name == name])
    history = pd.DataFrame([["LC-TDU-001", 2025, 7, 1, 0, 1, 0]], columns=[c.alias for c in HISTORY_COLUMNS])
    guide = pd.DataFrame(TEMPLATE_HELP, columns=["Cột", "Cách ghi"])
    return write_table({"Chi bộ": cells, "Lịch sử": history, "Hướng dẫn": guide}, path, widths=(12, 80))
