"""Atomic writes: a file appears whole or not at all, and what was there survives a
failed run."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pandas as pd

from .exceptions import ParameterError

TABLE_SUFFIXES = (".csv", ".xlsx")
_UMASK = os.umask(0)
os.umask(_UMASK)


def check_table_path(path: str | Path) -> Path:
    """The path, if it ends in .csv or .xlsx (ParameterError otherwise)."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ParameterError(f"{path}: the output must end in .csv or .xlsx")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_table(tables: pd.DataFrame | dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Write one table (CSV or XLSX) or several (XLSX, a sheet each; CSV: the first).

    Sheet names are cut to Excel's 31 characters; CSV floats are rounded to 10 decimals.
    """
    path = check_table_path(path)
    if isinstance(tables, pd.DataFrame):
        tables = {"data": tables}
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            frame = next(iter(tables.values()))
            floats = frame.select_dtypes("float").columns
            if len(floats):  # 10 decimals: far below any figure shown, and a much faster write
                frame = frame.assign(**{c: frame[c].round(10) for c in floats})
            frame.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
        else:
            with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
                for name, frame in tables.items():
                    frame.to_excel(writer, sheet_name=_sheet_name(name), index=False)
    return path


def _sheet_name(name: str) -> str:
    for bad in "[]:*?/\\":
        name = name.replace(bad, "-")
    return name[:31] or "sheet"
