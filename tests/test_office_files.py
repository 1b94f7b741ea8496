"""What an office's own files do (a review with files the project did not make): a
unit written two ways, totals naming units another way, a population typed wrong,
outputs that cannot be written, workbooks of an earlier run, an Excel file left open."""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import ROOT, make_tables, run_cli
from nq21model.data import load_dataset
from nq21model.exceptions import DataError, DataWarning
from nq21model.spelling import _rests, same_unit_pairs, same_word, tone_key, unit_name_key


def _write(folder, cells, history, totals=None):
    folder.mkdir(parents=True, exist_ok=True)
    cells.to_csv(folder / "cells.csv", index=False)
    history.to_csv(folder / "history.csv", index=False)
    if totals is not None:
        totals.to_csv(folder / "totals.csv", index=False)
    return folder / "cells.csv", folder / "history.csv"


def test_unit_names_with_and_without_their_word():
    assert unit_name_key("TP. Lai Châu") == unit_name_key("Thành phố Lai Châu") == ("thành phố", "lai châu")
    assert unit_name_key("Sìn Hồ") == (None, "sìn hồ")
    assert unit_name_key("Xà Dề Phìn") == (None, "xà dề phìn")  # "Xà" is not "Xã"
    assert same_unit_pairs(["Sìn Hồ", "Huyện Sìn Hồ", "Xã Tam Đường", "Thị trấn Tam Đường", "TP Lai Châu",
                            "Thành phố Lai Châu"]) == [("Sìn Hồ", "Huyện Sìn Hồ"),
                                                       ("TP Lai Châu", "Thành phố Lai Châu")]
    # a tone placed the old or the new way is one name (a commune split in two by it); two tones, two names
    assert same_unit_pairs(["Xã Pa Khóa", "Xã Pa Khoá", "Xã Thủy Phong", "Xã Thuỷ Phong", "Xã Tà Tổng",
                            "Xã Tả Tổng", "Thị trấn Pa Khoá"]) == [("Xã Pa Khóa", "Xã Pa Khoá"),
                                                                   ("Xã Thủy Phong", "Xã Thuỷ Phong")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds("".join, st.lists(st.sampled_from(["Huyện", "huyện", "TP", "tp.", "Tx", "Xã", "Thị trấn",
                                                              " ", ".", "Sìn", "Hồ", "Xà", "\n", "\t", "\xa0",
                                                              "Khóa", "Khoá", "Thủy", "Thuỷ", "Pa"]),
                                            max_size=5)), max_size=8))
@example(["Xã Pa Khóa", "Pa Khoá", "Huyện Thủy", "Thuỷ", "Xã Thủy"])
def test_the_rests_in_one_pass_are_the_rests_name_by_name(names):
    """``same_unit_pairs`` keys a country's names in one pass over them joined: the
    same rest as :func:`unit_name_key` for every name, or no shortcut at all; the
    names it goes on with (those whose rest's tone key recurs) miss no pair — a tone
    placed the old or the new way ("Khóa", "Khoá") is one name."""
    rests = _rests(names)
    assert rests is None or rests == [unit_name_key(name)[1] for name in names]
    assert same_unit_pairs(names) == _pairs_name_by_name(names)


def _pairs_name_by_name(names):
    seen, pairs = {}, []
    for name in dict.fromkeys(names):
        prefix, rest = unit_name_key(name)
        rest = tone_key(rest)
        other = next((n for p, n in seen.get(rest, []) if same_word(prefix, p)), None)
        if other is not None:
            pairs.append((other, name))
        seen.setdefault(rest, []).append((prefix, name))
    return pairs


def test_a_district_written_two_ways_is_refused_not_split(tmp_path):
    """"Huyện Sìn Hồ" in some rows and "Sìn Hồ" in others made two districts, each
    with its own forecast, budget and quota workbook, and nothing said so."""
    cells, history = make_tables()
    cells.loc[[2, 4], "district"] = "Huyện Sìn Hồ"  # rows 4 and 6 of the file; "Sìn Hồ" first at row 2
    with pytest.raises(DataError) as info:
        load_dataset(*_write(tmp_path, cells, history))
    assert str(info.value) == ("cells.csv, row 4, column 'district': 'Huyện Sìn Hồ' and 'Sìn Hồ' (row 2) look "
                               "like one unit written two ways: write it one way in every row (else they make two "
                               "units)")
    proc = run_cli("forecast", "--cells", tmp_path / "cells.csv", "--history", tmp_path / "history.csv")
    assert proc.returncode == 2 and "look like one unit written two ways" in proc.stderr


def test_two_units_of_one_name_and_different_words_are_two_units(tmp_path):
    cells, history = make_tables()
    cells["commune"] = ["Xã Tam Đường" if i % 2 else "Thị trấn Tam Đường" for i in range(len(cells))]
    ds = load_dataset(*_write(tmp_path, cells, history))
    assert ds.cells["commune"].nunique() == 2


def test_totals_naming_a_unit_another_way_say_which(tmp_path):
    cells, history = make_tables()
    totals = pd.DataFrame({"unit": ["Huyện Sìn Hồ", "Tam Đường"], "year": [2025, 2025],
                           "members": [900, 800], "admitted": [30, 25]})
    with pytest.raises(DataError, match="totals.csv, column 'unit': 'Huyện Sìn Hồ' is not a unit of cells.csv: "
                                        "did you mean 'Sìn Hồ'?"):
        load_dataset(*_write(tmp_path, cells, history, totals))
    totals["unit"] = ["Sìn Hồ", "Mường Lay"]  # a unit the cells do not have at all: not used, and said
    _write(tmp_path, cells, history, totals)
    with pytest.warns(DataWarning, match="'Mường Lay' not a district or commune of cells.csv: its rows are not used"):
        load_dataset(tmp_path / "cells.csv", tmp_path / "history.csv")
    totals["unit"] = ["Sìn Hồ", "Toàn tỉnh"]
    _write(tmp_path, cells, history, totals)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        load_dataset(tmp_path / "cells.csv", tmp_path / "history.csv")
    # a cells file made after July 2025 (no districts) beside totals kept by the former
    # district "Sìn Hồ": the commune "Xã Sìn Hồ" is a guess, and the message says so
    post = cells.drop(columns="district").assign(commune=lambda f: f["commune"].where(f.index % 2 == 0, "Xã Sìn Hồ"))
    totals["unit"] = ["Sìn Hồ", "Toàn tỉnh"]
    with pytest.raises(DataError, match="did you mean 'Xã Sìn Hồ'.*; or, if it is the former district, cells.csv "
                                        r"has no districts \(they ended on 1 July 2025\): leave its rows out"):
        load_dataset(*_write(tmp_path, post, history, totals))


def test_budget_no_cell_can_take_is_said_not_dropped(tmp_path, capsys):
    """Populations typed too large (still under the limit) pull a budget split by
    population to one district whose cells cannot take it: the plan says how much is
    not placed and where, in the summary and in the unit's workbook."""
    from nq21model.allocate import allocate, format_summary
    from nq21model.quota_tables import quota_notes

    bundled = load_dataset()
    cells = bundled.cells.copy()
    typed = cells.index[cells["district"].eq(cells.loc[3, "district"])][:6]
    cells.loc[typed, "population"] = 49_000
    ds = load_dataset(*_write(tmp_path, cells, bundled.history))  # no totals: budgets by population
    a = allocate(ds)
    text = format_summary(a)
    assert int(a.plan.info["unplaced"]) > 0
    unit = cells.loc[3, a.unit_column]
    line = next(line for line in text.splitlines() if line.startswith("Not placed:"))
    assert line.startswith(f"Not placed: {int(a.plan.info['unplaced'])} admissions of the budget")
    assert f"— {unit} (" in line and "--pool lets other units take them" in line
    pooled = format_summary(allocate(bundled, pool=True, max_lift=1.0, admissions_per_year=1500))
    assert "--pool" not in next(line for line in pooled.splitlines() if line.startswith("Not placed:"))
    mask = (a.dataset.cells[a.unit_column] == unit).to_numpy()
    notes = quota_notes(a, unit, mask, a.unit_column).set_index("Mục")["Giá trị"]
    assert notes["Chưa giao được"].startswith(f"{int(a.plan.unit_unplaced[a.unit_names.index(unit)])} đảng viên")
    assert "Not placed" not in format_summary(allocate(bundled))


def test_an_output_that_cannot_be_written_stops_the_command_before_any_file(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    out = tmp_path / "out.xlsx"
    proc = run_cli("forecast", "--fixed-rates", "--horizon", "2030", "--out", out,
                   "--out-units", tmp_path / "blocker" / "units.csv")
    assert proc.returncode == 2 and not out.exists()
    assert f"cannot write {tmp_path / 'blocker' / 'units.csv'}: {tmp_path / 'blocker'} is a file, not a folder" \
        in proc.stderr
    proc = run_cli("allocate", "--out", tmp_path / "q.xlsx", "--workbooks", tmp_path / "blocker")
    assert proc.returncode == 2 and not (tmp_path / "q.xlsx").exists()
    assert f"cannot write {tmp_path / 'blocker'}: it is a file, not a folder" in proc.stderr


def test_workbooks_of_an_earlier_run_do_not_stay_beside_the_new_ones(tmp_path):
    folder = tmp_path / "wb"
    folder.mkdir()
    stale = folder / "chi_tieu_ket_nap_huyen-sin-ho.xlsx"  # a unit of an earlier run (written another way)
    stale.write_bytes(b"old")
    mine = folder / "ghi-chu.txt"  # not one of the tool's workbooks: kept
    mine.write_text("notes")
    run_cli("allocate", "--workbooks", folder, check=True)
    names = sorted(p.name for p in folder.iterdir())
    assert not stale.exists() and mine.exists()
    assert len(names) == 9 and "chi_tieu_ket_nap_sin-ho.xlsx" in names


def test_an_excel_input_is_closed(tmp_path):
    """Every run on an .xlsx printed "ResourceWarning: unclosed file" to a clerk."""
    cells, history = make_tables()
    cells.to_excel(tmp_path / "data.xlsx", sheet_name="Chi bộ", index=False)
    with pd.ExcelWriter(tmp_path / "data.xlsx", mode="a", engine="openpyxl") as book:
        history.to_excel(book, sheet_name="Lịch sử", index=False)
    proc = run_cli("forecast", "--cells", tmp_path / "data.xlsx", "--history", tmp_path / "data.xlsx",
                   "--fixed-rates", "--admission-base", "local", cwd=ROOT, check=True)
    assert "ResourceWarning" not in proc.stderr and "unclosed" not in proc.stderr


# ------------------------------------------------ spreadsheets as offices make them

VI_CELLS = {"cell_id": "Mã chi bộ", "cell_name": "Tên chi bộ", "commune": "Xã", "district": "Huyện",
            "cell_type": "Loại", "population": "Dân số"}
VI_HISTORY = {"cell_id": "Mã chi bộ", "year": "Năm", "local_members": "Đảng viên tại chỗ", "admitted": "Kết nạp",
              "exited": "Giảm", "assigned_members": "Cán bộ xã cử đến", "transferred_in": "Chuyển đến"}


def _report_sheet(book, title, frame, *, title_rows=True, total=None, group=None):
    """A sheet as an office makes it: a title and a blank row above the header, an
    "STT" column, a header on two rows (``group``: (label, first, last) columns under
    one merged label), a "Tổng cộng" row (``total``: {column: value})."""
    ws = book.create_sheet(title)
    header = ["STT", *frame.columns]
    if title_rows:
        ws.append(["BÁO CÁO SỐ LIỆU ĐẢNG VIÊN CÁC CHI BỘ THÔN, BẢN, TỔ DÂN PHỐ"])
        ws.append([])
    if group is None:
        ws.append(header)
    else:
        label, first, last = group
        upper = [h if not first <= j <= last else (label if j == first else None) for j, h in enumerate(header)]
        lower = [None if not first <= j <= last else h for j, h in enumerate(header)]
        ws.append(upper)
        ws.append(lower)
        row = ws.max_row - 1
        ws.merge_cells(start_row=row, start_column=first + 1, end_row=row, end_column=last + 1)
        for j in range(len(header)):
            if not first <= j <= last:
                ws.merge_cells(start_row=row, start_column=j + 1, end_row=row + 1, end_column=j + 1)
    for i, values in enumerate(frame.itertuples(index=False), start=1):
        ws.append([i, *values])
    if total is not None:
        ws.append(["Tổng cộng", *[total.get(c) for c in frame.columns]])
    return ws


def test_a_report_with_its_title_total_row_and_two_row_header_is_read(tmp_path):
    """The most common shape of a Vietnamese office's sheet: the report's title and
    a blank row above the header, an STT column, "Biến động trong năm" merged over
    the flows' labels, a "Tổng cộng" row — in one workbook with unnamed sheets."""
    import openpyxl

    cells, history = make_tables()
    book = openpyxl.Workbook()
    book.remove(book.active)
    _report_sheet(book, "Sheet1", cells.rename(columns=VI_CELLS),
                  total={"Dân số": int(cells["population"].sum())})
    flows = history.rename(columns=VI_HISTORY)[list(VI_HISTORY.values())]
    _report_sheet(book, "Sheet2", flows, group=("Biến động trong năm", 4, 5))  # Kết nạp, Giảm
    book.save(tmp_path / "bao_cao.xlsx")
    path = tmp_path / "bao_cao.xlsx"
    with pytest.warns(DataWarning, match=r"bao_cao.xlsx, sheet 'Sheet1', row \d+: a total row \('Tổng cộng'\)"):
        ds = load_dataset(path, path)
    plain = load_dataset(*_write(tmp_path / "plain", cells, history))
    assert ds.cells.drop(columns="STT", errors="ignore").equals(plain.cells)
    assert ds.history.equals(plain.history)


def test_a_message_names_the_sheet_and_the_row_as_excel_shows_them(tmp_path):
    import openpyxl

    cells, history = make_tables()
    history.loc[5, "admitted"] = -1  # the 6th data row: row 9 under the title, blank row, header
    book = openpyxl.Workbook()
    book.remove(book.active)
    _report_sheet(book, "Sheet1", cells.rename(columns=VI_CELLS))
    _report_sheet(book, "Sheet2", history.rename(columns=VI_HISTORY))
    book.save(tmp_path / "bao_cao.xlsx")
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path / "bao_cao.xlsx", tmp_path / "bao_cao.xlsx")
    assert "bao_cao.xlsx, sheet 'Sheet2', row 9, column 'Kết nạp': must be ≥ 0, found -1" in str(info.value)


def test_the_templates_example_left_among_an_offices_rows_is_named(tmp_path):
    """Offices fill the template below its example row and leave it: a cell too many
    (members, quotas), with no word. Now a warning names it; the template alone reads
    as before."""
    from nq21model.model_tables import TEMPLATE_EXAMPLE, write_template

    template = write_template(tmp_path / "mau.xlsx")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert len(load_dataset(template, template).cells) == 1
    cells, history = make_tables()
    example = pd.DataFrame([[*TEMPLATE_EXAMPLE, "Xã Bản Bo", "Tam Đường", "ban", 520]], columns=cells.columns[:6])
    cells = pd.concat([example, cells], ignore_index=True)
    history = pd.concat([pd.DataFrame([[TEMPLATE_EXAMPLE[0], 2025, 7, 1, 0, 1, 0]], columns=history.columns),
                         history], ignore_index=True)
    with pytest.warns(DataWarning, match=r"cells.csv, row 2: the template's example \(LC-TDU-001, Chi bộ bản Nà "
                                         r"Tăm\) is read as a cell"):
        load_dataset(*_write(tmp_path, cells, history))


def test_headers_as_offices_write_them(tmp_path):
    """"Dân số (người)", "Số đảng viên tại chỗ", "Kết nạp mới", "Số đảng viên giảm",
    "Cán bộ xã sinh hoạt" were each "unknown header"; an extra column of the history
    (a total the office keeps) stopped the run: now it is left out and named."""
    cells, history = make_tables()
    plain = load_dataset(*_write(tmp_path / "plain", cells, history))
    cells = cells.rename(columns={**VI_CELLS, "population": "Dân số (người)"})
    history = history.rename(columns={"local_members": "Số đảng viên tại chỗ", "admitted": "Kết nạp mới",
                                      "exited": "Số đảng viên giảm", "assigned_members": "Cán bộ xã sinh hoạt"})
    history["Tổng số đảng viên (cả cán bộ xã)"] = history["Số đảng viên tại chỗ"] + history["Cán bộ xã sinh hoạt"]
    with pytest.warns(DataWarning, match=r"history.csv: column 'Tổng số đảng viên \(cả cán bộ xã\)' not read"):
        ds = load_dataset(*_write(tmp_path, cells, history))
    assert ds.cells.equals(plain.cells) and ds.history.equals(plain.history)


def test_broken_identity_without_a_transfers_column_says_so(tmp_path):
    cells, history = make_tables()
    history.loc[history["year"] == 2022, "transferred_in"] = 1
    history.loc[history["year"] >= 2022, "local_members"] += 1
    with pytest.raises(DataError, match="the file has no column 'Chuyển đến' \\[transferred_in\\], or it is blank in "
                                        "every row: members moved in count as 0"):
        load_dataset(*_write(tmp_path, cells, history.drop(columns="transferred_in")))


def test_the_cells_not_forecast_are_in_the_workbook(tmp_path):
    """"Not forecast: 12 cells dissolved … (see 'absent' in the Python API)": an office
    had no list of them. The forecast's workbook has it."""
    out = tmp_path / "du_bao.xlsx"
    proc = run_cli("forecast", "--fixed-rates", "--admission-base", "local", "--horizon", "2030", "--out", out,
                   check=True)
    assert f"(listed in the sheet 'absent' of {out})" in proc.stdout
    absent = pd.read_excel(out, sheet_name="absent")
    assert len(absent) == 12 and set(absent["reason"]) == {"dissolved"}
    assert (absent["last_year"] < 2025).all()


def test_an_old_excel_file_says_how_to_save_it(tmp_path):
    (tmp_path / "chi_bo.xls").write_bytes(b"\xd0\xcf\x11\xe0 an Excel 97-2003 file")
    with pytest.raises(DataError, match=r"chi_bo.xls: a .xls file: open it in Excel \(or LibreOffice\) and save it "
                                        r"as .xlsx \(Excel Workbook\) or CSV UTF-8"):
        load_dataset(tmp_path / "chi_bo.xls", tmp_path / "chi_bo.xls")


# ------------------------------------------------ what the review of these found


def test_the_provinces_own_row_is_not_a_total_row(tmp_path):
    """"Tổng số" names the province's row of a totals table: a file sorted by year
    ends with it, and it is data, not a spreadsheet's total."""
    bundled = load_dataset()
    totals = bundled.totals[["unit", "year", "members", "admitted"]]
    province = totals.groupby("year", as_index=False)[["members", "admitted"]].sum().assign(unit="Tổng số")
    totals = pd.concat([totals, province]).sort_values(["year", "unit"], kind="stable")
    _write(tmp_path, bundled.cells, bundled.history, totals)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        ds = load_dataset(tmp_path / "cells.csv", tmp_path / "history.csv")
    assert ds.unit_totals("members").index.max() == 2025


def test_a_header_in_brackets_is_read_only_for_a_unit(tmp_path):
    """"Dân số (người)" is the population; "Xã (mới)" beside "Xã" is another column
    (kept, as before), never the commune; "Số nhân khẩu" beside "Dân số" too."""
    cells, history = make_tables()
    plain = load_dataset(*_write(tmp_path / "plain", cells, history)).cells
    extra = cells.assign(**{"Xã (mới)": "Xã Mới", "Số nhân khẩu": cells["population"] + 1})
    ds = load_dataset(*_write(tmp_path / "extra", extra, history))
    assert ds.cells["commune"].equals(plain["commune"]) and ds.cells["population"].equals(plain["population"])
    assert {"Xã (mới)", "Số nhân khẩu"} <= set(ds.cells.columns)
    only_new = cells.drop(columns="commune").assign(**{"Xã cũ": cells["commune"], "Xã (mới)": "Xã Mới"})
    with pytest.raises(DataError, match=r"column 'commune \[Xã\]': required column is missing"):
        load_dataset(*_write(tmp_path / "new", only_new, history))


def test_a_folder_written_inside_is_checked_itself(tmp_path, monkeypatch):
    import os

    from nq21model.exceptions import ParameterError
    from nq21model.files import check_writable

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real(path, mode))
    with pytest.raises(ParameterError, match=f"cannot write {locked}: no permission to write in {locked}$"):
        check_writable(locked, folder=True)
    with pytest.raises(ParameterError, match=f"cannot write {locked / 'new'}: no permission to write in {locked}$"):
        check_writable(locked / "new", folder=True)  # made inside the locked folder
    assert check_writable(tmp_path / "open", folder=True) == tmp_path / "open"
    with pytest.raises(ParameterError, match="no permission to write in"):
        check_writable(locked / "q.xlsx")


def test_an_offices_own_copy_of_a_list_stays(tmp_path):
    from nq21model.quota_tables import remove_earlier_workbooks

    names = ["chi_tieu_ket_nap_sin-ho.xlsx", "chi_tieu_ket_nap_huyen-sin-ho.xlsx",
             "chi_tieu_ket_nap_sin-ho (bản đã duyệt).xlsx", "chi_tieu_ket_nap_sin-ho_2024.xlsx"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    removed = remove_earlier_workbooks(tmp_path, [tmp_path / names[0]])
    assert [p.name for p in removed] == [names[1]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names[0], *names[2:]])


def test_totals_naming_another_unit_of_the_same_name_are_warned_not_refused(tmp_path):
    """"Xã Sìn Hồ" is a commune, not the district "Huyện Sìn Hồ": a unit the cells
    do not have (warned, not used), not the district written another way."""
    cells, history = make_tables()
    cells["district"] = cells["district"].map(lambda d: f"Huyện {d}")
    totals = pd.DataFrame({"unit": ["Huyện Sìn Hồ", "Xã Sìn Hồ"], "year": [2025, 2025], "members": [900, 80],
                           "admitted": [30, 2]})
    _write(tmp_path, cells, history, totals)
    with pytest.warns(DataWarning, match="'Xã Sìn Hồ' not a district or commune of cells.csv"):
        load_dataset(tmp_path / "cells.csv", tmp_path / "history.csv")


def test_problems_without_a_row_are_each_said():
    from nq21model.exceptions import Violation

    units = ["Huyện Mường Tè", "Huyện Sìn Hồ", "Huyện Phong Thổ", "Huyện Tân Uyên"]
    message = str(DataError([Violation("totals.csv", None, "unit", f"'{u}' is not a unit of cells.csv")
                             for u in units]))
    assert all(u in message for u in units) and "more like it" not in message


def test_a_title_above_a_header_with_a_blank_first_label(tmp_path):
    """The STT column often has no label: the title above it must not become one."""
    import openpyxl

    cells, history = make_tables()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Chi bộ"
    sheet.append(["DANH SÁCH CHI BỘ"])
    sheet.append([None, *cells.rename(columns=VI_CELLS).columns])
    for i, values in enumerate(cells.itertuples(index=False), start=1):
        sheet.append([i, *values])
    book.save(tmp_path / "chi_bo.xlsx")
    history.to_csv(tmp_path / "history.csv", index=False)
    ds = load_dataset(tmp_path / "chi_bo.xlsx", tmp_path / "history.csv")
    assert list(ds.cells.columns) == list(load_dataset(*_write(tmp_path / "plain", cells, history)).cells.columns)


def test_a_history_split_over_sheets_is_refused_and_a_sheet_can_be_named(tmp_path):
    """An office's history in two sheets (by area): reading the first alone gave a
    province of half its cells, exit 0. Now one message naming the sheets; the
    history's sheet can be named, by --sheet when only the history is a workbook or
    by --history-sheet."""
    cells, history = make_tables(n_cells=12)
    cells_csv = tmp_path / "cells.csv"
    cells.to_csv(cells_csv, index=False)
    book = tmp_path / "history.xlsx"
    half = history["cell_id"].isin(cells["cell_id"][:6])
    with pd.ExcelWriter(book) as writer:
        history[half].to_excel(writer, sheet_name="Vùng cao", index=False)
        history[~half].to_excel(writer, sheet_name="Vùng thấp", index=False)
    out = tmp_path / "f.csv"
    out.write_text("kept\n")
    proc = run_cli("forecast", "--cells", cells_csv, "--history", book, "--out", out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "history.xlsx" in proc.stderr and "'Vùng cao', 'Vùng thấp'" in proc.stderr
    assert "--history-sheet" in proc.stderr and out.read_text() == "kept\n"
    for flag in ("--sheet", "--history-sheet"):
        named = run_cli("forecast", "--cells", cells_csv, "--history", book, flag, "Vùng thấp")
        assert named.returncode == 0, named.stderr
        assert "Toàn tỉnh    2025 observed     6" in named.stdout and "6 with no history up to it" in named.stdout
    whole = tmp_path / "whole.xlsx"
    with pd.ExcelWriter(whole) as writer:
        history.to_excel(writer, sheet_name="Sheet1", index=False)
    assert run_cli("forecast", "--cells", cells_csv, "--history", whole, "--sheet", "0").returncode == 0


def test_quota_rows_that_cannot_act_are_named_not_dropped_unsaid(tmp_path):
    """A quota for a dissolved cell, a year before or after the forecast's: said in one
    warning naming the file's rows (they were dropped without a word)."""
    from nq21model.data import Dataset
    from nq21model.model_tables import load_quotas
    from nq21model.scenario import quota_matrix

    cells, history = make_tables(n_cells=4)
    dataset = Dataset(cells=cells, history=history)
    rows = [(c, y, 1) for c in cells["cell_id"] for y in range(2026, 2031)]
    rows += [("C001", 2024, 3), ("C001", 2031, 1)]
    path = tmp_path / "quotas.csv"
    pd.DataFrame(rows, columns=["cell_id", "year", "quota"]).to_csv(path, index=False)
    quotas = load_quotas(path, cells)
    with pytest.warns(DataWarning, match=r"quotas.csv: not used — quotas of 2024, 2031, outside the forecast's "
                                         r"2026–2030$"):
        q = quota_matrix(quotas, dataset, range(2026, 2031))
    assert q.shape == (4, 5) and (q == 1).all()
    # a cell the forecast does not have (dissolved before its base year): its rows, each once
    fewer = Dataset(cells=cells[cells["cell_id"] != "C000"], history=history[history["cell_id"] != "C000"])
    with pytest.warns(DataWarning, match=r"; cells not present in the base year: row 2, row 3, row 4, row 5, row 6$"):
        quota_matrix(quotas, fewer, range(2026, 2031))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quota_matrix(quotas.iloc[:20], dataset, range(2026, 2031))  # every row acts: no word


def test_an_optional_column_kept_but_blank_is_read_as_absent(tmp_path):
    """No transfers kept, districts emptied after July 2025: the columns are there,
    every value blank. Read as absent, in one warning each (it was one error a row)."""
    cells, history = make_tables(n_cells=6)
    history["admitted"] += history["transferred_in"]
    history["transferred_in"] = ""
    cells["district"] = ""
    paths = _write(tmp_path, cells, history)
    with pytest.warns(DataWarning) as caught:
        data = load_dataset(*paths)
    said = [str(w.message) for w in caught]
    assert "cells.csv: column 'district' is blank in every row: read as absent" in said
    assert "history.csv: column 'transferred_in' is blank in every row: read as absent" in said
    assert "district" not in data.cells and data.default_unit == "commune"
    assert (data.history["transferred_in"] == 0).all()
    history.loc[0, "transferred_in"] = "1"  # one value: the column is read, its blanks as none
    with pytest.warns(DataWarning, match="column 'transferred_in': .* blank read as 0"):
        data = load_dataset(*_write(tmp_path / "one", cells.assign(district="Sìn Hồ"), history))
    assert data.history["transferred_in"].sum() == 1


def test_a_short_history_is_said_as_it_is(tmp_path):
    """2023–2025 only: backtest spoke of a base year 2026 nobody gave, allocate asked
    for a later base year than the last, calibrate for a flag it does not have."""
    cells, history = make_tables(n_cells=6, years=range(2023, 2026))
    paths = _write(tmp_path, cells, history)
    for command in ("backtest", "calibrate", "allocate"):
        proc = run_cli(command, "--cells", paths[0], "--history", paths[1])
        assert proc.returncode == 2 and "covers 2023–2025" in proc.stderr, (command, proc.stderr)
        assert "2026" not in proc.stderr and "later base year" not in proc.stderr, (command, proc.stderr)


def test_an_id_written_in_another_case_is_named_with_the_cells_spelling(tmp_path):
    cells, history = make_tables(n_cells=3)
    cells["cell_id"] = ["TDU-01-001", "TDU-01-002", "TDU-01-003"]
    history["cell_id"] = history["cell_id"].map(dict(zip([f"C{i:03d}" for i in range(3)], cells["cell_id"])))
    history.loc[history["cell_id"] == "TDU-01-002", "cell_id"] = "tdu-01-002"
    with pytest.raises(DataError, match="cell 'tdu-01-002' is not in the cells.csv file "
                                        r"\(the cells file writes it 'TDU-01-002': ids are matched as written\)"):
        load_dataset(*_write(tmp_path, cells, history))


def test_a_tab_separated_file_reads_as_the_comma_one(tmp_path):
    """Excel's "Text (Tab delimited)": it was five times the same line of missing columns."""
    cells, history = make_tables(n_cells=5)
    plain = load_dataset(*_write(tmp_path / "comma", cells, history))
    (tmp_path / "tab").mkdir()
    cells.to_csv(tmp_path / "tab" / "cells.txt", sep="\t", index=False)
    history.to_csv(tmp_path / "tab" / "history.txt", sep="\t", index=False)
    tabbed = load_dataset(tmp_path / "tab" / "cells.txt", tmp_path / "tab" / "history.txt")
    pd.testing.assert_frame_equal(tabbed.cells, plain.cells)
    pd.testing.assert_frame_equal(tabbed.history, plain.history)


def test_a_year_typed_as_a_date_says_so(tmp_path):
    import datetime

    cells, history = make_tables(n_cells=3)
    history = history.astype({"year": object})
    history.loc[0, "year"] = datetime.datetime(2018, 12, 31)
    history.loc[1, "year"] = datetime.datetime(1905, 7, 10)            # 2018 typed into a date-formatted cell
    book = tmp_path / "data.xlsx"
    with pd.ExcelWriter(book) as writer:
        cells.to_excel(writer, sheet_name="Chi bộ", index=False)
        history.to_excel(writer, sheet_name="Lịch sử", index=False)
    with pytest.raises(DataError, match=r"row 2, column 'year': a date \(31/12/2018\), not a number: format the "
                                        r"cell as a number \(a year: write 2018\)") as caught:
        load_dataset(book, book)
    assert "row 3, column 'year': a date (10/07/1905), not a number: the cell is formatted as a date; format it as " \
           "a number (it then shows 2018)" in str(caught.value)


def test_a_province_of_one_cell_prints_no_numpy_warnings(tmp_path):
    cells, history = make_tables(n_cells=1)
    paths = _write(tmp_path, cells, history)
    proc = run_cli("forecast", "--cells", paths[0], "--history", paths[1])
    assert proc.returncode == 0 and "RuntimeWarning" not in proc.stderr, proc.stderr


def test_a_reports_group_rows_inside_are_named_not_read(tmp_path):
    """A cells sheet grouped by commune: a heading row ("I", "Xã Bản Bo") above each
    group and a subtotal ("Cộng xã Bản Bo") below it. They were 45 errors of empty
    ids and unknown types; now one warning naming them, and the cells read."""
    cells, history = make_tables(n_cells=4)
    rows = []
    for number, (commune, part) in enumerate(cells.groupby("commune", sort=False), start=1):
        rows.append({"cell_id": None, "cell_name": "I" * number, "commune": commune})
        rows += part.to_dict("records")
        rows.append({"cell_id": None, "cell_name": f"Cộng {commune}", "population": int(part["population"].sum())})
    grouped = pd.DataFrame(rows, columns=cells.columns)
    book = tmp_path / "data.xlsx"
    with pd.ExcelWriter(book) as writer:
        grouped.to_excel(writer, sheet_name="Chi bộ", index=False)
        history.to_excel(writer, sheet_name="Lịch sử", index=False)
    with pytest.warns(DataWarning, match=r"data.xlsx, sheet 'Chi bộ': \d+ rows of a report's grouping .* row 2 \('I · "):
        data = load_dataset(book, book)
    plain = load_dataset(*_write(tmp_path / "plain", cells, history)).cells
    pd.testing.assert_frame_equal(data.cells.sort_values("cell_id").reset_index(drop=True),
                                  plain.sort_values("cell_id").reset_index(drop=True))


def test_a_district_merged_down_its_cells_rows_is_read_as_excel_shows_it(tmp_path):
    """The district column merged from the first to the last cell's row (an office's
    layout): only the first row holds the value in the file — 139 'empty value'
    errors. Read as Excel shows it: every row has its district."""
    import openpyxl

    cells, history = make_tables(n_cells=6)
    cells["district"] = "Tam Đường"
    book = tmp_path / "merged.xlsx"
    with pd.ExcelWriter(book) as writer:
        cells.to_excel(writer, sheet_name="Chi bộ", index=False)
        history.to_excel(writer, sheet_name="Lịch sử", index=False)
    wb = openpyxl.load_workbook(book)
    sheet = wb["Chi bộ"]
    column = list(cells.columns).index("district") + 1
    sheet.merge_cells(start_row=2, end_row=len(cells) + 1, start_column=column, end_column=column)
    wb.save(book)
    assert pd.read_excel(book, sheet_name="Chi bộ")["district"].isna().sum() == len(cells) - 1
    data = load_dataset(book, book)
    assert (data.cells["district"] == "Tam Đường").all() and len(data.cells) == 6


def test_sheet_names_the_cells_sheet_of_a_workbook_holding_both(tmp_path):
    """Both tables in one workbook, their sheets not named for them: --sheet names the
    cells', the history's is found by its headers (it was read from the cells' sheet
    too: 'required column is missing'); the Python API routes as the command does."""
    from nq21model.report import run_forecast

    cells, history = make_tables(n_cells=4)
    book = tmp_path / "both.xlsx"
    with pd.ExcelWriter(book) as writer:
        cells.to_excel(writer, sheet_name="DS", index=False)
        cells.to_excel(writer, sheet_name="DS cũ", index=False)
        history.to_excel(writer, sheet_name="SL", index=False)
    proc = run_cli("forecast", "--cells", book, "--history", book, "--sheet", "DS")
    assert proc.returncode == 0, proc.stderr
    csv = tmp_path / "cells.csv"
    cells.to_csv(csv, index=False)
    split = tmp_path / "split.xlsx"
    with pd.ExcelWriter(split) as writer:
        history.to_excel(writer, sheet_name="A", index=False)
        history.to_excel(writer, sheet_name="B", index=False)
    assert len(load_dataset(csv, split, sheet="B").history) == len(history)
    assert run_forecast(cells_path=str(csv), history_path=str(split), sheet="B").base_year == 2025


def test_errors_in_both_tables_are_said_in_one_round(tmp_path):
    """A bad value in the cells and another in the history: both in one message (the
    history's was only said once the cells were fixed)."""
    cells, history = make_tables(n_cells=4)
    cells = cells.astype({"population": object})
    history = history.astype({"admitted": object})
    cells.loc[1, "population"] = "nhiều"
    history.loc[2, "admitted"] = "?"
    with pytest.raises(DataError) as caught:
        load_dataset(*_write(tmp_path, cells, history))
    said = str(caught.value)
    assert "cells.csv, row 3, column 'population'" in said and "history.csv, row 4, column 'admitted'" in said


def test_a_base_year_only_a_few_cells_report_is_refused(tmp_path):
    """The base year is the file's last: a year begun (a commune's rows of 2026 sent
    early) or a year mistyped on one row would forecast a province of a few cells,
    exit 0 — refused, naming the year to forecast from; that year runs."""
    cells, history = make_tables(n_cells=12)
    early = history[(history["year"] == 2025) & history["cell_id"].isin(["C000", "C001"])].copy()
    early["year"] = 2026
    early[["admitted", "exited", "transferred_in", "assigned_members"]] = 0  # the count stayed
    pd.concat([history, early]).to_csv(tmp_path / "history.csv", index=False)
    cells.to_csv(tmp_path / "cells.csv", index=False)
    args = ["--cells", tmp_path / "cells.csv", "--history", tmp_path / "history.csv"]
    proc = run_cli("forecast", *args)
    assert proc.returncode == 2
    assert "only 2 cells have a row in 2026, the base year, against 12 in 2025" in proc.stderr
    assert "--base-year 2025" in proc.stderr
    assert run_cli("forecast", *args, "--base-year", "2025").returncode == 0
    # cells merged into one in the base year are a complete year: 12 cells' rows in 2025, 9 in 2026
    merged = history[history["year"] == 2025].iloc[3:].copy()
    merged["year"] = 2026
    merged[["admitted", "exited", "transferred_in", "assigned_members"]] = 0
    pd.concat([history, merged]).to_csv(tmp_path / "history.csv", index=False)
    assert run_cli("forecast", *args).returncode == 0


def test_formulas_with_no_value_saved_are_named(tmp_path):
    """A workbook written by a program (openpyxl, a report generator) keeps formulas
    without their values: pandas reads blanks, and every row was 'expected a whole
    number, found ''' — one message says what to do instead."""
    import openpyxl

    cells, history = make_tables(n_cells=4)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Chi bộ"
    sheet.append(list(cells.columns))
    for row in cells.itertuples(index=False):
        sheet.append([v.item() if hasattr(v, "item") else v for v in row])
    sheet = book.create_sheet("Lịch sử")
    sheet.append(list(history.columns))
    members = list(history.columns).index("local_members") + 1
    for i, row in enumerate(history.itertuples(index=False), start=2):
        sheet.append([v.item() if hasattr(v, "item") else v for v in row])
        if i > 2 and history["cell_id"].iloc[i - 2] == history["cell_id"].iloc[i - 3]:
            sheet.cell(row=i, column=members, value=f"={openpyxl.utils.get_column_letter(members)}{i - 1}+D{i}-E{i}")
    book.save(tmp_path / "book.xlsx")
    with pytest.raises(DataError, match=r"book.xlsx, sheet 'Lịch sử': formulas with no value saved \(C3, C4, C5, "
                                        r"C6, C7 … \(\d+ cells\)\).*open it in Excel \(or LibreOffice\) and save it"):
        load_dataset(tmp_path / "book.xlsx", tmp_path / "book.xlsx")
    # a formula whose result is the empty text (=IF(…,"x","")) as Excel and LibreOffice save it has its value
    from nq21model.table_rows import unsaved_formulas

    assert unsaved_formulas('<c r="H2" s="1" t="str"><f>IF(C2&gt;100,"lớn","")</f><v></v></c>'
                            '<c r="C3"><f>C2+D3</f><v /></c><c r="C4"><f>C3+D4</f></c>'
                            '<c r="C5"><f>C4+D5</f><v>7</v></c>') == ["C3", "C4"]


def test_more_local_members_than_people_is_named(tmp_path):
    """A history exported with three decimals ("14.000": fourteen thousand by the
    thousands point) or a population an English-locale Excel read short ("2.000" → 2)
    ran with a cell of thousands of members: a cell's local members never outnumber
    its people, so such rows are named, with both readings."""
    cells, history = make_tables(n_cells=6)
    history = history.astype({"local_members": object})
    big = history.groupby("cell_id")["local_members"].min().idxmax()  # members in every year
    one = history["cell_id"] == big
    history.loc[one, "local_members"] = [f"{v}.000" for v in history.loc[one, "local_members"]]
    paths = _write(tmp_path, cells, history)
    with pytest.raises(DataError) as caught:
        load_dataset(*paths)
    said = str(caught.value)
    first = int(history.index[one][0]) + 2
    assert f"history.csv, row {first}, column 'local_members': cell '{big}'" in said
    assert "more than its population" in said and "'14.000' is fourteen thousand" in said
    assert f"and {int(one.sum()) - 1} more like it" in said  # one line for the cell's every year


def test_a_district_whose_base_year_report_is_late_is_named(tmp_path):
    """A district's last report not in yet: its cells read as dissolved ("Not
    forecast: n cells dissolved") — the command names the district and the way out."""
    cells, history = make_tables(n_cells=12)
    sin_ho = set(cells.loc[cells["district"] == "Sìn Hồ", "cell_id"])
    history = history[~(history["cell_id"].isin(sin_ho) & (history["year"] == 2025))]
    paths = _write(tmp_path, cells, history)
    proc = run_cli("forecast", "--cells", paths[0], "--history", paths[1])
    assert proc.returncode == 0, proc.stderr
    assert (f"None of the {len(sin_ho)} cells of district 'Sìn Hồ' has a row in 2025, the base year: not forecast "
            "(a report not in yet? --base-year 2024 forecasts from the year before)") in proc.stdout


def test_units_without_a_row_in_the_base_year_say_why(tmp_path):
    """Late report (rows stop the year before), dissolved (rows end earlier), founded
    later (a replay from before its first year): each said as it is."""
    cells, history = make_tables(n_cells=12)
    cells["district"] = [f"Huyện {'ABCD'[i % 4]}" for i in range(len(cells))]
    unit = dict(zip(cells["cell_id"], cells["district"]))
    of = history["cell_id"].map(unit)
    history = history[~((of == "Huyện A") & (history["year"] == 2025)) & ~((of == "Huyện B") & (history["year"] > 2021))
                      & ~((of == "Huyện C") & (history["year"] < 2023))]
    history = history.copy()
    first = history["year"] == history.groupby("cell_id")["year"].transform("min")
    history.loc[first, ["admitted", "exited", "transferred_in"]] = 0
    data = load_dataset(*_write(tmp_path, cells, history))
    late = data.units_without(2025, "district")
    assert set(late) == {"Huyện A", "Huyện B"}
    assert "a report not in yet? --base-year 2024" in late["Huyện A"]
    assert "its rows end in 2021: dissolved or merged" in late["Huyện B"]
    assert "its history starts in 2023): not forecast from 2022" in data.units_without(2022, "district")["Huyện C"]


def test_rows_hidden_in_excel_are_read_and_named(tmp_path):
    """An office filtered its list (or hid rows by hand) and sent the workbook: the
    hidden rows are data like the others — read, and named in one warning, so that
    an office that hid the rows it meant to leave out sees they are not left out."""
    import openpyxl

    cells, history = make_tables(n_cells=6)
    book = tmp_path / "filtered.xlsx"
    total = pd.DataFrame([{"cell_id": "Tổng cộng", "local_members": history["local_members"].sum()}])
    with pd.ExcelWriter(book) as writer:
        cells.to_excel(writer, sheet_name="Chi bộ", index=False)
        pd.concat([history, total]).to_excel(writer, sheet_name="Lịch sử", index=False)
    wb = openpyxl.load_workbook(book)
    sheet = wb["Lịch sử"]
    sheet.auto_filter.ref = f"A1:{openpyxl.utils.get_column_letter(history.shape[1])}{len(history) + 2}"
    for row in (5, 6, 7, 12, len(history) + 2):  # the last: the total row, not data (named in its own warning)
        sheet.row_dimensions[row].hidden = True
    sheet.row_dimensions[len(history) + 5].hidden = True  # below the table: not a row of it
    wb.save(book)
    proc = run_cli("forecast", "--cells", book, "--history", book)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("hidden in Excel") == 1, proc.stderr
    assert "sheet 'Lịch sử': 4 rows hidden in Excel (by a filter or by hand) read like the others: rows 5–7, 12" \
        in proc.stderr
    assert len(load_dataset(book, book).history) == len(history)
    from nq21model.table_rows import hidden_rows

    assert hidden_rows('<row r="3" spans="1:4" hidden="true"><c r="A3"/></row><row r="4"/><row hidden="1" r="9">') \
        == [3, 9]  # LibreOffice's "true", attributes in any order


def test_a_column_hidden_in_excel_is_named_when_it_is_read(tmp_path):
    """An office hid its old id column and typed the new ids in a column beside it:
    the hidden one has the header the model reads, and the warning says so."""
    import openpyxl

    cells, history = make_tables(n_cells=6)
    book = tmp_path / "hidden_column.xlsx"
    with pd.ExcelWriter(book) as writer:
        cells.assign(note="x").to_excel(writer, sheet_name="Chi bộ", index=False)
        history.to_excel(writer, sheet_name="Lịch sử", index=False)
    wb = openpyxl.load_workbook(book)
    wb["Chi bộ"].column_dimensions["A"].hidden = True  # cell_id
    wb["Chi bộ"].column_dimensions[openpyxl.utils.get_column_letter(cells.shape[1] + 1)].hidden = True  # not read
    wb.save(book)
    with pytest.warns(DataWarning) as record:
        load_dataset(book, book)
    hidden = [str(w.message) for w in record if "hidden in Excel" in str(w.message)]
    assert hidden == ["hidden_column.xlsx, sheet 'Chi bộ': column 'cell_id' hidden in Excel but read; if it is not "
                      "the one to read, delete it"]
