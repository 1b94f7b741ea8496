"""Calibration: fits on history up to the base year only, close to the generator's
truth, empirical-Bayes shrinkage of years, areas and cells, flows with no events,
parameter draws, JSON, CLI, bad input."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import make_tables, run_cli
from nq21model.calibrate import Calibration
from nq21model.flows import _spread_posterior, overdispersion
from nq21model.data import Dataset, load_dataset
from nq21model.exceptions import DataError, ParameterError
from nq21model.forecast import forecast
from nq21model.synth import generate_province


@pytest.fixture(scope="module")
def bundled():
    return load_dataset()


@pytest.fixture(scope="module")
def active(bundled):
    return bundled.at_base(2025)


@pytest.fixture(scope="module")
def fitted(bundled):
    return Calibration(draws=40).fit(bundled, base_year=2025)


def _valid(history):
    """Recompute local_members from the flows so that the identity holds."""
    history = history.sort_values(["cell_id", "year"]).reset_index(drop=True)
    out = []
    for _, g in history.groupby("cell_id", sort=False):
        n = g["local_members"].to_numpy().copy()
        flows = (g["admitted"] + g["transferred_in"] - g["exited"]).to_numpy()
        for j in range(1, n.size):
            n[j] = max(0, n[j - 1] + flows[j])
        exited = np.r_[g["exited"].iloc[0], n[:-1] + flows[1:] + g["exited"].to_numpy()[1:] - n[1:]]
        out.append(g.assign(local_members=n, exited=exited))
    return pd.concat(out, ignore_index=True)


def test_estimates_close_to_generator_truth(active, fitted):
    sp = generate_province(21)
    truth = sp.truth[sp.truth["year"] <= 2025].merge(sp.cells[["cell_id", "cell_type"]], on="cell_id")
    rates = fitted.rates(active, 2026, uncertainty=False)
    cells = active.cells.assign(survival=rates.survival[0])
    for ctype, group in cells.groupby("cell_type"):
        fitted_attrition = 1 - group["survival"].mean()
        true_attrition = truth.loc[truth["cell_type"] == ctype, "attrition"].mean()
        assert fitted_attrition == pytest.approx(true_attrition, rel=0.15), ctype
    # admission propensity: gamma with shape 3 → the cells' multipliers have variance 1/3
    assert fitted.dispersion_.loc["admissions", "alpha_cells"] == pytest.approx(1 / 3, abs=0.08)
    # the shrunk multipliers track the true propensity
    eff = fitted.cell_effects_.query("flow == 'admissions'").set_index("cell_id")["multiplier"]
    u = sp.truth.drop_duplicates("cell_id").set_index("cell_id")["propensity"].reindex(eff.index)
    assert np.corrcoef(np.log(eff), np.log(u))[0, 1] > 0.7
    # the year effects follow the generator's (beta_year): 2020–2021 low, 2023–2025 high
    years = fitted.year_effects_.query("flow == 'admissions'").set_index("year")["multiplier"]
    assert years[[2020, 2021]].max() < 1 < years[[2023, 2024, 2025]].min()
    # districts: Mường Tè admits least per resident (beta_district −0.20), Than Uyên most (+0.15)
    areas = fitted.area_effects_.query("flow == 'admissions'").set_index("area")["multiplier"]
    assert areas.idxmin() == "Mường Tè" and areas["Than Uyên"] > areas["Mường Tè"] * 1.2


def test_fit_never_sees_years_after_the_base_year(bundled):
    history = bundled.history.copy()
    later = history["year"] > 2020
    rng = np.random.default_rng(3)
    for col in ("admitted", "exited", "transferred_in", "local_members"):
        history.loc[later, col] = rng.integers(0, 40, later.sum())
    changed = replace(bundled, history=history, cell_rows=None)
    strip = ("glm_summary",)
    a = {k: {kk: vv for kk, vv in f.items() if kk not in strip}
         for k, f in Calibration(draws=5).fit(bundled, 2020).to_dict()["flows"].items()}
    b = {k: {kk: vv for kk, vv in f.items() if kk not in strip}
         for k, f in Calibration(draws=5).fit(changed, 2020).to_dict()["flows"].items()}
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_shrinkage_keeps_part_of_a_cells_own_record(fitted):
    eff = fitted.cell_effects_.query("flow == 'admissions'")
    raw = eff["observed"] / eff["expected"]
    high = eff.loc[raw > 2]
    assert len(high) > 10
    mult = high["multiplier"]
    assert (mult > 1).all() and (mult < raw[high.index]).all()
    low = eff.loc[(eff["observed"] == 0) & (eff["expected"] > 3)]
    assert ((low["multiplier"] < 1) & (low["multiplier"] > 0)).all()


def test_spread_posterior_is_positive_with_few_groups_and_tight_with_many():
    rng = np.random.default_rng(0)
    alpha, w = _spread_posterior(np.full(8, 100.0), np.full(8, 100.0), 0.15)   # eight identical years
    assert 0 < np.dot(alpha, w) < 0.15 ** 2                                     # small, never zero
    expected = np.full(3000, 5.0)
    observed = rng.poisson(expected * rng.gamma(3, 1 / 3, expected.size))
    alpha, w = _spread_posterior(observed, expected, 1.0)
    assert np.dot(alpha, w) == pytest.approx(1 / 3, abs=0.05)


def test_a_cell_that_admits_more_than_its_peers_gets_more(bundled):
    history = bundled.history.copy()
    cid = bundled.cells["cell_id"].iloc[0]
    sel = (history["cell_id"] == cid) & history["year"].between(2016, 2020)
    active = bundled.at_base(2020)
    base = Calibration(uncertainty=False).fit(bundled, 2020).rates(active, 2021)
    history.loc[sel, "admitted"] += 3
    history = _valid(history)
    boosted_data = replace(bundled, history=history, cell_rows=None)
    boosted = Calibration(uncertainty=False).fit(boosted_data, 2020).rates(boosted_data.at_base(2020), 2021)
    ratio = boosted.admissions[0, 0, 0] / base.admissions[0, 0, 0]
    others = boosted.admissions[0, 1:, 0] / base.admissions[0, 1:, 0]
    assert ratio > 1.5
    assert np.median(others) == pytest.approx(1.0, abs=0.03)


def test_rates_carry_year_level_uncertainty(active, fitted):
    rates = fitted.rates(active, 2030)
    n = len(active.cells)
    assert rates.survival.shape == (40, n) and rates.lam.shape == (40, n, 5)
    assert rates.source == "calibrated"
    total = rates.admissions.sum(axis=1)           # (draws, years): province admissions
    assert (total.std(axis=0) / total.mean(axis=0) > 0.05).all()   # the future is uncertain every year
    point = fitted.rates(active, 2030, uncertainty=False)
    assert point.draws == 1
    wide = forecast(calibration=fitted, horizons=[2030]).province.iloc[-1]
    narrow = forecast(calibration=Calibration(uncertainty=False).fit(load_dataset(), 2025),
                      horizons=[2030]).province.iloc[-1]
    assert wide["members_q90"] - wide["members_q10"] > narrow["members_q90"] - narrow["members_q10"]


def _small(tmp_path=None, **changes):
    cells, history = make_tables(n_cells=40, years=range(2015, 2026), seed=2)
    for col, value in changes.items():
        history[col] = value
    history = _valid(history)
    return Dataset(cells=cells, history=history)


def test_a_flow_with_no_event_has_rate_zero():
    ds = _small(transferred_in=0, admitted=0)
    cal = Calibration(draws=10).fit(ds, 2025)
    rates = cal.rates(ds, 2027)
    assert (rates.info["transfers"] == 0).all() and (rates.admissions == 0).all()
    assert "no event at all" in cal.summary()
    res = forecast(ds, calibration=cal, horizons=[2027])
    assert res.province["expected_members"].iloc[-1] <= res.province["expected_members"].iloc[0]


def test_a_year_with_no_admissions_is_shrunk_not_dropped(bundled):
    history = bundled.history.copy()
    zero = history["year"] == 2022
    history.loc[zero, "admitted"] = 0
    history = _valid(history)
    ds = replace(bundled, history=history, cell_rows=None)
    cal = Calibration(uncertainty=False).fit(ds, 2025)
    years = cal.year_effects_.query("flow == 'admissions'").set_index("year")["multiplier"]
    assert 0 < years[2022] < 0.2 and np.isfinite(years).all()
    before = Calibration(uncertainty=False).fit(bundled, 2025).rates(bundled.at_base(2025), 2026)
    after = cal.rates(ds.at_base(2025), 2026)
    # the future level comes from the last three years: one empty year long ago barely moves it
    assert after.admissions.sum() == pytest.approx(before.admissions.sum(), rel=0.05)


def test_json_round_trip_gives_the_same_rates(active, fitted, tmp_path):
    path = tmp_path / "cal.json"
    fitted.to_json(path)
    again = Calibration.from_json(path)
    a, b = fitted.rates(active, 2028), again.rates(active, 2028)
    np.testing.assert_array_equal(a.survival, b.survival)
    np.testing.assert_array_equal(a.lam, b.lam)
    assert "Generalized Linear Model" in fitted.summary()
    with pytest.raises(ParameterError):
        Calibration.from_json('{"kind": "other"}')


def test_too_little_history_is_a_clear_error(bundled):
    with pytest.raises(DataError, match="at least 3 years of history before the base year 2017"):
        Calibration().fit(bundled, 2017)
    with pytest.raises(ParameterError):
        Calibration(draws=0)


def test_cli_calibrate_and_forecast_with_a_saved_calibration(tmp_path, small_files):
    cp, hp = small_files
    out = tmp_path / "cal.json"
    proc = run_cli("calibrate", "--cells", cp, "--history", hp, "--base-year", 2023, "--out", out, check=True)
    assert "Generalized Linear Model Regression Results" in proc.stdout
    assert "Spread of the random effects" in proc.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["base_year"] == 2023 and set(data["flows"]) == {"exits", "admissions", "transfers"}
    csv = tmp_path / "f.csv"
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--base-year", 2023, "--horizon", 2025,
                   "--calibration", out, "--admission-base", "local", "--admission-rate", "0.04",
                   "--out", csv, check=True)
    assert "calibrated rates with parameter uncertainty" in proc.stdout
    assert "kết nạp 4% số đảng viên tại chỗ" in proc.stdout
    assert len(pd.read_csv(csv)) == 12
    # a saved calibration of another base year is refused
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--base-year", 2024, "--calibration", out)
    assert proc.returncode == 2 and "base year 2023" in proc.stderr


def test_cli_short_history_falls_back_to_fixed_rates(tmp_path, small_files):
    cp, hp = small_files   # history 2018–2025
    out = tmp_path / "cal.json"
    proc = run_cli("calibrate", "--cells", cp, "--history", hp, "--base-year", 2020, "--out", out)
    assert proc.returncode == 2
    assert "at least 3 years of history before the base year 2020" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--base-year", 2020, "--admission-base", "local",
                   check=True)
    assert "fixed rates" in proc.stdout and "tỷ lệ cố định" in proc.stdout  # the note, as the briefing has it
    assert "history has fewer than 3 years before the base year 2020: fixed rates" in proc.stderr
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--attrition-rate", "0.02")
    assert proc.returncode == 2 and "--attrition-rate goes with --fixed-rates" in proc.stderr


def test_point_estimates_still_leave_the_years_to_come_uncertain(active, bundled):
    cal = Calibration(draws=30, uncertainty="years").fit(bundled, 2025)
    rates = cal.rates(active, 2030)
    total = rates.admissions.sum(axis=1)                      # (draws, years)
    assert rates.draws == 30 and (total.std(axis=0) > 0).all()
    # every cell keeps its point estimate: admissions (no variation of a cell's own on
    # these data) differ between draws by the year's factor and its district's only ...
    assert cal.flows_["admissions"].overdispersion == 0
    ratio = rates.admissions[:, :, 0] / rates.admissions[:, :, 0].mean(axis=0)
    district = active.cells["district"].to_numpy()
    for name in np.unique(district):
        part = ratio[:, district == name]
        np.testing.assert_allclose(part, part[:, :1] * np.ones_like(part), rtol=1e-9)
    # ... while a cell-year's own variation (transfers: κ ≈ 11) is process, not
    # parameter, uncertainty: it stays (docs/model.md)
    assert cal.flows_["transfers"].overdispersion > 1
    moved = rates.info["transfers"][:, :, 0] / rates.info["transfers"][:, :, 0].mean(axis=0)
    assert np.median(moved.std(axis=1)) > 0.5
    assert Calibration(uncertainty=False).fit(bundled, 2025).rates(active, 2030).draws == 1


def test_overdispersion_splits_what_an_areas_cells_share_in_a_year():
    """Counts with a multiplier shared by an area's cells in a year (variance 0.2) and
    one of their own (0.3): the moments find both, after the year and area effects
    take their means; Poisson counts give 0 and 0."""
    rng = np.random.default_rng(5)
    areas, per, T = 40, 30, 8
    area = np.repeat(np.arange(areas), per)                        # cell → area
    mu_cell = rng.uniform(1.0, 6.0, areas * per)
    cell, year = np.repeat(np.arange(areas * per), T), np.tile(np.arange(T), areas * per)
    shared = rng.gamma(5.0, 0.2, size=(areas, T))                 # variance 0.2
    own = rng.gamma(1 / 0.3, 0.3, size=cell.size)                  # variance 0.3
    truth = mu_cell[cell] * shared[area[cell], year] * own
    count = rng.poisson(truth)
    # the fitted means: year effects on each year's total, area effects on each area's
    mu = mu_cell[cell].astype(float)
    for _ in range(20):
        mu *= (np.bincount(year, weights=count) / np.bincount(year, weights=mu))[year]
        mu *= (np.bincount(area[cell], weights=count) / np.bincount(area[cell], weights=mu))[area[cell]]
    kappa, kappa_a = overdispersion(count, mu, area[cell], year)
    assert kappa_a == pytest.approx(0.2, abs=0.06) and kappa == pytest.approx(0.3, abs=0.06)
    plain = rng.poisson(mu_cell[cell])
    k0, ka0 = overdispersion(plain, mu_cell[cell].astype(float), area[cell], year)
    assert k0 < 0.02 and ka0 < 0.02
    assert overdispersion(count, mu, np.zeros_like(cell), year)[1] == 0.0  # one area: no split
    # no variation of its own, only the areas' yearly shocks: still found (κ_a was capped by S₁/Σμ², which the
    # fitted effects push below 0 — and with it the shocks)
    shocked = rng.poisson(mu_cell[cell] * shared[area[cell], year])
    mu = mu_cell[cell].astype(float)
    for _ in range(20):
        mu *= (np.bincount(year, weights=shocked) / np.bincount(year, weights=mu))[year]
        mu *= (np.bincount(cell, weights=shocked) / np.bincount(cell, weights=mu))[cell]  # the cells' own effects
    kappa, kappa_a = overdispersion(shocked, mu, area[cell], year)
    assert kappa_a == pytest.approx(0.2, abs=0.07) and kappa < 0.05
    last = (area[cell] == areas - 1) & (year == T - 1)                 # the last area's last year missing
    assert np.isfinite(overdispersion(count[~last], mu[~last], area[cell][~last], year[~last])).all()


def test_an_areas_cells_share_its_yearly_multiplier_in_the_draws(active, bundled):
    """With κ_a > 0 every cell of an area is moved by the same multiplier in a draw
    and year (so the area's total keeps the spread its history shows), independently
    between areas, years and draws."""
    cal = Calibration(draws=200, uncertainty="years").fit(bundled, 2025)
    flow = cal.flows_["admissions"]
    cal.flows_["admissions"] = replace(flow, area_year=0.25, overdispersion=0.0)
    rates = cal.rates(active, 2030).info["admissions"]              # (D, n, years)
    cal.flows_["admissions"] = flow
    plain = Calibration(draws=200, uncertainty="years").fit(bundled, 2025).rates(active, 2030).info["admissions"]
    factor = rates / plain.mean(axis=0)                              # area-year multiplier × year factor
    district = active.cells["district"].to_numpy()
    for name in np.unique(district)[:3]:
        part = factor[:, district == name, :]
        np.testing.assert_allclose(part, part[:, :1, :] * np.ones_like(part), rtol=1e-9)
    first = [factor[:, district == name, 0][:, 0] for name in np.unique(district)]
    share = np.array(first) / np.mean(first, axis=0)                 # the year factor divided out
    assert 0.15 < share.var() < 0.4


def test_the_draws_normals_come_in_antithetic_pairs():
    from nq21model.flows import antithetic_normal

    z = antithetic_normal(np.random.default_rng(0), (7, 3))
    assert z.shape == (7, 3) and np.array_equal(z[4:], -z[:3])
    assert not any(np.allclose(z[3], -row) for row in z)  # the odd draw out has no partner
    from nq21model.engine import thinned_draws

    pick = thinned_draws(100, 16)
    assert len(pick) == 16 and np.array_equal(pick[8:], pick[:8] + 50)  # pairs kept together
    assert np.array_equal(thinned_draws(7, 4), [0, 2, 4, 6])
    odd = thinned_draws(100, 5)
    assert len(odd) == 5 and np.array_equal(odd[2:4], odd[:2] + 50)


def test_a_forecast_moves_little_with_the_seed_of_its_draws(bundled):
    """The province's expected members in 2030 over six seeds of 100 draws: a standard
    deviation of 61 members with independent normals (a board comparing two runs saw
    ±0.4 %), 26 with antithetic pairs; the share of cells with ≥ 5 within 0.1 point."""
    totals, shares = [], []
    for seed in range(6):
        results = forecast(bundled, calibration=Calibration(draws=100, seed=seed).fit(bundled, 2025))
        row = results.province.query("horizon == 2030 and status == 'forecast'").iloc[0]
        totals.append(row["expected_members"])
        shares.append(row["share_at_least_5"])
    assert np.std(totals) < 40 and np.ptp(shares) < 0.002
