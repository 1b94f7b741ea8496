"""The model's own tables (MODEL.md §1): cells, history, the totals of the whole
party organisation, quotas — their columns (canonical name, Vietnamese header,
rule), a loader for each, and the Excel template offices fill in.

Read and checked by :mod:`nq21model.tables` (every violation listed at once, with
the file, the Excel row and the column as the user spells it); a history's rows may
start late (a cell founded) or end early (dissolved): :mod:`nq21model.data` makes
the :class:`~nq21model.data.Dataset` of them.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .csv_arrow import arrow_text
from .exceptions import DataError, DataWarning, Violation
from .spelling import same_unit_pairs
from .table_checks import _check_keys, _finish, _not_greater
from .table_rows import _TOTAL_LABELS
from .tables import (HEADER_SEARCH_ROWS, Column, _excel_row, _fold, _is_blank, _parse_column, _parse_table,
                     _read_table, normalise_text)

#: Cell types: folded spelling -> code. "Khu phố", "tiểu khu" are tổ dân phố by another
#: name; "xóm", "ấp" are thôn.
CELL_TYPES = {
    "thon": "thon", "xom": "thon", "ap": "thon",
    "ban": "ban",
    "todanpho": "to_dan_pho", "tdp": "to_dan_pho", "khupho": "to_dan_pho", "tieukhu": "to_dan_pho",
}

#: The cells' columns that name units: each unit written one way (:func:`load_cells`).
UNIT_COLUMNS = ("district", "commune", "commune_2025")
#: Most residents a village or residential group may have (the largest have some
#: tens of thousands; a typed extra zero or two shifts a budget split by population).
MAX_POPULATION = 50_000

CELL_COLUMNS = (
    Column("cell_id", "Mã chi bộ", "id"),
    Column("cell_name", "Tên chi bộ", "text"),
    Column("commune", "Xã", "text", extra_aliases=("Xã, phường", "Xã/phường", "Phường", "Tên xã", "Xã, phường, thị trấn",
                                                   "Xã/phường/thị trấn", "Xã, thị trấn")),
    Column("district", "Huyện", "text", required=False,
           extra_aliases=("Huyện, thành phố", "Huyện/thành phố", "Huyện, thị xã, thành phố", "Huyện/thị xã/thành phố",
                          "Huyện/TP", "Huyện, TP", "Quận/huyện", "Quận, huyện", "Tên huyện")),
    Column("cell_type", "Loại", "choice", extra_aliases=("Loại chi bộ",), choices=CELL_TYPES, choice_what="cell type",
           choice_help="thon, ban or to_dan_pho (thôn, bản, tổ dân phố; also khu phố, tiểu khu, xóm)"),
    Column("population", "Dân số", "int", minimum=1, maximum=MAX_POPULATION,
           extra_aliases=("Số dân", "Nhân khẩu", "Số nhân khẩu"),
           maximum_why=": more than any village or residential group has — a typing slip?"),
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
    Column("local_members", "Đảng viên tại chỗ", "int", minimum=0, dash_is_zero=True, extra_aliases=("Số đảng viên tại chỗ",)),
    Column("admitted", "Kết nạp", "int", minimum=0, dash_is_zero=True, blank_is_zero=True,
           extra_aliases=("Kết nạp mới", "Số kết nạp", "Đảng viên kết nạp", "Số đảng viên kết nạp")),
    Column("exited", "Giảm", "int", minimum=0, dash_is_zero=True, blank_is_zero=True, extra_aliases=("Số đảng viên giảm", "Đảng viên giảm", "Giảm trong năm")),
    Column("assigned_members", "Cán bộ xã cử đến", "int", minimum=0, dash_is_zero=True,
           extra_aliases=("Cán bộ xã sinh hoạt", "Cán bộ, công chức xã cử đến", "Cán bộ xã cử đến sinh hoạt")),
    Column("transferred_in", "Chuyển đến", "int", required=False, minimum=0, dash_is_zero=True, blank_is_zero=True,
           extra_aliases=("Số đảng viên chuyển đến", "Đảng viên chuyển đến")),
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
    name = frame.attrs.get("where", path.name)
    ids = frame["cell_id"]
    dup = np.zeros(len(ids), bool) if ids.is_unique else (ids.notna() & ids.duplicated(keep=False)).to_numpy()
    for cell_id, rows in frame.loc[dup].groupby("cell_id").groups.items():
        rows = [_excel_row(i) for i in rows]
        for row in rows[1:]:
            problems.append(Violation(name, row, headers["cell_id"],
                                      f"duplicate cell_id '{cell_id}' (first at row {rows[0]})"))
    for column in UNIT_COLUMNS:  # "Huyện Sìn Hồ" beside "Sìn Hồ" would make two units of one
        if column in frame:
            values = frame[column].dropna()
            for first, second in same_unit_pairs(values.unique().tolist()):
                rows = [_excel_row(values.index[values.eq(n).to_numpy()][0]) for n in (first, second)]
                problems.append(Violation(name, rows[1], headers[column],
                                          f"'{second}' and '{first}' (row {rows[0]}) look like one unit written "
                                          "two ways: write it one way in every row (else they make two units)"))
    if problems:
        problems.sort(key=lambda v: (v.row is None, v.row or 0))
        raise DataError(problems)
    example = frame["cell_id"].eq(TEMPLATE_EXAMPLE[0]) & frame["cell_name"].eq(TEMPLATE_EXAMPLE[1])
    if example.any() and len(frame) > 1:  # the template's example row, left above an office's own rows
        warnings.warn(f"{name}, row {_excel_row(frame.index[example.to_numpy()][0])}: the template's example "
                      f"({TEMPLATE_EXAMPLE[0]}, {TEMPLATE_EXAMPLE[1]}) is read as a cell: delete its rows "
                      "(Chi bộ and Lịch sử) if it is not one of yours", DataWarning, stacklevel=3)
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


@dataclass
class KeyedHistory:
    """The history's rows as read and checked alone (:func:`keyed_history`): by cell
    and year, with the problems found so far — what its checks against the cells
    start from."""
    name: str
    headers: dict
    problems: list
    no_transfers: bool
    good: pd.DataFrame  # the rows whose cell and year parsed, by cell, years ascending
    codes: np.ndarray  # each row's cell: names[codes[i]]
    names: np.ndarray
    uniques: pd.Index  # the names as the column held them
    year: np.ndarray
    rows: pd.Index  # as Excel numbers them
    same: np.ndarray  # the row before is the same cell's
    prev_year: np.ndarray
    dup: np.ndarray  # a second row of a cell-year
    whole: bool  # every count read: counts in integers
    counts: dict  # local_members, admitted, exited, transferred_in of each row
    expected: np.ndarray  # local members by the year before and the flows
    broken: np.ndarray  # a row that breaks the yearly identity


def keyed_history(path: Path, sheet: str | int | None = None) -> KeyedHistory:
    """The history parsed, its rows by cell and year, each cell's years checked
    consecutive and once each: the part of :func:`_load_history` that needs no cells."""
    frame, headers, problems = _parse_table(path, HISTORY_COLUMNS, sheet, allow_extra="warn")
    name = frame.attrs.get("where", path.name)
    no_transfers = "transferred_in" not in frame
    if no_transfers:
        frame["transferred_in"] = 0
        headers["transferred_in"] = "transferred_in"
    # Rows whose key failed to parse cannot be checked further.
    good = frame.dropna(subset=["cell_id", "year"])
    codes, uniques = pd.factorize(good["cell_id"])
    uniques = pd.Index(uniques)
    names = np.asarray(uniques, dtype=object)  # a cell's id: names[codes[i]]
    year = good["year"].to_numpy(dtype=np.int64)
    step = np.diff(codes)
    if not ((step > 0) | ((step == 0) & (np.diff(year) > 0))).all():  # most files are by cell, years ascending
        order = np.lexsort((year, codes))  # stable: a duplicate's first row in the file comes first
        good = good.iloc[order]
        codes, year = codes[order], year[order]
    rows = good.index + 2  # as Excel numbers them (header = row 1); a range while the rows are in file order
    same = np.r_[False, codes[1:] == codes[:-1]]
    prev_year = np.r_[0, year[:-1]]
    dup = same & (year == prev_year)
    for i in np.flatnonzero(dup):
        problems.append(Violation(name, int(rows[i]), headers["year"],
                                  f"a second row for cell '{names[codes[i]]}' in {year[i]}"))
    # a cell with a row whose year did not parse (already reported) would show a false gap
    unread = frame.loc[frame["year"].isna() & frame["cell_id"].notna(), "cell_id"] if len(good) < len(frame) \
        else ()
    gap = same & ~dup & (year != prev_year + 1)
    if len(unread):
        gap &= ~np.isin(codes, pd.Index(names).get_indexer(unread.to_numpy()))
    for i in np.flatnonzero(gap):
        problems.append(Violation(name, int(rows[i]), headers["year"],
                                  f"cell '{names[codes[i]]}': years jump from {prev_year[i]} to {year[i]}; "
                                  "years must be consecutive"))
    flows = [good[c] for c in ("local_members", "admitted", "exited", "transferred_in")]
    whole = all(v.dtype == np.int64 for v in flows)  # every count read (most files): no float copies
    counts = {v.name: v.to_numpy() if whole else pd.to_numeric(v).to_numpy(dtype=float) for v in flows}
    members = counts["local_members"]
    # a cell's first row has no year before it (not ``same``): its "expected" is never read
    expected = np.r_[members[:1], members[:-1]] + counts["admitted"] + counts["transferred_in"] - counts["exited"]
    broken = same & ~dup & (year == prev_year + 1) & (members != expected)
    if not whole:  # a count that did not parse (already reported) breaks nothing
        broken &= ~np.isnan(expected) & ~np.isnan(members)
    return KeyedHistory(name, headers, problems, no_transfers, good, codes, names, uniques, year, rows, same,
                        prev_year, dup, whole, counts, expected, broken)


def _load_history(path: str | Path, cells: pd.DataFrame | None = None, *,
                  sheet: str | int | None = None, cells_name: str = "cells",
                  reconcile: bool = False, keyed: KeyedHistory | None = None
                  ) -> tuple[pd.DataFrame, np.ndarray | None, pd.DataFrame]:
    """Load and validate the yearly history (``keyed``: its :func:`keyed_history`,
    when the caller has it).

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
    k = keyed_history(Path(path), sheet) if keyed is None else keyed
    name, headers, problems, no_transfers, good = k.name, k.headers, k.problems, k.no_transfers, k.good
    codes, names, year, rows, same, prev_year, dup = k.codes, k.names, k.year, k.rows, k.same, k.prev_year, k.dup
    in_cells = None if cells is None else _positions(cells["cell_id"], k.uniques)  # -1: unknown
    if cells is not None:
        unknown = in_cells < 0
        if unknown.any():
            padded = {c.lstrip("0"): c for c in cells["cell_id"] if c.isdigit()}
            folded = {c.casefold(): c for c in cells["cell_id"]}
            for i in np.flatnonzero(unknown[codes]):
                cell = str(names[codes[i]])
                hint = padded.get(cell.lstrip("0")) if cell.isdigit() else None
                case = folded.get(cell.casefold())
                dropped = "" if not hint else (
                    f" (did Excel drop the leading zeros of '{hint}'? store ids as text)" if len(hint) > len(cell)
                    else f" (the {cells_name} file writes it '{hint}': did Excel drop its leading zeros there? "
                         "store ids as text)")
                problems.append(Violation(name, int(rows[i]), headers["cell_id"],
                                          f"cell '{cell}' is not in the {cells_name} file" + dropped
                                          + (f" (the cells file writes it '{case}': ids are matched as written)"
                                             if case else "")))
    counts, expected, broken = k.counts, k.expected, k.broken
    members = counts["local_members"]
    if cells is not None and "population" in cells:  # local members live there: never more than its people
        population = np.full(names.size, np.inf)  # of each cell of the history (unknown: no limit)
        known = in_cells >= 0
        population[known] = cells["population"].to_numpy(dtype=float)[in_cells[known]]
        population = population[codes]
        for i in np.flatnonzero(members > population):
            problems.append(Violation(
                name, int(rows[i]), headers["local_members"],
                f"cell '{names[codes[i]]}' {year[i]}: {int(members[i]):,} local members, more than its population "
                f"({int(population[i]):,} in the {cells_name} file): a population typed short (an English-locale "
                "Excel reads '2.000' as 2), or a count with decimals shown ('14.000' is fourteen thousand here: "
                "format the column as whole numbers)?"))
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
        broken = np.zeros_like(broken)
    for n_broken, i in enumerate(np.flatnonzero(broken)):
        problems.append(Violation(
            name, int(rows[i]), headers["local_members"],
            f"cell '{names[codes[i]]}' {year[i]}: local_members {int(members[i])} ≠ "
            f"{int(members[i - 1])} (end of {year[i] - 1}) + admitted {int(counts['admitted'][i])} + "
            f"transferred_in {int(counts['transferred_in'][i])} − exited {int(counts['exited'][i])} "
            f"= {int(expected[i])}" + ("" if n_broken else
                                        " (--reconcile trusts local_members and lists the rows it adjusts"
                                        + ("; the file has no column 'Chuyển đến' [transferred_in], or it is "
                                           "blank in every row: members moved in count as 0" if no_transfers
                                           else "") + ")")))
    if problems:
        problems.sort(key=lambda v: (v.row is None, v.row or 0))
        raise DataError(problems)
    out = good.reset_index(drop=True)
    for col in ("year", *counts, "assigned_members"):
        out[col] = out[col].astype(np.int64)
    if not arrow_text(out["cell_id"]):
        out["cell_id"] = _text_column(names, codes)  # the ids as parsed (normalised) in Arrow text
    out = out[[c.name for c in HISTORY_COLUMNS]]
    return out, None if cells is None else in_cells[codes], adjustments


def _positions(ids: pd.Series, names: pd.Index) -> np.ndarray:
    """Each of ``names``' position in ``ids`` (distinct), −1 where it is not there:
    without a hash table when the two are the same ids in the same order (most files;
    compared as they are held: Arrow text by pyarrow)."""
    if len(ids) == len(names):
        try:
            if np.asarray(ids.array == names.array, dtype=bool).all():
                return np.arange(len(ids))
        except (TypeError, ValueError):  # values that do not compare (a missing one): by the hash table
            pass
    return pd.Index(ids).get_indexer(names)


def _text_column(names: np.ndarray, codes: np.ndarray) -> pd.Series:
    """``names[codes]`` as a column of text, taken by pyarrow (a million ids in
    milliseconds, where Python strings take a tenth of a second)."""
    import pyarrow as pa

    return pd.Series(pd.array(pa.array(names.tolist(), type=pa.string()).take(pa.array(codes)), dtype="str"))


def load_quotas(path: str | Path, cells: pd.DataFrame | None = None, *,
                sheet: str | int | None = None) -> pd.DataFrame:
    """Load admission quotas ``cell_id, year, quota`` (other columns are ignored,
    so the file written by ``nq21model allocate --out`` loads as it is), or a list
    with a column a year — the quota workbooks of ``allocate --workbooks`` and of a
    batch (``Mã chi bộ``, ``Chỉ tiêu 2026`` …), as an office edits and returns them."""
    path = Path(path)
    raw = _read_table(path, sheet, QUOTA_COLUMNS)  # read once: a list with a column a year, or the long table
    wide = _wide_quotas(raw, path.name)
    frame, headers, problems = wide if wide is not None else \
        _parse_table(path, QUOTA_COLUMNS, sheet, allow_extra=True, frame=raw)
    name = frame.attrs.get("where", path.name)
    frame["_row"] = [_excel_row(i) for i in frame.index]
    good = frame.dropna(subset=["cell_id", "year"])
    if cells is not None:
        known = set(cells["cell_id"])
        for _, r in good.loc[~good["cell_id"].isin(known)].iterrows():
            problems.append(Violation(name, r["_row"], headers["cell_id"],
                                      f"cell '{r['cell_id']}' is not in the cells file"))
    for _, r in good.loc[good.duplicated(["cell_id", "year"])].iterrows():
        problems.append(Violation(name, r["_row"], headers["year"],
                                  f"a second quota for cell '{r['cell_id']}' in {r['year']}"))
    if problems:
        raise DataError(problems)
    out = frame.drop(columns="_row").reset_index(drop=True)
    out = out.astype({"cell_id": str, "year": np.int64, "quota": np.int64})
    out.attrs["source"] = name
    out.attrs["rows"] = frame["_row"].tolist()  # each row's number in the file, for what names one
    return out



_YEAR_COLUMN = re.compile(r"^(?:chitieu(?:ketnap)?|quota)(?:nam)?(\d{4})$")  # folded: "Chỉ tiêu (năm) 2026"


def _wide_quotas(raw: pd.DataFrame, name: str) -> tuple[pd.DataFrame, dict, list] | None:
    """A quota list with a column a year (``Mã chi bộ`` and ``Chỉ tiêu YYYY`` in one
    of the first rows of ``raw``, the table as read) as the long table's (frame,
    headers, problems), every value checked as the long table's; None for any other
    table."""
    name = raw.attrs.get("where", name)
    ids = {_fold(QUOTA_COLUMNS[0].name), _fold(QUOTA_COLUMNS[0].alias)}
    rows = [[str(c) for c in raw.columns]] + [["" if _is_blank(v) else str(v) for v in raw.iloc[i].tolist()]
                                               for i in range(min(HEADER_SEARCH_ROWS, len(raw)))]
    for start, labels in enumerate(rows):
        labels = [normalise_text(v) for v in labels]
        id_at = next((j for j, v in enumerate(labels) if _fold(v) in ids), None)
        years = {j: int(m.group(1)) for j, v in enumerate(labels) if (m := _YEAR_COLUMN.match(_fold(v)))}
        if id_at is None or not years:
            continue
        # not a cell's row: blank, a total anywhere ("Tổng cộng", there by design, above a
        # "Người lập biểu"), a note under the list
        def is_cell(row) -> bool:
            texts = [normalise_text(v) for v in row if isinstance(v, str) and v.strip()]
            if texts and _fold(texts[0]) in _TOTAL_LABELS:
                return False
            return not (_is_blank(row[id_at]) and all(_is_blank(row[j]) for j in years))

        data = raw.iloc[start:]
        data = data[[is_cell(row) for row in data.itertuples(index=False)]]
        problems: list[Violation] = []
        cell_id = _parse_column(data.iloc[:, id_at], QUOTA_COLUMNS[0], labels[id_at], name, problems)
        parts = [pd.DataFrame({"cell_id": cell_id, "year": year,
                               "quota": _parse_column(data.iloc[:, j], QUOTA_COLUMNS[2], labels[j], name, problems)})
                 for j, year in years.items()]
        frame = pd.concat(parts).sort_index(kind="stable")
        frame.attrs["where"] = name
        return frame, {"cell_id": labels[id_at], "year": "Chỉ tiêu <năm>", "quota": "Chỉ tiêu <năm>"}, problems
    return None


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
    name = frame.attrs.get("where", path.name)
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


# ---------------------------------------------------------------------- template

#: The id and name of the template's example cell (a warning when it is read among other rows).
TEMPLATE_EXAMPLE = ("LC-TDU-001", "Chi bộ bản Nà Tăm")

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
    cells = pd.DataFrame([[*TEMPLATE_EXAMPLE, "Xã Bản Bo", "Tam Đường", "bản", 520]],
                         columns=[c.alias for name in shown for c in CELL_COLUMNS if c.name == name])
    history = pd.DataFrame([[TEMPLATE_EXAMPLE[0], 2025, 7, 1, 0, 1, 0]], columns=[c.alias for c in HISTORY_COLUMNS])
    guide = pd.DataFrame(TEMPLATE_HELP, columns=["Cột", "Cách ghi"])
    return write_table({"Chi bộ": cells, "Lịch sử": history, "Hướng dẫn": guide}, path, widths=(12, 80))
