"""Charts (nq21model.plots) and the briefing's content (nq21model.report), on a small
data set: every number checked against a direct computation written here."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from nq21model import config, plots, report
from nq21model.fmt import format_percent


@pytest.fixture(scope="module")
def results(small_dir):
    return report.run_forecast(cells_path=str(small_dir / "cells.csv"), history_path=str(small_dir / "history.csv"))


@pytest.fixture(scope="module")
def textbook(small_dir):
    """The textbook process: fixed rates, 3.5 % of local members split by population."""
    return report.run_forecast(cells_path=str(small_dir / "cells.csv"), history_path=str(small_dir / "history.csv"),
                               fixed_rates=True, admission_rate=0.035, admission_base="local")


@pytest.fixture(scope="module")
def synthetic_results(small_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    for name in ("cells.csv", "history.csv"):
        (folder / name).write_bytes((small_dir / name).read_bytes())
    (folder / config.SYNTHETIC_MARKER).write_text(json.dumps({"synthetic": True}), encoding="utf-8")
    return report.run_forecast(cells_path=str(folder / "cells.csv"), history_path=str(folder / "history.csv"))


UNIT = "Tam Đường"


# ------------------------------------------------------------------------ plots


def _texts(ax):
    return " ".join([ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
                    + [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()])


def test_fan_chart_draws_history_band_and_vietnamese_labels(results):
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    frame = results.path("district", UNIT)
    out = plots.plot_fan_chart(frame, base_year=results.base_year, title_unit=UNIT, ax=ax)
    assert out is ax
    assert ax.get_title() == f"Đảng viên tại chỗ — {UNIT}"
    assert ax.get_xlabel() == "Năm" and ax.get_ylabel() == "Số đảng viên tại chỗ"
    history = [line for line in ax.get_lines() if line.get_label() == "Thực tế"][0]
    seen = frame.dropna(subset=["observed"])
    np.testing.assert_allclose(history.get_ydata(), seen["observed"])
    band = ax.collections[0].get_paths()[0].vertices
    ahead = frame[frame["year"] >= results.base_year]
    assert band[:, 1].min() == pytest.approx(ahead["q10"].min())
    assert band[:, 1].max() == pytest.approx(ahead["q90"].max())
    ax.figure.canvas.draw()
    # Vietnamese thousands separator on the axis (babel 'vi'): 1.000, not 1,000
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert not any("," in t for t in labels)


def test_results_plot_fan_chart_uses_plots(results):
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    ax = results.plot_fan_chart(by="district", unit=UNIT)
    try:
        assert UNIT in ax.get_title()
        assert len(set(plt.get_fignums()) - before) == 1  # ax=None: one new figure
    finally:
        plt.close(ax.figure)


def test_probability_classes_and_scenarios_and_unit_shares(results):
    from matplotlib.figure import Figure

    classes = results.probability_classes(2030, 4, by="district", unit=UNIT)
    ax = plots.plot_probability_classes(classes, horizon=2030, threshold=4, title_unit=UNIT, ax=Figure().add_subplot())
    assert [round(p.get_height()) for p in ax.patches] == classes.tolist()
    assert "xác suất" in ax.get_title().lower() and ax.get_ylabel() == "Số chi bộ"

    table = report.scenario_shares(report.compare_scenarios(results, unit=UNIT))
    ax = plots.plot_scenarios(table, title_unit=UNIT, ax=Figure().add_subplot())
    heights = sorted(round(p.get_height(), 9) for p in ax.patches)
    assert heights == sorted(round(v, 9) for v in table["share"])
    assert "kịch bản" in ax.get_title() and ax.get_ylabel() == "Tỷ lệ chi bộ (kỳ vọng)"
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "Giữ nguyên xu hướng" in legend and "Kết nạp 3%" in legend and "Kết nạp 4%" in legend
    # the chart in words names each scenario by its rate, a decimal comma kept ("3,5%", not "3")
    alt = report.scenarios_alt(report.scenario_shares(report.compare_scenarios(
        results, unit=UNIT, rates=(0.03, 0.035, 0.04))), unit=UNIT)
    for rate in ("3%", "3,5%", "4%"):
        assert f"Kết nạp {rate} số đảng viên" in alt
    assert "Kết nạp 3 " not in alt and alt.count("(") == alt.count(")")

    shares = report.commune_shares(results, unit=UNIT)
    ax = plots.plot_unit_shares(shares, threshold=4, horizon=2030, title_unit=UNIT, ax=Figure().add_subplot())
    assert [p.get_width() for p in ax.patches] == pytest.approx(shares["share"].tolist())
    assert "theo xã" in ax.get_title()


# -------------------------------------------------------------------- key figures


def test_traffic_light_levels():
    """One scale with the tracker (statuses.target_status): 0.8 and 0.2."""
    assert report.traffic_light(0.8) == ("green", "có khả năng đạt")
    assert report.traffic_light(0.79) == ("amber", "nguy cơ không đạt")
    assert report.traffic_light(0.2) == ("amber", "nguy cơ không đạt")
    assert report.traffic_light(0.19) == ("red", "khó đạt")  # a small chance, not a certain failure
    assert report.traffic_light(1.0, observed=True) == ("green", "đạt")
    assert report.traffic_light(0.0, observed=True) == ("red", "không đạt")
    from nq21model import targets

    for p in (0.0, 0.1, 0.19, 0.2, 0.5, 0.79, 0.8, 1.0):
        assert report.traffic_light(p)[1] == targets.status_for(p, observed=False)


def test_a_change_of_shares_adds_up_as_shown():
    """'90,5% lên 94,9%' is +4,4 points, the difference of what the page shows (the
    unrounded shares differ by 4,32); any two shares agree with format_percent."""
    from nq21model.fmt import format_percent, format_point_change

    assert format_point_change(0.94864, 0.90544) == "+4,4 điểm phần trăm"
    assert format_point_change(0.9, 0.93) == "−3 điểm phần trăm"
    rng = np.random.default_rng(0)
    for new, old in rng.random((2000, 2)):
        shown = [float(format_percent(v, 1).rstrip("%").replace(".", "").replace(",", ".")) for v in (new, old)]
        change = format_point_change(new, old)
        sign = -1 if change.startswith("−") else 1
        value = float(change.lstrip("+−").split(" ")[0].replace(".", "").replace(",", "."))
        assert sign * value == pytest.approx(shown[0] - shown[1], abs=1e-9)


def test_format_chance_never_claims_certainty():
    assert report.format_chance(0.823) == "82%"
    assert report.format_chance(0.9996) == "> 99%"
    assert report.format_chance(0.001) == "< 1%"
    assert report.format_chance(1.0) == "100%"
    assert report.format_chance(0.0) == "0%"
    assert report.format_chance(float("nan")) == "–"


def test_key_figures_against_history_and_results(results):
    table = report.key_figures(results, unit=UNIT)
    history = results.dataset.history.merge(results.dataset.cells[["cell_id", "district"]])
    last = history[(history["year"] == 2025) & (history["district"] == UNIT)]["local_members"].to_numpy()
    row = table[(table["year"] == 2025) & (table["threshold"] == 3)].iloc[0]
    assert row["status"] == "observed"
    assert row["value"] == pytest.approx((last >= 3).mean())
    assert row["probability"] == float((last >= 3).sum() >= math.ceil(0.95 * last.size))
    units = results.units("district").set_index(["unit", "horizon"])
    for k in (4, 5):
        r = table[(table["year"] == 2030) & (table["threshold"] == k)].iloc[0]
        assert r["status"] == "forecast"
        assert r["value"] == pytest.approx(units.loc[(UNIT, 2030), f"share_at_least_{k}"])
        assert r["probability"] == pytest.approx(units.loc[(UNIT, 2030), f"p_share_95_at_least_{k}"])
        assert (r["light"], r["verdict"]) == report.traffic_light(r["probability"])
    zero = table[(table["kind"] == "count") & (table["year"] == 2025)].iloc[0]
    assert zero["value"] == (last == 0).sum()
    assert set(table["kind"]) == {"share", "count", "admissions"}


def test_admissions_follow_the_model(textbook, results):
    """Textbook: R_{B+1} = r · M_B split by population (MODEL.md §2) — an assumption, so
    no probability; continue: the calibrated Poisson admissions, mixed over draws."""
    from scipy.stats import poisson

    cells = textbook.dataset.cells
    n0 = textbook.dataset.members_at(textbook.base_year).to_numpy()
    share = cells.loc[cells["district"] == UNIT, "population"].sum() / cells["population"].sum()
    got = report.admissions(textbook, unit=UNIT)
    assert got["expected"] == pytest.approx(0.035 * n0.sum() * share)
    members = n0[(cells["district"] == UNIT).to_numpy()].sum()
    assert got["members_base"] == members and got["base"] == "local"
    assert got["needed"] == math.ceil(0.03 * members)
    assert math.isnan(got["p_target"])                     # the scenario fixes admissions: no circular figure
    h = textbook.dataset.history.merge(cells[["cell_id", "district"]])
    h = h[h["district"] == UNIT]
    assert got["observed"] == h.loc[h["year"] == 2025, "admitted"].sum()
    assert got["observed_rate"] == pytest.approx(got["observed"] / h.loc[h["year"] == 2024, "local_members"].sum())
    mine = report.admissions(results, unit=UNIT)
    idx = (results.dataset.cells["district"] == UNIT).to_numpy()
    lam = results.rates.admissions[:, idx, 0].sum(axis=1)
    assert mine["p_target"] == pytest.approx(poisson.sf(mine["needed"] - 1, lam).mean(), abs=1e-9)


def test_replayed_base_year_shows_what_happened(small_dir):
    res = report.run_forecast(cells_path=str(small_dir / "cells.csv"), history_path=str(small_dir / "history.csv"),
                              base_year=2022)
    table = report.key_figures(res, unit=UNIT)
    row = table[(table["year"] == 2025) & (table["threshold"] == 3)].iloc[0]
    assert row["status"] == "forecast"
    h = res.dataset.history.merge(res.dataset.cells[["cell_id", "district"]])
    seen = h[(h["year"] == 2025) & (h["district"] == UNIT)]["local_members"]
    assert row["observed_value"] == pytest.approx((seen >= 3).mean())
    assert "Thực tế đã xảy ra" in report.show_key_figures(res, unit=UNIT).html


# ---------------------------------------------------------------------- scenarios


def test_compare_scenarios(results, small_dir):
    table = report.compare_scenarios(results, unit=UNIT)
    assert np.isnan(table.loc[0, "admission_rate"]) and table["admission_rate"].tolist()[1:] == [0.03, 0.035, 0.04]
    assert table["current"].tolist() == [True, False, False, False]
    assert table.loc[0, "scenario"].startswith("Giữ nguyên xu hướng hiện nay: chi bộ thôn, bản toàn tỉnh kết nạp ≈ ")
    # no totals table in these files: the rates are of local members, and the label says so
    assert table.loc[2, "scenario"].startswith("Kết nạp 3,5% số đảng viên tại chỗ/năm")
    assert table.loc[1:, "expected_members"].is_monotonic_increasing
    own = results.units("district").query("unit == @UNIT and horizon == 2030").iloc[0]
    assert table.loc[0, "share_at_least_4"] == pytest.approx(own["share_at_least_4"])
    # the briefing's own scenario, when it is another, is added beside them
    other = report.run_forecast(cells_path=str(small_dir / "cells.csv"), history_path=str(small_dir / "history.csv"),
                                admission_rate=0.05, admission_base="local")
    rates = report.compare_scenarios(other, unit=UNIT)["admission_rate"].tolist()
    assert rates[1:] == [0.03, 0.035, 0.04, 0.05]
    html = report.show_scenarios(table).html
    assert "(kịch bản của báo cáo)" in html


# ------------------------------------------------------------------------ at risk


def test_at_risk_cells_match_the_rule(results):
    table = report.at_risk_cells(results, unit=UNIT)
    cells = results.cells[results.cells["horizon"] == 2030].reset_index(drop=True)
    cells["now"] = results.n0
    mine = cells[cells["district"] == UNIT]
    expected = set(mine.loc[(mine["p_at_least_4"] < 0.5) | (mine["now"] == 0), "cell_id"])
    assert set(table["Mã chi bộ"]) == expected
    assert list(table.columns) == ["Mã chi bộ", "Chi bộ", "Xã", "Huyện", "Đảng viên tại chỗ 2025",
                                   "Dự kiến 2030", "Xác suất ≥ 4 (2030)", "Lý do"]
    html = report.show_at_risk(results, unit=UNIT).html
    for cid in expected:
        assert cid in html
    # every chance shown under "dưới 0,5" is below 0,5 (0.4968 must not show 0,50), within 0.01 of the truth
    chance = report.at_risk_cells(results).set_index("Mã chi bộ")["Xác suất ≥ 4 (2030)"]  # the province's
    truth = cells.set_index("cell_id")["p_at_least_4"].loc[chance.index]
    assert (chance < 0.5).all() and ((truth - chance) >= -1e-12).all() and ((truth - chance) < 0.01).all()


def test_unit_order_ignores_accents():
    assert report.unit_order(["Thành phố Lai Châu", "Tân Uyên", "Đà Bắc", "Mường Tè"]) == \
        ["Đà Bắc", "Mường Tè", "Tân Uyên", "Thành phố Lai Châu"]


def test_unit_overview(results):
    table = report.unit_overview(results)
    assert table["unit"].tolist() == ["Toàn tỉnh", "Sìn Hồ", "Tam Đường"]
    assert table.loc[0, "cells"] == table.loc[1:, "cells"].sum()
    assert table.loc[0, "members_now"] == results.n0.sum()
    for _, r in table.iloc[1:].iterrows():
        assert r["at_risk"] == len(report.at_risk_cells(results, unit=r["unit"]))
    assert {"share_2025_3", "p_2030_4", "share_2030_5"} <= set(table.columns)


# -------------------------------------------------------------------- displayables


def test_banner_only_for_synthetic_data(results, synthetic_results):
    assert report.show_banner(results).html == ""
    html = report.show_banner(synthetic_results).html
    assert "Dữ liệu mô phỏng" in html and "nq21-banner" in html
    assert "Dữ liệu mô phỏng" in report.show_method(synthetic_results).html
    # the banner names the generator its marker names, when it names one
    assert "tỉnh giả lập;" in html
    from dataclasses import replace

    from nq21model.data import load_dataset

    assert "(nq21model.synth)" in report.banner_text(load_dataset())

    other = replace(synthetic_results.dataset, synthetic_info={"synthetic": True, "generator": "<b>tests/worlds.py"})
    assert "tỉnh giả lập (<b>tests/worlds.py)" in report.banner_text(other)
    assert "&lt;b&gt;tests/worlds.py" in report.banner_html(other)
    assert "tỉnh giả lập;" in report.banner_text(replace(other, synthetic_info={"synthetic": True}))


def test_title_and_method_text(results, textbook):
    assert "giảm 2%/năm" in report.show_method(textbook).html
    html = report.show_title(results, unit=UNIT).html
    assert UNIT in html and "Số liệu đến hết năm 2025" in html and results.scenario.label in html
    method = report.show_method(results).html
    from nq21model import __version__

    assert f"nq21model phiên bản {__version__}" in method
    assert "đảng viên tại chỗ" in method and "ước lượng từ số liệu lịch sử đến năm gốc 2025" in method


def test_key_figures_html_uses_vietnamese_numbers(results):
    html = report.show_key_figures(results, unit=UNIT).html
    table = report.key_figures(results, unit=UNIT)
    share = table[(table["year"] == 2030) & (table["threshold"] == 4)]["value"].iloc[0]
    assert format_percent(share, 1) in html
    assert re.search(r"\d,\d%", html)  # decimal comma, babel 'vi'
    for verdict in table["verdict"]:
        assert verdict in html


def test_figures_display_as_png(results):
    figures = [report.show_fan_chart(results, unit=UNIT), report.show_probability_classes(results, unit=UNIT),
               report.show_commune_shares(results, unit=UNIT),
               report.show_scenarios_chart(report.compare_scenarios(results, unit=UNIT), unit=UNIT)]
    for fig in figures:
        assert fig._repr_png_().startswith(b"\x89PNG")
    # a commune briefing has no commune chart
    assert report.show_commune_shares(results, unit="Xã 1", by="commune").html == ""


def test_run_forecast_rejects_unknown_unit(small_dir):
    from nq21model.exceptions import ParameterError

    with pytest.raises(ParameterError, match="choose from"):
        report.run_forecast(cells_path=str(small_dir / "cells.csv"), history_path=str(small_dir / "history.csv"),
                            unit="Nowhere")
    with pytest.raises(ParameterError, match="no column"):
        report.run_forecast(cells_path=str(small_dir / "cells.csv"), history_path=str(small_dir / "history.csv"),
                            unit_column="ward")


def test_key_figures_cover_a_horizon_that_is_not_a_target_year(small_dir):
    res = report.run_forecast(cells_path=str(small_dir / "cells.csv"), history_path=str(small_dir / "history.csv"),
                              horizons=[2027])
    table = report.key_figures(res)
    rows = table[(table["year"] == 2027) & (table["kind"] == "share")]
    assert list(rows["threshold"]) == [4, 5] and (rows["status"] == "forecast").all()
    province = res.province.set_index("horizon").loc[2027]
    assert rows["value"].tolist() == [province["share_at_least_4"], province["share_at_least_5"]]


def test_a_units_briefing_runs_the_engine_on_its_cells_only(small_dir):
    """run_forecast(unit=…) gives the unit's results: the same numbers as the whole
    province's forecast for that unit, and the scenario labels keep the province's
    admissions beside the unit's own."""
    paths = {"cells_path": str(small_dir / "cells.csv"), "history_path": str(small_dir / "history.csv")}
    whole = report.run_forecast(**paths)
    mine = report.run_forecast(**paths, unit=UNIT)
    assert mine.subset_of == ("district", UNIT) and set(mine.dataset.cells["district"]) == {UNIT}
    a = whole.units("district").query("unit == @UNIT").reset_index(drop=True)
    b = mine.units("district").reset_index(drop=True)
    np.testing.assert_allclose(a.select_dtypes("number").to_numpy(), b.select_dtypes("number").to_numpy())
    people = report.scenario_people(mine)
    assert people["village"] == pytest.approx(report.scenario_people(whole)["village"])
    assert people["unit"] < people["village"] and f"; {UNIT} ≈" in report.scenario_label(mine)


# ------------------------------------------------------------- axes and alt text


def test_percent_labels_tell_the_true_value():
    assert plots.percent_label(0.9) == "90%"
    assert plots.percent_label(0.825) == "82,5%"   # never '83%' on a gridline at 82,5 %
    assert plots.percent_label(0.0125) == "1,25%"
    assert plots.percent_label(1.0) == "100%"


def test_share_axis_keeps_a_minimum_span():
    assert plots.share_limits([0.993, 1.0]) == pytest.approx((0.9, 1.0))
    assert plots.share_limits([0.02, 0.03]) == pytest.approx((0.02, 0.12))
    low, high = plots.share_limits([0.5, 0.97], include=(0.95,))
    assert (low, high) == pytest.approx((0.5, 0.97))
    assert plots.share_limits([float("nan")]) == (0.0, 1.0)


def _tick_labels(axis, low, high):
    ticks = [t for t in axis.get_majorticklocs() if low - 1e-9 <= t <= high + 1e-9]
    labels = [axis.get_major_formatter()(t, i) for i, t in enumerate(ticks)]
    return ticks, labels


def test_share_charts_tick_on_round_percents(results):
    import pandas as pd
    from matplotlib.figure import Figure

    table = pd.DataFrame({"unit": ["Xã A", "Xã B", "Xã C"], "share": [0.993, 0.998, 1.0]})
    ax = plots.plot_unit_shares(table, threshold=4, horizon=2030, title_unit=UNIT, ax=Figure().add_subplot())
    low, high = ax.get_xlim()
    assert high - low >= 0.10                                   # 99,3 % is not drawn as a collapse
    ticks, labels = _tick_labels(ax.xaxis, 0, 1)
    assert ticks and all(abs(100 * t - round(100 * t)) < 1e-9 for t in ticks)   # whole percents
    assert labels == [plots.percent_label(t) for t in ticks] and all(t <= 1.0 for t in ticks)
    shares = report.scenario_shares(report.compare_scenarios(results, unit=UNIT))
    ax = plots.plot_scenarios(shares, title_unit=UNIT, ax=Figure().add_subplot())
    low, high = ax.get_ylim()
    assert high - low >= 0.10 and low <= shares["share"].min() and low <= config.TARGET_SHARE <= high
    ticks, labels = _tick_labels(ax.yaxis, low, high)
    assert all(abs(100 * t - round(100 * t)) < 1e-9 for t in ticks)
    assert labels == [format_percent(t, 0) for t in ticks]


def test_indicator_panels_do_not_dramatise_a_fraction_of_a_point():
    import pandas as pd

    from nq21model import plots_targets

    years = list(range(2018, 2026))
    paths = pd.DataFrame({"indicator": "2c", "year": years,
                          "observed": [1.0, 1.0, 0.993, 0.993, 1.0, 1.0, 1.0, 1.0],
                          "expected": float("nan"), "low": float("nan"), "high": float("nan"),
                          "target": [float("nan")] * 7 + [1.0]})
    fig = plots_targets.plot_targets(paths)
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert high - low >= 0.10
    ticks, labels = _tick_labels(ax.yaxis, low, high)
    assert labels == [plots.percent_label(t) for t in ticks] and max(ticks) <= 1.0


def test_figures_carry_vietnamese_alt_text(results):
    scenarios = report.compare_scenarios(results, unit=UNIT)
    figures = {"fan": report.show_fan_chart(results, unit=UNIT),
               "classes": report.show_probability_classes(results, unit=UNIT),
               "communes": report.show_commune_shares(results, unit=UNIT),
               "scenarios": report.show_scenarios_chart(scenarios, unit=UNIT)}
    path = results.path("district", UNIT)
    last = path.iloc[-1]
    assert figures["fan"].alt == report.fan_chart_alt(path, base_year=results.base_year, unit=UNIT)
    assert f"dự báo năm {int(last['year'])} khoảng" in figures["fan"].alt
    classes = results.probability_classes(2030, 4, by="district", unit=UNIT)
    for label, n in classes.items():
        assert f"{label}: {n} chi bộ" in figures["classes"].alt
    for fig in figures.values():
        assert fig.alt.startswith("Biểu đồ") and UNIT in fig.alt
        data, meta = fig._repr_mimebundle_()
        assert data["image/png"].startswith(b"\x89PNG") and meta["image/png"]["alt"] == fig.alt
        assert f'alt="{report._esc(fig.alt)}"' in fig.img_html()
    shares = report.scenario_shares(scenarios)
    for value in shares["share"]:
        assert format_percent(value, 1) in figures["scenarios"].alt
