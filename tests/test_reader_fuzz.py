"""Differential fuzzing of the CSV readers: for any CSV text, ``load_dataset`` gives
the very same tables, adjustments — or the very same DataError message — whether
pyarrow's reader (``csv_arrow.read_csv_arrow``) reads the files or pandas' alone does.

The files are generated as bytes with the shapes offices produce: BOM, ``;``, CRLF
or CR line ends, blank lines and lines of separators anywhere, quoted fields with
separators, quotes and newlines, padded or NFD or Ð-spelt headers and values,
non-breaking spaces and tabs, numbers spelt every way, numeric-looking ids, empty
and repeated headers, extra columns, ragged rows, Latin-1 bytes, rows out of
order, repeated cell-years and gaps in years.
"""
from __future__ import annotations

import os
import tempfile
import unicodedata
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from readers import dataset_both_ways  # noqa: E402
EXAMPLES = int(os.environ.get("NQ21_FUZZ_EXAMPLES", "200"))  # 2000 or more to hunt

# ---------------------------------------------------------------- headers

CELL_HEADERS = {
    "cell_id": ["cell_id", "Mã chi bộ", "MA CHI BO", "ma_chi_bo"],
    "cell_name": ["cell_name", "Tên chi bộ"],
    "commune": ["commune", "Xã", "Xã, phường", "Phường"],
    "district": ["district", "Huyện", "Huyện, thành phố"],
    "cell_type": ["cell_type", "Loại", "Loại chi bộ"],
    "population": ["population", "Dân số", "DÂN SỐ"],
    "commune_2025": ["commune_2025", "Xã mới"],
    "secretary_is_village_head": ["secretary_is_village_head", "Bí thư là trưởng thôn"],
}
HISTORY_HEADERS = {
    "cell_id": ["cell_id", "Mã chi bộ"],
    "year": ["year", "Năm"],
    "local_members": ["local_members", "Đảng viên tại chỗ", "Dang vien tai cho"],
    "admitted": ["admitted", "Kết nạp"],
    "exited": ["exited", "Giảm"],
    "assigned_members": ["assigned_members", "Cán bộ xã cử đến"],
    "transferred_in": ["transferred_in", "Chuyển đến"],
}
EXTRA_HEADERS = ["cluster", "Ghi chú", "STT", "note", "", " ", "Unnamed: 3", "population", "Năm", "x.1"]

IDS = ["C1", "C2", "C03", "001", "1", "01", "1e3", "1.0", "nan", "NA", "null", "True", "-0", "+1", " 7 ",
       "Bản Nà", "Ðông", "Đông", "x,y", 'q"t', "a\nb", "\u00a0C1", "C1\t", "١٢", "0x1F", "N/A", ""]
TEXTS = ["Bản Nà", "Xã 1", "Tam Đường", "Sìn  Hồ", " padded ", "Ðông", "a,b", 'say "hi"', "two\nlines",
         "tab\tin", "nb\u00a0sp", "", "NA", "nan", "null", "123", "007", "+3", "1e3", "True", "x", "Na\r\nm"]
TYPES = ["thon", "ban", "to_dan_pho", "Thôn", "bản", "TDP", "khu phố", "xóm", " ấp ", "", "village", "NA"]
BOOLS = ["1", "0", "có", "không", "x", "", "yes", "TRUE", "false", "maybe", "NA", "1.0", " 1 "]
JUNK_NUMBERS = ["", "NA", "null", "nan", "N/A", "-0", "+0", "1e3", "0x1F", "1_000", "١٢", "１２", "true",
                "7.5", "12,5", "2,000", "123456789012345678901", "9223372036854775808", "-1", "1.234.567",
                "100000001", " ", "--1", "1 000", "1\u00a0000", "0.0", "-0.0", "+03", "00"]


def _spell(n: int, draw, style: int = 1) -> str:
    """A whole number as some office might write it; ``style`` 0 is a clean column
    (plain digits, now and then padded or hex), 1 anything goes."""
    plain = str(n)
    if style == 0:
        return draw(st.sampled_from([plain] * 12 + [f" {plain}", f"{plain} ", f"0{plain}", f"+{plain}", "-0", "00"]
                                    + [hex(n)] * HEX))
    options = [plain, plain, plain, f" {plain} ", f"{plain} ", f" {plain}", f"+{plain}", f"{plain}.0",
               f"0{plain}", f"{plain}.00", f"\u00a0{plain}", f"\t{plain}"] + [hex(n)] * HEX
    if n >= 1000:
        options.append(f"{n:,}".replace(",", "."))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(JUNK_NUMBERS))
    return draw(st.sampled_from(options))


def _decorate(text: str, draw) -> str:
    """Unicode and spacing variants of one header or value."""
    how = draw(st.integers(0, 12))
    if how == 1:
        return unicodedata.normalize("NFD", text)
    if how == 2:
        return text.replace("Đ", "\u00d0")
    if how == 3:
        return " " + text
    if how == 4:
        return text + "  "
    if how == 5:
        return text.replace(" ", "  ")
    if how == 6:
        return text.replace(" ", "\u00a0")
    if how == 7:
        return text + "\t"
    if how == 8:
        return text.upper()
    return text


# ---------------------------------------------------------------- tables


@st.composite
def _tables(draw):
    """(cells rows, history rows) as lists of lists of text, header first: often a
    valid pair (so that the history is read too), sometimes anything."""
    wild = draw(st.integers(0, 2)) == 0
    n = draw(st.integers(1, 5))
    ids = draw(st.lists(st.sampled_from(IDS if wild else IDS[:12]), min_size=n, max_size=n))
    if draw(st.integers(0, 3)):  # mostly distinct ids
        ids = list(dict.fromkeys(ids)) or ["C1"]
    # cells
    keys = ["cell_id", "cell_name", "commune", "cell_type", "population"]
    keys += draw(st.lists(st.sampled_from(["district", "commune_2025", "secretary_is_village_head"]),
                          max_size=2, unique=True))
    extras = draw(st.lists(st.sampled_from(EXTRA_HEADERS if wild else EXTRA_HEADERS[:4]), max_size=2))
    order = draw(st.permutations(keys + [f"extra{i}" for i in range(len(extras))]))
    header = []
    for k in order:
        if k.startswith("extra"):
            header.append(extras[int(k[5:])])
        else:
            header.append(_decorate(draw(st.sampled_from(CELL_HEADERS[k])), draw))
    cells = [header]
    styles = {k: draw(st.sampled_from([0, 0, 0, 1] if wild else [0])) for k in [*CELL_HEADERS, *HISTORY_HEADERS]}
    for cid in ids:
        row = []
        for k in order:
            if k == "cell_id":
                row.append(_decorate(cid, draw))
            elif k == "population":
                row.append(_spell(draw(st.integers(1, 3000)), draw, styles["population"]))
            elif k == "cell_type":
                row.append(draw(st.sampled_from(TYPES if wild else TYPES[:9])))
            elif k == "secretary_is_village_head":
                row.append(draw(st.sampled_from(BOOLS if wild else BOOLS[:8])))
            elif k.startswith("extra"):
                row.append(draw(st.sampled_from(TEXTS + JUNK_NUMBERS + ["1", "2", "03", "+3", "0x1F", " 4"])))
            else:
                row.append(_decorate(draw(st.sampled_from(TEXTS if wild else TEXTS[:11])), draw))
        cells.append(row)
    # history
    hkeys = ["cell_id", "year", "local_members", "admitted", "exited", "assigned_members"]
    if draw(st.booleans()):
        hkeys.append("transferred_in")
    horder = draw(st.permutations(hkeys)) if draw(st.integers(0, 3)) == 0 else hkeys
    hextras = draw(st.lists(st.sampled_from(["Ghi chú", "STT", "", "year", "cluster"]), max_size=1))
    history = [[_decorate(draw(st.sampled_from(HISTORY_HEADERS[k])), draw) for k in horder] + hextras]
    body = []
    for cid in (ids if not wild or draw(st.integers(0, 3)) else ids + ["ZZ"]):
        start = draw(st.integers(2018, 2021))
        years = list(range(start, start + draw(st.integers(1, 4))))
        if wild and draw(st.integers(0, 3)) == 0 and len(years) > 2:
            years.pop(1)  # a gap
        if wild and draw(st.integers(0, 3)) == 0:
            years.append(years[-1])  # a second row for a year
        members = draw(st.integers(0, 40))
        for j, y in enumerate(years):
            adm, ext, tin = (draw(st.integers(0, 3)) for _ in range(3))
            if j:
                members = max(0, members + adm + tin - ext)
            if j and draw(st.integers(0, 6)) == 0:
                members += draw(st.integers(0 if wild else -min(members, 2), 2))  # identity broken (reconcile's case)
            values = {"cell_id": _decorate(cid, draw), "year": _spell(y, draw, styles["year"]),
                      "local_members": _spell(max(members, 0), draw, styles["local_members"]),
                      "admitted": _spell(adm, draw, styles["admitted"]), "exited": _spell(ext, draw, styles["exited"]),
                      "assigned_members": _spell(draw(st.integers(0, 2)), draw, styles["assigned_members"]),
                      "transferred_in": _spell(tin, draw, styles["transferred_in"])}
            body.append([values[k] for k in horder] + [draw(st.sampled_from(["", "x", "1", "note, here"]))
                                                       for _ in hextras])
    if draw(st.integers(0, 3)) == 0:
        body = draw(st.permutations(body))  # out of order
    history += body
    return cells, history


@st.composite
def _render(draw, rows):
    """One table as CSV bytes, with awkward separators, quoting, line ends and lines;
    a wild table has stray quotes, ragged rows and lines, unquoted separators."""
    wild = draw(st.integers(0, 2)) == 0
    sep = ";" if draw(st.integers(0, 3)) == 0 else ","
    eol = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    mixed = draw(st.integers(0, 5)) == 0  # line ends differ from line to line
    lines = []
    for r, row in enumerate(rows):
        fields = []
        for value in row:
            must = any(c in value for c in (sep, '"', "\n", "\r"))
            quote = must or draw(st.integers(0, 7)) == 0
            if must and wild and draw(st.integers(0, 5)) == 0:
                quote = False  # malformed on purpose
            field = '"' + value.replace('"', '""') + '"' if quote else value
            if wild and draw(st.integers(0, 15)) == 0:  # a stray quote or space around the field
                quotes = ['"', ' "', '" '] if OPEN_QUOTE else []
                field = draw(st.sampled_from([" ", *quotes])) + field + draw(st.sampled_from(["", " ", *quotes[:1]]))
            fields.append(field)
        if r and wild and draw(st.integers(0, 10)) == 0:  # ragged row
            if draw(st.booleans()):
                fields = fields[:-1]
            else:
                fields.append(draw(st.sampled_from(["", "x", "9"])))
        lines.append(sep.join(fields))
    width = len(rows[0])
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):  # blank lines, lines of separators, whitespace lines
        filler = draw(st.sampled_from(["", "", sep * (width - 1), '""' + sep * (width - 1)]
                                      + ([sep * width, " ", sep * max(width - 2, 0), "\t", *OPEN_QUOTE] if wild else [])))
        lines.insert(draw(st.integers(1 if draw(st.integers(0, 9)) else 0, len(lines))), filler)
    if mixed:
        text = "".join(line + draw(st.sampled_from(["\n", "\r\n", "\r", "\r\r\n", "\n\r"])) for line in lines)
    else:
        text = eol.join(lines) + draw(st.sampled_from([eol, eol, "", eol * 2, eol * 3] + (OPEN_QUOTE if wild else [])))
    text = draw(st.sampled_from(BOMS)) + text
    data = text.encode("utf-8")
    if wild and draw(st.integers(0, 10)) == 0:  # a Latin-1 byte somewhere after the header
        at = draw(st.integers(len(data) // 2, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xe9", b"\xd0", b"\xa0", b"\xff"])) + data[at:]
    return data


def check_both_ways(folder, cells: bytes, history: bytes) -> None:
    """Both readers give the same tables and adjustments, or the same message (a
    crash of either fails)."""
    cp, hp = folder / "cells.csv", folder / "history.csv"
    cp.write_bytes(cells)
    hp.write_bytes(history)
    dataset_both_ways(cp, hp)


@st.composite
def _files(draw):
    cells, history = draw(_tables())
    return draw(_render(cells)), draw(_render(history))


HEX = 1  # 0 leaves out hexadecimal counts ("0x1F": pyarrow reads 31), to look for other faults
OPEN_QUOTE = ['"']  # [] leaves out a quote left open at the end of the file
BOMS = ["", "", "", "\ufeff", "\ufeff\ufeff"]
CELLS_OK = b"cell_id,cell_name,commune,cell_type,population\nC1,A,X,thon,100\n"
HISTORY_OK = b"cell_id,year,local_members,admitted,exited,assigned_members\nC1,2020,5,0,0,0\n"
#: Past the 8 KiB that the header's readline() decodes: only the CSV readers see what follows.
PAST_FIRST_CHUNK = b"\n" * 9000

#: The smallest inputs found where the readers part ways (each named for its fault).
KNOWN = {
    "hexadecimal count": (CELLS_OK.replace(b",100", b",0x1F"), HISTORY_OK),
    "hexadecimal count after a header ended by CR": (CELLS_OK.replace(b",100", b",0x1F").replace(b"population\n",
                                                                                               b"population\r"),
                                                      HISTORY_OK),
    "hexadecimal year after a header ended by CR": (CELLS_OK, HISTORY_OK.replace(b"2020", b"0x7E4")
                                                    .replace(b"assigned_members\n", b"assigned_members\r")),
    "hexadecimal year": (CELLS_OK, HISTORY_OK.replace(b"2020", b"0x7E4")),
    "quote open at the end of the file": (CELLS_OK.replace(b",100\n", b',"100'), HISTORY_OK),
    "quote open at the end, text column": (b'cell_id,commune,cell_type,population,cell_name\nC1,X,thon,100,"A\n',
                                           HISTORY_OK),
    "literal quote, then an open one": (b'cell_id,cell_type,population,commune,cell_name\nC1,thon,100,x"y,"A',
                                        HISTORY_OK),
    "two BOMs": (b"\xef\xbb\xbf\xef\xbb\xbf" + CELLS_OK, HISTORY_OK),
    "two BOMs, blank lines, semicolons": (b"\xef\xbb\xbf\xef\xbb\xbf\n\n" + CELLS_OK.replace(b",", b";"), HISTORY_OK),
    "not UTF-8 in a count, past 8 KiB": (CELLS_OK, HISTORY_OK + PAST_FIRST_CHUNK + b"C1,2021,5,0,0,\xe9\n"),
    "not UTF-8 in an ignored column, past 8 KiB": (
        CELLS_OK, b"cell_id,year,local_members,admitted,exited,assigned_members,STT\nC1,2020,5,0,0,0,1\n"
        + PAST_FIRST_CHUNK + b"C1,2021,5,0,0,0,\xe9\n"),
    "plus sign in a column of the user's own": (
        b"cell_id,cell_name,commune,cell_type,population,cluster\nC1,A,X,thon,100,+3\n", HISTORY_OK),
    # shapes that agree (kept so they stay so)
    "plus sign in a count": (CELLS_OK.replace(b",100", b",+100"), HISTORY_OK),
    "padded count": (CELLS_OK.replace(b",100", b", 100 "), HISTORY_OK),
    "not UTF-8 in a text column, past 8 KiB": (CELLS_OK + PAST_FIRST_CHUNK + b"C2,\xed\xa0\x80,X,thon,9\n",
                                               HISTORY_OK),
    "CR line ends, blank lines": (CELLS_OK.replace(b"\n", b"\r") + b"\r\r", HISTORY_OK.replace(b"\n", b"\r\n")),
    "history out of order, repeated year": (CELLS_OK, HISTORY_OK + b"C1,2019,5,0,0,0\nC1,2020,6,1,0,0\n"),
}


@pytest.mark.parametrize("kind", list(KNOWN))
def test_pyarrow_and_pandas_read_these_alike(tmp_path, kind):
    check_both_ways(tmp_path, *KNOWN[kind])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(files=_files())
def test_pyarrow_and_pandas_read_any_csv_alike(files):
    with tempfile.TemporaryDirectory() as folder:
        check_both_ways(Path(folder), *files)
