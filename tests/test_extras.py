"""The province-wide parts of a briefing (extras): computed once, saved, loaded,
shown; and what a briefing says when a part cannot be computed."""
from __future__ import annotations

import pytest

from conftest import make_tables
from nq21model import report
from nq21model.quota_tables import quota_gain_table
from nq21model.data import Dataset
from nq21model.context import load_extras, save_extras
from nq21model.extras import briefing_extras, compute_extras
from nq21model.forecast import forecast
from nq21model.scenario import Scenario
from nq21model.fmt import format_number
from nq21model.target_views import unit_table


@pytest.fixture(scope="module")
def bundled():
    results = forecast()
    return results, compute_extras(results, by="district")


def test_bundled_extras_have_every_part(bundled):
    results, extras = bundled
    assert extras.problems == {}
    assert set(extras.targets["unit"]) >= {"Toàn tỉnh", "Sìn Hồ"}
    assert extras.allocation.table["quota"].sum() > 0
    assert list(extras.backtest_scores["k"]) == [3, 4, 5]
    assert (extras.backtest_scores["base_year"] == results.base_year - 5).all()
    assert set(extras.crosscheck["year"]) == set(range(results.base_year + 1, max(results.horizons) + 1))


def test_saved_extras_load_back(bundled, tmp_path):
    _, extras = bundled
    save_extras(extras, tmp_path / "ctx")
    again = load_extras(tmp_path / "ctx")
    assert again.targets.equals(extras.targets)
    assert again.allocation.table.equals(extras.allocation.table)
    results = forecast()
    assert briefing_extras(results, by="district", context_dir=str(tmp_path / "ctx")).targets.equals(extras.targets)


def test_sections_show_the_tested_numbers(bundled):
    results, extras = bundled
    html = str(report.show_targets(extras, unit="Sìn Hồ"))
    table = unit_table(extras.targets, "Sìn Hồ")
    for value in table["Kết quả"]:
        assert report._esc(value) in html
    assert "Tỷ lệ chi bộ thôn, bản, tổ dân phố có từ 3 đảng viên tại chỗ trở lên" in html
    quotas = str(report.show_quotas(extras, unit="Sìn Hồ", by="district"))
    gain = quota_gain_table(extras.allocation, by="district", unit="Sìn Hồ")
    from nq21model.fmt import format_percent

    for value in gain["Tỷ lệ chi bộ đạt - chỉ tiêu đề xuất"]:
        assert format_percent(value, 1) in quotas
    assert "gấp 2 lần mức bình quân các năm gần đây (giả định của đề xuất)" in quotas
    backtest = str(report.show_backtest(results, extras))
    assert "Kiểm định mô hình của báo cáo này" in backtest  # the calibrated model, as the forecast
    for v in extras.backtest_scores["brier_calibrated"]:
        assert format_number(v, 4) in backtest
    fig = report.show_targets_chart(extras, results, unit="Sìn Hồ", by="district")
    assert len(fig.axes) >= 10 and fig._repr_png_().startswith(b"\x89PNG")
    assert fig.alt.startswith("Biểu đồ nhỏ nhiều ô") and "Sìn Hồ" in fig.alt


def test_targets_table_puts_the_years_side_by_side_in_plain_words(bundled):
    results, extras = bundled
    table = unit_table(extras.targets, "Sìn Hồ")
    wide = report.targets_by_year(table, base_year=results.base_year)
    assert list(wide[("", "Chỉ tiêu")]) == list(dict.fromkeys(table["Chỉ tiêu"]))
    assert [c for c in wide.columns if c[0]] == [
        ("Năm 2025 — số liệu thực tế", "Mục tiêu"), ("Năm 2025 — số liệu thực tế", "Kết quả"),
        ("Năm 2025 — số liệu thực tế", "Đánh giá"), ("Năm 2030 — dự báo", "Mục tiêu"),
        ("Năm 2030 — dự báo", "Dự báo"), ("Năm 2030 — dự báo", "Khoảng 80%"), ("Năm 2030 — dự báo", "Đánh giá")]
    for _, r in table.iterrows():
        row = wide[wide[("", "Chỉ tiêu")] == r["Chỉ tiêu"]].iloc[0]
        head = report.year_heading(int(r["Năm"]), results.base_year)
        assert row[(head, "Kết quả" if int(r["Năm"]) <= results.base_year else "Dự báo")] == r["Kết quả"]
        assert row[(head, "Đánh giá")] == r["Đánh giá"]
    html = str(report.show_targets(extras, unit="Sìn Hồ"))
    assert "Cách tính" not in html.split("</table>")[0]  # no method column: the appendix says how
    assert "Năm 2025 — số liệu thực tế" in html and "Năm 2030 — dự báo" in html
    methods = report.target_methods(extras, unit="Sìn Hồ")
    assert set(methods["method"]) <= set(report.METHOD_WORDS) and "exact" in set(methods["method"])
    appendix = str(report.show_target_methods(extras, unit="Sìn Hồ"))
    assert "Chi bộ có ≥ 4 đảng viên tại chỗ" in appendix


def test_crosscheck_labels_the_other_model_and_shows_this_pages_numbers(bundled):
    results, extras = bundled
    table = report.crosscheck_table(results, extras)
    path = results.path(None, None).set_index("year")
    assert list(table["year"]) == list(range(results.base_year + 1, max(results.horizons) + 1))
    for _, r in table.iterrows():
        assert r["expected"] == path.loc[r["year"], "expected"]  # the page's own province forecast
        assert (r["q10"], r["q90"]) == (path.loc[r["year"], "q10"], path.loc[r["year"], "q90"])
    ets = extras.crosscheck.set_index("year")
    assert list(table["ets_forecast"]) == list(ets.loc[table["year"], "ets_forecast"])
    html = str(report.show_crosscheck(results, extras))
    assert "Mô hình khác: san bằng mũ (ETS)" in html and "Mô hình của báo cáo" in html
    last = table.iloc[-1]
    assert format_number(last["expected"]) in html and format_number(last["ets_forecast"]) in html
    # a district's page compares the province's totals too, not its own beside the province's ETS
    district = results.subset("district", "Sìn Hồ")
    assert report.crosscheck_table(district, extras).equals(table)
    assert district.path(None, None).set_index("year").loc[table["year"], "expected"].max() < 0.5 * table[
        "expected"].min()
    # extras of one unit's cells alone (a notebook run by hand) have no province forecast to show
    alone = compute_extras(district, by="district")
    assert alone.crosscheck is None and "cả tỉnh" in alone.problems["crosscheck"]
    # ... and its targets are the province-wide tracker's (it had taken the unit's admissions
    # for the province's and failed: the README's notebook by hand on the bundled data)
    assert set(alone.problems) == {"crosscheck"}
    mine, batch = (e.targets[e.targets["unit"].isin(["Sìn Hồ", "Toàn tỉnh"])].reset_index(drop=True)
                   for e in (alone, extras))
    assert mine[["indicator", "unit", "year", "status"]].equals(batch[["indicator", "unit", "year", "status"]])
    assert (mine["value"] - batch["value"]).abs().max() < 1e-6
    assert "cả tỉnh" in str(report.show_crosscheck(district, alone))


def test_conclusion_of_a_bundled_district(bundled):
    results, extras = bundled
    table = report.programme_verdicts(results, extras, unit="Mường Tè", by="district")
    assert list(zip(table["code"], table["year"])) == list(report.CONCLUSION_TARGETS)
    assert (table["status"] != "không có dữ liệu").all()
    admissions = table[(table["code"] == "2a") & (table["year"] == 2025)].iloc[0]
    key = report.key_figures(results, unit="Mường Tè")
    seen = key[(key["kind"] == "admissions") & (key["status"] == "observed")].iloc[0]
    assert admissions["value"] == pytest.approx(seen["rate"])  # one number: the tracker's and the key figures'
    need = report.admissions_needed(results, unit="Mường Tè")
    assert need["needed_rate"] == pytest.approx(need["needed"] / (need["current"] / key.iloc[-1]["rate"]))
    html = str(report.show_conclusion(results, extras, unit="Mường Tè", by="district"))
    assert "chi_tieu/chi_tieu_ket_nap_muong-te.xlsx" in html and "trang «Mường Tè» của tệp at_risk.xlsx" in html


def test_parts_that_cannot_be_computed_are_named_not_fatal():
    cells, history = make_tables(n_cells=20, years=range(2021, 2026))  # five years: no backtest
    results = forecast(Dataset(cells, history))
    extras = compute_extras(results, by="district")
    assert "backtest" in extras.problems and extras.backtest_scores is None
    html = str(report.show_backtest(results, extras))
    assert "Không có dữ liệu" in html and "không đủ để kiểm định" in html
    fixed = forecast(Dataset(cells, history), Scenario.textbook())
    assert "báo cáo này dùng tỷ lệ cố định" in report.backtest_heading(fixed)
    targets = str(report.show_targets(extras, unit="Tam Đường"))
    assert "không có dữ liệu" in targets.lower()


def test_the_default_briefing_is_calibrated_and_compares_programme_rates():
    results = report.run_forecast(horizons=[2030])
    assert results.rates.source == "calibrated" and results.rates.draws > 1
    assert results.scenario.kind == "continue"
    method = str(report.show_method(results))
    assert "ước lượng từ số liệu lịch sử" in method
    table = report.compare_scenarios(results, unit="Sìn Hồ", rates=(0.03, 0.04))
    assert table["current"].tolist() == [True, False, False]
    low, high = (table[table["admission_rate"] == r]["expected_members"].iloc[0] for r in (0.03, 0.04))
    assert low < high
    # the same calibration under a programme rate, as a briefing of its own would make it
    rescaled = report.run_forecast(admission_rate=0.04, horizons=[2030])
    unit = rescaled.units("district").set_index(["unit", "horizon"]).loc[("Sìn Hồ", 2030)]
    assert unit["expected_members"] == pytest.approx(high, rel=1e-9)
    assert "3% tổng số đảng viên toàn tỉnh ≈" in table.loc[1, "scenario"]


def test_stale_context_is_not_reused(bundled, tmp_path):
    _, extras = bundled
    save_extras(extras, tmp_path / "ctx")
    other = forecast(scenario=Scenario(admission_rate=0.05))   # budget: 5 % of all members
    fresh = briefing_extras(other, by="district", context_dir=str(tmp_path / "ctx"))
    assert fresh is not None and fresh.key != extras.key  # recomputed for the other scenario
    assert fresh.allocation.table["quota"].sum() > extras.allocation.table["quota"].sum()


def test_each_units_paths_are_decoded_only_when_asked_for(tmp_path):
    """A unit's notebook decodes its own indicator paths, not every unit's; a table
    that cannot be decoded reads as absent and the chart is computed instead."""
    import hashlib
    import json

    from nq21model.context import MANIFEST_FILE, LazyTables

    results = forecast()
    extras = compute_extras(results, by="district", units=["Sìn Hồ", "Mường Tè"])
    save_extras(extras, tmp_path / "ctx")
    again = load_extras(tmp_path / "ctx")
    assert isinstance(again.paths, LazyTables) and list(again.paths) == ["Sìn Hồ", "Mường Tè"]
    assert again.paths._done == {}
    assert again.paths["Mường Tè"].equals(extras.paths["Mường Tè"])
    assert list(again.paths._done) == ["Mường Tè"]
    # a table of the manifest, intact but not a table: absent, and the chart computes its paths
    manifest = json.loads((tmp_path / "ctx" / MANIFEST_FILE).read_text())
    doc = json.loads((tmp_path / "ctx" / "extras.json").read_text())
    name = dict((k, v) for k, v in doc["fields"]["paths"]["$tables"])["Sìn Hồ"]
    (tmp_path / "ctx" / name).write_text('{"not": "a table"}')
    manifest["files"][name] = hashlib.sha256(b'{"not": "a table"}').hexdigest()
    (tmp_path / "ctx" / MANIFEST_FILE).write_text(json.dumps(manifest))
    broken = load_extras(tmp_path / "ctx")
    assert broken.paths.get("Sìn Hồ") is None
    fig = report.show_targets_chart(broken, results.subset("district", "Sìn Hồ"), unit="Sìn Hồ", by="district")
    assert len(fig.axes) == extras.paths["Sìn Hồ"]["indicator"].nunique()


def test_data_key_is_read_once_and_follows_the_files(tmp_path, monkeypatch):
    """The data files are hashed once while they stay as they are (a notebook asks for
    the key three times), and again when one changes."""
    from types import SimpleNamespace

    from nq21model import extras, provenance

    calls = []
    monkeypatch.setattr(provenance, "_digest", lambda path: calls.append(path) or f"h{len(calls)}")
    cells = tmp_path / "cells.csv"
    cells.write_text("cell_id,district\nC1,A\n", encoding="utf-8")
    dataset = SimpleNamespace(sources={"cells": str(cells)}, history=None)
    first = extras.data_key(dataset)
    assert extras.data_key(dataset) == first and len(calls) == 1
    cells.write_text("cell_id,district\nC1,A\nC2,B\n", encoding="utf-8")
    assert extras.data_key(dataset) != first and len(calls) == 2


def test_a_warm_kernel_decodes_a_context_once(bundled, tmp_path, monkeypatch):
    """A warm kernel (``context.remember``) decodes the batch's context once and hands
    each unit a copy; the files are still checked at every read, and a context saved
    again is decoded again."""
    import hashlib
    import json

    from nq21model import context

    _, extras = bundled
    save_extras(extras, tmp_path / "ctx")
    decoded = []
    real = context._Decoder.__init__

    def counted(self, tables, *, plain=False):
        decoded.extend([] if plain else [1])  # a decoder of the contents (not of the key)
        real(self, tables, plain=plain)

    monkeypatch.setattr(context._Decoder, "__init__", counted)
    monkeypatch.setattr(context, "_LAST", None)  # a notebook on its own: every read decodes
    load_extras(tmp_path / "ctx")
    load_extras(tmp_path / "ctx")
    assert len(decoded) == 2
    monkeypatch.setattr(context, "_LAST", [])  # what report.warm_up turns on
    decoded.clear()
    first = load_extras(tmp_path / "ctx")
    for _ in range(2):  # what a unit changes, the next does not see
        first.targets.iloc[:, -1] = None
        first.allocation.info["changed"] = True
        second = load_extras(tmp_path / "ctx")
        assert second is not first and second.targets.equals(extras.targets)
        assert "changed" not in second.allocation.info
        first = second
    assert len(decoded) == 1
    # an altered file is refused even though its context was decoded before
    table = next(p for p in sorted((tmp_path / "ctx").glob("table-*.json")))
    table.write_bytes(table.read_bytes() + b" ")
    with pytest.raises(context.ContextError, match="altered"):
        load_extras(tmp_path / "ctx")
    # saved again (other contents, other manifest): decoded again
    extras.allocation.info["note-for-test"] = "x"
    try:
        save_extras(extras, tmp_path / "ctx")
    finally:
        del extras.allocation.info["note-for-test"]
    decoded.clear()
    assert load_extras(tmp_path / "ctx").allocation.info["note-for-test"] == "x"
    assert len(decoded) == 1
    manifest = json.loads((tmp_path / "ctx" / context.MANIFEST_FILE).read_text())
    assert all(hashlib.sha256((tmp_path / "ctx" / n).read_bytes()).hexdigest() == d
               for n, d in manifest["files"].items())


def test_a_warm_kernels_small_multiples_are_each_units_own(bundled, monkeypatch):
    """In a batch's warm kernel (report_programme._REUSED on) the small multiples of
    unit after unit — the province too — are drawn into one figure: each image is the
    one a new figure gives, its words (alt) the unit's."""
    from nq21model import report_programme

    results, extras = bundled
    units = ["Sìn Hồ", "Mường Tè", None, "Tam Đường", "Sìn Hồ"]
    fresh = {unit: report.show_targets_chart(extras, results, unit=unit, by="district") for unit in units}
    fresh = {unit: (fig._repr_png_(), fig.alt) for unit, fig in fresh.items()}
    monkeypatch.setattr(report_programme, "_REUSED", {})
    figures = set()
    for unit in units:
        fig = report.show_targets_chart(extras, results, unit=unit, by="district")
        figures.add(id(fig))
        assert (fig._repr_png_(), fig.alt) == fresh[unit], unit
    assert len(figures) < len(units)  # drawn into again (the province's 15 panels: a figure of its own)
