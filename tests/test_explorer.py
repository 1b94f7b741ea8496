"""The scenario explorer: widget state → results (against a plain forecast of the
whole province), caching, errors, quotas, the XLSX export, the charts, and the
notebook executed by papermill."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, make_tables
from nq21model import config
from nq21model.data import Dataset, load_dataset
from nq21model.exceptions import ParameterError
from nq21model.explorer import (Explorer, ExplorerState, default_threshold, rate_band_html, slugify,
                                threshold_options)
from nq21model.fmt import format_percent, format_probability
from nq21model.forecast import forecast
from nq21model.results import CELL_COLUMNS, PROVINCE
from nq21model.scenario import Scenario


@pytest.fixture(scope="module")
def dataset():
    return load_dataset()


@pytest.fixture(scope="module")
def app(dataset):
    return Explorer(dataset)


def unit_row(results, by, unit, horizon):
    table = results.province if by == "province" else results.units(by)
    row = table[(table["unit"] == unit) & (table["status"] == "forecast") & (table["horizon"] == horizon)]
    assert len(row) == 1
    return row.iloc[0]


# ------------------------------------------------------------- state → results


@pytest.mark.parametrize("level,unit", [("district", "Mường Tè"), ("commune", "Xã Pa Ủ"), ("province", None)])
def test_view_matches_a_forecast_of_the_whole_province(app, dataset, level, unit):
    """The explorer forecasts only the unit's cells, but province admissions come from
    every cell: its figures must equal those of the plain forecast of the province."""
    state = ExplorerState(level=level, unit=unit, admission_rate=0.042, attrition_rate=0.025,
                          allocation="members", horizon=2029, compare_admission_rate=0.021,
                          compare_allocation="population")
    view = app.run(state)
    for which, scenario in (("a", Scenario(admission_rate=0.042, attrition_rate=0.025, allocation="members")),
                            ("b", Scenario(admission_rate=0.021, attrition_rate=0.02))):
        full = forecast(dataset, scenario, horizons=[2029])
        name = PROVINCE if level == "province" else unit
        expected = unit_row(full, level, name, 2029)
        shares = view.shares(which)
        for k in config.THRESHOLDS:
            got = shares.set_index("threshold").loc[k]
            assert got["share"] == pytest.approx(expected[f"share_at_least_{k}"], abs=1e-12)
            assert got["p_share_95"] == pytest.approx(expected[f"p_share_95_at_least_{k}"], abs=1e-12)
        assert view.unit_row(which)["expected_members"] == pytest.approx(expected["expected_members"], rel=1e-12)
        path = view.path(which)
        reference = full.path(None if level == "province" else level, None if level == "province" else unit)
        pd.testing.assert_frame_equal(path.reset_index(drop=True), reference.reset_index(drop=True))
        cells = full.cells[full.cells["horizon"] == 2029]
        if level != "province":
            cells = cells[cells[level] == unit]
        table = view.cell_table(which)
        assert list(table.columns) == CELL_COLUMNS + [f"members_{dataset.last_year}"]
        pd.testing.assert_frame_equal(table[CELL_COLUMNS], cells[CELL_COLUMNS].reset_index(drop=True))


def test_share_now_and_cells_needed_are_counted_from_history(app, dataset):
    view = app.run(ExplorerState(level="district", unit="Nậm Nhùn"))
    members = dataset.members_at(2025)[dataset.cells.set_index("cell_id")["district"] == "Nậm Nhùn"]
    shares = view.shares().set_index("threshold")
    for k in config.THRESHOLDS:
        assert shares.loc[k, "share_now"] == pytest.approx((members >= k).mean())
    assert (shares["cells_needed"] == int(np.ceil(0.95 * len(members)))).all()
    assert shares["observed"].isna().all()  # 2030 is not in history


def test_replay_shows_what_happened_at_the_horizon(app, dataset):
    view = app.run(ExplorerState(level="district", unit="Sìn Hồ", base_year=2022, horizon=2025))
    members = dataset.members_at(2025)[dataset.cells.set_index("cell_id")["district"] == "Sìn Hồ"]
    observed = view.shares().set_index("threshold")["observed"]
    for k in config.THRESHOLDS:
        assert observed[k] == pytest.approx((members >= k).mean())
    assert view.threshold == 3  # the 2025 target


def test_a_higher_admission_rate_raises_the_shares(app):
    state = ExplorerState(level="district", unit="Mường Tè")
    low, high = app.run(state.with_(admission_rate=0.02)), app.run(state.with_(admission_rate=0.06))
    assert (high.shares()["share"] > low.shares()["share"]).all()
    assert high.unit_row()["expected_members"] > low.unit_row()["expected_members"]
    assert len(high.at_risk()) <= len(low.at_risk())


def test_comparison_sets_both_scenarios_side_by_side(app):
    view = app.run(ExplorerState(level="district", unit="Phong Thổ", admission_rate=0.05,
                                 compare_admission_rate=0.03))
    table = view.comparison().set_index("figure")
    assert table.loc["scenario", "a"].startswith("kết nạp 5%/năm")
    assert table.loc["scenario", "b"].startswith("kết nạp 3%/năm")
    for k in config.THRESHOLDS:
        assert table.loc[f"share_at_least_{k}", "a"] == pytest.approx(view.shares("a").iloc[k - 3]["share"])
        assert table.loc[f"share_at_least_{k}", "b"] == pytest.approx(view.shares("b").iloc[k - 3]["share"])
    assert table.loc["at_risk_cells", "a"] == len(view.at_risk("a"))
    html = view.comparison_html()
    assert "Kịch bản A" in html and "Kịch bản B" in html
    assert format_percent(table.loc["share_at_least_4", "b"]) in html


def test_at_risk_is_the_results_at_risk_list_at_the_threshold(app, dataset):
    view = app.run(ExplorerState(level="district", unit="Mường Tè", threshold=5))
    assert view.threshold == 5
    expected = view.results.at_risk(2030, 5)
    pd.testing.assert_frame_equal(view.at_risk(), expected)
    assert (expected["p_at_least"] < 0.5).sum() + (expected["members_now"] == 0).sum() >= len(expected) > 0
    html = view.at_risk_html(limit=3)
    assert expected["cell_id"].iloc[0] in html and expected["cell_id"].iloc[3] not in html
    assert f"… và {len(expected) - 3} chi bộ khác" in html


def test_default_threshold_follows_the_programme():
    assert default_threshold(2025) == 3
    assert [default_threshold(y) for y in (2026, 2028, 2030)] == [4, 4, 4]
    assert default_threshold(2031) == 5
    assert threshold_options()[0] == ("Theo mục tiêu", 0)
    assert [v for _, v in threshold_options()[1:]] == list(config.THRESHOLDS)


def test_shares_html_shows_the_numbers_of_the_view(app):
    view = app.run(ExplorerState(level="district", unit="Tam Đường", admission_rate=0.03))
    html = view.shares_html()
    for r in view.shares().itertuples():
        assert f'data-threshold="{r.threshold}"' in html
        assert format_percent(r.share) in html and format_probability(r.p_share_95) in html


# --------------------------------------------------------------------- caching


def test_views_and_the_unchanged_scenario_are_cached(dataset):
    app = Explorer(dataset)
    state = ExplorerState(level="district", unit="Than Uyên")
    first = app.run(state)
    assert app.run(ExplorerState(level="district", unit="Than Uyên")) is first
    moved = app.run(state.with_(admission_rate=0.041))
    assert moved is not first
    assert moved.compare is first.compare  # scenario B did not change: not recomputed
    assert moved.results is not first.results
    assert app.unit_index("district", "Than Uyên") is app.unit_index("district", "Than Uyên")


def test_options_for_the_widgets(app, dataset):
    assert app.units("province") == [PROVINCE]
    assert sorted(app.units("district")) == sorted(dataset.cells["district"].unique())
    communes = app.unit_options("commune")
    assert len(communes) == dataset.cells["commune"].nunique()
    assert ("Xã Pa Ủ (Mường Tè)", "Xã Pa Ủ") in communes
    assert app.units("district").index("Tam Đường") < app.units("district").index("Thành phố Lai Châu")
    assert app.base_years() == dataset.years
    assert app.horizons(2022)[0] == 2023 and app.horizons()[0] == 2026
    assert app.default_horizon(2022, 2030) == 2030
    assert app.default_horizon(2028, 2027) == 2030
    assert app.default_horizon(2031, None) == 2036
    assert [v for _, v in app.allocations()] == ["population", "members"]
    assert [v for _, v in app.allocations(quotas=True)] == ["population", "members", "quota"]


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("state,words", [
    (ExplorerState(level="district", unit="Nowhere"), "no district named 'Nowhere'"),
    (ExplorerState(level="commune"), "choose a commune (one of: Phường Đoàn Kết"),
    (ExplorerState(level="district", unit="Mường Tè", horizon=2025), "at or before the base year"),
    (ExplorerState(level="district", unit="Mường Tè", base_year=2010), "outside the history"),
    (ExplorerState(level="village", unit="Mường Tè"), "level must be one of"),
    (ExplorerState(level="district", unit="Mường Tè", allocation="quota"), "needs a quotas table"),
    (ExplorerState(level="district", unit="Mường Tè", admission_rate=1.5), "admission rate must be in"),
])
def test_a_state_the_data_cannot_answer_gives_an_error_page(app, state, words):
    with pytest.raises(ValueError) as info:  # ParameterError and DataError are ValueErrors
        app.run(state)
    assert words in str(info.value)
    page = app.page(state)
    assert page.view is None and words in page.error
    assert set(page.widget_values()) == {"rates", "status"}
    assert "nq21-error" in page.widget_values()["status"]


# ---------------------------------------------------------------------- quotas


def quotas_for(dataset, years, per_cell=None):
    rows = [{"cell_id": c, "year": y, "quota": (per_cell or {}).get(c, 0)}
            for c in dataset.cells["cell_id"] for y in years]
    return pd.DataFrame(rows)


def test_a_quotas_table_in_the_state_sets_the_admissions(dataset):
    app = Explorer(dataset)
    small = dataset.cells.loc[dataset.cells["district"] == "Mường Tè", "cell_id"].iloc[:5].tolist()
    quotas = quotas_for(dataset, range(2026, 2031), {c: 2 for c in small})
    view = app.run(ExplorerState(level="district", unit="Mường Tè", allocation="quota", quotas=quotas))
    lam = view.results.rates.lam[0]
    cells = view.results.dataset.cells["cell_id"]
    assert np.allclose(lam[cells.isin(small).to_numpy()], 2.0)
    assert np.allclose(lam[~cells.isin(small).to_numpy()], 0.0)
    assert view.results.scenario.label.startswith("kết nạp theo chỉ tiêu giao")


def test_a_quota_provider_is_asked_once_per_scenario_and_years(dataset):
    calls = []

    def provider(data, scenario, base_year, horizon):
        calls.append((scenario.admission_rate, base_year, horizon))
        return quotas_for(data, range(base_year + 1, horizon + 1),
                          {c: 1 for c in data.cells["cell_id"].iloc[:50]})

    app = Explorer(dataset, quota_provider=provider)
    assert [v for _, v in app.allocations()][-1] == "quota"
    assert dict((v, k) for k, v in app.allocations())["quota"] == "Theo chỉ tiêu tối ưu"
    state = ExplorerState(level="district", unit="Mường Tè", allocation="quota", horizon=2028)
    app.run(state)
    app.run(state.with_(compare_admission_rate=0.05))
    app.run(state.with_(unit="Tam Đường"))
    assert calls == [(state.admission_rate, 2025, 2028)]
    app.run(state.with_(admission_rate=0.05))
    assert calls[-1] == (0.05, 2025, 2028)


# ---------------------------------------------------------------------- export


def test_write_cell_table_writes_every_cell_of_the_unit(app, tmp_path, dataset):
    view = app.run(ExplorerState(level="district", unit="Nậm Nhùn", admission_rate=0.031))
    path = view.write_cell_table(tmp_path / "out.xlsx")
    sheets = pd.read_excel(path, sheet_name=None)
    assert set(sheets) == {"chi_bo", "co_nguy_co", "kich_ban"}
    table = sheets["chi_bo"]
    assert len(table) == (dataset.cells["district"] == "Nậm Nhùn").sum()
    assert list(table.columns) == CELL_COLUMNS + ["members_2025"]
    np.testing.assert_allclose(table["p_at_least_4"], view.cell_table()["p_at_least_4"])
    assert len(sheets["co_nguy_co"]) == len(view.at_risk())
    params = sheets["kich_ban"].set_index("name")["value"]
    assert params["data"].startswith("Dữ liệu mô phỏng")
    assert float(params["admission_rate"]) == 0.031
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_a_failed_export_keeps_the_previous_file(dataset, tmp_path, monkeypatch):
    app = Explorer(dataset)
    state = ExplorerState(level="district", unit="Nậm Nhùn")
    assert "nq21-saved" in app.export(state, tmp_path)
    (path,) = tmp_path.iterdir()
    before = path.read_bytes()
    original = pd.DataFrame.to_excel

    def fails_on_the_second_sheet(self, writer, sheet_name="Sheet1", **kwargs):
        if sheet_name == "co_nguy_co":
            raise OSError("disk full")
        return original(self, writer, sheet_name=sheet_name, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_excel", fails_on_the_second_sheet)
    status = app.export(state.with_(admission_rate=0.05), tmp_path)
    assert "nq21-error" in status and "disk full" in status
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_export_names_the_file_and_reports_errors(dataset, tmp_path):
    app = Explorer(dataset)
    state = ExplorerState(level="commune", unit="Xã Pa Ủ", base_year=2022, horizon=2027)
    status = app.export(state, tmp_path)
    expected = tmp_path / "explorer_xa-pa-u_2022-2027.xlsx"
    assert expected.exists() and str(expected) in status
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert "nq21-error" in app.export(state, blocker)
    assert "nq21-error" in app.export(state.with_(unit="Nowhere"), tmp_path)
    with pytest.raises(ParameterError, match="xlsx"):
        app.run(state).write_cell_table(tmp_path / "x.csv")


def test_slugify():
    assert slugify("Mường Tè") == "muong-te"
    assert slugify("Thành phố Lai Châu") == "thanh-pho-lai-chau"
    assert slugify("Đoàn Kết") == "doan-ket"
    assert slugify("!!!") == "unit"


# ------------------------------------------------------------ banner and band


def test_synthetic_banner_only_for_synthetic_data(app):
    assert "Dữ liệu mô phỏng" in app.banner_html()
    cells, history = make_tables()
    real = Explorer(Dataset(cells=cells, history=history))
    assert real.banner_html() == ""
    view = real.run(ExplorerState(level="district", unit="Sìn Hồ", horizon=2028))
    assert len(view.cell_table()) == (cells["district"] == "Sìn Hồ").sum()


def test_rate_band_marks_the_programme_band():
    inside, outside = rate_band_html(0.035, 0.05), rate_band_html(0.045)
    assert 'data-inside="true"' in inside and "trong khung 3–4%" in inside
    assert 'data-inside="false"' in outside and "ngoài khung 3–4%" in outside
    assert "left:25.0%;width:25.0%" in inside  # 3–4 % on the 2–6 % ruler
    assert "B 5%/năm" in inside


# ---------------------------------------------------------------------- charts


def test_charts_draw_the_views_numbers_on_given_axes(app):
    from matplotlib.figure import Figure

    from nq21model.plots_explorer import plot_target_shares, plot_unit_fan_chart

    view = app.run(ExplorerState(level="district", unit="Mường Tè", base_year=2022, horizon=2025))
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert plot_unit_fan_chart(view, ax1) is ax1
    assert plot_target_shares(view, ax2) is ax2
    path = view.path()
    history, line_a = ax1.lines[0], ax1.lines[1]
    np.testing.assert_allclose(history.get_ydata(), path["observed"].dropna())
    np.testing.assert_allclose(line_a.get_ydata(), path.loc[path["year"] >= 2022, "expected"])
    assert ax1.get_title() == "Đảng viên tại chỗ — Mường Tè"
    bottom = ax2.get_ylim()[0]
    heights = [p.get_y() + p.get_height() for p in ax2.patches[:3]]
    np.testing.assert_allclose(heights, np.maximum(view.shares()["share"], bottom))
    texts = [t.get_text() for t in ax2.texts]
    assert f"{format_percent(view.shares()['share'][0])}\nP={format_probability(view.shares()['p_share_95'][0])}" in texts
    legend = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert legend == ["Kịch bản A", "Kịch bản B", "Mục tiêu 95%", "Năm 2022", "Thực tế 2025"]


@pytest.mark.parametrize("level,unit", [("district", "Mường Tè"), ("commune", "Xã Pa Ủ")])
def test_axis_hints_cover_every_admission_rate(dataset, level, unit):
    from nq21model.plots_explorer import ExplorerRenderer

    app = Explorer(dataset)
    state = ExplorerState(level=level, unit=unit, horizon=2030)
    hints = app.axis_hints(state)
    low, high = hints["members"]
    renderer = ExplorerRenderer()
    for rate in (0.02, 0.027, 0.06):
        for which_rate in ({"admission_rate": rate}, {"compare_admission_rate": rate}):
            view = app.run(state.with_(**which_rate))
            assert view.axis_hints == hints
            for which in ("a", "b"):
                path = view.path(which).dropna(subset=["q10"])
                assert low <= path["q10"].min() and path["q90"].max() <= high
                assert hints["share_floor"] <= view.shares(which)["share"].min() + 1e-12
            renderer.render_rgba(view)
    assert renderer.full_draws == 1  # the axes did not move with the sliders
    assert app.axis_hints(state.with_(attrition_rate=0.04)) != hints


def test_blitted_redraw_equals_a_full_draw(app):
    """A view drawn over the cached background gives the same pixels as a fresh figure."""
    from nq21model.plots_explorer import ExplorerRenderer

    state = ExplorerState(level="district", unit="Mường Tè")
    renderer = ExplorerRenderer()
    renderer.render_rgba(app.run(state))
    moved = app.run(state.with_(admission_rate=0.036))
    blitted = renderer.render_rgba(moved).copy()
    fresh = ExplorerRenderer().render_rgba(moved)
    assert renderer.full_draws == 1  # the second view reused the background
    assert np.abs(blitted.astype(int) - fresh.astype(int)).max() == 0
    png = renderer.render_png(moved)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# -------------------------------------------------------------------- notebook


@pytest.mark.slow
def test_notebook_runs_with_papermill_and_shows_the_package_numbers(tmp_path, app):
    import papermill as pm

    out = tmp_path / "explore.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "explore.ipynb"), str(out), kernel_name=config.KERNEL_NAME,
                        parameters={"unit": "Nậm Nhùn", "admission_rate": 0.031, "horizon": 2029,
                                    "out_dir": str(tmp_path)},
                        cwd=str(ROOT / "notebooks"), progress_bar=False)
    nb = json.loads(out.read_text(encoding="utf-8"))
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"
              or o.get("name") == "stderr"]
    assert errors == []
    state = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    by_class = {cls: m["state"] for m in state.values() for cls in m["state"].get("_dom_classes", [])}
    view = app.run(ExplorerState(level="district", unit="Nậm Nhùn", admission_rate=0.031, horizon=2029))
    assert by_class["nq21-shares"]["value"] == view.shares_html()
    assert by_class["nq21-admission"]["value"] == 0.031
    assert "Dữ liệu mô phỏng" in by_class["nq21-banner"]["value"]
    assert "Nậm Nhùn" in by_class["nq21-title"]["value"]
    assert by_class["nq21-status"]["value"] == ""
    shown = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert len(shown) == 1  # only the explorer itself is displayed


def test_notebook_is_committed_without_outputs_and_with_a_parameters_cell():
    nb = json.loads((ROOT / "notebooks" / "explore.ipynb").read_text(encoding="utf-8"))
    assert nb["cells"][0]["cell_type"] == "markdown" and nb["cells"][0]["source"][0].startswith("# ")
    assert "parameters" in nb["cells"][1]["metadata"].get("tags", [])
    assert nb["metadata"]["kernelspec"]["name"] == config.KERNEL_NAME
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    assert "widgets" not in nb["metadata"]


def test_notebook_wiring_reacts_to_the_controls(tmp_path, dataset):
    """The notebook's code cells run in-process (widgets without a browser); then the
    controls are changed as a user would and the outputs follow."""
    import contextlib
    import io

    nb = json.loads((ROOT / "notebooks" / "explore.ipynb").read_text(encoding="utf-8"))
    code = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    ns: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code + f"\nout_dir = {str(tmp_path)!r}\n", "explore.ipynb", "exec"), ns)
    controls, outputs, app = ns["controls"], ns["outputs"], ns["app"]
    assert "Mường Tè" in outputs["title"].value and outputs["figure"].value[:4] == b"\x89PNG"

    controls["admission_rate"].value = 0.045
    expected = app.run(ExplorerState(level="district", unit="Mường Tè", admission_rate=0.045))
    assert outputs["shares"].value == expected.shares_html()
    assert "ngoài khung 3–4%" in outputs["rates"].value

    controls["level"].value = "commune"
    assert controls["unit"].value == app.units("commune")[0]
    assert controls["unit"].value in outputs["title"].value
    controls["unit"].value = "Xã Pa Ủ"
    assert "Xã Pa Ủ" in outputs["title"].value

    controls["base_year"].value = 2022
    assert controls["horizon"].options[0] == 2023 and controls["horizon"].value == 2030
    controls["horizon"].value = 2025
    assert "Thực tế 2025" in outputs["shares"].value

    ns["export"].click()
    assert "nq21-saved" in outputs["status"].value
    assert (tmp_path / "explorer_xa-pa-u_2022-2025.xlsx").exists()
    assert [v for _, v in controls["allocation"].options] == ["population", "members", "quota"]
    before = outputs["shares"].value
    controls["allocation"].value = "quota"  # optimised quotas (allocate.optimised_quotas)
    assert outputs["shares"].value != before and "nq21-error" not in outputs["shares"].value
