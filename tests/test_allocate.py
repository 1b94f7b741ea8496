"""allocate(): the budget handed down province → unit → cell, quotas a cell can
meet, the population split beside them, the briefing's tables, workbooks and CLI.
The optimiser itself is tested in test_quotas.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import make_tables, run_cli
from nq21model.allocate import allocate
from nq21model.quota_tables import quota_changes, quota_gain_table, write_quota_workbooks
from nq21model.data import Dataset, load_dataset
from nq21model.exceptions import DataError, ParameterError
from nq21model.forecast import forecast
from nq21model.scenario import Scenario


@pytest.fixture(scope="module")
def bundled():
    return load_dataset()


@pytest.fixture(scope="module")
def plan(bundled):
    return allocate(bundled)


def _dataset(n_cells=40, seed=3):
    cells, history = make_tables(n_cells=n_cells, years=range(2015, 2026), seed=seed)
    return Dataset(cells, history)


def test_budget_is_the_programmes_rate_of_all_members_handed_down_by_district(bundled, plan):
    from nq21model.scenario import programme_base

    base = programme_base(bundled, 2025)
    # 3.5 % of all members, the village cells' share φ of it, the first year
    assert plan.province_budget[0] == pytest.approx(0.035 * base.members * base.phi)
    assert (plan.budgets.sum(axis=0) == np.floor(plan.province_budget + 1e-9)).all()
    assert plan.unit_names == sorted(bundled.cells["district"].unique())
    # every unit keeps its own budget every year (not pooled)
    per_unit = np.zeros_like(plan.budgets)
    np.add.at(per_unit, plan.unit, plan.quotas)
    assert (per_unit <= plan.budgets).all()
    assert plan.info["checks"] == {k: 0 for k in plan.info["checks"]}


def test_quotas_are_ones_a_cell_can_follow(plan):
    q = plan.quotas
    assert (np.abs(np.diff(q, axis=1)) <= 1).all()                         # ±1 a year at most
    assert (q <= np.ceil(plan.lift * plan.natural - 1e-9)).all()           # within capacity
    # the floor as written: a population share of the period ≥ 2 → at least 1
    pop = plan.dataset.cells["population"].to_numpy(float)
    unit_pop = np.bincount(plan.unit, weights=pop)
    share = pop / unit_pop[plan.unit] * plan.budgets.sum(axis=1)[plan.unit]
    assert (q.sum(axis=1)[share >= 2] >= 1).all()


def test_the_gain_holds_at_every_lift_and_admissions_are_reported(plan):
    sens = plan.sensitivity()
    assert list(sens["lift"]) == [1.0, 2.0, 3.0]
    assert (sens["gain"] > 0).all()
    assert sens.loc[sens["lift"] == 2.0, "gain"].iloc[0] > 0.025
    assert (sens["realised_optimised"] > 0).all() and (sens["realised_optimised"] <= plan.quotas.sum() + 1e-9).all()


def test_the_plan_forecasts_the_same_through_the_quota_scenario(bundled, plan):
    res = forecast(bundled, Scenario(allocation="quota", quotas=plan.quota_table(), max_lift=plan.lift),
                   horizons=[2030])
    # the optimiser plans on the mean rates; what it reports is scored over every draw, as the forecast
    np.testing.assert_allclose(res.cells["p_at_least_5"].to_numpy(), plan.p_optimised[5], rtol=0, atol=1e-9)
    assert res.rates.info["village_admissions"].sum() == pytest.approx(plan.sensitivity().set_index("lift").loc[
        plan.lift, "realised_optimised"], rel=1e-9)


def test_pooling_names_the_units_that_give_admissions_away(bundled):
    pooled = allocate(bundled, pool=True)
    assert pooled.plan.unit_transfer.sum() == 0 or pooled.plan.info["unplaced"] > 0
    assert len(pooled.plan.losing_units) > 0
    from nq21model.allocate import format_summary

    text = format_summary(pooled)
    for u in pooled.plan.losing_units:
        assert f"{pooled.unit_names[u]} ({int(pooled.plan.unit_transfer[u])})" in text


def test_units_without_totals_share_by_population():
    ds = _dataset()
    a = allocate(ds, admissions_per_year=12)
    assert "theo dân số" in a.budget_note
    assert (a.budgets.sum(axis=0) == 12).all()


@pytest.mark.parametrize("kwargs,message", [
    ({"admission_rate": 0.03, "admissions_per_year": 5}, "not both"),
    ({"horizon": 2025}, "must be after the base year"),
    ({"max_lift": 0}, "the lift"),
    ({"thresholds": 0}, "thresholds must be ≥ 1"),
    ({"base_year": 2016}, "at least 3 years of history before the base year 2016"),
])
def test_bad_parameters(bundled, kwargs, message):
    with pytest.raises(ParameterError, match=message):
        allocate(bundled, **kwargs)


def test_gain_table_changes_and_workbooks(plan, tmp_path):
    gain = quota_gain_table(plan, unit="Mường Tè")
    assert list(gain.columns)[0] == "Khả năng kết nạp của chi bộ" and len(gain) == 3
    mask = plan.unit_mask("district", "Mường Tè")
    sens = plan.sensitivity(mask)
    assert gain["Chênh lệch"].to_numpy() == pytest.approx(sens["gain"].to_numpy())
    changes = quota_changes(plan, "Mường Tè", n=5)
    assert len(changes) == 5 and set(changes["Mã chi bộ"]) <= set(plan.dataset.cells.loc[mask, "cell_id"])
    with pytest.raises(ParameterError):
        quota_changes(plan, "Không có", n=5)
    paths = write_quota_workbooks(plan, tmp_path / "wb")
    assert set(paths) == set(plan.dataset.cells["district"])
    sheet = pd.read_excel(paths["Mường Tè"], sheet_name="Chỉ tiêu", header=1)  # under the title row
    sheet, total = sheet.iloc[:-1], sheet.iloc[-1]
    assert len(sheet) == mask.sum() and total["Mã chi bộ"] == "Tổng cộng"
    years = [f"Chỉ tiêu {y}" for y in range(2026, 2031)]
    assert sheet[years].to_numpy().sum() == plan.quotas[mask].sum()
    assert list(total[years]) == list(plan.quotas[mask].sum(axis=0)) and total["Tổng 2026–2030"] == plan.quotas[mask].sum()
    assert total["Đảng viên tại chỗ 2025"] == plan.n0[mask].sum()
    # what the cells can be expected to admit of their quotas: at most the quota, the forecast's own admissions
    realised = sheet.set_index("Mã chi bộ")["Dự kiến kết nạp được 2026–2030"]
    ids = plan.dataset.cells["cell_id"].to_numpy()[mask]
    assert realised.loc[ids].to_numpy() == pytest.approx(plan.realised_optimised[mask])
    assert (realised <= sheet.set_index("Mã chi bộ")["Tổng 2026–2030"] + 1e-9).all()
    assert total["Dự kiến kết nạp được 2026–2030"] == pytest.approx(plan.realised_optimised[mask].sum())
    # an office edits its list and sends it back: `forecast --quotas` reads it as it is
    from nq21model.model_tables import load_quotas

    back = load_quotas(paths["Mường Tè"], plan.dataset.cells)
    table = plan.quota_table()
    table = table[table["cell_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(back.sort_values(["cell_id", "year"]).reset_index(drop=True),
                                  table.sort_values(["cell_id", "year"]).reset_index(drop=True), check_dtype=False)
    import openpyxl

    book = openpyxl.load_workbook(paths["Mường Tè"])
    sheet = book["Chỉ tiêu"]
    col = next(c.column_letter for c in sheet[2] if c.value == "Chỉ tiêu 2027")
    sheet[f"{col}2"] = "CHỈ TIEU NĂM 2027"                             # as an office retypes a header
    sheet.cell(row=sheet.max_row + 2, column=2, value="Người lập biểu")  # a signature under the total
    book.save(tmp_path / "signed.xlsx")
    signed = load_quotas(tmp_path / "signed.xlsx", plan.dataset.cells)
    pd.testing.assert_frame_equal(signed.sort_values(["cell_id", "year"]).reset_index(drop=True),
                                  back.sort_values(["cell_id", "year"]).reset_index(drop=True))
    book = openpyxl.load_workbook(paths["Mường Tè"])
    book["Chỉ tiêu"][f"{col}5"] = "hai"                              # row 5, "Chỉ tiêu 2027"
    book.save(tmp_path / "edited.xlsx")
    with pytest.raises(DataError, match=r"edited.xlsx, sheet 'Chỉ tiêu', row 5, column 'Chỉ tiêu 2027'"):
        load_quotas(tmp_path / "edited.xlsx", plan.dataset.cells)
    notes = pd.read_excel(paths["Mường Tè"], sheet_name="Ghi chú", header=1).set_index("Mục")["Giá trị"]
    own = plan.quotas[mask].sum(axis=0)
    assert notes["Chỉ tiêu của đơn vị theo năm"] == ", ".join(f"{y}: {q}" for y, q in zip(range(2026, 2031), own))
    assert notes["Tổng chỉ tiêu của đơn vị 2026–2030"].startswith(f"{own.sum()} đảng viên")
    assert notes["Số kết nạp của toàn tỉnh"].startswith("kết nạp 3,5% tổng số đảng viên/năm"), notes
    assert f"từ {plan.threshold} đảng viên tại chỗ" in notes["Ưu tiên"]
    assert "chi bộ không kết nạp ai" in notes["Mức bình quân các năm gần đây"]
    # the bản with no local member (the programme: none without one) is given 1 a year
    empty = mask & (plan.n0 == 0)
    assert empty.any() and (plan.quotas[empty] == 1).all()
    assert f"{int(empty.sum())} chi bộ chưa có đảng viên tại chỗ năm 2025 được giao 1 đảng viên mỗi năm" \
        in notes["Nguyên tắc"]
    province = ", ".join(f"{y}: {q}" for y, q in zip(range(2026, 2031), plan.budgets.sum(axis=0)))
    assert province not in notes.to_numpy()  # the unit's own budget, not the province's
    assert notes["Dữ liệu"] == "Dữ liệu mô phỏng" and "làm tròn lên" in notes["Nguyên tắc"]
    assert "mức phấn đấu" in notes["Dự kiến kết nạp được"]


# ------------------------------------------------------------------- CLI


def test_cli_writes_the_table_and_it_round_trips_through_forecast(small_files, tmp_path):
    cells, history = small_files
    out = tmp_path / "quotas.csv"
    proc = run_cli("allocate", "--cells", cells, "--history", history, "--horizon", 2030,
                   "--threshold", 4, "--admissions-per-year", 5, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "Toàn tỉnh" in proc.stdout and "If cells can admit L" in proc.stdout
    table = pd.read_csv(out)
    assert list(table.columns) == ["cell_id", "district", "commune", "cell_name", "year", "quota",
                                   "p_proportional", "p_optimised"]
    assert (table.groupby("year")["quota"].sum() <= 5).all()
    fc = tmp_path / "forecast.csv"
    proc = run_cli("forecast", "--cells", cells, "--history", history, "--horizon", 2030, "--quotas", out,
                   "--out", fc)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(fc)) == 12


def test_cli_xlsx_and_workbooks(small_files, tmp_path):
    cells, history = small_files
    out = tmp_path / "quotas.xlsx"
    proc = run_cli("allocate", "--cells", cells, "--history", history, "--admissions-per-year", 4,
                   "--out", out, "--workbooks", tmp_path / "wb")
    assert proc.returncode == 0, proc.stderr
    assert set(pd.read_excel(out, sheet_name=None)) == {"quotas", "summary", "sensitivity"}
    assert len(list((tmp_path / "wb").glob("*.xlsx"))) == 2


@pytest.mark.parametrize("args,message", [
    (["--admissions-per-year", -3], "from 0 to"),
    (["--threshold", 0], "thresholds must be ≥ 1"),
    (["--horizon", 2025], "must be after the base year"),
    (["--max-lift", 0], "the lift"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(small_files, tmp_path, args, message):
    cells, history = small_files
    out = tmp_path / "quotas.csv"
    proc = run_cli("allocate", "--cells", cells, "--history", history, *args, "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["cells.csv", "history.csv"]


def test_an_explicit_rate_needs_the_totals_table():
    ds = _dataset()
    with pytest.raises(ParameterError, match="ALL party members"):
        allocate(ds, admission_rate=0.03)
    a = allocate(ds)   # the default budget falls back to local members, and says so
    assert "không có bảng tổng số" in a.budget_note


def test_a_cell_has_one_quota_whichever_grouping_the_briefings_use(bundled):
    """Communes have no totals rows: a commune batch hands the budget to the districts
    (the programme's rate; without totals, their population), as a district batch
    does, so that a cell's quota in a commune's list is its quota in its district's."""
    from nq21model.allocate import budget_grouping
    from nq21model.extras import compute_part
    from nq21model.quota_tables import quota_notes
    from nq21model.report_programme import quota_intro

    assert budget_grouping(bundled, "district", 2025) == "district"
    assert budget_grouping(bundled, "commune", 2025) == "district"
    assert budget_grouping(_dataset(), "commune", 2025) == "district"  # no totals table: the districts' population
    assert budget_grouping(_dataset(), "district", 2025) == "district"
    # the new communes of July 2025: six lie over two former districts, and still one plan
    assert bundled.cells.groupby("commune_2025")["district"].nunique().max() == 2
    assert budget_grouping(bundled, "commune_2025", 2025) == "district"
    results = forecast(bundled)
    by_district, _ = compute_part(results, "quotas", "district")
    by_commune, _ = compute_part(results, "quotas", "commune")
    by_new, _ = compute_part(results, "quotas", "commune_2025")
    a, b = by_district["allocation"], by_commune["allocation"]
    assert b.unit_column == "district" and np.array_equal(a.quotas, b.quotas)
    assert np.array_equal(a.quotas, by_new["allocation"].quotas)
    spanning = "Xã Hua Bum"
    text = quota_intro(by_new["allocation"], spanning, "commune_2025")
    assert "kế hoạch chung của Mường Tè, Nậm Nhùn (huyện" in text, text
    commune = bundled.cells["commune"].iloc[0]
    mask = b.unit_mask("commune", commune)
    notes = dict(quota_notes(b, commune, mask, "commune").to_numpy())
    assert "chia cho các huyện, thành phố" in notes["Cách giao cho đơn vị"]
    assert f"{int(b.quotas[mask].sum())} đảng viên" in notes[f"Tổng chỉ tiêu của đơn vị {b.years[0]}–{b.years[-1]}"]
    # the briefing says the commune's quotas come from its district's plan, and what population alone gives it

    moved = next(c for c in bundled.cells["commune"].unique()
                 if b.quotas[b.unit_mask("commune", c)].sum() != b.proportional[b.unit_mask("commune", c)].sum())
    m = b.unit_mask("commune", moved)
    text = quota_intro(b, moved, "commune")
    assert "chia cho các huyện, thành phố" in text and "rồi cho từng chi bộ" in text
    assert f"Chia theo dân số, {moved} được {int(b.proportional[m].sum())} người" in text
    assert "Chia theo dân số" not in quota_intro(a, "Sìn Hồ", "district")
