"""A CSV read by pyarrow's multi-threaded reader exactly as pandas would read it, or
not at all (:func:`read_csv_arrow` returns None where the two could differ, and
:mod:`nq21model.tables` reads the file with pandas)."""
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
