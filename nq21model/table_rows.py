"""Rows of a report that are not data — a total at its end, a subtotal or a group
heading inside it (each named in a warning, not read) — and the two small helpers
every reader shares: a blank value, a row's number as Excel shows it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .csv_arrow import arrow_filled
from .exceptions import DataWarning, warn
from .spelling import _fold, normalise_text


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (
        isinstance(value, str) and value.strip() == "")


def _excel_row(index) -> int:
    return int(index) + 2


_TOTAL_LABELS = {"tongcong", "cong", "total"}


def _without_total_rows(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The frame without the total rows at its end (a row whose first text is "Tổng
    cộng", "Cộng" or "Total"), each named in a warning: a spreadsheet's total is not
    a cell."""
    while len(frame):
        last = frame.iloc[-1]
        texts = [v for v in last.tolist() if isinstance(v, str) and v.strip()]
        if not texts or _fold(texts[0]) not in _TOTAL_LABELS:
            break
        warn(f"{name}, row {_excel_row(frame.index[-1])}: a total row ('{normalise_text(texts[0])}'), "
             "not read as data", DataWarning, stacklevel=4)
        frame = frame.iloc[:-1]
    return frame


def _without_group_rows(frame: pd.DataFrame, name: str, ids: list) -> pd.DataFrame:
    """The frame without a report's group rows inside it — a subtotal ("Cộng xã Bình
    Lư", "Tổng …") or a group heading ("I", "Xã Bình Lư"): no id and at most two
    values, or a first text that is a total's — named in one warning. ``ids``: the
    table's id columns (none: nothing is dropped)."""
    if not ids or frame.empty:
        return frame
    if any(arrow_filled(frame[c]) for c in ids):  # an id in every row: no group row
        return frame
    blank_id = np.logical_and.reduce([(frame[c].isna() | frame[c].eq("")).to_numpy() for c in ids])  # one pass each
    if not blank_id.any():
        return frame
    group = []
    for index, row in frame.loc[blank_id].iterrows():  # a few rows: the others have their id
        values = [v for v in row.tolist() if not _is_blank(v)]
        texts = [normalise_text(v) for v in values if isinstance(v, str)]
        if values and (len(values) <= 2 or (texts and _fold(texts[0].split()[0]) in _TOTAL_LABELS | {"tong"})):
            group.append((index, " · ".join(str(v) for v in values[:2])))
    if not group:
        return frame
    shown = ", ".join(f"row {_excel_row(i)} ('{text}')" for i, text in group[:4])
    warn(f"{name}: {len(group)} row{'s' if len(group) > 1 else ''} of a report's grouping (a subtotal or a "
         f"group heading, no id) not read as data: {shown}{' …' if len(group) > 4 else ''}",
         DataWarning, stacklevel=4)
    return frame.drop(index=[i for i, _ in group])


#: Sheets larger than this (their XML, bytes) are not searched for merged cells and formulas.
MERGED_SEARCH_BYTES = 50_000_000


def sheet_xml(path, sheet: str) -> str | None:
    """The XML of a workbook's sheet named ``sheet`` (None when it cannot be found, or
    is above :data:`MERGED_SEARCH_BYTES`): what Excel shows that pandas does not read —
    merges, formulas."""
    import re
    import zipfile

    try:
        with zipfile.ZipFile(path) as book:
            workbook = book.read("xl/workbook.xml").decode("utf-8", "replace")
            rels = book.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            tags = [dict(re.findall(r'([\w:]+)="([^"]*)"', tag)) for tag in re.findall(r"<sheet\b[^>]*>", workbook)]
            rid = next((t.get("r:id") for t in tags if _xml_text(t.get("name", "")) == sheet), None)
            links = [dict(re.findall(r'(\w+)="([^"]*)"', tag)) for tag in re.findall(r"<Relationship\b[^>]*>", rels)]
            target = next((link.get("Target") for link in links if rid and link.get("Id") == rid), None)
            if target is None:
                return None
            member = target.lstrip("/")
            member = member if member.startswith("xl/") else "xl/" + member
            if book.getinfo(member).file_size > MERGED_SEARCH_BYTES:
                return None
            return book.read(member).decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile, OSError):
        return None


def unsaved_formulas(xml: str) -> list[str]:
    """The cells of a sheet's XML that hold a formula and no value (a workbook written
    by a program that does not compute formulas: pandas reads them as blanks). A
    formula whose result is the empty text (``=IF(…;"x";"")``, saved by Excel or
    LibreOffice as ``t="str"`` with an empty value) has its value."""
    import re

    cells = re.findall(r'<c\b([^>]*)>\s*<f\b[^>]*(?:/>|>[^<]*</f>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>', xml)
    return [m.group(1) for attrs in cells if 't="str"' not in attrs and (m := re.search(r'\br="([A-Z]+\d+)"', attrs))]


def hidden_rows(xml: str | None) -> list[int]:
    """Excel's numbers of the rows a sheet's XML (:func:`sheet_xml`) hides — a
    filter's, or hidden by hand (``hidden="1"``; LibreOffice writes ``"true"``)."""
    import re

    if xml is None or 'hidden="' not in xml:
        return []
    return [int(m.group(1)) for tag in re.findall(r'<row\b[^>]*\bhidden="(?:1|true)"[^>]*>', xml)
            if (m := re.search(r'\br="(\d+)"', tag))]


def hidden_columns(xml: str | None) -> set[int]:
    """Positions (0-based) of the columns a sheet's XML (:func:`sheet_xml`) hides."""
    import re

    out: set[int] = set()
    if xml is None or "<col " not in xml:
        return out
    for tag in re.findall(r'<col\b[^>]*\bhidden="(?:1|true)"[^>]*>', xml):
        bounds = [re.search(rf'\b{key}="(\d+)"', tag) for key in ("min", "max")]
        if all(bounds):
            out.update(range(int(bounds[0].group(1)) - 1, int(bounds[1].group(1))))
    return out


def warn_hidden_rows(frame: pd.DataFrame, hidden: list[int], where: str) -> None:
    """A warning naming the rows of ``frame`` (the data rows, indexed as
    :func:`_excel_row` numbers them) that Excel hides (``hidden``: Excel's row
    numbers): read like the others, and an office that hid the rows it meant to
    leave out sees that they are not left out."""
    if not hidden:
        return
    read = np.intersect1d(np.asarray(hidden) - 2, frame.index.to_numpy()) + 2
    if not read.size:
        return
    spans = []  # consecutive rows as one span: "5–40"
    for row in read.tolist():
        if spans and row == spans[-1][1] + 1:
            spans[-1][1] = row
        else:
            spans.append([row, row])
    shown = ", ".join(f"{a}–{b}" if b > a else str(a) for a, b in spans[:8]) + (" …" if len(spans) > 8 else "")
    plural = "s" if read.size > 1 else ""
    warn(f"{where}: {read.size:,} row{plural} hidden in Excel (by a filter or by hand) read like the "
         f"others: row{plural} {shown}; delete the rows that are not data", DataWarning, stacklevel=4)


def warn_hidden_columns(frame: pd.DataFrame, read: list, shut: set[int], where: str) -> None:
    """A warning naming the columns of ``read`` (headers of ``frame``: the columns the
    model reads) that Excel hides (``shut``: :func:`hidden_columns`): an office that
    hid an old column and added a new one beside it sees which is read."""
    unseen = [str(h) for h in read if shut and frame.columns.get_loc(h) in shut]
    if unseen:
        many = len(unseen) > 1
        warn(f"{where}: column{'s' if many else ''} {', '.join(map(repr, unseen))} hidden in Excel but "
             f"read; if {'they are' if many else 'it is'} not the one{'s' if many else ''} to read, delete "
             f"{'them' if many else 'it'}", DataWarning, stacklevel=4)


def fill_merged(frame: pd.DataFrame, xml: str | None) -> pd.DataFrame:
    """``frame`` (a sheet as read, header row 1 as its columns) with the cells of a
    merge running down a column filled with its value — a district written once over
    its cells' rows, as Excel shows it to the office; only the merge's first cell
    holds the value in the file (``xml``: the sheet's, :func:`sheet_xml`). Merges
    across columns (a title, a header's group label) are left as they are."""
    import re

    if xml is None or "<mergeCell" not in xml:
        return frame
    frame = frame.copy()
    for ref in re.findall(r'<mergeCell\b[^>]*\bref="([A-Z]+)(\d+):([A-Z]+)(\d+)"', xml):
        col1, row1, col2, row2 = ref[0], int(ref[1]), ref[2], int(ref[3])
        if col1 != col2 or row2 <= row1 or row1 < 2:  # across columns, or from the header row
            continue
        j = _column_number(col1) - 1
        first, last = row1 - 2, min(row2 - 2, len(frame) - 1)
        if j >= frame.shape[1] or first >= len(frame):
            continue
        frame.iloc[first + 1:last + 1, j] = frame.iloc[first, j]
    return frame


def _column_number(letters: str) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ord(ch) - 64
    return number


def _xml_text(text: str) -> str:
    import html

    return html.unescape(text)
