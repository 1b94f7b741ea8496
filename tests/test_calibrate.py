"""Calibration: fits on history up to the base year only, close to the generator's
truth, empirical-Bayes shrinkage, parameter draws, JSON, CLI, bad input."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import make_tables, run_cli
from nq21model.calibrate import Calibration, calibrated_rates
from nq21model.data import Dataset, load_dataset
from nq21model.exceptions import ConvergenceWarning, DataError, ParameterError
from nq21model.forecast import forecast
from nq21model.synth import generate_province


@pytest.fixture(scope="module")
def bundled():
    return load_dataset()


@pytest.fixture(scope="module")
def fitted(bundled):
    return Calibration(draws=40).fit(bundled, base_year=2025)


def _valid(cells, history):
    """Recompute local_members from the flows so that the identity holds."""
    history = history.sort_values(["cell_id", "year"]).reset_index(drop=True)
    out = []
    for _, g in history.groupby("cell_id", sort=False):
        n = g["local_members"].to_numpy().copy()
        flows = (g["admitted"] + g["transferred_in"] - g["exited"]).to_numpy()
        for j in range(1, n.size):
            n[j] = n[j - 1] + flows[j]
        out.append(g.assign(local_members=n))
    return cells, pd.concat(out, ignore_index=True)


def test_estimates_close_to_generator_truth(bundled, fitted):
    sp = generate_province(21)
    truth = sp.truth[sp.truth["year"] <= 2025].merge(sp.cells[["cell_id", "cell_type"]], on="cell_id")
    rates = fitted.rates(bundled, 2026, uncertainty=False)
    cells = bundled.cells.assign(survival=rates.survival[0])
    for ctype, group in cells.groupby("cell_type"):
        fitted_attrition = 1 - group["survival"].mean()
        true_attrition = truth.loc[truth["cell_type"] == ctype, "attrition"].mean()
        assert fitted_attrition == pytest.approx(true_attrition, rel=0.15), ctype
    # admission propensity: gamma with shape 3 → alpha 1/3
    adm = fitted.dispersion_.loc["admissions"]
    assert adm["alpha"] == pytest.approx(1 / 3, abs=0.08)
    assert adm["alpha_moments"] == pytest.approx(1 / 3, abs=0.08)
    # the shrunk multipliers track the true propensity
    eff = fitted.cell_effects_.query("flow == 'admissions'").set_index("cell_id")["multiplier"]
    u = sp.truth.drop_duplicates("cell_id").set_index("cell_id")["propensity"].reindex(eff.index)
    assert np.corrcoef(np.log(eff), np.log(u))[0, 1] > 0.7
    # cell type effect on admissions: tổ dân phố admit fewer per resident than bản
    params = fitted.flows_["admissions"].params
    assert params["cell_type[to_dan_pho]"] < 0
    assert {"cell_type", "district", "year"} <= set(fitted.flows_["admissions"].spec["terms"])


def test_fit_never_sees_years_after_the_base_year(bundled):
    history = bundled.history.copy()
    later = history["year"] > 2020
    rng = np.random.default_rng(3)
    for col in ("admitted", "exited", "transferred_in", "local_members"):
        history.loc[later, col] = rng.integers(0, 40, later.sum())
    changed = replace(bundled, history=history)
    a = Calibration(draws=5).fit(bundled, 2020).to_dict()
    b = Calibration(draws=5).fit(changed, 2020).to_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["fit_years"][-1] == 2020


def test_shrinkage_keeps_part_of_a_cells_own_record(fitted):
    eff = fitted.cell_effects_.query("flow == 'admissions'")
    raw = eff["observed"] / eff["expected"]
    alpha = fitted.flows_["admissions"].alpha
    high = eff.loc[raw > 2]
    assert len(high) > 10
    mult = high["multiplier"]
    assert (mult > 1).all() and (mult < raw[high.index]).all()
    # posterior mean (1/α + Y) / (1/α + E)
    np.testing.assert_allclose(mult, (1 / alpha + high["observed"]) / (1 / alpha + high["expected"]))
    low = eff.loc[(eff["observed"] == 0) & (eff["expected"] > 3)]
    assert ((low["multiplier"] < 1) & (low["multiplier"] > 0)).all()


def test_a_cell_that_admits_more_than_its_peers_gets_more(bundled):
    history = bundled.history.copy()
    cid = bundled.cells["cell_id"].iloc[0]
    sel = (history["cell_id"] == cid) & history["year"].between(2016, 2020)
    base = Calibration(uncertainty=False).fit(bundled, 2020).rates(bundled, 2021)
    history.loc[sel, "admitted"] += 3
    boosted = Calibration(uncertainty=False).fit(replace(bundled, history=history), 2020).rates(bundled, 2021)
    ratio = boosted.info["admissions"][0, 0, 0] / base.info["admissions"][0, 0, 0]
    others = boosted.info["admissions"][0, 1:, 0] / base.info["admissions"][0, 1:, 0]
    assert ratio > 1.5
    assert np.median(others) == pytest.approx(1.0, abs=0.02)


def test_rates_drive_forecast_unchanged(bundled, fitted):
    rates = fitted.rates(bundled, 2030)
    assert rates.survival.shape == (40, len(bundled.cells))
    assert rates.lam.shape == (40, len(bundled.cells), 5)
    assert rates.source == "calibrated"
    res = forecast(bundled, base_year=2025, horizons=[2030], rates=rates)
    prov = res.province.query("status == 'forecast'").iloc[0]
    assert 15_643 < prov["expected_members"] < 25_000
    point = fitted.rates(bundled, 2030, uncertainty=False)
    assert point.draws == 1
    # draws widen the province band
    wide = forecast(bundled, base_year=2025, horizons=[2030], rates=rates).province.iloc[-1]
    narrow = forecast(bundled, base_year=2025, horizons=[2030], rates=point).province.iloc[-1]
    assert wide["members_q90"] - wide["members_q10"] > narrow["members_q90"] - narrow["members_q10"]


def test_admission_rate_rescales_keeping_shares(bundled, fitted):
    rates = fitted.rates(bundled, 2027, admission_rate=0.05)
    plain = fitted.rates(bundled, 2027)
    adm, adm0 = rates.info["admissions"], plain.info["admissions"]
    n0 = bundled.members_at(2025).to_numpy()
    np.testing.assert_allclose(adm[:, :, 0].sum(axis=1), 0.05 * n0.sum())
    np.testing.assert_allclose(adm[:, :, 0] / adm[:, :, 0].sum(axis=1, keepdims=True),
                               adm0[:, :, 0] / adm0[:, :, 0].sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(rates.info["transfers"], plain.info["transfers"])
    # second year: rate times the expected members at the end of the first year
    expected = rates.survival * n0 + adm[:, :, 0] + rates.info["transfers"][:, :, 0]
    np.testing.assert_allclose(adm[:, :, 1].sum(axis=1), 0.05 * expected.sum(axis=1))
    fixed = fitted.rates(bundled, 2027, admissions_per_year=1000)
    np.testing.assert_allclose(fixed.info["admissions"].sum(axis=1), 1000)


def test_json_round_trip_gives_the_same_rates(bundled, fitted, tmp_path):
    path = tmp_path / "cal.json"
    fitted.to_json(path)

    def strict(constant):
        raise ValueError(f"not strict JSON: {constant}")

    json.loads(path.read_text(encoding="utf-8"), parse_constant=strict)   # no NaN/Infinity tokens
    again = Calibration.from_json(path)
    a, b = fitted.rates(bundled, 2028), again.rates(bundled, 2028)
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


def test_convergence_warnings_are_shown(tmp_path):
    cells, history = make_tables(n_cells=30, years=range(2015, 2026), seed=1)
    tdp = history["cell_id"].isin(cells.loc[cells["cell_type"] == "to_dan_pho", "cell_id"])
    history.loc[tdp, "exited"] = 0      # no exit at all in one cell type: quasi-separation
    cells, history = _valid(cells, history)
    ds = Dataset(cells=cells, history=history)
    with pytest.warns(ConvergenceWarning, match="diverge"):
        Calibration(draws=5).fit(ds, 2022)
    cp, hp = tmp_path / "cells.csv", tmp_path / "history.csv"
    cells.to_csv(cp, index=False)
    history.to_csv(hp, index=False)
    proc = run_cli("calibrate", "--cells", cp, "--history", hp, "--base-year", 2022,
                   "--out", tmp_path / "c.json", check=True)
    assert "warning: ConvergenceWarning" in proc.stderr and "diverge" in proc.stderr


def test_cli_calibrate_and_forecast_calibrated(tmp_path, small_files):
    cp, hp = small_files
    out = tmp_path / "cal.json"
    proc = run_cli("calibrate", "--cells", cp, "--history", hp, "--base-year", 2023, "--out", out, check=True)
    assert "Generalized Linear Model Regression Results" in proc.stdout
    assert "Dispersion of cell effects" in proc.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["base_year"] == 2023 and set(data["flows"]) == {"exits", "admissions", "transfers"}
    csv = tmp_path / "f.csv"
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--base-year", 2023, "--horizon", 2025,
                   "--calibrated", "--calibration", out, "--admission-rate", "0.04", "--out", csv, check=True)
    assert "calibrated on history up to 2023" in proc.stdout
    assert "rescaled to 4.00%" in proc.stdout
    assert len(pd.read_csv(csv)) == 12
    # a saved calibration of another base year is refused
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--base-year", 2024, "--calibrated",
                   "--calibration", out)
    assert proc.returncode == 2 and "base year 2023" in proc.stderr


def test_cli_bad_input_exit_2(tmp_path, small_files):
    cp, hp = small_files   # history 2018–2025
    out = tmp_path / "cal.json"
    proc = run_cli("calibrate", "--cells", cp, "--history", hp, "--base-year", 2020, "--out", out)
    assert proc.returncode == 2
    assert "at least 3 years of history before the base year 2020" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--base-year", 2020, "--calibrated")
    assert proc.returncode == 2 and "fixed rates" in proc.stderr
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--calibrated", "--attrition-rate", "0.02")
    assert proc.returncode == 2 and "--attrition-rate" in proc.stderr


def test_calibrated_rates_helper(bundled):
    rates = calibrated_rates(bundled, 2022, 2025, draws=10)
    assert rates.base_year == 2022 and rates.lam.shape == (10, len(bundled.cells), 3)
