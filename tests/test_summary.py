"""The conclusion box (nq21model.summary): verdicts from the tracker, the cells to act
on, and each recommendation's numbers against a slow, obvious reference written here."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from conftest import make_tables
from nq21model import config, report, summary, summary_admissions
from nq21model.extras import compute_extras
from nq21model.fmt import format_number, format_percent, format_point_change


@pytest.fixture(scope="module")
def results(small_dir):
    return report.run_forecast(cells_path=str(small_dir / "cells.csv"), history_path=str(small_dir / "history.csv"))


@pytest.fixture(scope="module")
def extras(results):
    return compute_extras(results, by="district")


UNIT = "Sìn Hồ"


# ------------------------------------------------------------------ the reference


def reach_reference(results, unit, factor, threshold, horizon):
    """P(share of the unit's cells with ≥ threshold local members at horizon ≥ 95 %)
    with every admission mean multiplied by factor: each cell's Binomial(n0, s^t) +
    Poisson(μ) pmf by direct convolution (scipy), the count of cells reaching the
    threshold by dynamic programming over cells, mixed over the parameter draws."""
    idx = results._unit_index("district", unit)
    t = horizon - results.base_year
    s = results.rates.survival[:, idx]
    adm = results.rates.admissions[:, idx, :t]
    other = results.rates.lam[:, idx, :t] - adm
    weights = s[:, :, None] ** np.arange(t - 1, -1, -1)
    mu = ((other + factor * adm) * weights).sum(axis=2)
    p = s ** t
    n0 = results.n0[idx]
    need = math.ceil(0.95 * idx.size - 1e-9)
    out = []
    for d in range(s.shape[0]):
        reach = []
        for i in range(idx.size):
            binom = stats.binom.pmf(np.arange(threshold), n0[i], p[d, i])
            pois = stats.poisson.pmf(np.arange(threshold), mu[d, i])
            below = sum(binom[a] * pois[b] for a in range(threshold) for b in range(threshold - a))
            reach.append(1.0 - below)
        count = np.zeros(idx.size + 1)
        count[0] = 1.0
        for q in reach:
            count[1:] = count[1:] * (1 - q) + count[:-1] * q
            count[0] *= 1 - q
        out.append(count[need:].sum())
    return float(np.mean(out))


# ----------------------------------------------------------------------- verdicts


def test_verdict_numbers_in_words():
    assert summary.verdict_number("2d_3", 0.9412, observed=True) == "94,1%"
    assert summary.verdict_number("2d_4", 0.9114, observed=False) == "dự báo 91,1%"
    assert summary.verdict_number("2a", 0.03522, observed=True) == "3,52%"
    assert summary.verdict_number("no_empty_cell", 2.0, observed=True) == "còn 2 chi bộ"
    assert summary.verdict_number("no_empty_cell", 0.0, observed=True) == "không còn chi bộ nào"
    assert summary.verdict_number("no_empty_cell", 2.59, observed=False) == "dự báo còn khoảng 2,6 chi bộ"
    assert summary.verdict_number("no_empty_cell", 0.01, observed=False) == "dự báo gần như không còn chi bộ nào"
    assert summary.verdict_number("2d_3", float("nan"), observed=True) == "không có số liệu"
    # a forecast says its 80 % range; a point range or an observed value does not
    assert (summary.verdict_number("2a", 0.03442, observed=False, low=0.02336, high=0.04468)
            == "dự báo 3,44% (80% khả năng trong 2,34%–4,47%)")
    assert (summary.verdict_number("no_empty_cell", 1.04, observed=False, low=0.0, high=2.0)
            == "dự báo còn khoảng 1 chi bộ (80% khả năng trong 0–2)")
    assert summary.verdict_number("2d_4", 1.0, observed=False, low=1.0, high=1.0) == "dự báo 100%"
    assert summary.verdict_number("2d_3", 0.9412, observed=True, low=0.9, high=0.95) == "94,1%"
    assert summary.target_text("2a", 2030) == "từ 3% tổng số đảng viên, khung 3–4%"
    assert summary.target_text("2d_5", 2030) == "95%"


def test_verdicts_are_the_trackers(results, extras):
    table = summary.programme_verdicts(results, extras, unit=UNIT)
    tracker = extras.targets[extras.targets["unit"] == UNIT].set_index(["indicator", "year"])
    assert list(zip(table["code"], table["year"])) == list(summary.CONCLUSION_TARGETS)
    for _, row in table.iterrows():
        r = tracker.loc[(row["code"], row["year"])]
        assert row["status"] == r["status"]
        assert row["value"] == r["value"] or (math.isnan(row["value"]) and math.isnan(r["value"]))
        assert row["observed"] == (row["year"] <= results.base_year)
    # the membership numbers are the forecast's own (one number, one meaning)
    units = results.units("district").set_index(["unit", "horizon"])
    row = table[(table["code"] == "2d_4")].iloc[0]
    assert row["value"] == pytest.approx(units.loc[(UNIT, 2030), "share_at_least_4"])
    r = tracker.loc[("2d_4", 2030)]
    assert row["number"] == (f"dự báo {format_percent(row['value'], 1)} (80% khả năng trong "
                             f"{format_percent(r['low'], 1)}–{format_percent(r['high'], 1)})")


def test_verdicts_without_a_tracker_come_from_the_key_figures(results):
    table = summary.programme_verdicts(results, None, unit=UNIT)
    keys = report.key_figures(results, unit=UNIT)
    share = keys[(keys["kind"] == "share") & (keys["year"] == 2030) & (keys["threshold"] == 5)].iloc[0]
    row = table[(table["code"] == "2d_5")].iloc[0]
    assert row["value"] == share["value"] and row["status"] == share["verdict"]
    assert "no_empty_any" in set(table["code"])  # cells of every kind, and the words say so
    assert table.loc[table["code"] == "no_empty_any", "words"].iloc[0] == summary.TARGET_WORDS["no_empty_any"]


# ---------------------------------------------------------------- cells to act on


def test_action_cells_are_the_at_risk_list(results):
    for unit in (None, UNIT, "Tam Đường"):
        act = summary.action_cells(results, unit=unit)
        table = report.at_risk_cells(results, unit=unit)
        assert act["count"] == len(table)
        assert act["without_members"] == int((table[f"Đảng viên tại chỗ {results.base_year}"] == 0).sum())
        sentence = summary.action_sentence(results, unit=unit, where="tệp at_risk.xlsx")
        if act["count"]:
            assert sentence.startswith(f"{format_number(act['count'])} trong {format_number(act['cells'])} chi bộ")
            assert sentence.endswith("Danh sách: tệp at_risk.xlsx.")
        else:
            assert sentence.startswith("Không có chi bộ nào")


def test_hotspots_count_the_at_risk_cells_by_place(results):
    province = summary.hotspots(results)
    table = report.at_risk_cells(results)
    assert province["cells"].sum() == len(table)
    assert dict(zip(province["place"], province["cells"])) == table["Huyện"].value_counts().to_dict()
    unit = summary.hotspots(results, unit=UNIT)
    assert dict(zip(unit["place"], unit["cells"])) == \
        report.at_risk_cells(results, unit=UNIT)["Xã"].value_counts().to_dict()
    # ties of cells go to the place whose cells are furthest from the threshold, not to the first name
    bundled = report.run_forecast()
    spots = summary.hotspots(bundled, unit="Sìn Hồ")
    table = bundled.at_risk(*report.focus(bundled), by="district", unit="Sìn Hồ")
    expected = (1 - table["p_at_least"]).groupby(table["commune"]).sum()  # unrounded, not the page's 2 decimals
    assert len(table) == len(report.at_risk_cells(bundled, unit="Sìn Hồ"))
    assert spots.set_index("place")["shortfall"].to_dict() == pytest.approx(expected.to_dict())
    ordered = list(zip(-spots["cells"], -spots["shortfall"].round(12), spots["place"]))
    assert ordered == sorted(ordered) and spots["cells"].duplicated().any()
    sentence = summary.hotspot_sentence(results, unit=UNIT)
    if len(unit) == 1 and unit["cells"].iloc[0] == 1:
        assert sentence == f"Chi bộ có nguy cơ duy nhất của {UNIT} ở {unit['place'].iloc[0]}."
    elif len(unit) == 1:
        assert sentence == f"Cả {unit['cells'].iloc[0]} chi bộ có nguy cơ của {UNIT} ở {unit['place'].iloc[0]}."
    elif len(unit):
        assert unit["place"].iloc[0] in sentence


def test_hotspot_sentence_names_the_places_with_most_cells(monkeypatch, results):
    import pandas as pd

    monkeypatch.setattr(summary, "hotspots", lambda *a, **k: pd.DataFrame({"place": ["Xã A"], "cells": [1]}))
    assert summary.hotspot_sentence(results, unit=UNIT) == f"Chi bộ có nguy cơ duy nhất của {UNIT} ở Xã A."
    monkeypatch.undo()

    fake = pd.DataFrame({"place": ["Xã A", "Xã B", "Xã C", "Xã D"], "cells": [4, 2, 1, 1]})
    monkeypatch.setattr(summary, "hotspots", lambda *a, **k: fake)
    assert summary.hotspot_sentence(results, unit=UNIT) == (
        f"Tập trung chỉ đạo ở Xã A (4 chi bộ), Xã B (2 chi bộ): 6 trong 8 chi bộ có nguy cơ của {UNIT}; "
        "2 chi bộ còn lại ở 2 xã khác.")
    tied = pd.DataFrame({"place": ["Xã A", "Xã B", "Xã C", "Xã D", "Xã E"], "cells": [2, 2, 2, 2, 1]})
    monkeypatch.setattr(summary, "hotspots", lambda *a, **k: tied)
    assert summary.hotspot_sentence(results, unit=UNIT) == (
        f"Tập trung chỉ đạo ở Xã A (2 chi bộ), Xã B (2 chi bộ), Xã C (2 chi bộ): 6 trong 9 chi bộ có nguy cơ của "
        f"{UNIT}; 3 chi bộ còn lại ở 2 xã khác, trong đó 1 xã cũng có 2 chi bộ có nguy cơ.")
    monkeypatch.setattr(summary, "hotspots", lambda *a, **k: fake.iloc[:0])
    assert summary.hotspot_sentence(results, unit=UNIT) is None


# -------------------------------------------------------------- admissions needed


def test_admissions_needed_against_a_direct_computation(results):
    need = summary_admissions.admissions_needed(results, unit=UNIT)
    assert need["horizon"] == 2030 and need["threshold"] == 4 and need["level"] == config.STATUS_LIKELY
    assert need["current"] == pytest.approx(report.admissions(results, unit=UNIT)["expected"])
    assert need["p_now"] == pytest.approx(reach_reference(results, UNIT, 1.0, 4, 2030), abs=1e-9)
    # the forecast's own probability at today's admissions
    units = results.units("district").set_index(["unit", "horizon"])
    assert need["p_now"] == pytest.approx(units.loc[(UNIT, 2030), "p_share_95_at_least_4"], abs=1e-9)
    assert 1.0 < need["factor"] < summary_admissions.MAX_FACTOR  # these data: not likely now, reachable
    assert reach_reference(results, UNIT, need["factor"], 4, 2030) >= need["level"]
    assert reach_reference(results, UNIT, need["factor"] / 1.02, 4, 2030) < need["level"]
    assert need["needed"] == pytest.approx(need["factor"] * need["current"])
    assert math.isnan(need["needed_rate"])  # no totals table: no share of all members


def test_admissions_needed_on_a_country_searches_on_thinned_draws(results, monkeypatch):
    """Above LARGE_CELL_DRAWS the search uses 32 of the draws: the probability at
    today's admissions stays the page's own, the factor moves little."""
    exact = summary_admissions.admissions_needed(results, unit=UNIT)
    monkeypatch.setattr(summary_admissions.engine, "LARGE_CELL_DRAWS", 1)
    monkeypatch.setattr(summary_admissions.engine, "QUANTILE_DRAWS", 16)
    thinned = summary_admissions.admissions_needed(results, unit=UNIT)
    assert thinned["p_now"] == exact["p_now"] and thinned["threshold"] == exact["threshold"]
    assert thinned["factor"] == pytest.approx(exact["factor"], rel=0.1)


def test_admissions_needed_aims_at_the_first_target_not_yet_likely(results):
    units = results.units("district").set_index(["unit", "horizon"])
    for unit in (UNIT, "Tam Đường"):
        p4, p5 = (units.loc[(unit, 2030), f"p_share_95_at_least_{k}"] for k in (4, 5))
        expected = 4 if p4 < config.STATUS_LIKELY else (5 if p5 < config.STATUS_LIKELY else 5)
        assert summary_admissions.admissions_needed(results, unit=unit)["threshold"] == expected


def test_admissions_needed_when_already_likely_or_out_of_reach(results):
    easy = summary_admissions.admissions_needed(results, unit=UNIT, threshold=1)
    assert easy["factor"] == 1.0 and easy["needed"] == easy["current"]
    assert "là đủ để" in summary_admissions.admissions_sentence(easy, unit=UNIT)
    hard = summary_admissions.admissions_needed(results, unit=UNIT, threshold=60)
    assert math.isnan(hard["factor"])
    assert "khó đạt" in summary_admissions.admissions_sentence(hard, unit=UNIT)


def test_admissions_sentence_says_the_numbers():
    need = {"horizon": 2030, "threshold": 4, "level": 0.8, "current": 67.2, "p_now": 0.01, "factor": 3.4,
            "needed": 228.5, "needed_rate": 0.125, "phi": 0.6, "lift": 2.0, "kind": "continue"}
    text = summary_admissions.admissions_sentence(need, unit="Mường Tè")
    assert text == ("Để chỉ tiêu 95% chi bộ có từ 4 đảng viên tại chỗ năm 2030 có khả năng đạt (xác suất từ 80%) "
                    "khi mọi chi bộ tăng kết nạp như nhau, chi bộ thôn, bản của Mường Tè cần kết nạp khoảng 228 "
                    "người/năm, gấp 3,4 lần mức hiện nay "
                    "(≈ 67), tức là tỷ lệ kết nạp chung của Mường Tè khoảng 12,5% tổng số đảng viên/năm, nếu chi "
                    "bộ thôn, bản vẫn chiếm khoảng 60% số kết nạp như hiện nay; mức này vượt khả năng kết nạp giả "
                    "định của các chi bộ (gấp 2 lần mức bình quân các năm gần đây), nên cần tập trung vào các chi bộ có nguy cơ.")
    within = summary_admissions.admissions_sentence({**need, "factor": 1.5, "needed": 100.8, "needed_rate": float("nan")})
    assert "gấp 1,5 lần" in within and "vượt" not in within and "tổng số đảng viên" not in within
    small = summary_admissions.admissions_sentence({**need, "factor": 8.6, "needed": 172.0, "needed_rate": 1.314})
    at_lift = summary_admissions.admissions_sentence({**need, "factor": 2.04, "needed": 137.1})
    assert "gấp 2 lần mức hiện nay" in at_lift and "vượt" not in at_lift  # not "gấp 2 lần … vượt … (gấp 2 lần)"
    assert "gấp 8,6 lần" in small and "tổng số đảng viên" not in small and "vượt khả năng" in small


# -------------------------------------------------------------------- quota effect


def test_quota_effect_is_the_allocations_sensitivity(extras):
    a = extras.allocation
    effect = summary.quota_effect(extras, unit=UNIT, by="district")
    sens = a.sensitivity(a.unit_mask("district", UNIT)).set_index("lift")
    assert effect["share_plan"] == sens.loc[a.lift, "share_optimised"]
    assert effect["share_population"] == sens.loc[a.lift, "share_proportional"]
    assert effect["gain_low"] == sens.loc[1.0, "gain"]
    assert effect["quotas"] == int(a.quotas[a.unit_mask("district", UNIT)].sum())
    text = summary.quota_sentence(effect, unit=UNIT)
    for share in (effect["share_population"], effect["share_plan"]):
        assert format_percent(share, 1) in text
    assert f"gấp {format_number(a.lift, 1)} lần" in text
    assert summary.quota_effect(None) is None and summary.quota_sentence(None) is None


def test_quota_effect_sets_the_plan_beside_the_page_forecast(results, extras):
    """With the page's results: the share the page forecasts without the plan (its
    units table) and the admissions it expects (its yearly paths) stand beside the
    plan's, and a plan that admits fewer people says what that means for 2a."""
    a = extras.allocation
    effect = summary.quota_effect(extras, results, unit=UNIT, by="district")
    units = results.units("district").set_index(["unit", "horizon"])
    assert effect["share_now"] == pytest.approx(units.loc[(UNIT, a.horizon), f"share_at_least_{a.threshold}"])
    paths = results.unit_paths("district")
    years = paths[(paths["unit"] == UNIT) & paths["year"].between(a.base_year + 1, a.horizon)]
    assert effect["admitted_now"] == pytest.approx(years["expected_admissions"].sum())
    sens = a.sensitivity(a.unit_mask("district", UNIT)).set_index("lift")
    assert effect["realised"] == sens.loc[a.lift, "realised_optimised"]
    text = summary.quota_sentence(effect, unit=UNIT)
    for share in (effect["share_now"], effect["share_plan"], effect["share_population"], effect["share_plan_low"]):
        assert format_percent(share, 1) in text
    assert format_point_change(effect["share_plan"], effect["share_now"]) + " so với" in text
    assert "nếu giữ như hiện nay" in text
    assert effect["realised"] < effect["admitted_now"] and "khó đạt hơn" in text  # these data: fewer
    more = summary.quota_sentence({**effect, "realised": effect["admitted_now"] + 50}, unit=UNIT)
    assert "khó đạt hơn" not in more
    province = summary.quota_effect(extras, results, by="district")
    assert province["share_now"] == pytest.approx(results.province.set_index("horizon").loc[
        a.horizon, f"share_at_least_{a.threshold}"])


# ------------------------------------------------------------------------ the box


def test_conclusion_box_holds_verdicts_actions_and_recommendations(results, extras):
    html = report.show_conclusion(results, extras, unit=UNIT, by="district").html
    assert html.count('class="nq21-summary"') == 1 and "<h2>Kết luận</h2>" in html
    for _, row in summary.programme_verdicts(results, extras, unit=UNIT).iterrows():
        assert report._esc(summary.verdict_line(row)) in html
    assert report._esc(summary.action_sentence(results, unit=UNIT, where=summary.list_places(
        results, extras, unit=UNIT, by="district"))) in html
    recs = summary.recommendations(results, extras, unit=UNIT, by="district")
    assert 2 <= len(recs) <= 3
    for rec in recs:
        assert report._esc(rec) in html
    assert "at_risk.xlsx" in html and "chi_tieu_ket_nap_sin-ho.xlsx" in html
    assert "Phụ lục kỹ thuật" in html
    index = report.show_conclusion(results, extras, by="district", index=True).html
    assert "mỗi đơn vị một trang" in index and "toàn tỉnh" in index


def test_conclusion_of_a_short_history_says_so(tmp_path):
    """Three years of history: fixed rates, no tracker or quotas; the box still
    speaks, and carries the forecast's note."""
    from nq21model.data import Dataset
    from nq21model.forecast import forecast

    from nq21model.exceptions import DataWarning

    cells, history = make_tables(n_cells=20, years=range(2023, 2026))
    with pytest.warns(DataWarning, match="history has fewer than 3 years before the base year 2025: fixed rates"):
        res = forecast(Dataset(cells, history))
    assert res.notes and res.notes[0].startswith("Lịch sử chưa đủ 3 năm")
    html = report.show_conclusion(res, None, unit=UNIT, by="district").html
    for note in res.notes:
        assert report._esc(note) in html
    assert "<h2>Kết luận</h2>" in html and "Đề xuất" in html


def test_cells_without_members_name_the_ban_cells_the_programme_counts():
    """The bundled province: the sentence's zero-member cells, and among them the bản
    cells, are the data's; the bản count is the tracker's "no bản cell" figure."""
    from nq21model.extras import compute_part

    bundled = report.run_forecast()
    n0, kind = bundled.n0, bundled.dataset.cells["cell_type"].to_numpy()
    zero, bans = int((n0 == 0).sum()), int(((n0 == 0) & (kind == "ban")).sum())
    assert 0 < bans < zero  # the bundled data has both kinds
    text = summary.action_sentence(bundled)
    assert f"({zero} chi bộ chưa có đảng viên tại chỗ, trong đó {bans} chi bộ bản)" in text
    fields, _ = compute_part(bundled, "targets", "district")
    row = fields["targets"].query("indicator == 'no_empty_cell' and unit == 'Toàn tỉnh' and year == 2025")
    assert float(row["value"].iloc[0]) == bans


@pytest.mark.parametrize("centre, slope", [(1.3, 8.0), (2.5, 3.0), (6.0, 20.0), (3.0, 1.5), (1.02, 40.0), (9.0, 30.0)])
def test_smallest_factor_finds_the_crossing_in_few_steps(centre, slope):
    """The search returns m with reach(m) ≥ level and reach(m / (1 + tolerance)) < level,
    for S-shaped curves steep and flat, in at most 8 evaluations (bisection took 12)."""
    calls = []

    def reach(m):
        calls.append(m)
        return 1 / (1 + math.exp(-slope * math.log(m / centre)))

    level, tol = 0.8, 0.01
    m = summary_admissions._smallest_factor(reach, level, tol, at_one=reach(1.0))
    assert reach(m) >= level and reach(m / (1 + tol)) < level
    assert len(calls) - 3 <= 8  # the two checks above and at_one aside
    assert math.isnan(summary_admissions._smallest_factor(lambda m: 0.1, level, tol, at_one=0.1))
