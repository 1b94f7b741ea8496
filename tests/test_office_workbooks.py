"""Workbooks an office can use as they are, and quiet runs (issue 12, points 6 and 8).

Every XLSX the project writes, opened with openpyxl: the header row frozen, every
column given a width, number formats from the column names (years, counts, expected
members, shares, probabilities), the synthetic-data mark on every sheet (printed
page header and red tab; and the title row, the first thing on screen, of an office
workbook), "Xác suất đạt" never 1 or 0.999, a bold "Tổng cộng" row under each quota
list. The commands by commune print no warning on stderr.
"""
from __future__ import annotations

import math
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from conftest import run_cli
from nq21model import files, styles
from nq21model.styles import CHANCE_HIGH, CHANCE_LOW, SYNTHETIC_MARK, Sheet, column_kind

MARK = SYNTHETIC_MARK


# ------------------------------------------------------------------ checks


def header_row(ws, office: bool) -> int:
    return 2 if office else 1


def assert_office_ready(path: Path, *, office: bool, synthetic: bool, high: float = 90) -> openpyxl.Workbook:
    """The checks every workbook passes (module docstring); returns the workbook."""
    book = openpyxl.load_workbook(path)
    for ws in book.worksheets:
        where = f"{path.name}!{ws.title}"
        head = header_row(ws, office)
        assert ws.freeze_panes == f"A{head + 1}", where
        assert ws.print_title_rows == f"$1:${head}", where
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1, where
        if synthetic:
            assert MARK in (ws.oddHeader.center.text or ""), where  # printed on every page
            assert ws.sheet_properties.tabColor is not None, where
        else:
            assert not ws.oddHeader.center.text and MARK not in str(ws["A1"].value), where
        if office:
            title = str(ws["A1"].value)
            assert title.startswith(MARK) == synthetic and ws["A1"].font.bold, where
        headers = [c.value for c in ws[head]]
        assert headers and all(h is not None for h in headers), where
        for j, header in enumerate(headers, start=1):
            letter = openpyxl.utils.get_column_letter(j)
            width = ws.column_dimensions[letter].width
            assert width is not None and 4 <= width <= high, f"{where} {header}: width {width}"
            assert ws.cell(row=head, column=j).font.bold, f"{where} {header}"
        for row in ws.iter_rows(min_row=head + 1):
            for cell, header in zip(row, headers):
                value = cell.value
                if isinstance(value, bool) or value is None:
                    continue
                kind = column_kind(header)
                if isinstance(value, (int, float)):
                    if kind is None and header not in ("Giá trị", "Nội dung"):
                        assert cell.number_format != "General", f"{where}!{cell.coordinate} {header}"
                    if kind == "year":
                        assert cell.number_format == "0", f"{where}!{cell.coordinate}"
                    if kind == "percent":
                        assert cell.number_format == "0.0%", f"{where}!{cell.coordinate}"
                    if kind == "probability" and isinstance(value, float):
                        # the value kept (it sorts), shown as "> 0,99" / "< 0,01" at the ends
                        assert cell.number_format == styles.FORMATS["probability"], where
                else:
                    assert kind != "probability", f"{where}!{cell.coordinate} {value!r}: a chance as text"
    return book


def assert_totals_row(ws, columns) -> None:
    """The last row: "Tổng cộng", bold, the sums of ``columns`` above it."""
    headers = [c.value for c in ws[2]]
    last = ws.max_row
    assert ws.cell(row=last, column=1).value == "Tổng cộng" and ws.cell(row=last, column=1).font.bold
    for name in columns:
        j = headers.index(name) + 1
        above = [ws.cell(row=r, column=j).value for r in range(3, last)]
        total = ws.cell(row=last, column=j)
        assert total.value == sum(above) and total.font.bold and total.number_format == "#,##0", name
    assert ws.auto_filter.ref.endswith(str(last - 1))  # sorting the list leaves the totals where they are


# ------------------------------------------------------------- the rules


@pytest.mark.parametrize("name,dtype,kind", [
    ("year", int, "year"), ("horizon", int, "year"), ("Năm", int, "year"), ("Năm dự báo", int, "year"),
    ("cells", int, "count"), ("Đảng viên tại chỗ 2025", int, "count"), ("Chỉ tiêu 2026", int, "count"),
    ("budget", float, "count"), ("Phân vị 10%", int, "count"), ("spreadsheet_p3", int, "count"),
    ("expected_members", float, "expected"), ("Dự kiến 2030", float, "expected"),
    ("Đảng viên tại chỗ dự kiến (kỳ vọng)", float, "expected"), ("ets_q10", float, "expected"),
    ("share_at_least_5", float, "percent"), ("observed_share_at_least_3", float, "percent"),
    ("coverage_80", float, "percent"), ("gain", float, "percent"), ("Tỷ lệ chi bộ đạt", float, "percent"),
    ("p_at_least_5", float, "probability"), ("p_share_95_at_least_4", float, "probability"),
    ("calibrated_p4", float, "probability"), ("Xác suất đạt ≥ 5 ĐV năm 2030", float, "probability"),
    ("Xác suất ≥ 4 (2030)", float, "probability"), ("brier", float, "score"), ("brier_vs_oracle", float, "ratio"),
    ("value", float, "number"), ("Mã chi bộ", object, None),
])
def test_column_rules(name, dtype, kind):
    values = pd.Series([1.5, 2.0] if dtype is float and kind not in ("count",) else [1, 2], dtype=dtype)
    if dtype is object:
        values = pd.Series(["A", "B"])
    assert column_kind(name, values) == kind


def test_chances_are_never_a_false_certainty():
    assert [styles.chance_value(v) for v in (0.9996, 1.0, 0.99, 0.8234, 0.0, 0.003, 0.01)] == \
        [CHANCE_HIGH, CHANCE_HIGH, 0.99, 0.82, 0.0, CHANCE_LOW, 0.01]
    assert math.isnan(styles.chance_value(float("nan")))


def test_writer_styles_an_office_sheet_and_keeps_the_csv(tmp_path):
    frame = pd.DataFrame({"Mã chi bộ": ["A", "=B", "C"], "Đảng viên tại chỗ 2025": [3, 14, 1200],
                          "Chỉ tiêu 2026": [1, 0, 2], "Xác suất đạt ≥ 5 ĐV năm 2030": [0.9996, 0.5, 0.003]})
    path = files.write_table({"Chỉ tiêu": Sheet(frame, title="Đề xuất — Mường Tè",
                                                 totals=["Đảng viên tại chỗ 2025", "Chỉ tiêu 2026"])},
                             tmp_path / "q.xlsx", office=True, synthetic=True)
    book = assert_office_ready(path, office=True, synthetic=True)
    ws = book["Chỉ tiêu"]
    assert ws["A1"].value == f"{styles.SYNTHETIC_TEXT} · Đề xuất — Mường Tè"
    assert [c.value for c in ws["D"][2:5]] == [0.9996, 0.5, 0.003]   # numbers: the column sorts
    assert {c.number_format for c in ws["D"][2:5]} == {f'[>0.99]"{CHANCE_HIGH}";[<0.01]"{CHANCE_LOW}";0.00'}
    assert ws["A4"].value == "=B" and ws["A4"].data_type == "s" and ws["A4"].quotePrefix
    assert_totals_row(ws, ["Đảng viên tại chỗ 2025", "Chỉ tiêu 2026"])
    # the CSV of the same table is what it always was: no title, no totals, values as they are
    csv = files.write_table({"x": Sheet(frame, title="t", totals=["Chỉ tiêu 2026"])}, tmp_path / "q.csv",
                            office=True, synthetic=True)
    assert csv.read_text(encoding="utf-8").splitlines() == [
        "Mã chi bộ,Đảng viên tại chỗ 2025,Chỉ tiêu 2026,Xác suất đạt ≥ 5 ĐV năm 2030",
        "A,3,1,0.9996", "'=B,14,0,0.5", "C,1200,2,0.003"]
    # real data: no mark anywhere
    assert_office_ready(files.write_table({"a": Sheet(frame)}, tmp_path / "r.xlsx", office=True),
                        office=True, synthetic=False)


# ---------------------------------------------------------- the workbooks


@pytest.fixture(scope="module")
def commune_outputs(tmp_path_factory):
    """targets and allocate by commune on the bundled (synthetic) data, as a user runs them."""
    out = tmp_path_factory.mktemp("commune")
    targets = run_cli("targets", "--unit", "commune", "--out", out / "targets.xlsx", timeout=900)
    allocate = run_cli("allocate", "--unit", "commune", "--out", out / "quotas.xlsx", "--workbooks", out / "chi_tieu")
    return out, {"targets": targets, "allocate": allocate}


def test_commune_runs_are_quiet(commune_outputs):
    """Point 8: no Python warning line reaches the terminal."""
    _, procs = commune_outputs
    for name, proc in procs.items():
        assert proc.returncode == 0, proc.stderr
        noisy = [line for line in proc.stderr.splitlines() if "warning" in line.lower() or "Traceback" in line]
        assert noisy == [], f"{name}: {noisy[:5]}"


def test_quota_workbooks_are_ready_to_hand_out(commune_outputs):
    out, _ = commune_outputs
    books = sorted((out / "chi_tieu").glob("*.xlsx"))
    assert len(books) == 106
    for path in books[:3] + books[-3:]:
        book = assert_office_ready(path, office=True, synthetic=True)
        assert book.sheetnames == ["Chỉ tiêu", "Ghi chú"]
        ws = book["Chỉ tiêu"]
        headers = [c.value for c in ws[2]]
        quota_columns = [h for h in headers if h.startswith(("Chỉ tiêu ", "Tổng ", "Đảng viên"))]
        assert len(quota_columns) == 7
        assert_totals_row(ws, quota_columns)
        chance = [ws.cell(row=r, column=len(headers)) for r in range(3, ws.max_row)]
        assert all(isinstance(c.value, (int, float)) and 0 <= c.value <= 1 for c in chance)  # numbers: they sort
        assert {c.number_format for c in chance} == {styles.FORMATS["probability"]}  # a 1 reads "> 0,99"
        notes = {r[0].value: r[1].value for r in book["Ghi chú"].iter_rows(min_row=3)}
        unit = notes["Đơn vị"].split(" (")[0]
        own = [ws.cell(row=ws.max_row, column=headers.index(f"Chỉ tiêu {y}") + 1).value for y in range(2026, 2031)]
        assert notes["Chỉ tiêu của đơn vị theo năm"] == ", ".join(f"{y}: {q}" for y, q in zip(range(2026, 2031), own))
        assert unit in ws["A1"].value and notes["Dữ liệu"] == MARK


def test_command_line_workbooks(commune_outputs, tmp_path):
    """The --out workbooks keep their header in row 1 (the contract) and read back."""
    out, _ = commune_outputs
    for name in ("targets.xlsx", "quotas.xlsx"):
        assert_office_ready(out / name, office=False, synthetic=True)
    quotas = pd.read_excel(out / "quotas.xlsx", sheet_name="quotas")
    assert list(quotas.columns[:2]) == ["cell_id", "district"] and quotas["p_optimised"].max() <= 1
    ws = openpyxl.load_workbook(out / "quotas.xlsx")["summary"]
    headers = [c.value for c in ws[1]]
    assert ws.cell(row=2, column=headers.index("share_optimised_5") + 1).number_format == "0.0%"
    assert ws.cell(row=2, column=headers.index("realised_optimised") + 1).number_format == "#,##0.0"
    forecast = tmp_path / "forecast.xlsx"
    run_cli("forecast", "--out", forecast, check=True)
    book = assert_office_ready(forecast, office=False, synthetic=True)
    cells = book["cells"]
    headers = [c.value for c in cells[1]]
    assert cells.cell(row=2, column=headers.index("expected_members") + 1).number_format == "#,##0.0"
    assert cells.cell(row=2, column=headers.index("q10") + 1).number_format == "#,##0"
    # forecast --quotas reads an allocate workbook back (the header in row 1)
    proc = run_cli("forecast", "--quotas", out / "quotas.xlsx", "--horizon", 2030, check=True)
    assert "Toàn tỉnh" in proc.stdout


def test_real_data_workbooks_have_no_mark(tmp_path, small_files):
    cp, hp = small_files
    out = tmp_path / "scores.xlsx"
    run_cli("backtest", "--cells", cp, "--history", hp, "--base-year", 2021, "--horizon", 2024, "--draws", 20,
            "--out", out, check=True)
    book = assert_office_ready(out, office=False, synthetic=False)
    scores = book["scores"]
    headers = [c.value for c in scores[1]]
    assert scores.cell(row=2, column=headers.index("brier") + 1).number_format == "0.0000"
    template = tmp_path / "mau.xlsx"
    run_cli("template", "--out", template, check=True)
    assert_office_ready(template, office=False, synthetic=False)


def test_at_risk_workbook(tmp_path):
    from nq21model import batch_files, report

    results = report.run_forecast(unit_column="district", context_dir="")
    path = tmp_path / "at_risk.xlsx"
    units = ["Mường Tè", "Thành phố Lai Châu", "Tam Đường"]
    n = batch_files.write_at_risk_xlsx(results, path, by="district", units=units)
    book = assert_office_ready(path, office=True, synthetic=True)
    assert book.sheetnames == ["Ghi chú", *units]
    assert sum(book[u].max_row - 2 for u in units) == n
    for unit in units:
        ws = book[unit]
        count = ws.max_row - 2
        assert ws["A1"].value.startswith(MARK) and unit in ws["A1"].value
        assert (f"{count} chi bộ có nguy cơ" if count else "không có chi bộ nào") in ws["A1"].value
        headers = [c.value for c in ws[2]]
        assert ws.cell(row=3, column=headers.index("Dự kiến 2030") + 1).number_format == "#,##0.0"


def test_at_risk_workbook_of_many_units_is_one_list(tmp_path, monkeypatch):
    """Above MAX_UNIT_SHEETS units (a country's communes) the cells of every unit are
    one sheet with the unit's column, in the units' order, and the briefing's
    conclusion points there."""
    from nq21model import batch_files, report, report_forecast, summary

    monkeypatch.setattr(report_forecast, "MAX_UNIT_SHEETS", 2)
    results = report.run_forecast(unit_column="district", context_dir="")
    units = report.unit_order(results.full.cells["district"].unique())
    path = tmp_path / "at_risk.xlsx"
    n = batch_files.write_at_risk_xlsx(results, path, by="district", units=units)
    book = assert_office_ready(path, office=True, synthetic=True)
    assert book.sheetnames == ["Ghi chú", "Danh sách"]
    ws = book["Danh sách"]
    listed = [row[0] for row in ws.iter_rows(min_row=3, values_only=True)]
    assert len(listed) == n == sum(len(report.at_risk_cells(results, unit=u, by="district")) for u in units)
    assert listed == sorted(listed, key=units.index)  # grouped in the units' order
    assert ws.cell(row=2, column=1).value == report.UNIT_LABELS["district"]
    notes = " ".join(str(c.value) for row in book["Ghi chú"].iter_rows() for c in row)
    assert "trang «Danh sách»" in notes
    place = summary.list_places(results, None, unit="Mường Tè", by="district")
    assert "trang «Danh sách» (lọc theo đơn vị Mường Tè) của tệp at_risk.xlsx" in place


@pytest.mark.slow
def test_commune_briefing_batch_is_quiet(tmp_path):
    """Two commune briefings: no warning on the terminal; the batch's workbooks ready."""
    out = tmp_path / "outputs"
    proc = run_cli("briefings", "--unit", "commune", "--only", "Xã Bản Bo", "--only", "Phường Tân Phong",
                   "--out", out, "--quiet", timeout=900)
    assert proc.returncode == 0, proc.stderr
    noisy = [line for line in proc.stderr.splitlines() if "warning" in line.lower()]
    assert noisy == []
    assert_office_ready(out / "at_risk.xlsx", office=True, synthetic=True, high=90)
    for path in sorted((out / "chi_tieu").glob("*.xlsx"))[:2]:
        assert_office_ready(path, office=True, synthetic=True)
