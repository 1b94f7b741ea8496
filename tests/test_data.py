"""Loading and validation: accepted spellings, and a catalogue of bad input, each
with the message a user gets (file, Excel row, column as spelled, rule)."""
from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from conftest import make_tables, run_cli
from readers import assert_same, both_readers, dataset_both_ways
from nq21model.data import load_dataset, load_quotas
from nq21model.exceptions import DataError, DataWarning, ParameterError
from nq21model.forecast import forecast
from nq21model.scenario import Scenario
from nq21model.tables import _parse_int

VI_CELLS = {"cell_id": "Mã chi bộ", "cell_name": "Tên chi bộ", "commune": "Xã", "district": "Huyện",
            "cell_type": "Loại", "population": "Dân số"}
VI_HISTORY = {"cell_id": "Mã chi bộ", "year": "Năm", "local_members": "Đảng viên tại chỗ",
              "admitted": "Kết nạp", "exited": "Giảm", "assigned_members": "Cán bộ xã cử đến",
              "transferred_in": "Chuyển đến"}


def write(tmp_path, cells, history, suffix=".csv", **kw):
    cp, hp = tmp_path / f"cells{suffix}", tmp_path / f"history{suffix}"
    if suffix == ".csv":
        cells.to_csv(cp, index=False, **kw)
        history.to_csv(hp, index=False, **kw)
    else:
        cells.to_excel(cp, index=False, sheet_name="Chi bo")
        history.to_excel(hp, index=False, sheet_name="Lich su")
    return cp, hp


def errors_of(tmp_path, cells, history, **kw) -> str:
    cp, hp = write(tmp_path, cells, history)
    with pytest.raises(DataError) as info:
        load_dataset(cp, hp, **kw)
    return str(info.value)


# ------------------------------------------------------------------ accepted


def test_canonical_csv_loads(small_files):
    ds = load_dataset(*small_files)
    assert len(ds.cells) == 12 and ds.last_year == 2025 and not ds.synthetic
    assert ds.history["local_members"].dtype == "int64"


def test_vietnamese_headers_semicolon_and_bom(tmp_path):
    cells, history = make_tables()
    cp, hp = write(tmp_path, cells.rename(columns=VI_CELLS), history.rename(columns=VI_HISTORY),
                   sep=";", encoding="utf-8-sig")
    assert cp.read_bytes().startswith(b"\xef\xbb\xbf")
    ds = load_dataset(cp, hp)
    pd.testing.assert_frame_equal(ds.cells, load_dataset(*write(tmp_path, cells, history)).cells)


def test_headers_case_accents_spacing_normalised(tmp_path):
    cells, history = make_tables()
    odd = {"cell_id": "  MÃ CHI BỘ ", "cell_name": "ten chi bo", "commune": "XÃ", "district": "huyen",
           "cell_type": "Loai", "population": "Dân  số"}
    ds = load_dataset(*write(tmp_path, cells.rename(columns=odd), history))
    assert list(ds.cells.columns[:6]) == list(odd)


def test_xlsx_with_sheet_option(tmp_path):
    cells, history = make_tables()
    cp, hp = write(tmp_path, cells, history, suffix=".xlsx")
    ds = load_dataset(cp, hp, sheet="Chi bo", history_sheet="Lich su")
    assert len(ds.history) == len(history)


def test_nfd_names_and_eth_are_normalised(tmp_path):
    cells, history = make_tables()
    cells["district"] = [unicodedata.normalize("NFD", d) for d in cells["district"]]
    cells.loc[0, "district"] = cells.loc[0, "district"].replace("Đ", "\u00d0")
    cells.loc[2, "district"] = "Tam \u00d0ường"
    ds = load_dataset(*write(tmp_path, cells, history))
    assert set(ds.cells["district"]) == {"Tam Đường", "Sìn Hồ"}
    assert all(unicodedata.is_normalized("NFC", d) for d in ds.cells["district"])


def test_cell_type_spellings(tmp_path):
    cells, history = make_tables(n_cells=6)
    cells["cell_type"] = ["thôn", "Bản", "tổ dân phố", "TDP", "ban", "to_dan_pho"]
    ds = load_dataset(*write(tmp_path, cells, history))
    assert list(ds.cells["cell_type"]) == ["thon", "ban", "to_dan_pho", "to_dan_pho", "ban", "to_dan_pho"]


def test_transferred_in_is_optional(tmp_path):
    cells, history = make_tables()
    history["local_members"] -= history.groupby("cell_id")["transferred_in"].cumsum()
    history = history.drop(columns="transferred_in")
    ds = load_dataset(*write(tmp_path, cells, history))
    assert (ds.history["transferred_in"] == 0).all()


def test_bundled_data_is_marked_synthetic():
    ds = load_dataset()
    assert ds.synthetic and ds.synthetic_info.get("seed") is not None


# ----------------------------------------------------------- the catalogue

def _cells_case(mutate):
    def case(tmp_path):
        cells, history = make_tables()
        return errors_of(tmp_path, mutate(cells), history)
    return case


def _history_case(mutate):
    def case(tmp_path):
        cells, history = make_tables()
        return errors_of(tmp_path, cells, mutate(history))
    return case


def _set(frame, row, col, value):
    frame = frame.astype({col: object})
    frame.loc[row, col] = value
    return frame


CATALOGUE = {
    "missing column": (_cells_case(lambda c: c.drop(columns="population")),
                       ["cells.csv", "population [Dân số]", "required column is missing"]),
    "unknown header": (_cells_case(lambda c: c.rename(columns={"population": "Dân sô'"})),
                       ["cells.csv", "population [Dân số]", "required column is missing",
                        "row 1 has other headers: \"Dân sô'\""]),
    "duplicate cell_id": (_cells_case(lambda c: _set(c, 3, "cell_id", "C001")),
                          ["cells.csv", "row 5", "column 'cell_id'", "duplicate cell_id 'C001' (first at row 3)"]),
    "empty cell_id": (_cells_case(lambda c: _set(c, 0, "cell_id", "")),
                      ["cells.csv", "row 2", "column 'cell_id'", "empty value"]),
    "population zero": (_cells_case(lambda c: _set(c, 4, "population", 0)),
                        ["cells.csv", "row 6", "column 'population'", "must be > 0, found 0"]),
    "population not a number": (_cells_case(lambda c: _set(c, 1, "population", "nhiều")),
                                ["row 3", "column 'population'", "expected a whole number, found 'nhiều'"]),
    "unknown cell_type": (_cells_case(lambda c: _set(c, 2, "cell_type", "làng")),
                          ["row 4", "column 'cell_type'", "unknown cell type 'làng'"]),
    "history for unknown cell": (_history_case(lambda h: _set(h, 0, "cell_id", "ZZZ")),
                                 ["history.csv", "row 2", "column 'cell_id'", "cell 'ZZZ' is not in the cells.csv file"]),
    "negative count": (_history_case(lambda h: _set(h, 9, "assigned_members", -1)),
                       ["history.csv", "row 11", "column 'assigned_members'", "must be ≥ 0, found -1"]),
    "non-integer count": (_history_case(lambda h: _set(h, 9, "admitted", "2.5")),
                          ["row 11", "column 'admitted'", "expected a whole number, found '2.5'"]),
    "year gap": (_history_case(lambda h: h.drop(index=3)),
                 ["history.csv", "column 'year'", "cell 'C000': years jump from 2020 to 2022"]),
    "identity broken": (_history_case(lambda h: _set(h, 5, "local_members", h.loc[5, "local_members"] + 2)),
                        ["history.csv", "row 7", "column 'local_members'", "cell 'C000' 2023", "≠"]),
    "duplicate cell-year": (_history_case(lambda h: pd.concat([h, h.iloc[[2]]], ignore_index=True)),
                            ["column 'year'", "a second row for cell 'C000' in 2020"]),
    "empty year": (_history_case(lambda h: _set(h, 0, "year", "")),
                   ["row 2", "column 'year'", "expected a whole number, found ''"]),
}


@pytest.mark.parametrize("kind", list(CATALOGUE))
def test_bad_input_catalogue(tmp_path, kind):
    case, expected = CATALOGUE[kind]
    message = case(tmp_path)
    for part in expected:
        assert part in message, f"{kind}: {part!r} not in {message!r}"


def test_identity_message_says_the_numbers(tmp_path):
    cells, history = make_tables()
    history.loc[5, "local_members"] += 2
    message = errors_of(tmp_path, cells, history)
    prev = history.loc[4, "local_members"]
    r = history.loc[5]
    assert (f"local_members {r['local_members']} ≠ {prev} (end of 2022) + admitted {r['admitted']} + "
            f"transferred_in {r['transferred_in']} − exited {r['exited']} = {r['local_members'] - 2}") in message


def test_every_violation_of_a_file_at_once(tmp_path):
    cells, history = make_tables()
    cells = _set(_set(_set(cells, 0, "population", -5), 1, "cell_type", "làng"), 2, "population", "x")
    message = errors_of(tmp_path, cells, history)
    assert message.startswith("3 problems in the input:")
    assert "row 2" in message and "row 3" in message and "row 4" in message


def test_empty_file(tmp_path):
    cells, history = make_tables()
    cp, hp = write(tmp_path, cells, history)
    cp.write_bytes(b"")
    with pytest.raises(DataError, match="cells.csv: the file is empty"):
        load_dataset(cp, hp)


def test_header_without_rows(tmp_path):
    cells, history = make_tables()
    cp, hp = write(tmp_path, cells.iloc[:0], history)
    with pytest.raises(DataError, match="header but no rows"):
        load_dataset(cp, hp)


def test_wrong_sheet(tmp_path):
    cells, history = make_tables()
    cp, hp = write(tmp_path, cells, history, suffix=".xlsx")
    with pytest.raises(DataError, match=r"cells.xlsx: no sheet named 'Sheet9' \(sheets: Chi bo\)"):
        load_dataset(cp, hp, sheet="Sheet9")


def test_not_utf8(tmp_path):
    cells, history = make_tables()
    cells.loc[0, "cell_name"] = "Bản Nậm Cuổi"
    cp, hp = write(tmp_path, cells, history)
    cp.write_bytes(cp.read_text(encoding="utf-8").encode("cp1258", errors="replace"))  # an older Excel's "CSV"
    with pytest.raises(DataError, match="not UTF-8"):
        load_dataset(cp, hp)


def test_excel_unicode_text_reads_as_its_csv(tmp_path):
    """Excel's "Unicode Text (*.txt)" — UTF-16 with its byte order mark, tabs, CRLF —
    is how an older Excel keeps Vietnamese letters: read as the CSV it came from, and
    a bad value is named by its row as Excel numbers it."""
    from nq21model import config

    txt = {}
    for key, source in (("cells", config.CELLS_FILE), ("history", config.HISTORY_FILE)):
        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        txt[key] = tmp_path / f"{key}.txt"
        frame.to_csv(txt[key], sep="\t", index=False, encoding="utf-16", lineterminator="\r\n")
    assert txt["cells"].read_bytes()[:2] == b"\xff\xfe"
    ours, theirs = load_dataset(txt["cells"], txt["history"], totals=False), \
        load_dataset(config.CELLS_FILE, config.HISTORY_FILE, totals=False)
    pd.testing.assert_frame_equal(ours.cells, theirs.cells)
    pd.testing.assert_frame_equal(ours.history, theirs.history)
    frame = pd.read_csv(config.CELLS_FILE, dtype=str, keep_default_na=False)
    frame.loc[6, "population"] = "nhiều"
    frame.to_csv(txt["cells"], sep="\t", index=False, encoding="utf-16", lineterminator="\r\n")
    with pytest.raises(DataError, match="cells.txt, row 8, column 'population': expected a whole number, found"):
        load_dataset(txt["cells"], txt["history"], totals=False)
    broken = txt["cells"].read_bytes()
    txt["cells"].write_bytes(broken[:-3])  # cut inside a character
    with pytest.raises(DataError, match=r"begins as UTF-16 text \(Excel's Unicode Text\) but cannot be read"):
        load_dataset(txt["cells"], txt["history"], totals=False)
    txt["cells"].write_bytes(b"\xff\xfe" + config.CELLS_FILE.read_bytes())  # not UTF-16 for two bytes
    with pytest.raises(DataError, match="not UTF-8 text"):
        load_dataset(txt["cells"], txt["history"], totals=False)


def test_unsupported_extension_and_missing_file(tmp_path, small_files):
    cp, hp = small_files
    other = tmp_path / "cells.json"
    other.write_text("{}")
    with pytest.raises(DataError, match="expected a .csv or .xlsx file"):
        load_dataset(other, hp)
    with pytest.raises(DataError, match="file not found"):
        load_dataset(tmp_path / "nope.csv", hp)


def test_base_year_outside_history(small_files):
    ds = load_dataset(*small_files)
    with pytest.raises(DataError, match=r"base year 2030 is outside the history \(2018–2025\)"):
        forecast(ds, base_year=2030)


def test_horizon_at_or_before_base_year(small_files):
    ds = load_dataset(*small_files)
    with pytest.raises(ParameterError, match="horizon 2025 is at or before the base year 2025"):
        forecast(ds, horizons=[2025])


@pytest.mark.parametrize("field,value", [("admission_rate", 1.5), ("admission_rate", -0.1),
                                         ("attrition_rate", 1.0), ("attrition_rate", -0.01)])
def test_rates_outside_unit_interval(field, value):
    with pytest.raises(ParameterError, match="must be in"):
        Scenario(**{field: value})


def test_quota_file_for_unknown_cell(tmp_path, small_files):
    ds = load_dataset(*small_files)
    qp = tmp_path / "quotas.csv"
    pd.DataFrame({"cell_id": ["C000", "NOPE"], "year": [2026, 2026], "quota": [1, 2]}).to_csv(qp, index=False)
    with pytest.raises(DataError, match="quotas.csv, row 3, column 'cell_id': cell 'NOPE' is not in the cells file"):
        load_quotas(qp, ds.cells)


def test_quota_allocation_needs_every_cell_and_year(tmp_path, small_files):
    ds = load_dataset(*small_files)
    qp = tmp_path / "quotas.csv"
    pd.DataFrame({"cell_id": ["C000"], "year": [2026], "quota": [1]}).to_csv(qp, index=False)
    scen = Scenario(allocation="quota", quotas=load_quotas(qp, ds.cells))
    with pytest.raises(DataError, match="no quotas for year"):
        forecast(ds, scen, horizons=[2027])


def test_repeated_header(tmp_path):
    cells, history = make_tables()
    cells["Dân số"] = cells["population"]
    message = errors_of(tmp_path, cells, history)
    assert "cells.csv, row 1, column 'Dân số': a second column for 'population' (first: 'population')" in message
    cells, history = make_tables()
    twice = pd.concat([cells, cells[["population"]]], axis=1)  # the very same header twice
    message = errors_of(tmp_path, twice, history)
    assert "cells.csv, row 1, column 'population': a second column named like 'population'" in message


def test_huge_numbers_are_named_not_crashing(tmp_path):
    cells, history = make_tables()
    cells = _set(cells, 0, "population", "123456789012345678901234")
    message = errors_of(tmp_path, cells, history)
    assert "cells.csv, row 2, column 'population': 123456789012345678901234 is too large" in message


def test_ids_that_lost_their_leading_zeros(tmp_path):
    cells, history = make_tables()
    cells["cell_id"] = [f"{i:03d}" for i in range(len(cells))]
    history["cell_id"] = history["cell_id"].str[1:].astype(int).astype(str)  # '000' -> '0', '001' -> '1'
    message = errors_of(tmp_path, cells, history)
    assert message == (f"{len(history)} problems in the input:\n  - history.csv, row 2, column 'cell_id': cell '0' "
                       "is not in the cells.csv file (did Excel drop the leading zeros of '000'? store ids as text) "
                       f"— and {len(history) - 1} more like it (rows 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, …)")
    # the other way round: the cells file lost them, the history kept them
    cells["cell_id"], history["cell_id"] = cells["cell_id"].str.lstrip("0").replace("", "0"), \
        history["cell_id"].str.zfill(3)
    (tmp_path / "other").mkdir()
    message = errors_of(tmp_path / "other", cells, history)
    assert "cell '000' is not in the cells.csv file (the cells.csv file writes it '0': did Excel drop its leading " \
           "zeros there? store ids as text)" in message


def test_an_old_xls_or_a_locked_workbook_says_what_to_do(tmp_path):
    cells, history = make_tables()
    old = tmp_path / "cells.xlsx"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))  # an OLE file's header
    history.to_csv(tmp_path / "history.csv", index=False)
    with pytest.raises(DataError, match=r"cells.xlsx: an Excel 97–2003 workbook \(.xls\) under an .xlsx name, or a "
                                        r"workbook with a password to open: open it in Excel and save it as"):
        load_dataset(old, tmp_path / "history.csv")


def test_many_problems_of_one_kind_make_one_line(tmp_path):
    """A mark in the admissions of most rows (an office's "x" for "not known") was a
    line per row: now one line says it and where, and other kinds still show."""
    cells, history = make_tables()
    history = history.astype({"admitted": object})
    history.loc[1::2, "admitted"] = "x"
    history = _set(history, 0, "exited", "-1")
    message = errors_of(tmp_path, cells, history)
    marks = int((history["admitted"] == "x").sum())
    assert message.splitlines() == [
        f"{marks + 1} problems in the input:",
        "  - history.csv, row 2, column 'exited': must be ≥ 0, found -1",
        f"  - history.csv, row 3, column 'admitted': expected a whole number, found 'x' — and {marks - 1} more "
        "like it (rows 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, …)"]


def test_a_flow_written_blank_or_dash_is_none(tmp_path):
    """Offices write a year with no admission as a blank or "-" (a statistical
    table's "none"): read as 0, said once per column; a blank that meant "not known"
    breaks the yearly identity and is named there. A dash is none in every count
    (local members too); a blank local_members stays an error."""
    cells, history = make_tables()
    quiet = history.astype({"admitted": object, "exited": object, "local_members": object})
    none = quiet.index[(quiet["admitted"] == 0) & (quiet.index % 2 == 1)]
    quiet.loc[none, "admitted"] = ""
    quiet.loc[quiet["exited"] == 0, "exited"] = "-"
    paths = write(tmp_path, cells, quiet)
    with pytest.warns(DataWarning) as caught:
        data = load_dataset(*paths)
    said = [str(w.message) for w in caught]
    assert f"history.csv: column 'admitted': {len(none)} blank read as 0 (first at row {none[0] + 2})" in said
    dashes = int((quiet["exited"] == "-").sum())
    assert any(m.startswith(f"history.csv: column 'exited': {dashes} written '-' read as 0") for m in said)
    assert (data.history["admitted"].to_numpy() == history["admitted"].to_numpy()).all()
    assert (data.history["exited"].to_numpy() == history["exited"].to_numpy()).all()
    busy = history.index[(history["admitted"] > 0) & (history["year"] > history["year"].min())][0]
    unknown = quiet.copy()
    unknown.loc[busy, "admitted"] = ""  # not none: the count does not add up without it
    (tmp_path / "unknown").mkdir()
    with pytest.warns(DataWarning, match="read as 0"):
        message = errors_of(tmp_path / "unknown", cells, unknown)
    assert f"row {busy + 2}, column 'local_members'" in message and "admitted 0" in message
    # a minus sign is a negative count, never a dash; a dash is not none in the totals' stocks
    negative = history.astype({"admitted": object})
    negative.loc[3, "admitted"] = "\u22123"
    (tmp_path / "negative").mkdir()
    assert "row 5, column 'admitted': must be ≥ 0, found -3" in errors_of(tmp_path / "negative", cells, negative)
    from nq21model.model_tables import load_totals

    (tmp_path / "totals.csv").write_text("Đơn vị,Năm,Tổng số đảng viên,Kết nạp\nSìn Hồ,2025,-,-\n", encoding="utf-8")
    with pytest.raises(DataError, match="Tổng số đảng viên"):
        load_totals(tmp_path / "totals.csv")
    blank = quiet.copy()
    blank.loc[3, "local_members"] = ""
    (tmp_path / "blank").mkdir()
    with pytest.warns(DataWarning, match="read as 0"):
        message = errors_of(tmp_path / "blank", cells, blank)
    assert "column 'local_members': expected a whole number, found ''" in message


def test_blank_role_answers_stay_unknown(tmp_path):
    cells, history = make_tables()
    cells["village_head_is_member"] = ["có", "", "không"] * 4
    ds = load_dataset(*write(tmp_path, cells, history))
    assert ds.cells["village_head_is_member"].isna().sum() == 4
    assert ds.cells["village_head_is_member"].sum() == 4


def test_cells_with_different_year_spans(tmp_path):
    """Cells need not share years: C000 reports 2018–2019, C001 2022–2025; no year
    has both, and the tables still span 2018–2025 with gaps, not a crash."""
    cells, history = make_tables(n_cells=2)
    history = pd.concat([history[(history["cell_id"] == "C000") & (history["year"] <= 2019)],
                         history[(history["cell_id"] == "C001") & (history["year"] >= 2022)]])
    ds = load_dataset(*write(tmp_path, cells, history))
    assert ds.years == list(range(2018, 2026))
    panel = ds.panel("local_members")
    assert panel.shape == (2, 8) and panel.loc["C000", 2025] != panel.loc["C000", 2025]  # NaN
    # C000 ended in 2019 (dissolved): listed, not forecast; C001 is forecast from 2025
    res = forecast(ds, Scenario.textbook())
    assert list(res.cells["cell_id"]) == ["C001"]
    assert res.absent[["cell_id", "reason"]].values.tolist() == [["C000", "dissolved"]]
    # from base 2020 neither C000 (gone) nor C001 (not yet) … no cell has a row: a clear error
    with pytest.raises(DataError, match="no cell has history in base year 2020"):
        forecast(ds, Scenario.textbook(), base_year=2020)


def test_a_cell_with_no_history_is_listed_not_refused(tmp_path):
    cells, history = make_tables()
    ds = load_dataset(*write(tmp_path, cells, history[history["cell_id"] != "C004"]))
    res = forecast(ds, Scenario.textbook())
    assert "C004" not in set(res.cells["cell_id"])
    assert res.absent.set_index("cell_id").loc["C004", "reason"] == "not_yet"


def test_a_bad_year_is_reported_once(tmp_path):
    cells, history = make_tables()
    history = _set(history, 3, "year", "2020.5")
    message = errors_of(tmp_path, cells, history)
    assert "row 5, column 'year': expected a whole number, found '2020.5'" in message
    assert "years jump" not in message and message.count("C000") == 0


def test_thousands_points_are_read_the_vietnamese_way(tmp_path):
    cells, history = make_tables()
    cells = cells.astype({"population": object})
    cells.loc[0, "population"] = "2.000"
    cells.loc[1, "population"] = "12.345"
    cells.loc[2, "population"] = "3 500"
    ds = load_dataset(*write(tmp_path, cells, history))
    assert ds.cells["population"].tolist()[:3] == [2000, 12345, 3500]
    assert _parse_int("1.234.567") == 1234567
    cells.loc[3, "population"] = "2,000"
    with pytest.raises(DataError, match="'2,000' is ambiguous"):
        load_dataset(*write(tmp_path, cells, history))


def test_a_population_no_village_has_is_a_typing_slip(tmp_path):
    """5,000,000 residents (a typed extra zero or three) would take most of a budget
    split by population: refused, naming the row and the user's column."""
    cells, history = make_tables()
    cells = cells.astype({"population": object})
    cells.loc[3, "population"] = "5.000.000"
    message = errors_of(tmp_path, cells, history)
    assert ("cells.csv, row 5, column 'population': 5000000 is too large (at most 50,000: more than any "
            "village or residential group has — a typing slip?)") in message


def test_cell_types_by_other_names(tmp_path):
    cells, history = make_tables()
    cells = cells.astype({"cell_type": object})
    cells.loc[:3, "cell_type"] = ["khu phố", "Tiểu khu", "xóm", "TDP"]
    ds = load_dataset(*write(tmp_path, cells, history))
    assert ds.cells["cell_type"].tolist()[:4] == ["to_dan_pho", "to_dan_pho", "thon", "to_dan_pho"]


def test_reconcile_trusts_local_members_and_lists_every_adjusted_row(tmp_path):
    cells, history = make_tables()
    history = history.copy()
    history.loc[5, "local_members"] += 2      # two members the flows do not explain
    history.loc[20, "local_members"] -= 1     # one fewer
    cp, hp = write(tmp_path, cells, history)
    with pytest.raises(DataError, match="--reconcile"):
        load_dataset(cp, hp)
    ds = load_dataset(cp, hp, reconcile=True)
    adjusted = ds.adjustments.set_index("row")
    assert len(adjusted) >= 2
    up, down = adjusted.loc[7], adjusted.loc[22]                      # Excel rows (header = 1)
    assert up["column"] == "transferred_in" and up["adjusted"] - up["value"] == 2
    assert down["column"] == "exited" and down["adjusted"] - down["value"] == 1
    h = ds.history
    prev = h.groupby("cell_id")["local_members"].shift()
    ok = prev.notna()
    assert ((prev + h["admitted"] + h["transferred_in"] - h["exited"])[ok] == h["local_members"][ok]).all()
    out = tmp_path / "f.csv"
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--reconcile", "--out", out)
    assert proc.returncode == 0, proc.stderr
    listed = tmp_path / "f-reconciled.csv"
    assert str(listed) in proc.stdout and len(pd.read_csv(listed)) == len(ds.adjustments)
    # no --out: beside the office's history file, not in the project's outputs/
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--reconcile")
    beside = Path(hp).parent / f"{Path(hp).stem}-reconciled.csv"
    assert proc.returncode == 0 and str(beside) in proc.stdout and len(pd.read_csv(beside)) == len(ds.adjustments)


def test_village_cells_admitting_more_than_their_unit_is_a_warning(tmp_path):
    cells, history = make_tables()
    village = history.merge(cells[["cell_id", "district"]]).groupby(["district", "year"])[
        ["local_members", "admitted"]].sum().reset_index()
    totals = pd.DataFrame({"unit": village["district"], "year": village["year"],
                           "members": village["local_members"] * 2, "admitted": village["admitted"] + 5})
    totals.loc[3, "admitted"] = 0
    cp, hp = write(tmp_path, cells, history)
    totals.to_csv(tmp_path / "totals.csv", index=False)
    from nq21model.exceptions import DataWarning

    bad = village.loc[3]
    with pytest.warns(DataWarning, match=rf"village cells admitted more admissions than their unit's total in 1 "
                                         rf"unit-year \({bad['district']} {bad['year']}: {bad['admitted']} against 0\)"):
        ds = load_dataset(cp, hp)
    assert ds.totals is not None and ds.sources["totals"].endswith("totals.csv")
    # many unit-years: one line, not one each
    totals["members"] = totals["admitted"]                            # fewer than the cells' local members
    totals.to_csv(tmp_path / "totals.csv", index=False)
    with pytest.warns(DataWarning) as caught:
        load_dataset(cp, hp)
    said = [str(w.message) for w in caught if "more members" in str(w.message)]
    assert len(said) == 1 and "more)" in said[0], said
    assert int(said[0].split(" unit-years")[0].split()[-1]) >= len(totals)


# ------------------------------------------ pyarrow's reader and pandas' agree

def _awkward_files() -> dict:
    """CSV texts (cells, history) as offices write them: the clean case and shapes the
    fast reader must read as pandas does, or leave to it."""
    cells, history = make_tables()
    c, h = cells.to_csv(index=False), history.to_csv(index=False)
    head, *lines = h.splitlines()
    nfd = cells.assign(cell_name=[unicodedata.normalize("NFD", n) + "  " for n in cells["cell_name"]],
                       commune=["\u00d0ông  " + x for x in cells["commune"]])
    broken = _set(history, 20, "local_members", history.loc[20, "local_members"] + 1).to_csv(index=False)
    quoted = cells.assign(cell_name=['Chi bộ "bản", Nà\nTăm'] + list(cells["cell_name"][1:]))
    return {
        "clean": (c, h),
        "semicolons and BOM": ("\ufeff" + cells.rename(columns=VI_CELLS).to_csv(index=False, sep=";"),
                               "\ufeff" + history.rename(columns=VI_HISTORY).to_csv(index=False, sep=";")),
        "CRLF": (c.replace("\n", "\r\n"), h.replace("\n", "\r\n")),
        "blank lines": (c + "\n\n", "\n".join([head, *lines[:5], "", *lines[5:]]) + "\n"),
        "blank line, then a broken row": (c, "\n".join([head, *lines[:5], "", *broken.splitlines()[6:]]) + "\n"),
        "quoted comma and newline": (quoted.to_csv(index=False), h),
        "NFD, Ð, doubled spaces": (nfd.to_csv(index=False), h),
        "thousands points": (_set(cells, 0, "population", "2.000").to_csv(index=False), h),
        "leading zeros": (cells.assign(cell_id=[f"0{i:02d}" for i in range(len(cells))]).to_csv(index=False),
                          history.assign(cell_id=history["cell_id"].str.replace("C", "0")).to_csv(index=False)),
        "trailing delimiter": ("\n".join(line + "," for line in c.splitlines()) + "\n", h),
        "repeated header": (pd.concat([cells, cells[["population"]]], axis=1).to_csv(index=False), h),
        "huge number": (_set(cells, 0, "population", "123456789012345678901234").to_csv(index=False), h),
        "ragged row": (c, h + "C001,2030,1,1,0,0,0,9\n"),
        "identity broken": (c, _set(history, 5, "local_members", history.loc[5, "local_members"] + 2)
                            .to_csv(index=False)),
        "blank count": (c, _set(history, 3, "admitted", "").to_csv(index=False)),
        "not UTF-8": (c, h.replace("C000", "C\xe9")),
        "groupings of codes and dates": (cells.assign(cum=["01", "002", "03"] * 4, since=["2025-07-01"] * 12)
                                         .to_csv(index=False), h),
    }


def test_another_grouping_is_text_as_written(tmp_path):
    """A column of the user's own (a cluster of villages) keeps its codes as written:
    "01" is not 1, a date is not a timestamp."""
    cells, history = make_tables()
    codes, dates = ["01", "002", "03"] * 4, ["2025-07-01"] * 12
    ds = load_dataset(*write(tmp_path, cells.assign(cum=codes, since=dates), history), totals=False)
    assert ds.cells["cum"].tolist() == codes and ds.cells["since"].tolist() == dates


@pytest.mark.parametrize("kind", list(_awkward_files()))
def test_pyarrow_reads_as_pandas_does(tmp_path, kind):
    """The fast CSV reader gives the very tables, adjustments and messages (Excel rows
    included) the pandas reader gives, on every awkward shape; the clean files are
    really read by it."""
    cells, history = _awkward_files()[kind]
    cp, hp = tmp_path / "cells.csv", tmp_path / "history.csv"
    cp.write_bytes(cells.encode("utf-8"))
    hp.write_bytes(history.encode("latin-1" if kind == "not UTF-8" else "utf-8"))
    by_arrow = dataset_both_ways(cp, hp)
    if kind in ("clean", "semicolons and BOM", "CRLF", "blank lines", "blank line, then a broken row", "NFD, Ð, doubled spaces", "identity broken"):
        assert by_arrow


def test_the_history_read_beside_the_cells_warns_after_them(tmp_path):
    """load_dataset reads and keys the history on another thread while the cells
    load; its warnings still come after the cells', as one file after the other."""
    import warnings

    cells, history = make_tables()
    cells = cells.assign(district="")  # the cells' warning: a column blank in every row
    history = history.assign(total_x="x")  # the history's: a column not read
    cp, hp = write(tmp_path, cells, history)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_dataset(cp, hp, totals=False)
    texts = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert [t.split(":")[0] for t in texts] == ["cells.csv", "history.csv"], texts
    assert "blank in every row" in texts[0] and "'total_x'" in texts[1]


def test_a_crash_of_the_history_thread_keeps_its_warnings(tmp_path, monkeypatch):
    """A bug met while the history is keyed beside the cells still shows the warnings
    the history gave before it, then the error itself."""
    import warnings

    from nq21model import data
    from nq21model.exceptions import warn

    def broken(path, sheet=None):
        warn("history.csv: a warning before the bug")
        raise RuntimeError("a bug")

    monkeypatch.setattr(data, "keyed_history", broken)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(RuntimeError, match="a bug"):
        warnings.simplefilter("always")
        load_dataset(*write(tmp_path, *make_tables()), totals=False)
    assert [str(w.message) for w in caught] == ["history.csv: a warning before the bug"]
    assert caught[0].filename.endswith("data.py")  # where the cells' warnings point too


def test_a_file_read_ahead_is_read_once_and_only_as_it_is_now(tmp_path, monkeypatch):
    """The command line's read-ahead (csv_arrow.read_ahead): its table is taken when the
    file is the same; a file changed since, or a text column pyarrow took for numbers
    ("001" ids), is read again, and every way gives the same tables."""
    import os

    from nq21model import csv_arrow

    cells, history = make_tables()
    cp, hp = write(tmp_path, cells, history)
    plain = load_dataset(cp, hp, totals=False)
    reads = []
    real = csv_arrow._arrow_table
    monkeypatch.setattr(csv_arrow, "_arrow_table", lambda *a, **k: reads.append(a[2]) or real(*a, **k))

    def load_ahead():
        reads.clear()
        csv_arrow.read_ahead([cp, hp])
        try:
            return load_dataset(cp, hp, totals=False)
        finally:
            csv_arrow.forget_read_ahead()

    ds = load_ahead()
    assert reads == [(), ()]  # each file once, by the read-ahead (every column's type inferred)
    pd.testing.assert_frame_equal(ds.cells, plain.cells)
    pd.testing.assert_frame_equal(ds.history, plain.history)
    csv_arrow.read_ahead([hp])
    csv_arrow._AHEAD[hp.resolve()].result()
    stat = hp.stat()
    hp.write_text(hp.read_text(encoding="utf-8").replace(",2025,", ",2025,", 1), encoding="utf-8")
    os.utime(hp, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # changed after the read-ahead
    reads.clear()
    assert csv_arrow._AHEAD and load_dataset(cp, hp, totals=False).history.equals(plain.history)
    assert sorted(map(len, reads)) == [1, 5] and not csv_arrow._AHEAD  # both read as usual
    numeric = cells.assign(cell_id=[f"{i:03d}" for i in range(1, len(cells) + 1)])
    ids = dict(zip(cells["cell_id"], numeric["cell_id"]))
    cp, hp = write(tmp_path, numeric, history.assign(cell_id=history["cell_id"].map(ids)))
    assert load_ahead().cells["cell_id"].tolist() == numeric["cell_id"].tolist()  # "001", not 1
    assert sorted(map(len, reads)) == [0, 0, 1, 5]  # read ahead, then again with their ids as text


@pytest.mark.parametrize("kind", list(CATALOGUE))
def test_pyarrow_and_pandas_give_the_catalogue_the_same_message(tmp_path, kind):
    case, _ = CATALOGUE[kind]
    (fast, slow), _ = both_readers(lambda: case(tmp_path))
    assert_same(fast, slow)


def test_a_first_row_longer_than_the_header_is_named(tmp_path):
    """pandas took the first column as an index (a crash); now one message."""
    cells, history = make_tables()
    cp, hp = write(tmp_path, cells, history)
    lines = cp.read_text(encoding="utf-8").splitlines()
    cp.write_text("\n".join([lines[0], lines[1] + ",7", *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="cells.csv, row 2: row 2 has more values than row 1 has headers"):
        load_dataset(cp, hp)


def test_digits_of_other_scripts_are_not_counts(tmp_path):
    cells, history = make_tables()
    for spelled in ("１２", "١٢"):
        with pytest.raises(DataError, match=f"expected a whole number, found '{spelled}'"):
            load_dataset(*write(tmp_path, _set(cells, 0, "population", spelled), history))


def test_a_panel_is_the_history_by_cell_and_year_in_any_row_order():
    """A history of every year of every cell, in the cells' order, is folded into the
    panel; any other order is placed row by row: both are the pivot of the history."""
    from nq21model.data import Dataset

    cells, history = make_tables(n_cells=7)
    shuffled = history.sample(frac=1, random_state=3).reset_index(drop=True)
    gap = history.drop(index=[3, 20]).reset_index(drop=True)
    for rows, folded in ((history, True), (shuffled, False), (gap, False)):
        ds = Dataset(cells=cells, history=rows, sources={})
        for column in ("local_members", "admitted"):
            pivot = rows.pivot(index="cell_id", columns="year", values=column).reindex(cells["cell_id"])
            pd.testing.assert_frame_equal(ds.panel(column), pivot.reindex(columns=ds.years), check_dtype=False,
                                          check_names=False, check_index_type=False, check_column_type=False)
        assert (ds.__dict__["_panels"]["_positions"] is None) == folded
