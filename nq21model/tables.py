"""Reading and checking tables as users write them (CSV or XLSX, English or
Vietnamese headers), the machinery every input table shares.

A file that breaks rules raises one :class:`~nq21model.exceptions.DataError`
listing *every* violation, each naming the file, the row as the user sees it in
Excel (header = row 1), the column as the user's file spells it, and the rule.

Why not pandera: the rules that matter here are cross-row and cross-table (year
gaps, the yearly identity, history for unknown cells), messages must name the
user's own header and Excel row, and a forecast must start in well under a second;
a small declarative table of column specs does all of it with pandas alone.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .csv_arrow import arrow_all_clean, arrow_filled, arrow_text, read_csv_arrow, separator, text_encoding
from .exceptions import DataError, DataWarning, Violation, warn
from .spelling import _fold, all_clean, normalise_text
from .table_rows import (_excel_row, _is_blank, _without_group_rows, _without_total_rows, fill_merged, sheet_xml,
                         hidden_columns, hidden_rows, unsaved_formulas,
                         warn_hidden_columns, warn_hidden_rows)


# ------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Column:
    name: str
    alias: str  # the Vietnamese header of the template
    kind: str  # "id", "text", "int", "bool", "choice", "bool_or_blank"
    required: bool = True
    minimum: int | None = None
    extra_aliases: tuple[str, ...] = ()
    #: kind "int": largest plausible value (default :data:`MAX_COUNT`) and the words
    #: that say why, in the error
    maximum: int | None = None
    maximum_why: str = ""
    #: kind "int": "-" is read as 0 (a statistical table's "none": the history's counts,
    #: never a stock of the totals table), said in a warning
    dash_is_zero: bool = False
    #: kind "int": a blank is read as 0 too (a flow of the yearly identity, which catches
    #: a blank that meant "not known")
    blank_is_zero: bool = False
    #: kind "choice": folded spelling -> canonical code (error names ``choice_help``)
    choices: dict | None = None
    choice_help: str = ""
    choice_what: str = "value"


#: A unit of measure in brackets after a header, left out to read it: "(người)", "(hộ)".
_UNIT_IN_BRACKETS = re.compile(r"\s*\((?:người|hộ|khẩu|nhân khẩu|đảng viên|đv|đ/v|đồng chí|đ/c|đc)\)", re.IGNORECASE)
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
        with open(path, "rb") as fh:
            if fh.read(8) == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # an OLE file, not a zip: .xls, or encrypted
                raise DataError(Violation(name, None, None, (
                    "an Excel 97–2003 workbook (.xls) under an .xlsx name, or a workbook with a password to "
                    "open: open it in Excel and save it as Excel Workbook (.xlsx) without a password")))
        try:
            book = pd.ExcelFile(path, engine="openpyxl")
        except Exception as exc:  # corrupt workbook
            raise DataError(Violation(name, None, None, f"cannot be read as Excel ({exc})")) from None
        with book:  # closed however the reading ends (an unclosed file warned on every run)
            sheets = book.sheet_names
            if sheet is None:
                sheet = _default_sheet(sheets, columns, book, name)
            if isinstance(sheet, str) and sheet not in sheets:  # "Chi bộ" typed, stored decomposed (NFD)
                sheet = {normalise_text(s): s for s in sheets}.get(normalise_text(sheet), sheet)
            if isinstance(sheet, str) and sheet not in sheets:
                raise DataError(Violation(name, None, None,
                                          f"no sheet named '{sheet}' (sheets: {', '.join(sheets)})"))
            if isinstance(sheet, int) and not 0 <= sheet < len(sheets):
                raise DataError(Violation(name, None, None,
                                          f"no sheet number {sheet} (sheets: {', '.join(sheets)})"))
            frame = pd.read_excel(book, sheet_name=sheet, dtype=object, header=0)
            sheet_name = sheets[sheet] if isinstance(sheet, int) else sheet
            where = f"{name}, sheet '{sheet_name}'" if len(sheets) > 1 else name  # which sheet, in every message
            xml = sheet_xml(path, sheet_name)
            hidden = hidden_rows(xml)  # named once the rows that are not data are out (_parse_table)
            if frame.isna().to_numpy().any():  # a blank: merged cells, or formulas with no value saved
                unsaved = unsaved_formulas(xml) if xml is not None else []
                if unsaved:
                    shown = ", ".join(unsaved[:5]) + (f" … ({len(unsaved):,} cells)" if len(unsaved) > 5 else "")
                    raise DataError(Violation(where, None, None, (
                        f"formulas with no value saved ({shown}): the file was written by a program that does not "
                        "compute formulas, so the numbers Excel would show are not in it; open it in Excel (or "
                        "LibreOffice) and save it, then run again")))
                frame = fill_merged(frame, xml)
            if len(sheets) > 1:
                frame.attrs["where"] = where
            frame.attrs["hidden_rows"] = hidden
            frame.attrs["hidden_columns"] = hidden_columns(xml)
    elif suffix in (".csv", ".txt"):
        encoding = text_encoding(path)
        unreadable = Violation(name, None, None, "not UTF-8 text; save the CSV as 'CSV UTF-8'"
                               if encoding != "utf-16" else "begins as UTF-16 text (Excel's Unicode Text) but "
                               "cannot be read as it; save the table as 'CSV UTF-8'")
        try:
            with open(path, encoding=encoding) as fh:
                first = fh.readline()
        except UnicodeDecodeError:
            raise DataError(unreadable) from None
        sep = separator(first)
        kinds = {_fold(label): c.kind for c in columns for label in (c.name, c.alias, *c.extra_aliases)}
        dtype = {h: str for h in next(csv.reader([first], delimiter=sep), [])
                 if kinds.get(_fold(h), "text") != "int"}
        try:
            frame = read_csv_arrow(path, sep, dtype) if encoding == "utf-8-sig" else None
            if frame is None:
                frame = pd.read_csv(path, sep=sep, dtype=dtype, keep_default_na=False, na_values=[],
                                    encoding=encoding, skip_blank_lines=False)
                if not isinstance(frame.index, pd.RangeIndex):  # pandas took a first column as the index
                    raise DataError(Violation(name, 2, None, f"row 2 has more values than row 1 has headers "
                                                             f"({len(frame.columns)})"))
            # A count column not read as integers ("2.000", "12,5", a blank) is read again
            # as text and parsed value by value: "2.000" must never become 2.0.
            unclean = [h for h in frame.columns if h not in dtype and frame[h].dtype.kind != "i"]
            if unclean:
                text = pd.read_csv(path, sep=sep, dtype=str, usecols=unclean, keep_default_na=False,
                                   na_values=[], encoding=encoding, skip_blank_lines=False)
                frame[unclean] = text[unclean].to_numpy()
        except UnicodeDecodeError:
            raise DataError(unreadable) from None
        except pd.errors.EmptyDataError:
            raise DataError(Violation(name, None, None, "the file is empty")) from None
        except pd.errors.ParserError as exc:
            raise DataError(Violation(name, None, None, f"cannot be read as CSV ({exc})")) from None
    elif suffix in (".xls", ".ods"):
        raise DataError(Violation(name, None, None, f"a {suffix} file: open it in Excel (or LibreOffice) and save "
                                                    "it as .xlsx (Excel Workbook) or CSV UTF-8"))
    else:
        raise DataError(Violation(name, None, None, "expected a .csv or .xlsx file"))
    if frame.columns.size == 0:
        raise DataError(Violation(name, None, None, "the file is empty"))
    # Drop rows blank in every column (common at the end of Excel sheets); row
    # numbers of the others stay as the user sees them.
    first_col = frame.iloc[:, 0]
    if arrow_filled(first_col):  # a CSV's text, none blank: no blank row
        return frame
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


def _default_sheet(sheets: list[str], columns: tuple[Column, ...], book=None, name: str = "") -> str | int:
    """In a workbook holding both tables, the sheet named for this table, else the
    only sheet whose first rows hold this table's headers (``book``: the open
    workbook), else the first. Several such sheets (a history split by area or by
    year) are an error: reading one of them would drop the others' rows unsaid."""
    wanted = {"cells": {"cells", "chibo"}, "history": {"history", "lichsu"}, "quotas": {"quotas", "chitieu"},
              "totals": {"totals", "tonghop", "tongso"}}
    names = {c.name for c in columns}
    kind = "history" if "local_members" in names else "quotas" if "quota" in names else \
        "totals" if "unit" in names else "cells"
    for sheet in sheets:
        if _fold(sheet) in wanted[kind]:
            return sheet
    if book is not None and len(sheets) > 1:  # "Sheet1", "Sheet2": the one with this table's headers
        holding = []
        for sheet in sheets:
            top = pd.read_excel(book, sheet_name=sheet, dtype=object, header=0, nrows=HEADER_SEARCH_ROWS)
            if not _map_headers(top, columns, sheet, True)[1] or _header_below(top, columns, sheet, True) is not None:
                holding.append(sheet)
        if len(holding) == 1:
            return holding[0]
        if len(holding) > 1:
            flag = {"cells": "--sheet", "history": "--history-sheet"}.get(kind, "--sheet")
            raise DataError(Violation(name, None, None,
                                      f"{len(holding)} sheets hold the {kind} table's headers "
                                      f"({', '.join(repr(h) for h in holding)}): put its rows in one sheet, "
                                      f"or name the sheet to read ({flag} NAME)"))
    return 0


def _map_headers(frame: pd.DataFrame, columns: tuple[Column, ...], name: str,
                 allow_extra: bool | str = False) -> tuple[dict, list]:
    """Map the file's headers to canonical names; return (canonical -> header, violations).

    ``allow_extra``: False (an unknown header is an error), True (ignored),
    ``"warn"`` (ignored, named in a warning by :func:`_parse_table`) or ``"keep"``
    (kept as a text column under its normalised header). A column's name or alias
    outranks its other aliases; a header with a unit in brackets ranks just below the
    label it is read as ("Dân số (người)": below "Dân số", above "Số nhân khẩu"): a
    header outranked by another of the same column is an extra column (where extras
    are allowed), two of one rank a second column.
    """
    ranks = {}
    for col in columns:
        for rank, labels in ((0, (col.name, col.alias)), (1, col.extra_aliases)):
            for label in labels:
                ranks.setdefault(_fold(label), (rank, col.name))
    matched = {}  # header -> (rank, canonical)
    for header in frame.columns:
        text = normalise_text(header)
        match = ranks.get(_fold(text))
        unit = _UNIT_IN_BRACKETS.search(text)
        if match is None and unit is not None:  # "Dân số (người)"; never "Xã (mới)"
            rank, canonical = ranks.get(_fold(text[:unit.start()] + text[unit.end():]), (None, None))
            match = None if canonical is None else (rank + 0.5, canonical)  # "Dân số (người)" over "Số nhân khẩu"
        if match is not None:
            matched[header] = match
    best = {}
    for rank, canonical in matched.values():
        best[canonical] = min(rank, best.get(canonical, rank))
    found: dict[str, str] = {}
    problems = []
    for header in frame.columns:
        text = normalise_text(header)
        rank, canonical = matched.get(header, (None, None))
        twin = re.fullmatch(r"(.+)\.(\d+)", text)  # pandas renames a repeated header "X" to "X.1"
        if canonical is None and twin and ranks.get(_fold(twin.group(1)), (0, None))[1] in found:
            first = found[ranks[_fold(twin.group(1))][1]]
            problems.append(Violation(name, 1, twin.group(1), f"a second column named like '{first}'"))
            continue
        if _fold(text) in _IGNORED or text.startswith("Unnamed:"):
            continue
        outranked = canonical is not None and rank > best[canonical]
        if outranked and allow_extra:  # "Số nhân khẩu" beside "Dân số": the population is "Dân số"
            canonical = None
        if canonical is None and allow_extra == "keep" and text not in found:
            found[text] = header
            continue
        if canonical is None and allow_extra:
            continue
        if canonical is None:
            expected = ", ".join(f"{c.name} [{c.alias}]" for c in columns)
            problems.append(Violation(name, 1, text, f"unknown header; expected one of: {expected}"))
        elif canonical in found or outranked:
            first = found.get(canonical) or next(h for h, m in matched.items() if m == (best[canonical], canonical))
            problems.append(Violation(name, 1, text, f"a second column for '{canonical}' (first: '{first}')"))
        else:
            found[canonical] = header
    known = {c.name for c in columns}
    others = [h for h in found if h not in known]
    hint = (f"; row 1 has other headers: {', '.join(repr(h) for h in others)}" if others else "")
    for col in columns:
        if col.required and col.name not in found:
            problems.append(Violation(name, None, f"{col.name} [{col.alias}]", "required column is missing" + hint))
    return found, problems


def _parse_column(values: pd.Series, col: Column, header: str, name: str,
                  problems: list[Violation]) -> pd.Series:
    """Parse one column's raw values; append a violation for every bad cell.

    Vectorised: text is normalised once per distinct value; a count column that
    pandas already read as integers is only range-checked.
    """
    header = normalise_text(header)
    if col.kind == "int":
        limit = MAX_COUNT if col.maximum is None else col.maximum
        if values.dtype.kind == "i":  # read as a clean column of integers: range checks alone
            parsed = values.astype(np.int64)
            numbers = parsed.to_numpy()
            if not len(numbers) or (numbers.max() <= limit and (col.minimum is None or numbers.min() >= col.minimum)):
                return parsed
            bad_index = values.index[:0]
        else:
            parsed = values.map(_parse_int)
            if col.dash_is_zero:  # "-" is none, as Vietnamese statistical tables write it
                dash = values.map(lambda v: isinstance(v, str) and normalise_text(v) in _DASHES).to_numpy(dtype=bool)
                blank = values.map(_is_blank).to_numpy(dtype=bool) if col.blank_is_zero else np.zeros(len(values), bool)
                none = dash | blank
                if none.any():
                    parsed[none] = 0
                    written = " or ".join(f"{int(n.sum()):,} {what}" for n, what in
                                          ((dash, "written '-'"), (blank, "blank")) if n.any())
                    warn(f"{name}: column '{header}': {written} read as 0 "
                         f"(first at row {_excel_row(values.index[none][0])})", DataWarning, stacklevel=4)
            bad_index = parsed.index[parsed.isna()]
            for index in bad_index:
                raw = values[index]
                problems.append(Violation(name, _excel_row(index), header,
                                          _int_problem(raw) + (" (write 0 if there were none)"
                                                               if col.minimum == 0 and _is_blank(raw) else "")))
        good = parsed.drop(index=bad_index)
        too_big = good[good > limit]
        for index, value in too_big.items():
            problems.append(Violation(name, _excel_row(index), header,
                                      f"{value} is too large (at most {limit:,}{col.maximum_why})"))
        good = good.drop(index=too_big.index)
        low = good[good < col.minimum] if col.minimum is not None else good.iloc[:0]
        rule = "must be > 0" if col.minimum == 1 else f"must be ≥ {col.minimum}"
        for index, value in low.items():
            problems.append(Violation(name, _excel_row(index), header, f"{rule}, found {value}"))
        if len(low) or len(too_big):
            parsed = parsed.astype(object)
            parsed[low.index.append(too_big.index)] = None
        return parsed
    if col.kind in ("id", "text") and arrow_text(values) and arrow_all_clean(values):
        return values  # text read by pyarrow, every value as it is: kept in Arrow, no codes needed
    if isinstance(values.dtype, pd.CategoricalDtype):
        uniques = values.cat.categories.to_numpy(dtype=object).tolist() + [None]  # missing → None
        codes = values.cat.codes.to_numpy()
        codes = np.where(codes < 0, len(uniques) - 1, codes)
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        uniques = np.asarray(uniques, dtype=object).tolist()
    if col.kind in ("id", "text") and all_clean(uniques):  # most files: every value as it is
        mapped = np.empty(len(uniques), dtype=object)
        mapped[:] = uniques
        if col.kind == "id":  # the categories are the distinct values already
            return pd.Series(pd.Categorical.from_codes(codes, pd.Index(mapped, dtype=object)), index=values.index)
        return pd.Series(mapped[codes], index=values.index, dtype=object)
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
    if col.kind == "choice":
        key = "" if _is_blank(raw) else _fold(raw)
        if key not in col.choices:
            return None, f"unknown {col.choice_what} '{'' if _is_blank(raw) else raw}'; expected {col.choice_help}"
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
    text = normalise_text(raw).replace(" ", "").replace("\u2212", "-")  # "−3": the minus sign, a negative
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    if _THOUSANDS.fullmatch(text):  # "2.000" is two thousand the Vietnamese way, never 2
        return int(text.replace(".", ""))
    if re.fullmatch(r"[+-]?[0-9]+\.0+", text):
        return int(float(text))
    return None


#: A count written as a dash: none (hyphen, en dash, em dash, minus sign, alone).
_DASHES = {"-", "–", "—", "−"}
_THOUSANDS = re.compile(r"[+-]?[0-9]{1,3}(\.[0-9]{3})+")  # ASCII digits: "１２" is text


def _int_problem(raw) -> str:
    """The message for a value that is not a whole number."""
    import datetime

    if isinstance(raw, (datetime.date, datetime.datetime)):  # a cell Excel formats as a date
        if raw.year < 1910:  # a number typed into a date cell: 2018 shows as 10/07/1905
            serial = (datetime.datetime(raw.year, raw.month, raw.day) - datetime.datetime(1899, 12, 30)).days
            return (f"a date ({raw:%d/%m/%Y}), not a number: the cell is formatted as a date; format it as a "
                    f"number (it then shows {serial})")
        return (f"a date ({raw:%d/%m/%Y}), not a number: format the cell as a number "
                f"(a year: write {raw.year})")
    shown = "" if _is_blank(raw) else raw
    text = "" if _is_blank(raw) else normalise_text(raw).replace(" ", "")
    if re.fullmatch(r"[0-9]{1,3}(,[0-9]{3})+", text):
        return (f"'{shown}' is ambiguous (a decimal comma or a thousands comma?): "
                f"write {text.replace(',', '')} or {text.replace(',', '.')}")
    return f"expected a whole number, found '{shown}'"


def sheet_option(value) -> str | int | None:
    """A sheet as a command or a notebook parameter gives it: "" → None (the default),
    digits → the 0-based number, else the name."""
    return None if value in ("", None) else (int(value) if str(value).isdigit() else value)


def _parse_table(path: Path, columns: tuple[Column, ...], sheet,
                 allow_extra: bool | str = False, frame: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict, list]:
    """Read and parse; return (canonical frame, canonical -> user header, violations).
    Extra columns kept (``allow_extra="keep"``) come last, as text (blank → None).
    ``frame``: the table as :func:`_read_table` read it, when the caller has it."""
    frame = _read_table(path, sheet, columns) if frame is None else frame
    name = frame.attrs.get("where", path.name)
    hidden_rows_, hidden_columns_ = frame.attrs.get("hidden_rows", []), frame.attrs.get("hidden_columns", set())
    headers, problems = _map_headers(frame, columns, name, allow_extra)
    if problems:  # a report's title above the header, or a header on two rows
        found = _header_below(frame, columns, name, allow_extra)
        if found is not None:
            frame, headers, problems = found
    if problems:
        raise DataError(problems)
    if allow_extra == "warn":
        _warn_unread(frame, headers, name)
    frame = _without_total_rows(frame, name)
    frame = _without_group_rows(frame, name, [headers[c.name] for c in columns if c.kind == "id" and c.name in headers])
    if frame.empty:
        raise DataError(Violation(name, None, None, "the file has a header but no rows"))
    warn_hidden_rows(frame, hidden_rows_, name)  # an XLSX's, as read: only rows and columns still read are named
    warn_hidden_columns(frame, [h for c, h in headers.items() if c in {col.name for col in columns}], hidden_columns_,
                        name)
    for col in columns:  # an optional column kept but emptied (no transfers kept; districts since July 2025)
        if not col.required and col.name in headers and _all_blank(frame[headers[col.name]]):
            warn(f"{name}: column '{headers[col.name]}' is blank in every row: read as absent",
                 DataWarning, stacklevel=3)
            del headers[col.name]
    parsed = {}
    for col in columns:
        if col.name in headers:
            parsed[col.name] = _parse_column(frame[headers[col.name]], col, headers[col.name], name, problems)
    known = {c.name for c in columns}
    for extra in (h for h in headers if h not in known):
        parsed[extra] = frame[headers[extra]].map(lambda v: None if _is_blank(v) else normalise_text(v))
    out = pd.DataFrame(parsed, index=frame.index, copy=False)  # no copy into blocks: columns stay as parsed
    out.attrs["where"] = name
    return out, {k: normalise_text(v) for k, v in headers.items()}, problems


def _all_blank(values: pd.Series) -> bool:
    """Every value blank (stops at the first that is not: a filled column costs one look)."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return bool(values.isna().all())
    return not any(not _is_blank(v) for v in values)


def _warn_unread(frame: pd.DataFrame, headers: dict, name: str) -> None:
    """A warning naming the file's columns that are not read (a total, a note): an
    office sees that they are left out, and a misspelt optional column is not
    dropped without a word."""
    used = set(headers.values())
    unread = [normalise_text(str(h)) for h in frame.columns if h not in used and not str(h).startswith("Unnamed:")
              and _fold(normalise_text(str(h))) not in _IGNORED]
    if unread:
        warn(f"{name}: column{'s' if len(unread) > 1 else ''} {', '.join(repr(h) for h in unread)} "
             f"not read (not a column of this table)", DataWarning, stacklevel=4)


#: Rows below row 1 where a header may stand (under a report's title and blank rows).
HEADER_SEARCH_ROWS = 10


def _header_below(frame: pd.DataFrame, columns: tuple[Column, ...], name: str, allow_extra):
    """(frame, headers, []) read from the header found below row 1 — a row of the
    first :data:`HEADER_SEARCH_ROWS` whose labels name every required column, or two
    rows read as one (a group label merged over the columns of its sub-labels: each
    column's lower label, else its upper) — or None. The data rows keep their Excel
    numbers (the frame's index)."""
    def labels(values):
        return ["" if _is_blank(v) else normalise_text(str(v)) for v in values]

    top = [("" if str(c).startswith("Unnamed:") else normalise_text(str(c))) for c in frame.columns]
    rows = [labels(frame.iloc[i].tolist()) for i in range(min(HEADER_SEARCH_ROWS, len(frame)))]
    candidates = []  # (labels, first data row's position)
    for i, row in enumerate(rows):  # one row first: a title above must not fill a blank label
        upper = top if i == 0 else rows[i - 1]
        candidates.append((row, i + 1))
        candidates.append(([low or up for low, up in zip(row, upper)], i + 1))  # header on rows i-1, i
    for header, start in candidates:
        named = [h or f"Unnamed: {j}" for j, h in enumerate(header)]
        if len(set(named)) < len(named):
            continue
        found, problems = _map_headers(pd.DataFrame(columns=named), columns, name, allow_extra)
        if not problems:
            body = frame.iloc[start:].copy()
            body.columns = named
            return body, found, []
    return None


#: What the first text of an office's total row says (folded): "Tổng cộng", "Cộng".
#: Never "Tổng số" nor "Tổng": they name the province's own row of a totals table.
