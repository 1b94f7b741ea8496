"""Rows of a report that are not data — a total at its end, a subtotal or a group
heading inside it (each named in a warning, not read) — and the two small helpers
every reader shares: a blank value, a row's number as Excel shows it."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .exceptions import DataWarning
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
        warnings.warn(f"{name}, row {_excel_row(frame.index[-1])}: a total row ('{normalise_text(texts[0])}'), "
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
    warnings.warn(f"{name}: {len(group)} row{'s' if len(group) > 1 else ''} of a report's grouping (a subtotal or a "
                  f"group heading, no id) not read as data: {shown}{' …' if len(group) > 4 else ''}",
                  DataWarning, stacklevel=4)
    return frame.drop(index=[i for i, _ in group])
