"""Output files: atomic writes (a file or folder appears whole or not at all, and what
was there survives a failed run) and the one writer of every output table, whose
cells a spreadsheet never runs as formulas (and whose XLSX look — number formats,
widths, frozen header, the synthetic-data mark, title and totals rows — is
:mod:`nq21model.styles`).

Spreadsheet safety: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return is a formula to Excel and LibreOffice when they open a CSV, and
openpyxl stores a string starting with ``=`` as a live formula. :func:`write_table`
writes every XLSX text cell as a string (never a formula, quote-prefixed when it
starts with one of those characters) and prefixes such a CSV cell with ``'``, as
OWASP's CSV-injection guidance recommends (a number such as ``-3.5`` stays as it is);
a carriage return inside a CSV cell becomes a (quoted) line feed, so that no cell
starts a row of its own.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import ParameterError

TABLE_SUFFIXES = (".csv", ".xlsx")
#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
#: Characters an XLSX file cannot hold (openpyxl refuses them).
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_UMASK_LOCK = threading.Lock()


# ---------------------------------------------------------------- file modes


def current_umask() -> int:
    """The process umask, read without changing it (``/proc/self/status``); where
    that file is missing, set and restored at once under a lock."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a new output file: what ``open()`` would give (0o666 less the umask)."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """Mode of a new output folder: what ``mkdir`` would give (0o777 less the umask)."""
    return 0o777 & ~current_umask()


# ------------------------------------------------------------- atomic writes


def check_table_path(path: str | Path) -> Path:
    """The path, if it ends in .csv or .xlsx and can be written (ParameterError
    otherwise: :func:`check_writable`)."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ParameterError(f"{path}: the output must end in .csv or .xlsx")
    return check_writable(path)


def check_writable(path: str | Path, *, folder: bool = False) -> Path:
    """``path`` if a command can write it — a file (a folder with ``folder``) whose
    folders exist or can be made — else ParameterError saying why. A command checks
    every output before it writes any, so that a path it cannot write stops it before
    its first file, not after (nothing half-written)."""
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        raise ParameterError(f"cannot write {path}: it is {'a file, not a folder' if folder else 'a folder'}")
    # a folder is written inside: the folder itself if it exists; else its first existing folder
    for where in ([path] if folder and path.exists() else []) + list(path.parents):
        if where.exists():
            if not where.is_dir():
                raise ParameterError(f"cannot write {path}: {where} is a file, not a folder")
            if not os.access(where, os.W_OK | os.X_OK):
                raise ParameterError(f"cannot write {path}: no permission to write in {where}")
            break
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
        os.chmod(tmp, file_mode())  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def staging_folder(beside: str | Path) -> Path:
    """A new empty folder in the folder ``beside`` (created if need be), on the same
    file system as what it will replace; the caller removes it."""
    beside = Path(beside)
    beside.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=beside))


def replace_folder(staged: str | Path, target: str | Path) -> Path:
    """Put the folder ``staged`` in the place of ``target`` (two renames on the same
    file system; the old ``target`` is removed only once the new one is in place,
    and put back if the swap fails)."""
    staged, target = Path(staged), Path(target)
    os.chmod(staged, folder_mode())  # mkdtemp makes 0700
    if not (target.exists() or target.is_symlink()):
        os.replace(staged, target)
        return target
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    try:
        os.replace(target, old / target.name)
        try:
            os.replace(staged, target)
        except BaseException:
            os.replace(old / target.name, target)
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
    return target


# ----------------------------------------------------------------- the writer


def neutralise(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: ``'`` before a leading ``=``, ``+``,
    ``-``, ``@``, tab or CR (not before a number such as ``-3.5``)."""
    if text and text[0] in FORMULA_STARTS and not (text[0] in "+-" and _NUMBER.fullmatch(text)):
        return "'" + text
    return text


def _csv_text(text: str) -> str:
    # Python's csv module (before 3.13) does not quote a CR when the line ends in LF
    # alone, so a CR inside a cell would start a new row: it becomes a quoted LF
    text = neutralise(text)
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _text_columns(frame: pd.DataFrame) -> list:
    return [i for i, dtype in enumerate(frame.dtypes)
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
                    or pd.api.types.is_datetime64_any_dtype(dtype)
                    or pd.api.types.is_timedelta64_dtype(dtype))]


#: Where a fix may change a column (a conservative look, far cheaper than a fix of each
#: value), as (a value's first characters, characters anywhere): a CSV cell that starts
#: as a formula does or holds a CR; an XLSX cell with a character XLSX cannot hold.
#: ASCII only: in UTF-8 their bytes are never part of another character's.
_CSV_MAY_CHANGE = ("=+-@\t\r", "\r")
_XLSX_MAY_CHANGE = ("", "".join(map(chr, [*range(0x09), 0x0b, 0x0c, *range(0x0e, 0x20)])))


def _may_change(column: pd.Series, look: tuple[str, str]) -> bool:
    """Whether some string of ``column`` starts with a character of ``look[0]`` or
    holds one of ``look[1]`` (a false yes only costs time): over an Arrow column's
    bytes (each value's first byte, then one search of them all), one search of the
    strings joined by newlines otherwise."""
    first, anywhere = look
    if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
        import pyarrow as pa

        starters = np.frombuffer(first.encode(), dtype=np.uint8)
        inside = re.compile(b"[" + re.escape(anywhere.encode()) + b"]") if anywhere else None
        for chunk in column.array.__arrow_array__().chunks:
            if chunk.buffers()[2] is None:  # no text at all
                continue
            wide = pa.types.is_large_string(chunk.type)
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64 if wide else np.int32)
            offsets = offsets[chunk.offset:chunk.offset + len(chunk) + 1]
            data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
            starts = offsets[:-1][offsets[1:] > offsets[:-1]] - offsets[0]
            if np.isin(data[starts], starters).any() or (inside and inside.search(data.tobytes())):
                return True
        return False
    values = column.astype(object).to_numpy()
    pattern = "|".join([f"^[{re.escape(first)}]"] * bool(first) + [f"[{re.escape(anywhere)}]"] * bool(anywhere))
    return re.search(pattern, "\n".join(v for v in values if isinstance(v, str)), re.M) is not None


def _map_text(frame: pd.DataFrame, fix, look: tuple[str, str]) -> pd.DataFrame:
    """``frame`` with ``fix`` applied to every string cell and string column label;
    a column is left as it is when :func:`_may_change` finds no string of it that a
    fix could change (``look``) — most are."""
    columns = [fix(c) if isinstance(c, str) else c for c in frame.columns]
    text = _text_columns(frame)
    if not text and columns == list(frame.columns):
        return frame
    frame = frame.copy()
    for i in text:
        if not _may_change(frame.iloc[:, i], look):
            continue
        values = frame.iloc[:, i].astype(object).to_numpy()
        frame.isetitem(i, pd.Series([fix(v) if isinstance(v, str) else v for v in values],
                                    index=frame.index, dtype=object))
    frame.columns = columns
    return frame


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as CSV (UTF-8, LF): by pyarrow's writer when every column is numbers
    or text (about ten times pandas' speed on 100,000 rows) — nothing quoted, or every
    text value quoted when one needs it — else by pandas (booleans, dates, mixed
    columns keep pandas' spelling). Floats as their shortest form (``1``, not ``1.0``)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    table = None
    # pandas writes a header row per level; one column's blank value would be a blank line
    if frame.columns.nlevels == 1 and frame.columns.is_unique and frame.shape[1] > 1:
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError):
            pass
    plain = table is not None and all(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t)
                                      or pa.types.is_large_string(t) for t in table.schema.types)
    if plain:
        for values, header in (("none", "none"), ("needed", "none"), ("needed", "needed")):
            try:  # "none" refuses a value holding a comma, a quote or a line break
                pa_csv.write_csv(table, path, pa_csv.WriteOptions(  # rows in large batches: a third faster
                    quoting_style=values, quoting_header=header, batch_size=65536))
                return
            except pa.ArrowInvalid:
                continue
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


def _xlsx_text(value: str) -> str:
    return _ILLEGAL_XLSX.sub("\ufffd", value)


def write_table(tables: pd.DataFrame | dict, path: str | Path, *, office: bool = False,
                synthetic: bool = False, formats: dict | None = None, freeze_header: bool = True,
                widths: tuple[int, int] | None = None) -> Path:
    """Write one table (CSV or XLSX) or several (XLSX, a sheet each; CSV: the first),
    atomically, with no cell a spreadsheet would run as a formula (module docstring).

    A table is a DataFrame or a :class:`nq21model.styles.Sheet` (a frame with its
    title and the columns of its totals row). Sheet names are made valid for Excel
    (no ``[]:*?/\\``, at most 31 characters, distinct ignoring case); CSV floats are
    rounded to 10 decimals, and a CSV is written as it always was (the options
    below are for XLSX).

    XLSX (:mod:`nq21model.styles`): number formats from the column names (``formats``
    {column: format} over them), columns sized to their content within ``widths``
    (lowest, highest; default 6–50), the header row frozen (``freeze_header``) and
    filtered, A4 landscape one page wide; ``synthetic`` marks every sheet "Dữ liệu
    mô phỏng" (printed page header, red tab; the title row of an office sheet);
    ``office`` adds a title row above the header and the totals rows of the sheets
    that ask for one. Probabilities stay numbers, shown the briefing's way ("> 0,99")
    by their number format.
    """
    from .styles import Sheet

    path = check_table_path(path)
    if not isinstance(tables, dict):
        tables = {"data": tables}
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            frame = next(iter(tables.values()))
            frame = frame.frame if isinstance(frame, Sheet) else frame
            floats = frame.select_dtypes("float").columns
            if len(floats):  # 10 decimals: far below any figure shown, and a much faster write
                frame = frame.assign(**{c: frame[c].round(10) for c in floats})
            _write_csv(_map_text(frame, _csv_text, _CSV_MAY_CHANGE), tmp)
        else:
            _write_xlsx(tables, tmp, office=office, synthetic=synthetic, formats=formats,
                        freeze_header=freeze_header, widths=widths)
    return path


def _write_xlsx(tables: dict, path: Path, *, office: bool, synthetic: bool, formats, freeze_header: bool,
                widths) -> None:
    from . import styles

    names = sheet_names(tables)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for key, table in tables.items():
            sheet = table if isinstance(table, styles.Sheet) else styles.Sheet(table)
            frame = _map_text(sheet.frame, _xlsx_text, _XLSX_MAY_CHANGE)
            frame.to_excel(writer, sheet_name=names[key], index=False, startrow=1 if office else 0)
            ws = writer.sheets[names[key]]
            totals = list(sheet.totals) if office else []
            if office:
                title = sheet.title if sheet.title is not None else str(key)
                ws.cell(row=1, column=1, value=_xlsx_text(styles.title_text(title, synthetic)))
            if totals:
                row = styles.totals_row(sheet.frame, totals, _xlsx_text(sheet.label))
                for j, value in enumerate(row.iloc[0], start=1):
                    if value is not None and not (isinstance(value, float) and np.isnan(value)):
                        ws.cell(row=len(frame) + 3, column=j, value=value.item() if hasattr(value, "item")
                                else value)
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str):
                        cell.data_type = "s"  # a string, never a formula
                        if cell.value[:1] in FORMULA_STARTS:
                            cell.quotePrefix = True  # and still text when edited in Excel
            styles.style_sheet(ws, frame, office=office, synthetic=synthetic, totals=totals,
                               overrides=formats, widths=widths or styles.DEFAULT_WIDTHS, freeze=freeze_header)


def sheet_names(keys, *, reserved=()) -> dict:
    """A valid, distinct Excel sheet name for each key: no ``[]:*?/\\``, no leading
    or trailing apostrophe, at most 31 characters, distinct ignoring case and from
    the ``reserved`` names."""
    out, taken = {}, {"history", *(str(r).casefold() for r in reserved)}  # Excel reserves "History"
    for key in keys:
        base = re.sub(r"[\[\]:*?/\\]", "-", _xlsx_text(str(key))).strip("'")[:31] or "sheet"
        name, n = base, 2
        while name.casefold() in taken:
            suffix = f" ({n})"
            name, n = base[: 31 - len(suffix)] + suffix, n + 1
        taken.add(name.casefold())
        out[key] = name
    return out


def write_tables(outputs: dict, **options) -> dict:
    """Write several table files ``{path: tables}`` (see :func:`write_table`, whose
    ``options`` apply to each) all or none: each is made in a staging folder beside
    it, and they are renamed into place only once every one is written.
    ParameterError if two paths would be the same file (also ignoring case, as on
    Windows or macOS). Returns {path: path}."""
    paths = [check_table_path(p) for p in outputs]
    seen: dict[str, Path] = {}
    for p in paths:
        other = seen.setdefault(str(p.resolve()).casefold(), p)
        if other is not p:
            raise ParameterError(f"two outputs would be the same file: {other} and {p}")
    folders: dict[Path, Path] = {}
    try:
        staged = {}
        for path, tables in zip(paths, outputs.values()):
            if path.parent not in folders:
                folders[path.parent] = staging_folder(path.parent)
            staged[path] = write_table(tables, folders[path.parent] / path.name, **options)
        for path, tmp in staged.items():
            os.replace(tmp, path)
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
    return {path: path for path in paths}


@contextlib.contextmanager
def table_written_meanwhile(tables, path: str | Path, **options):
    """Write ``tables`` to ``path`` (:func:`write_table` and its ``options``) on a side
    thread while the block runs — pyarrow's writer and numpy's work let go of the
    lock, so a second core writes a national CSV while the first computes — and put
    the file in place once both are done. An error in either (raised here) leaves
    ``path`` as it was."""
    path = check_table_path(path)
    folder = staging_folder(path.parent)
    failed: list[BaseException] = []

    def write():
        try:
            write_table(tables, folder / path.name, **options)
        except BaseException as exc:  # raised in the caller's thread
            failed.append(exc)

    writer = threading.Thread(target=write, name="nq21model-write")
    writer.start()
    try:
        yield path
        writer.join()
        if failed:
            raise failed[0]
        os.replace(folder / path.name, path)
    finally:
        writer.join()
        shutil.rmtree(folder, ignore_errors=True)
