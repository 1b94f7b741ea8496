"""Load, normalise and validate the two input tables (MODEL.md §1).

Every rule lives here, once. A file that breaks rules raises one
:class:`~nq21model.exceptions.DataError` listing *every* violation, each naming the
file, the row as the user sees it in Excel (header = row 1), the column as the
user's file spells it, and the rule.

Why not pandera: the rules that matter here are cross-row and cross-table (year
gaps, the yearly identity, history for unknown cells), messages must name the
user's own header and Excel row, and a forecast must start in well under a second;
a small declarative table of column specs below does all of it with pandas alone.
"""
from __future__ import annotations

import csv
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .exceptions import DataError, Violation

# --------------------------------------------------------------------------- text


def normalise_text(value: str) -> str:
    """NFC, ``Ð`` (U+00D0) read as ``Đ`` (U+0110), trimmed, inner spaces folded."""
    text = value if type(value) is str else str(value)
    if not text.isascii():
        if unicodedata.is_normalized("NFC", text) and "\u00d0" not in text and text == text.strip() \
                and "  " not in text and "\t" not in text and "\n" not in text and "\xa0" not in text:
            return text  # the common case: already clean
        text = unicodedata.normalize("NFC", text)
        if "\u00d0" in text:
            text = text.replace("\u00d0", "\u0110")
        if not text.isascii():
            text = _SPACES.sub(" ", text)
    if "  " in text or "\t" in text or "\n" in text or "\r" in text:
        text = _SPACES.sub(" ", text)
    return text.strip()


_SPACES = re.compile(r"\s+")


def _fold(value: str) -> str:
    """Key for matching headers and categories: lower case, no accents, no spacing."""
    text = normalise_text(value).casefold().replace("đ", "d")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return re.sub(r"[\s_\-\.]+", "", text)


# ------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Column:
    name: str
    alias: str  # the Vietnamese header of the template
    kind: str  # "id", "text", "int", "bool", "cell_type", "choice", "bool_or_blank"
    required: bool = True
    minimum: int | None = None
    extra_aliases: tuple[str, ...] = ()
    #: kind "choice": folded spelling -> canonical code (error names ``choice_help``)
    choices: dict | None = None
    choice_help: str = ""


CELL_COLUMNS = (
    Column("cell_id", "Mã chi bộ", "id"),
    Column("cell_name", "Tên chi bộ", "text"),
    Column("commune", "Xã", "text", extra_aliases=("Xã, phường", "Xã/phường", "Phường")),
    Column("district", "Huyện", "text", extra_aliases=("Huyện, thành phố", "Huyện/thành phố")),
    Column("cell_type", "Loại", "cell_type", extra_aliases=("Loại chi bộ",)),
    Column("population", "Dân số", "int", minimum=1),
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

# Tables of the target tracker (issue 7): roles by cell and year, grassroots party
# organisations, their yearly ratings and roles, yearly counts per unit.

ROLE_COLUMNS = (
    Column("cell_id", "Mã chi bộ", "id"),
    Column("year", "Năm", "int", minimum=1900),
    *(Column(c.name, c.alias, "bool") for c in CELL_COLUMNS if c.kind == "bool_or_blank"),
)

#: Kinds of grassroots party organisation: folded spelling -> code.
ORGANISATION_KINDS = {
    **dict.fromkeys(["commune", "xa", "phuong", "xaphuong", "xaphuongthitran", "dangboxa",
                     "capxa"], "commune"),
    **dict.fromkeys(["agency", "coquan", "coquandonvi", "donvisunghiep", "coquandonvisunghiep",
                     "coquanhanhchinh"], "agency"),
    **dict.fromkeys(["school", "truonghoc", "truong"], "school"),
    **dict.fromkeys(["health", "yte", "tramyte", "trungtamyte", "healthstation"], "health"),
    **dict.fromkeys(["stateenterprise", "doanhnghiepnhanuoc"], "state_enterprise"),
    **dict.fromkeys(["privateenterprise", "doanhnghieptunhan", "doanhnghiepngoaikhuvucnhanuoc"],
                    "private_enterprise"),
    **dict.fromkeys(["armedforces", "lucluongvutrang", "quandoi", "congan"], "armed_forces"),
}
#: Vietnamese labels of the organisation kinds, for reports.
ORGANISATION_KIND_LABELS = {
    "commune": "đảng bộ xã, phường, thị trấn", "agency": "cơ quan, đơn vị sự nghiệp",
    "school": "trường học", "health": "y tế", "state_enterprise": "doanh nghiệp nhà nước",
    "private_enterprise": "doanh nghiệp tư nhân", "armed_forces": "lực lượng vũ trang",
}
#: Kinds whose secretary may be the head of the agency or unit (indicator 4b).
UNIT_HEAD_KINDS = ("agency", "school", "health")

#: Yearly ratings (đánh giá, xếp loại), best first: folded spelling -> code.
RATINGS = {
    **dict.fromkeys(["xuatsac", "hoanthanhxuatsac", "hoanthanhxuatsacnhiemvu"], "xuat_sac"),
    **dict.fromkeys(["tot", "hoanthanhtot", "hoanthanhtotnhiemvu"], "tot"),
    **dict.fromkeys(["hoanthanh", "hoanthanhnhiemvu"], "hoan_thanh"),
    **dict.fromkeys(["khonghoanthanh", "khonghoanthanhnhiemvu"], "khong_hoan_thanh"),
}
RATING_LABELS = {
    "xuat_sac": "hoàn thành xuất sắc nhiệm vụ", "tot": "hoàn thành tốt nhiệm vụ",
    "hoan_thanh": "hoàn thành nhiệm vụ", "khong_hoan_thanh": "không hoàn thành nhiệm vụ",
}

ORGANISATION_COLUMNS = (
    Column("org_id", "Mã tổ chức", "id", extra_aliases=("Mã TCCS đảng",)),
    Column("org_name", "Tên tổ chức cơ sở đảng", "text", extra_aliases=("Tên tổ chức",)),
    Column("district", "Huyện", "text", extra_aliases=("Huyện, thành phố", "Huyện/thành phố")),
    Column("commune", "Xã", "text", extra_aliases=("Xã, phường", "Xã/phường", "Phường")),
    Column("kind", "Loại hình", "choice", extra_aliases=("Loại hình tổ chức",),
           choices=ORGANISATION_KINDS,
           choice_help="commune, agency, school, health, state_enterprise, private_enterprise or "
                       "armed_forces (xã/phường, cơ quan, trường học, y tế, doanh nghiệp nhà nước, "
                       "doanh nghiệp tư nhân, lực lượng vũ trang)"),
)

ORGANISATION_YEAR_COLUMNS = (
    Column("org_id", "Mã tổ chức", "id", extra_aliases=("Mã TCCS đảng",)),
    Column("year", "Năm", "int", minimum=1900),
    Column("rating", "Xếp loại", "choice", required=False, extra_aliases=("Đánh giá, xếp loại",),
           choices=RATINGS,
           choice_help="xuat_sac, tot, hoan_thanh or khong_hoan_thanh (hoàn thành xuất sắc / tốt / "
                       "hoàn thành / không hoàn thành nhiệm vụ)"),
    Column("secretary_is_council_chair", "Bí thư là chủ tịch HĐND", "bool_or_blank", required=False),
    Column("secretary_is_unit_head", "Bí thư là thủ trưởng", "bool_or_blank", required=False,
           extra_aliases=("Bí thư là thủ trưởng cơ quan, đơn vị",)),
)

UNIT_COUNT_COLUMNS = (
    Column("unit", "Đơn vị", "text", extra_aliases=("Huyện", "Huyện, thành phố")),
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

CELL_TYPES = {
    "thon": "thon", "ban": "ban", "todanpho": "to_dan_pho", "tdp": "to_dan_pho",
}
#: Vietnamese labels of the cell types, for reports.
CELL_TYPE_LABELS = {"thon": "thôn", "ban": "bản", "to_dan_pho": "tổ dân phố"}

_TRUE = {"1", "true", "yes", "co", "x", "dung"}
_FALSE = {"0", "false", "no", "khong", "sai"}
#: Largest count or year a table may hold (a guard against typing slips and overflow).
MAX_COUNT = 100_000_000
#: Headers that spreadsheets commonly carry and that the model ignores.
_IGNORED = {"stt", "ghichu", "note", "notes"}


# -------------------------------------------------------------------------- read


def _read_table(path: Path, sheet: str | int | None, columns: tuple[Column, ...] = ()) -> pd.DataFrame:
    """The table with its headers as written: text columns as strings, counts parsed
    by pandas where the whole column is clean (checked value by value otherwise)."""
    name = path.name
    if not path.exists():
        raise DataError(Violation(str(path), None, None, "file not found"))
    if path.stat().st_size == 0:
        raise DataError(Violation(name, None, None, "the file is empty"))
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            book = pd.ExcelFile(path, engine="openpyxl")
        except Exception as exc:  # corrupt workbook
            raise DataError(Violation(name, None, None, f"cannot be read as Excel ({exc})")) from None
        sheets = book.sheet_names
        if sheet is None:
            sheet = _default_sheet(sheets, columns)
        if isinstance(sheet, str) and sheet not in sheets:
            raise DataError(Violation(name, None, None,
                                      f"no sheet named '{sheet}' (sheets: {', '.join(sheets)})"))
        if isinstance(sheet, int) and not 0 <= sheet < len(sheets):
            raise DataError(Violation(name, None, None,
                                      f"no sheet number {sheet} (sheets: {', '.join(sheets)})"))
        frame = pd.read_excel(book, sheet_name=sheet, dtype=object, header=0)
    elif suffix in (".csv", ".txt"):
        try:
            with open(path, encoding="utf-8-sig") as fh:
                first = fh.readline()
        except UnicodeDecodeError:
            raise DataError(Violation(name, None, None, "not UTF-8 text; save the CSV as 'CSV UTF-8'")) from None
        sep = ";" if first.count(";") > first.count(",") else ","
        kinds = {_fold(label): c.kind for c in columns for label in (c.name, c.alias, *c.extra_aliases)}
        dtype = {h: str for h in next(csv.reader([first], delimiter=sep), [])
                 if kinds.get(_fold(h), "int") != "int"}
        try:
            frame = pd.read_csv(path, sep=sep, dtype=dtype, keep_default_na=False, na_values=[],
                                encoding="utf-8-sig", skip_blank_lines=False)
        except UnicodeDecodeError:
            raise DataError(Violation(name, None, None, "not UTF-8 text; save the CSV as 'CSV UTF-8'")) from None
        except pd.errors.EmptyDataError:
            raise DataError(Violation(name, None, None, "the file is empty")) from None
        except pd.errors.ParserError as exc:
            raise DataError(Violation(name, None, None, f"cannot be read as CSV ({exc})")) from None
    else:
        raise DataError(Violation(name, None, None, "expected a .csv or .xlsx file"))
    if frame.columns.size == 0:
        raise DataError(Violation(name, None, None, "the file is empty"))
    # Drop rows blank in every column (common at the end of Excel sheets); row
    # numbers of the others stay as the user sees them.
    first_col = frame.iloc[:, 0]
    candidates = first_col.isna().to_numpy().copy()
    if first_col.dtype == object:  # Excel cells: None, NaN, spaces
        candidates |= first_col.map(_is_blank).to_numpy(dtype=bool)
    elif not pd.api.types.is_numeric_dtype(first_col.dtype):  # CSV text: a blank line reads as ""
        candidates |= first_col.eq("").to_numpy(dtype=bool)
    if candidates.any():
        sub = frame.loc[candidates]
        blank = sub.apply(lambda col: col.map(_is_blank)).all(axis=1)
        frame = frame.drop(index=sub.index[blank.to_numpy()])
    return frame


def _default_sheet(sheets: list[str], columns: tuple[Column, ...]) -> str | int:
    """In a workbook holding both tables, the sheet named for this table, else the first."""
    wanted = {"cells": {"cells", "chibo"}, "history": {"history", "lichsu"}, "quotas": {"quotas", "chitieu"}}
    kind = "history" if any(c.name == "local_members" for c in columns) else \
        "quotas" if any(c.name == "quota" for c in columns) else "cells"
    for sheet in sheets:
        if _fold(sheet) in wanted[kind]:
            return sheet
    return 0


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (
        isinstance(value, str) and value.strip() == "")


def _map_headers(frame: pd.DataFrame, columns: tuple[Column, ...], name: str,
                 allow_extra: bool = False) -> tuple[dict, list]:
    """Map the file's headers to canonical names; return (canonical -> header, violations)."""
    lookup = {}
    for col in columns:
        for label in (col.name, col.alias, *col.extra_aliases):
            lookup[_fold(label)] = col.name
    found: dict[str, str] = {}
    problems = []
    for header in frame.columns:
        text = normalise_text(header)
        key = _fold(text)
        canonical = lookup.get(key)
        twin = re.fullmatch(r"(.+)\.(\d+)", text)  # pandas renames a repeated header "X" to "X.1"
        if canonical is None and twin and lookup.get(_fold(twin.group(1))) in found:
            first = found[lookup[_fold(twin.group(1))]]
            problems.append(Violation(name, 1, twin.group(1), f"a second column named like '{first}'"))
            continue
        if key in _IGNORED or text.startswith("Unnamed:") or (canonical is None and allow_extra):
            continue
        if canonical is None:
            expected = ", ".join(f"{c.name} [{c.alias}]" for c in columns)
            problems.append(Violation(name, 1, text, f"unknown header; expected one of: {expected}"))
        elif canonical in found:
            problems.append(Violation(name, 1, text, f"a second column for '{canonical}' "
                                                     f"(first: '{found[canonical]}')"))
        else:
            found[canonical] = header
    for col in columns:
        if col.required and col.name not in found:
            problems.append(Violation(name, None, f"{col.name} [{col.alias}]", "required column is missing"))
    return found, problems


def _parse_column(values: pd.Series, col: Column, header: str, name: str,
                  problems: list[Violation]) -> pd.Series:
    """Parse one column's raw values; append a violation for every bad cell.

    Vectorised: text is normalised once per distinct value; a count column that
    pandas already read as integers is only range-checked.
    """
    header = normalise_text(header)
    if col.kind == "int":
        if values.dtype.kind == "i":  # pandas read a clean column of integers
            parsed = values.astype(np.int64)
            bad_index = values.index[np.zeros(len(values), bool)]
        else:
            parsed = values.map(_parse_int)
            bad_index = parsed.index[parsed.isna()]
            for index in bad_index:
                raw = values[index]
                problems.append(Violation(name, _excel_row(index), header,
                                          f"expected a whole number, found '{'' if _is_blank(raw) else raw}'"))
        good = parsed.drop(index=bad_index)
        too_big = good[good > MAX_COUNT]
        for index, value in too_big.items():
            problems.append(Violation(name, _excel_row(index), header,
                                      f"{value} is too large (at most {MAX_COUNT:,})"))
        good = good.drop(index=too_big.index)
        low = good[good < col.minimum] if col.minimum is not None else good.iloc[:0]
        rule = "must be > 0" if col.minimum == 1 else f"must be ≥ {col.minimum}"
        for index, value in low.items():
            problems.append(Violation(name, _excel_row(index), header, f"{rule}, found {value}"))
        if len(low) or len(too_big):
            parsed = parsed.astype(object)
            parsed[low.index.append(too_big.index)] = None
        return parsed
    if isinstance(values.dtype, pd.CategoricalDtype):
        uniques = values.cat.categories.to_numpy(dtype=object).tolist() + [None]  # missing → None
        codes = values.cat.codes.to_numpy()
        codes = np.where(codes < 0, len(uniques) - 1, codes)
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        uniques = np.asarray(uniques, dtype=object).tolist()
    mapped = np.empty(len(uniques), dtype=object)
    invalid = np.zeros(len(uniques), dtype=object)
    for j, raw in enumerate(uniques):
        if col.kind in ("id", "text") and type(raw) is str:
            text = normalise_text(raw)
            if text:
                mapped[j] = text
                continue
        mapped[j], invalid[j] = _parse_value(raw, col)
    for j in np.flatnonzero(invalid.astype(bool)):
        for index in values.index[codes == j]:
            problems.append(Violation(name, _excel_row(index), header, invalid[j]))
    if col.kind == "id":
        # distinct raw spellings may normalise to one id: categories of the normalised ids
        inverse, categories = pd.factorize(pd.Series(mapped, dtype=object), use_na_sentinel=True)
        return pd.Series(pd.Categorical.from_codes(inverse[codes], categories), index=values.index)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _parse_value(raw, col: Column):
    """(value, problem) of one distinct raw text/category/boolean value."""
    if col.kind in ("id", "text"):
        if _is_blank(raw):
            return None, "empty value"
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        return normalise_text(raw), ""
    if col.kind == "cell_type":
        key = "" if _is_blank(raw) else _fold(raw)
        if key not in CELL_TYPES:
            return None, (f"unknown cell type '{'' if _is_blank(raw) else raw}'; "
                          "expected thon, ban or to_dan_pho (thôn, bản, tổ dân phố)")
        return CELL_TYPES[key], ""
    if col.kind == "choice":
        key = "" if _is_blank(raw) else _fold(raw)
        if key not in col.choices:
            return None, f"unknown value '{'' if _is_blank(raw) else raw}'; expected {col.choice_help}"
        return col.choices[key], ""
    if col.kind == "bool_or_blank" and _is_blank(raw):
        return pd.NA, ""  # not applicable / not reported
    # bool, bool_or_blank
    if isinstance(raw, (bool, np.bool_)):
        return bool(raw), ""
    key = "" if _is_blank(raw) else _fold(raw)
    if key in _TRUE:
        return True, ""
    if key in _FALSE:
        return False, ""
    return None, f"expected yes/no (1/0, có/không), found '{raw}'"


def _parse_int(raw) -> int | None:
    if isinstance(raw, bool) or _is_blank(raw):
        return None
    if isinstance(raw, (int, np.integer)):
        return int(raw)
    if isinstance(raw, (float, np.floating)):
        return int(raw) if float(raw).is_integer() else None
    text = normalise_text(raw).replace(" ", "")
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?\d+\.0+", text):
        return int(float(text))
    return None


def _parse_table(path: Path, columns: tuple[Column, ...], sheet,
                 allow_extra: bool = False) -> tuple[pd.DataFrame, dict, list]:
    """Read and parse; return (canonical frame, canonical -> user header, violations)."""
    frame = _read_table(path, sheet, columns)
    name = path.name
    headers, problems = _map_headers(frame, columns, name, allow_extra)
    if problems:
        raise DataError(problems)
    if frame.empty:
        raise DataError(Violation(name, None, None, "the file has a header but no rows"))
    parsed = {}
    for col in columns:
        if col.name in headers:
            parsed[col.name] = _parse_column(frame[headers[col.name]], col, headers[col.name], name, problems)
    out = pd.DataFrame(parsed, index=frame.index)
    return out, {k: normalise_text(v) for k, v in headers.items()}, problems


def _excel_row(index) -> int:
    return int(index) + 2


# ------------------------------------------------------------------------ tables


def load_cells(path: str | Path, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Load and validate the cells table.

    Returns a DataFrame with the canonical columns ``cell_id, cell_name, commune,
    district, cell_type, population`` (and the optional role booleans present in
    the file), in file order. Raises :class:`DataError` listing every violation.
    """
    path = Path(path)
    frame, headers, problems = _parse_table(path, CELL_COLUMNS, sheet)
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
        frame[text] = frame[text].astype(str)
    return frame


def load_history(path: str | Path, cells: pd.DataFrame | None = None, *,
                 sheet: str | int | None = None, cells_name: str = "cells") -> pd.DataFrame:
    """Load and validate the yearly history (see :func:`_load_history`)."""
    return _load_history(path, cells, sheet=sheet, cells_name=cells_name)[0]


def _load_history(path: str | Path, cells: pd.DataFrame | None = None, *,
                  sheet: str | int | None = None, cells_name: str = "cells") -> tuple[pd.DataFrame, np.ndarray | None]:
    """Load and validate the yearly history.

    Checks counts, consecutive years per cell, the yearly identity
    ``local_members[y] = local_members[y-1] + admitted[y] + transferred_in[y] - exited[y]``
    and, when ``cells`` is given, that every history row names a known cell and
    every cell has history. Returns the rows grouped by cell (in the order cells
    first appear), years ascending; and, when ``cells`` is given, each row's
    position in the cells table (else None).
    """
    path = Path(path)
    frame, headers, problems = _parse_table(path, HISTORY_COLUMNS, sheet)
    name = path.name
    if "transferred_in" not in frame:
        frame["transferred_in"] = 0
        headers["transferred_in"] = "transferred_in"
    frame["_row"] = frame.index.to_numpy() + 2
    # Rows whose key failed to parse cannot be checked further.
    good = frame.dropna(subset=["cell_id", "year"])
    codes, uniques = pd.factorize(good["cell_id"])
    year = good["year"].to_numpy(dtype=np.int64)
    order = np.lexsort((year, codes))  # stable: a duplicate's first row in the file comes first
    good = good.iloc[order]
    codes, year = codes[order], year[order]
    rows = good["_row"].to_numpy()
    ids = good["cell_id"].to_numpy()
    same = np.r_[False, codes[1:] == codes[:-1]]
    prev_year = np.r_[0, year[:-1]]
    dup = same & (year == prev_year)
    for i in np.flatnonzero(dup):
        problems.append(Violation(name, int(rows[i]), headers["year"],
                                  f"a second row for cell '{ids[i]}' in {year[i]}"))
    # a cell with a row whose year did not parse (already reported) would show a false gap
    unread = frame.loc[frame["year"].isna() & frame["cell_id"].notna(), "cell_id"]
    damaged = np.isin(ids, unread.to_numpy()) if len(unread) else np.zeros(len(ids), bool)
    gap = same & ~dup & (year != prev_year + 1) & ~damaged
    for i in np.flatnonzero(gap):
        problems.append(Violation(name, int(rows[i]), headers["year"],
                                  f"cell '{ids[i]}': years jump from {prev_year[i]} to {year[i]}; "
                                  "years must be consecutive"))
    if cells is not None:
        known = pd.Index(cells["cell_id"])
        unknown = ~pd.Index(uniques).isin(known)
        if unknown.any():
            padded = {c.lstrip("0"): c for c in known if c.isdigit()}
            for i in np.flatnonzero(unknown[codes]):
                hint = padded.get(str(ids[i]).lstrip("0")) if str(ids[i]).isdigit() else None
                problems.append(Violation(name, int(rows[i]), headers["cell_id"],
                                          f"cell '{ids[i]}' is not in the {cells_name} file"
                                          + (f" (did Excel drop the leading zeros of '{hint}'? "
                                             "store ids as text)" if hint else "")))
        for cell_id in known[~known.isin(uniques)]:
            problems.append(Violation(name, None, headers["cell_id"],
                                      f"cell '{cell_id}' of the {cells_name} file has no history"))
    counts = {c: pd.to_numeric(good[c]).to_numpy(dtype=float)
              for c in ("local_members", "admitted", "exited", "transferred_in")}
    members = counts["local_members"]
    expected = np.r_[np.nan, members[:-1]] + counts["admitted"] + counts["transferred_in"] - counts["exited"]
    broken = same & ~dup & (year == prev_year + 1) & ~np.isnan(expected) & (members != expected)
    broken &= ~np.isnan(members)
    for i in np.flatnonzero(broken):
        problems.append(Violation(
            name, int(rows[i]), headers["local_members"],
            f"cell '{ids[i]}' {year[i]}: local_members {int(members[i])} ≠ "
            f"{int(members[i - 1])} (end of {year[i] - 1}) + admitted {int(counts['admitted'][i])} + "
            f"transferred_in {int(counts['transferred_in'][i])} − exited {int(counts['exited'][i])} "
            f"= {int(expected[i])}"))
    if problems:
        problems.sort(key=lambda v: (v.row is None, v.row or 0))
        raise DataError(problems)
    out = good.drop(columns="_row").reset_index(drop=True)
    for col in ("year", *counts, "assigned_members"):
        out[col] = out[col].astype(np.int64)
    if isinstance(out["cell_id"].dtype, pd.CategoricalDtype):
        out["cell_id"] = out["cell_id"].cat.categories.to_numpy(dtype=object)[out["cell_id"].cat.codes.to_numpy()]
    out["cell_id"] = out["cell_id"].astype(str)
    out = out[[c.name for c in HISTORY_COLUMNS]]
    rows = None if cells is None else pd.Index(cells["cell_id"]).get_indexer(uniques)[codes]
    return out, rows


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


# ------------------------------------------------------ tracker tables (issue 7)


def _check_keys(frame, headers, name, keys, what, problems, known=None, known_col=None,
                known_name=""):
    """Duplicate keys and (optionally) unknown ids; appends violations."""
    good = frame.dropna(subset=list(keys))
    for _, r in good.loc[good.duplicated(list(keys), keep="first")].iterrows():
        problems.append(Violation(name, r["_row"], headers[keys[-1]],
                                  f"a second row for {what} '{r[keys[0]]}' in {r[keys[1]]}"))
    if known is not None:
        for _, r in good.loc[~good[known_col].isin(known)].iterrows():
            problems.append(Violation(name, r["_row"], headers[known_col],
                                      f"'{r[known_col]}' is not in the {known_name} file"))


def _implies(frame, headers, name, if_col, then_col, rule, problems):
    """Rows where ``if_col`` is true and ``then_col`` false break ``rule``."""
    both = frame.dropna(subset=[if_col, then_col])
    bad = both[if_col].astype(bool) & ~both[then_col].astype(bool)
    for i in both.index[bad]:
        problems.append(Violation(name, frame.at[i, "_row"], headers[then_col], rule))


def _not_greater(frame, headers, name, small, big, problems):
    """``small`` ≤ ``big`` on every row where both are given."""
    if small not in frame or big not in frame:
        return
    both = frame.dropna(subset=[small, big])
    for i in both.index[both[small] > both[big]]:
        problems.append(Violation(name, frame.at[i, "_row"], headers[small],
                                  f"{small} {both.at[i, small]} is more than {big} {both.at[i, big]}"))


def _finish(frame, problems, columns, ints=(), bools=()):
    if problems:
        problems.sort(key=lambda v: (v.row is None, v.row or 0))
        raise DataError(problems)
    out = frame.drop(columns="_row").reset_index(drop=True)
    for col in ints:
        if col in out:
            out[col] = out[col].astype(np.int64)
    for col in bools:
        if col in out:
            out[col] = out[col].astype("boolean")
    return out[[c.name for c in columns if c.name in out]]


def load_roles(path: str | Path, cells: pd.DataFrame | None = None, *,
               sheet: str | int | None = None, cells_name: str = "cells") -> pd.DataFrame:
    """Load the role booleans of the village cells by year (target tracker, 3a–3c).

    Columns ``cell_id, year, secretary_is_village_head, secretary_is_front_head,
    village_head_is_member, front_head_is_member`` (booleans: 1/0, có/không, yes/no).
    A secretary is a party member, so "secretary is village head" requires "village
    head is a member" (and likewise for the Front work committee). With ``cells``,
    every row must name a known cell.
    """
    path = Path(path)
    frame, headers, problems = _parse_table(path, ROLE_COLUMNS, sheet)
    name = path.name
    frame["_row"] = [_excel_row(i) for i in frame.index]
    known = set(cells["cell_id"]) if cells is not None else None
    _check_keys(frame, headers, name, ("cell_id", "year"), "cell", problems, known, "cell_id", cells_name)
    _implies(frame, headers, name, "secretary_is_village_head", "village_head_is_member",
             "the secretary is the village head, so the village head is a party member: expected 1", problems)
    _implies(frame, headers, name, "secretary_is_front_head", "front_head_is_member",
             "the secretary heads the Front work committee, so its head is a party member: expected 1",
             problems)
    out = _finish(frame, problems, ROLE_COLUMNS, ints=("year",), bools=[c.name for c in ROLE_COLUMNS[2:]])
    out["cell_id"] = out["cell_id"].astype(str)
    return out.sort_values(["cell_id", "year"], kind="stable").reset_index(drop=True)


def load_organisations(path: str | Path, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Load the grassroots party organisations: ``org_id, org_name, district,
    commune, kind`` (kind: commune, agency, school, health, state_enterprise,
    private_enterprise, armed_forces, or their Vietnamese names)."""
    path = Path(path)
    frame, headers, problems = _parse_table(path, ORGANISATION_COLUMNS, sheet)
    frame["_row"] = [_excel_row(i) for i in frame.index]
    ids = frame.dropna(subset=["org_id"])
    for _, r in ids.loc[ids["org_id"].duplicated(keep="first")].iterrows():
        problems.append(Violation(path.name, r["_row"], headers["org_id"], f"duplicate org_id '{r['org_id']}'"))
    out = _finish(frame, problems, ORGANISATION_COLUMNS)
    return out.astype(str)


def load_organisation_years(path: str | Path, organisations: pd.DataFrame | None = None, *,
                            sheet: str | int | None = None,
                            organisations_name: str = "organisations") -> pd.DataFrame:
    """Load the yearly ratings and secretary roles of the organisations.

    Columns ``org_id, year, rating`` (hoàn thành xuất sắc / tốt / hoàn thành /
    không hoàn thành nhiệm vụ, or xuat_sac, tot, hoan_thanh, khong_hoan_thanh),
    ``secretary_is_council_chair`` (commune party committees only) and
    ``secretary_is_unit_head`` (agencies, schools, health units only); a blank is
    "not reported". With ``organisations``, each row must name a known organisation
    and a role may be given only for the kinds it applies to.
    """
    path = Path(path)
    frame, headers, problems = _parse_table(path, ORGANISATION_YEAR_COLUMNS, sheet)
    name = path.name
    frame["_row"] = [_excel_row(i) for i in frame.index]
    if organisations is not None:
        known = set(organisations["org_id"])
        _check_keys(frame, headers, name, ("org_id", "year"), "organisation", problems, known, "org_id",
                    organisations_name)
        kind = frame["org_id"].map(dict(zip(organisations["org_id"], organisations["kind"])))
        rules = (("secretary_is_council_chair", ("commune",), "commune party committees"),
                 ("secretary_is_unit_head", UNIT_HEAD_KINDS, "agencies, schools and health units"))
        for col, kinds, who in rules:
            if col not in frame:
                continue
            given = frame[col].notna() & kind.notna() & ~kind.isin(kinds)
            for i in frame.index[given]:
                problems.append(Violation(name, frame.at[i, "_row"], headers[col],
                                          f"applies to {who} only; '{frame.at[i, 'org_id']}' is a "
                                          f"{kind[i]} organisation: leave it blank"))
    else:
        _check_keys(frame, headers, name, ("org_id", "year"), "organisation", problems)
    out = _finish(frame, problems, ORGANISATION_YEAR_COLUMNS, ints=("year",),
                  bools=("secretary_is_council_chair", "secretary_is_unit_head"))
    out["org_id"] = out["org_id"].astype(str)
    return out


def load_unit_counts(path: str | Path, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Load yearly counts per unit (district): ``unit, year`` and any of
    ``members, admitted, members_rated, members_rated_good, villages,
    villages_with_cell, admitted_private, admitted_owners`` (a missing column is
    "no data" for the indicators that need it). Checks members_rated_good ≤
    members_rated ≤ members, villages_with_cell ≤ villages, admitted_owners ≤
    admitted_private."""
    path = Path(path)
    frame, headers, problems = _parse_table(path, UNIT_COUNT_COLUMNS, sheet)
    name = path.name
    frame["_row"] = [_excel_row(i) for i in frame.index]
    _check_keys(frame, headers, name, ("unit", "year"), "unit", problems)
    for small, big in (("members_rated_good", "members_rated"), ("members_rated", "members"),
                       ("villages_with_cell", "villages"), ("admitted_owners", "admitted_private")):
        _not_greater(frame, headers, name, small, big, problems)
    counts = [c.name for c in UNIT_COUNT_COLUMNS[1:]]
    out = _finish(frame, problems, UNIT_COUNT_COLUMNS, ints=counts)
    out["unit"] = out["unit"].astype(str)
    return out.sort_values(["unit", "year"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class Dataset:
    """Validated cells and history, with where they came from.

    ``synthetic`` is True when a ``SYNTHETIC.json`` marker lies beside the cells
    file (the bundled data set carries one): reports then say "Dữ liệu mô phỏng".
    """

    cells: pd.DataFrame
    history: pd.DataFrame
    sources: dict = field(default_factory=dict)
    synthetic: bool = False
    synthetic_info: dict = field(default_factory=dict)
    #: Row of the cells table for each history row, when loading knew it (saves a lookup).
    cell_rows: np.ndarray | None = field(default=None, repr=False, compare=False)

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

    def members_at(self, year: int) -> pd.Series:
        """Local members at the end of ``year``, indexed by cell_id in cells order."""
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

    def check_base_year(self, base_year: int) -> None:
        """Raise DataError unless every cell has history in ``base_year``."""
        name = Path(self.sources.get("history", "history")).name
        if not self.first_year <= base_year <= self.last_year:
            raise DataError(Violation(name, None, "year",
                                      f"base year {base_year} is outside the history "
                                      f"({self.first_year}–{self.last_year})"))
        present = self.panel("local_members")[base_year].notna().to_numpy()
        lacking = self.cells["cell_id"].to_numpy()[~present].tolist()
        if lacking:
            shown = ", ".join(lacking[:5]) + (" …" if len(lacking) > 5 else "")
            raise DataError(Violation(name, None, "year",
                                      f"{len(lacking)} cells have no history in base year {base_year}: {shown}"))


def load_dataset(cells: str | Path | None = None, history: str | Path | None = None, *,
                 sheet: str | int | None = None, history_sheet: str | int | None = None) -> Dataset:
    """Load both tables (default: the bundled synthetic province in ``data/raw``).

    Parameters
    ----------
    cells, history : path, optional
        CSV or XLSX files; default ``data/raw/cells.csv`` and ``data/raw/history.csv``.
    sheet, history_sheet : str or int, optional
        Sheet of an XLSX file (name or 0-based number); default the first.
        ``history_sheet`` defaults to ``sheet`` when both tables are in one workbook.
    """
    cells_path = Path(cells) if cells is not None else config.CELLS_FILE
    history_path = Path(history) if history is not None else config.HISTORY_FILE
    if history_sheet is None and cells_path == history_path:
        history_sheet = sheet
    cells_df = load_cells(cells_path, sheet=sheet)
    history_df, rows = _load_history(history_path, cells_df, sheet=history_sheet, cells_name=cells_path.name)
    marker = cells_path.parent / config.SYNTHETIC_MARKER
    info = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
    return Dataset(cells=cells_df, history=history_df,
                   sources={"cells": str(cells_path), "history": str(history_path)},
                   synthetic=bool(info.get("synthetic", False)), synthetic_info=info, cell_rows=rows)


def load_lai_chau() -> Dataset:
    """The bundled synthetic Lai Châu province (``data/raw``), 2015–2025.

    About 1,100 village cells in 8 district-level units; made by
    :func:`nq21model.synth.write_bundle`. Synthetic: never real data.
    """
    return load_dataset()


# ---------------------------------------------------------------------- template

TEMPLATE_HELP = [
    ("Mã chi bộ", "Mã ổn định, không trùng, dùng chung cho hai bảng (ví dụ LC-TDU-001)."),
    ("Tên chi bộ", "Ví dụ: Chi bộ bản Nà Tăm."),
    ("Xã", "Xã, phường, thị trấn (trước hoặc sau sắp xếp năm 2025)."),
    ("Huyện", "Huyện, thành phố — đơn vị mặc định của báo cáo."),
    ("Loại", "thôn, bản hoặc tổ dân phố."),
    ("Dân số", "Số nhân khẩu của thôn, bản, tổ dân phố (số nguyên > 0)."),
    ("Năm", "Mỗi chi bộ một dòng cho mỗi năm, các năm liên tục, không bỏ năm."),
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
    cells = pd.DataFrame([["LC-TDU-001", "Chi bộ bản Nà Tăm", "Xã Nà Tăm", "Tam Đường", "bản", 520]],
                         columns=[c.alias for c in CELL_COLUMNS if c.required])
    history = pd.DataFrame([["LC-TDU-001", 2025, 7, 1, 0, 1, 0]], columns=[c.alias for c in HISTORY_COLUMNS])
    guide = pd.DataFrame(TEMPLATE_HELP, columns=["Cột", "Cách ghi"])
    return write_table({"Chi bộ": cells, "Lịch sử": history, "Hướng dẫn": guide}, path, widths=(12, 80))
