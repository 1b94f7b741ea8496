"""How every XLSX the package writes looks (used by :func:`nq21model.files.write_table`).

One set of rules, driven by the column names, so that every writer gets them:

* **number formats** — a year ``0`` (2025, not 2.025); a count ``#,##0``; expected
  members and other expectations ``#,##0.0``; a share or a rate ``0.0%``; a
  probability two decimals and never a false certainty: above 0.99 it reads
  "> 0,99" and below 0.01 "< 0,01" (an exact 0 too, where the briefing prints
  "0,00"), the value kept in the cell (:func:`column_kind` says which column is
  which; a float column with only whole numbers is a count);
* **layout** — the header row bold, wrapped and frozen, columns as wide as their
  content (within bounds), a filter on the header, A4 landscape one page wide with
  the header repeated on every printed page, page numbers in the footer;
* **the synthetic-data mark** — with ``synthetic``, "Dữ liệu mô phỏng" in the header
  of every printed page and a red sheet tab; an office workbook also has it in its
  title row, the first thing on screen;
* **office workbooks** (``office=True``: the quota lists, the at-risk list, the
  explorer's export) have a title row above the header and a bold "Tổng cộng" row
  under the columns a :class:`Sheet` asks to add up.

Every workbook keeps its probabilities as numbers — the "> 0,99" is a number
format, so that a column of chances sorts and filters as numbers and the cell keeps
its value. The data workbooks of the command line (``--out F.xlsx``) keep their
header in the first row (MODEL.md §3 names; ``forecast --quotas F.xlsx`` and
``pd.read_excel`` read them back).
"""
from __future__ import annotations

import math
import re
from copy import copy
import textwrap
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

#: The mark of synthetic data, on every sheet.
SYNTHETIC_MARK = "Dữ liệu mô phỏng"
SYNTHETIC_TEXT = f"{SYNTHETIC_MARK} — không phải số liệu thật"
TOTAL_LABEL = "Tổng cộng"
#: Probabilities shown as the briefing shows them (report.format_p).
CHANCE_HIGH, CHANCE_LOW = "> 0,99", "< 0,01"

FORMATS = {
    "year": "0",
    "count": "#,##0",
    "expected": "#,##0.0",
    "percent": "0.0%",
    "probability": f'[>0.99]"{CHANCE_HIGH}";[<0.01]"{CHANCE_LOW}";0.00',
    "score": "0.0000",
    "ratio": "0.00",
    "number": "#,##0.0##",
}
DEFAULT_WIDTHS = (6, 50)

_RED, _PINK, _GREY = "C00000", "FDE9E7", "E7E6E6"
_FONT = "Calibri"  # the workbook's own (pandas and openpyxl write the cells in it)
_YEAR_NAMES = {"year", "horizon", "base_year", "first_year", "last_year"}


@dataclass
class Sheet:
    """A table with what its sheet shows besides: a ``title`` (office workbooks;
    default the sheet's name) and ``totals``, the columns summed in a bold row
    labelled ``label`` under the data (written as values, never as formulas)."""

    frame: pd.DataFrame
    title: str | None = None
    totals: Sequence[str] = field(default_factory=tuple)
    label: str = TOTAL_LABEL


# ------------------------------------------------------------------ the rules


def column_kind(name, values: pd.Series | None = None) -> str | None:
    """What a column holds, by its name (MODEL.md §3 names and the Vietnamese
    headers): ``year, count, expected, percent, probability, score, ratio, number``,
    or None (text, or a column of mixed values: left as it is)."""
    if values is not None and not (pd.api.types.is_numeric_dtype(values.dtype)
                                   and not pd.api.types.is_bool_dtype(values.dtype)):
        return None
    text = str(name).strip().casefold()
    integers = values is not None and pd.api.types.is_integer_dtype(values.dtype)
    if text in _YEAR_NAMES or text.startswith("năm"):
        return "year"
    if (text.startswith(("p_", "xác suất")) or re.search(r"_p\d+$", text)
            or text in ("mean_forecast", "observed_frequency")):
        return "count" if integers else "probability"  # whole numbers: a 0/1 rule, not a chance
    if text in ("brier", "log_score"):
        return "score"
    if text.startswith("brier_vs"):
        return "ratio"
    if (text.startswith(("share", "observed_share", "tỷ lệ", "chênh lệch")) or "coverage" in text
            or text == "gain" or text.endswith(("_rate", "(%)"))):
        return "percent"
    if ("expected" in text or text.startswith(("realised", "ets_", "dự kiến")) or "kỳ vọng" in text
            or text.endswith(("_mean",))):
        return "expected"
    if integers:
        return "count"
    if values is not None:
        finite = values.to_numpy(dtype=float)
        finite = finite[np.isfinite(finite)]
        if finite.size and np.array_equal(finite, np.round(finite)):
            return "count"
    return "number" if values is not None else None


def chance_value(value):
    """A probability the briefing's way, for a value among text (the explorer's
    "Kịch bản" sheet; a column of chances keeps numbers): 0.8234 → 0.82, 0.9996 →
    "> 0,99", 0.003 → "< 0,01" (0 stays 0, NaN stays NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return value
    value = float(value)
    if value > 0.99:
        return CHANCE_HIGH
    if 0 < value < 0.01:
        return CHANCE_LOW
    return round(value, 2)


def formats_of(frame: pd.DataFrame, *, overrides: dict | None = None) -> dict[int, str]:
    """Column position → number format (only the columns that get one)."""
    out = {}
    for i, name in enumerate(frame.columns):
        if overrides and name in overrides:
            out[i] = overrides[name]
            continue
        kind = column_kind(name, frame.iloc[:, i])
        if kind is not None:
            out[i] = FORMATS[kind]
    return out


# ------------------------------------------------------------------- widths


def _shown(values: pd.Series, fmt: str | None) -> int:
    """About how many characters the widest value of a column takes on screen."""
    array = values.to_numpy()
    if fmt is None or array.dtype.kind not in "iuf":
        lengths = [len(str(v)) for v in array if v is not None and not (isinstance(v, float) and v != v)]
        return max(lengths, default=0)
    numbers = array.astype(float)
    numbers = numbers[np.isfinite(numbers)]
    if not numbers.size:
        return 0
    big = float(np.abs(numbers).max())
    sign = int((numbers < 0).any())
    if fmt == FORMATS["percent"]:
        return len(f"{100 * big:,.1f}%") + sign
    if fmt.startswith("[>"):
        return len(CHANCE_HIGH)
    decimals = len(fmt.rsplit(".", 1)[1].rstrip("%")) if "." in fmt else 0
    text = f"{big:,.{decimals}f}" if "," in fmt else f"{big:.{decimals}f}"
    return len(text) + sign


def header_lines(header: str, width: float) -> int:
    """Lines a wrapped header takes in a column ``width`` characters wide."""
    return max(1, len(textwrap.wrap(str(header), max(1, int(width) - 1), break_long_words=True)))


def column_width(header, values: pd.Series, fmt: str | None, bounds=DEFAULT_WIDTHS) -> float:
    """A column's width: its widest value, and its header on at most a few lines."""
    low, high = bounds
    words = max((len(w) for w in str(header).split()), default=0)
    content = max(_shown(values, fmt), words, min(len(str(header)), 14))
    return float(min(high, max(low, content + 2)))


# -------------------------------------------------------------------- style


def style_sheet(ws, frame: pd.DataFrame, *, office: bool, synthetic: bool,
                totals: Sequence[str] = (), label: str = TOTAL_LABEL, overrides: dict | None = None,
                widths=DEFAULT_WIDTHS, freeze: bool = True) -> None:
    """Style a sheet written by pandas (the header in row 1, or row 2 under the
    title row of an office sheet; the totals row, if any, already under the data)."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    head = 2 if office else 1
    n, k = len(frame), len(frame.columns)
    last = get_column_letter(max(k, 1))
    formats = formats_of(frame, overrides=overrides)
    bold = Font(name=_FONT, bold=True)
    right = Alignment(horizontal="right")
    thin = Side(style="thin", color="808080")
    # ---- the title row (office)
    if office:
        cell = ws.cell(row=1, column=1)
        cell.font = Font(name=_FONT, bold=True, size=12, color=_RED if synthetic else None)
        cell.alignment = Alignment(vertical="center")
        if synthetic:
            for j in range(1, max(k, 1) + 1):
                ws.cell(row=1, column=j).fill = PatternFill("solid", fgColor=_PINK)
        ws.row_dimensions[1].height = 21
    # ---- header
    header_fill = PatternFill("solid", fgColor=_GREY)
    for j in range(1, k + 1):
        cell = ws.cell(row=head, column=j)
        cell.font = bold
        cell.fill = header_fill
        cell.border = Border(bottom=thin)
        cell.alignment = Alignment(wrap_text=True, vertical="center",
                                   horizontal="right" if j - 1 in formats else "left")
    # ---- columns: width, number format, alignment; long text wraps
    lines = 1
    wrapped: list[int] = []
    for j, name in enumerate(frame.columns):
        fmt = formats.get(j)
        width = column_width(name, frame.iloc[:, j], fmt, widths)
        ws.column_dimensions[get_column_letter(j + 1)].width = width
        lines = max(lines, header_lines(name, width))
        if fmt is not None:
            number = text = None  # the first cell styled, the others copy its style (faster)
            for (cell,) in ws.iter_rows(min_row=head + 1, max_row=head + n + (1 if totals else 0),
                                        min_col=j + 1, max_col=j + 1):
                if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                    if number is None:
                        cell.number_format = fmt
                        number = cell._style
                    else:
                        cell._style = copy(number)
                elif isinstance(cell.value, str):  # text among the numbers: aligned with them
                    if text is None:
                        cell.alignment = right
                        text = cell._style
                    else:
                        cell._style = copy(text)
        else:
            if _shown(frame.iloc[:, j], None) > width - 2:
                wrapped.append(j)
            if j - 1 in formats:  # text right after right-aligned numbers: a little space between
                for (cell,) in ws.iter_rows(min_row=head, max_row=head + n, min_col=j + 1, max_col=j + 1):
                    cell.alignment = Alignment(horizontal="left", indent=1, wrap_text=cell.alignment.wrap_text,
                                               vertical=cell.alignment.vertical)
    ws.row_dimensions[head].height = 15 * min(lines, 5)
    for j in wrapped:  # rows as high as their wrapped text, every cell of them at the top
        width = ws.column_dimensions[get_column_letter(j + 1)].width
        for r, (cell,) in enumerate(ws.iter_rows(min_row=head + 1, max_row=head + n,
                                                 min_col=j + 1, max_col=j + 1), start=head + 1):
            cell.alignment = Alignment(wrap_text=True, vertical="top", indent=cell.alignment.indent,
                                       horizontal=cell.alignment.horizontal)
            if isinstance(cell.value, str) and header_lines(cell.value, width) > 1:
                height = 15 * header_lines(cell.value, width)
                ws.row_dimensions[r].height = max(ws.row_dimensions[r].height or 15, height)
                for other in ws[r]:
                    if other.alignment.vertical is None:
                        other.alignment = Alignment(vertical="top", horizontal=other.alignment.horizontal)
    # ---- the totals row
    if totals:
        row = head + n + 1
        for j in range(1, k + 1):
            cell = ws.cell(row=row, column=j)
            cell.font = bold
            cell.border = Border(top=thin)
    # ---- frozen header, filter, print
    if freeze:
        ws.freeze_panes = f"A{head + 1}"
    if n > 1 and k > 2:  # a list to sort and filter (not a two-column notes sheet)
        ws.auto_filter.ref = f"A{head}:{last}{head + n}"
    ws.print_title_rows = f"1:{head}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = False
    ws.oddFooter.left.text = "&A"
    ws.oddFooter.right.text = "Trang &P / &N"
    if synthetic:
        ws.oddHeader.center.text = SYNTHETIC_TEXT
        ws.oddHeader.center.font = "-,Bold"
        ws.oddHeader.center.color = _RED
        ws.sheet_properties.tabColor = _RED


def title_text(title: str, synthetic: bool) -> str:
    """An office sheet's title row: the mark first when the data are synthetic."""
    return f"{SYNTHETIC_TEXT} · {title}" if synthetic else title


def totals_row(frame: pd.DataFrame, columns: Sequence[str], label: str = TOTAL_LABEL) -> pd.DataFrame:
    """One row: ``label`` in the first column, the sums of ``columns``."""
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise KeyError(f"no column {unknown} to add up")
    row = {c: None for c in frame.columns}
    row[frame.columns[0]] = label
    for c in columns:
        row[c] = frame[c].sum()
    return pd.DataFrame([row], columns=frame.columns)
