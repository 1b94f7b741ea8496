"""A CSV read by pyarrow's multi-threaded reader exactly as pandas would read it, or
not at all (:func:`read_csv_arrow` returns None where the two could differ, and
:mod:`nq21model.tables` reads the file with pandas), possibly read ahead while the
program's libraries import (:func:`read_ahead`); the encoding and the separator to
read a CSV with; a text column held by pyarrow and its distinct values. No pandas at
import: the command line reads ahead before pandas imports."""
from __future__ import annotations

import re
from pathlib import Path

#: The tables :func:`read_ahead` is reading: file → future of (separator, stat, table or None).
_AHEAD: dict = {}


def read_ahead(paths) -> None:
    """Start reading the CSV files among ``paths`` on another thread — pyarrow's
    reader lets go of the GIL, so a command reads its files while pandas imports —
    every column's type inferred. :func:`read_csv_arrow` takes such a table when it
    reads the same file, unchanged, with the same separator, and its text columns came
    out as text; otherwise (and after any failure here) the file is read as usual.
    :func:`forget_read_ahead` drops what was not taken."""
    files = [Path(p) for p in paths  # a file, not a pipe: what a pipe gives is read once
             if p is not None and Path(p).suffix.lower() in (".csv", ".txt") and Path(p).is_file()]
    if not files:
        return
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.csv  # noqa: F401  (imported here, not on both threads at once)

    pool = ThreadPoolExecutor(1, thread_name_prefix="nq21model-read")
    files = {path.resolve(): path.stat().st_size for path in files}  # a file named twice is read once
    for path in sorted(files, key=files.get, reverse=True):  # the largest first: the most work waits on it
        _AHEAD[path] = pool.submit(_read_ahead, path)
    pool.shutdown(wait=False)


def _read_ahead(path: Path):
    try:
        stat = path.stat()
        if text_encoding(path) != "utf-8-sig":
            return None
        data = path.read_bytes()
        end = re.search(rb"[\r\n]", data)
        sep = separator(data[:end.start() if end else len(data)].decode("utf-8", "replace"))
        return sep, _unchanged(stat), _arrow_table(data, sep, (), threads=False)
    except Exception:  # noqa: BLE001 - the usual read meets the problem and names it
        return None


def forget_read_ahead() -> None:
    """Drop the tables :func:`read_ahead` read that no read took."""
    _AHEAD.clear()


def separator(first_line: str) -> str:
    """The separator of a CSV whose first line is ``first_line``: the commonest of ","
    (CSV), ";" (Excel's CSV where the list separator is ";") and tab (Excel's
    "Unicode Text")."""
    return max((",", ";", "\t"), key=first_line.count)


def read_csv_arrow(path: Path, sep: str, text: dict):
    """The CSV as pandas would read it (below), by pyarrow's multi-threaded reader —
    several times faster on a national file — or None where the two could differ
    (pandas then reads it): any quote (pyarrow accepts a quote left open at the end,
    as a cut-off download leaves it), ``0x`` (it reads "0x1F" as 31), a malformed or
    non-UTF-8 file, a second BOM, a blank or repeated header, a text column not read
    as text. Text columns (``text``) as strings, blanks kept as ""; count columns as
    inferred (a column not read as whole numbers is read again as text by the
    caller); a blank line stays a row, so that rows keep their Excel numbers.
    ``tests/test_reader_fuzz.py`` holds the two to the same results."""
    table = _ahead_table(path, sep, text)
    if table is None:
        table = _arrow_table(path.read_bytes(), sep, text)
    return None if table is None else table.to_pandas()


def _ahead_table(path: Path, sep: str, text):
    """The table :func:`read_ahead` read of ``path`` if it is the one
    :func:`_arrow_table` would read now, else None."""
    ahead = _AHEAD.pop(path.resolve(), None) if _AHEAD else None  # taken once: a second read reads again
    read = ahead.result() if ahead is not None else None
    if read is None or read[2] is None or read[0] != sep:
        return None
    _, seen, table = read
    if seen != _unchanged(path.stat()) or not _text_read_as_text(table, text):
        return None
    return table


def _unchanged(stat) -> tuple:
    """What tells a file unchanged: its inode, size, modification and change times (a
    time set back by ``cp -p`` or ``touch -r`` still moves the change time)."""
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _arrow_table(data: bytes, sep: str, text, threads: bool = True):
    """The table of :func:`read_csv_arrow` from the file's bytes, or None; columns
    not in ``text`` as inferred; on one thread (``threads=False``) while the program
    imports on the other core (on both, the parser took a third more CPU and slowed
    the imports)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    end = re.search(rb"[\r\n]", data)  # the header line ends at a CR or an LF, as pyarrow reads it
    body = end.end() if end else len(data)  # past the headers ("exited" has an x)
    if b'"' in data or any(data.find(x, body) >= 0 and data.find(b"0" + x, body) >= 0 for x in (b"x", b"X")):
        return None  # one byte first: memchr-fast where the two-byte search is not
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(data), read_options=pa_csv.ReadOptions(use_threads=threads),
            parse_options=pa_csv.ParseOptions(delimiter=sep, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(column_types={h: pa.string() for h in text}, null_values=[],
                                                  strings_can_be_null=False))  # no quotes: no quoted options
    except (pa.ArrowException, OSError):
        return None
    names = table.column_names
    if len(set(names)) != len(names) or any(not name.strip() for name in names) or names[0].startswith("\ufeff") \
            or any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types) \
            or not _text_read_as_text(table, text):
        return None
    return table


def _text_read_as_text(table, text) -> bool:
    """Whether every column of ``text`` is in ``table`` and read as text."""
    import pyarrow as pa

    return all(h in table.column_names and pa.types.is_string(table.schema.field(h).type) for h in text)


def text_encoding(path: Path) -> str:
    """The encoding to read a CSV in: "utf-16" for Excel's "Unicode Text" (UTF-16 with
    its byte order mark, whose header's Latin letters hold zero bytes — UTF-8 text
    never does; UTF-32 is not Excel's), else "utf-8-sig" (UTF-8, a BOM or none)."""
    with open(path, "rb") as fh:
        start = fh.read(200)
    utf16 = start[:2] in (b"\xff\xfe", b"\xfe\xff") and start[2:4] != b"\x00\x00" and b"\x00" in start[2:]
    return "utf-16" if utf16 else "utf-8-sig"


def arrow_text(values) -> bool:
    """Whether ``values`` (a Series) is text held by pyarrow (a CSV read by pyarrow)."""
    import pandas as pd

    return isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"


def arrow_filled(values) -> bool:
    """Whether ``values`` is :func:`arrow_text` with no value missing or empty: one
    look at its lengths, where a comparison with "" makes a mask of every row."""
    import pyarrow.compute as pc

    if not arrow_text(values):
        return False
    column = values.array.__arrow_array__()
    return column.null_count == 0 and (len(column) == 0 or pc.min(pc.binary_length(column)).as_py() > 0)


def arrow_all_clean(values) -> bool:
    """:func:`~nq21model.spelling.all_clean` of the distinct values of
    :func:`arrow_text` values, by pyarrow's hash table and its join: no Python
    string a value, no codes, no copy of the column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .spelling import joined_clean

    uniques = pc.unique(values.array.__arrow_array__())
    if uniques.null_count or len(uniques) == 0:  # a missing value: the slow way
        return False
    if pa.types.is_large_string(uniques.type):
        uniques = uniques.cast(pa.string())  # binary_join's kernels are for string lists
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(uniques)], pa.int32()), uniques), "\x00")
    return joined_clean(joined[0].as_py(), len(uniques))
