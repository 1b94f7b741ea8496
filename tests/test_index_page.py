"""The index page's tables (nq21model.index_page): units in one order everywhere, and
a table that stays within the page however many units there are."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from nq21model import index_page, report

UNITS = ["Đà Bắc", "Mường Tè", "Tân Uyên", "Thành phố Lai Châu"]


def tracker(units):
    """A tracker table (targets.COLUMNS) of two indicators for the province and units."""
    rows = []
    statuses = {2025: ["đạt", "không đạt"], 2030: ["có khả năng đạt", "nguy cơ không đạt", "khó đạt"]}
    for code in ("2d_3", "3b"):
        for year in ((2025,) if code == "2d_3" else (2025, 2030)):
            for i, unit in enumerate(["Toàn tỉnh", *units]):
                status = statuses[year][i % len(statuses[year])]
                rows.append({"indicator": code, "unit": unit, "year": year, "target": 0.95, "value": 0.9,
                             "low": np.nan, "high": np.nan, "status": status,
                             "method": "observed" if year == 2025 else "logit_trend"})
    return pd.DataFrame(rows)


def fake_run(units):
    # the tracker lists units in another order than the index: the index's order wins
    return SimpleNamespace(extras=SimpleNamespace(targets=tracker(list(reversed(units))), base_year=2025))


def test_targets_table_columns_follow_the_index_order():
    table = index_page.targets_table(fake_run(UNITS), UNITS)
    assert list(table.columns) == ["Chỉ tiêu", "Năm", "Mục tiêu", "Toàn tỉnh", *UNITS]
    assert "≥\u00a095%" in set(table["Mục tiêu"])  # a target stays on one line


def test_status_counts_count_each_units_targets():
    targets = tracker(UNITS)
    counts = index_page.status_counts(targets, UNITS, base_year=2025)
    assert list(counts[("", "Đơn vị")]) == UNITS
    for unit in UNITS:
        row = counts[counts[("", "Đơn vị")] == unit].iloc[0]
        for (head, status), n in row.iloc[1:].items():
            year = int(head.split()[1])
            mine = targets[(targets["unit"] == unit) & (targets["year"] == year) & (targets["status"] == status)]
            assert n == len(mine)
    assert counts.iloc[:, 1:].to_numpy().sum() == len(targets[targets["unit"].isin(UNITS)])


def test_many_units_are_rows_not_columns():
    many = [f"Xã {i:02d}" for i in range(index_page.MATRIX_MAX_UNITS + 1)]
    html = index_page.targets_section(fake_run(many), many)
    assert "Số chỉ tiêu theo đánh giá, từng đơn vị" in html
    matrix = html.split("</table>")[0]
    assert not any(f"<th>{u}</th>" in matrix for u in many)   # no column per unit
    few = index_page.targets_section(fake_run(UNITS), UNITS)
    assert "Số chỉ tiêu theo đánh giá" not in few and all(f"<th>{u}</th>" in few for u in UNITS)
    assert few.index("<th>Đà Bắc</th>") < few.index("<th>Thành phố Lai Châu</th>")
    assert report.unit_order(UNITS) == UNITS


def test_the_grey_light_is_explained_where_it_shows():
    from nq21model import report

    plain = report.light_legend(["đạt", "khó đạt"])
    assert "xanh" in plain and "đỏ" in plain and "xám" not in plain
    grey = report.light_legend(["đạt", report.NOT_APPLICABLE, report.NO_DATA])
    assert "xám" in grey and "không áp dụng cho đơn vị" in grey and "không có số liệu" in grey
    assert grey.endswith(".") and plain.endswith(".")
