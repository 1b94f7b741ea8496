"""A CSV read by pyarrow's multi-threaded reader exactly as pandas would read it, or
not at all (:func:`read_csv_arrow` returns None where the two could differ, and
:mod:`nq21model.tables` reads the file with pandas); the encoding to read a CSV in;
a text column held by pyarrow and its distinct values."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd


def read_csv_arrow(path: Path, sep: str, text: dict) -> pd.DataFrame | None:
    """The CSV as pandas would read it (below), by pyarrow's multi-threaded reader —
    several times faster on a national file — or None where the two could differ
    (pandas then reads it): any quote (pyarrow accepts a quote left open at the end,
    as a cut-off download leaves it), ``0x`` (it reads "0x1F" as 31), a malformed or
    non-UTF-8 file, a second BOM, a blank or repeated header, a text column not read
    as text. Text columns (``text``) as strings, blanks kept as ""; count columns as
    inferred (a column not read as whole numbers is read again as text by the
    caller); a blank line stays a row, so that rows keep their Excel numbers.
    ``tests/test_reader_fuzz.py`` holds the two to the same results."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    data = path.read_bytes()
    end = re.search(rb"[\r\n]", data)  # the header line ends at a CR or an LF, as pyarrow reads it
    body = end.end() if end else len(data)  # past the headers ("exited" has an x)
    if b'"' in data or any(data.find(x, body) >= 0 and data.find(b"0" + x, body) >= 0 for x in (b"x", b"X")):
        return None  # one byte first: memchr-fast where the two-byte search is not
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(data), parse_options=pa_csv.ParseOptions(delimiter=sep, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(column_types={h: pa.string() for h in text}, null_values=[],
                                                  strings_can_be_null=False))  # no quotes: no quoted options
    except (pa.ArrowException, OSError):
        return None
    names = table.column_names
    if len(set(names)) != len(names) or any(not name.strip() for name in names) or names[0].startswith("\ufeff") \
            or any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types) \
            or any(h not in names or not pa.types.is_string(table.schema.field(h).type) for h in text):
        return None
    return table.to_pandas()


def text_encoding(path: Path) -> str:
    """The encoding to read a CSV in: "utf-16" for Excel's "Unicode Text" (UTF-16 with
    its byte order mark, whose header's Latin letters hold zero bytes — UTF-8 text
    never does; UTF-32 is not Excel's), else "utf-8-sig" (UTF-8, a BOM or none)."""
    with open(path, "rb") as fh:
        start = fh.read(200)
    utf16 = start[:2] in (b"\xff\xfe", b"\xfe\xff") and start[2:4] != b"\x00\x00" and b"\x00" in start[2:]
    return "utf-16" if utf16 else "utf-8-sig"


def arrow_text(values: pd.Series) -> bool:
    """Whether ``values`` is text held by pyarrow (a CSV read by pyarrow)."""
    return isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"


def arrow_uniques(values: pd.Series) -> list:
    """The distinct values of :func:`arrow_text` values (a missing one as None), by
    pyarrow's hash table: no codes, no copy of the column."""
    import pyarrow.compute as pc

    return pc.unique(values.array.__arrow_array__()).to_pylist()
