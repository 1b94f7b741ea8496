"""The exact engine against slow, obvious references written here, against Monte
Carlo, and on properties that must hold for any input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings, strategies as hs

from conftest import make_tables
from nq21model import engine, engine_groups
from nq21model.data import Dataset
from nq21model.forecast import forecast
from nq21model.montecarlo import simulate_members
from nq21model.scenario import Scenario


def reference_pmf_year_by_year(n0: int, s: float, lams, size: int = 400) -> np.ndarray:
    """The process itself, year by year: thin every member by s, add Poisson(lam_y)."""
    pmf = np.zeros(size)
    pmf[n0] = 1.0
    k = np.arange(size)
    for lam in lams:
        thinned = np.zeros(size)
        for n in np.flatnonzero(pmf > 0):
            thinned[: n + 1] += pmf[n] * st.binom.pmf(np.arange(n + 1), n, s)
        pmf = np.convolve(thinned, st.poisson.pmf(k, lam))[:size]
    return pmf


def reference_closed_form(n0: int, p: float, mu: float, size: int = 400) -> np.ndarray:
    return np.convolve(st.binom.pmf(np.arange(n0 + 1), n0, p), st.poisson.pmf(np.arange(size), mu))[:size]


CASES = [(0, 0.98, [0.3, 0.4, 0.5]), (1, 0.9, [0.0, 0.0]), (3, 0.98, [0.2] * 5),
         (12, 0.975, [1.1, 0.9, 1.3, 0.7, 1.0]), (60, 0.97, [2.5] * 5), (250, 0.99, [9.0] * 5),
         (5, 1.0, [0.5, 0.5]), (7, 0.5, [3.0])]


@pytest.mark.parametrize("n0,s,lams", CASES)
def test_exact_pmf_matches_the_process_year_by_year(n0, s, lams):
    p, mu = engine.horizon_parameters(np.array([s]), np.array([lams]), len(lams))
    got = engine.binomial_poisson_pmf(np.array([n0]), p, mu)[0]
    ref = reference_pmf_year_by_year(n0, s, lams)
    n = min(got.size, ref.size)
    assert np.abs(got[:n] - ref[:n]).max() < 1e-12
    assert abs(got.sum() - 1) < 1e-12


def test_summary_matches_scipy_convolution():
    rng = np.random.default_rng(3)
    n0 = rng.integers(0, 80, 300)
    p = rng.uniform(0.6, 1.0, 300)
    mu = rng.uniform(0, 15, 300)
    out = engine.summarise_cells(n0, p, mu)
    for i in range(300):
        ref = reference_closed_form(int(n0[i]), p[i], mu[i])
        cdf = np.cumsum(ref)
        assert out["expected"][i] == pytest.approx((np.arange(ref.size) * ref).sum(), abs=1e-9)
        assert out["p_zero"][i] == pytest.approx(ref[0], abs=1e-12)
        for k in (3, 4, 5):
            assert out[f"p_at_least_{k}"][i] == pytest.approx(1 - cdf[k - 1], abs=1e-12)
        for q, level in (("q10", 0.1), ("q50", 0.5), ("q90", 0.9)):
            assert out[q][i] == np.argmax(cdf >= level - 1e-12)


def test_a_shared_survival_gives_the_same_pmf_by_its_table_as_cell_by_cell():
    """Many cells with a few survivals take the table of binomial parts and the Poisson
    pmf's transform; one cell alone (or a mean above POISSON_PMF_MEAN) takes a complex
    exponential a value: both are the closed form."""
    rng = np.random.default_rng(8)
    n0 = np.r_[0, 0, 59, rng.integers(0, 60, 997)]
    p = np.r_[0.5, 1.0, 0.5, rng.choice([0.0, 0.5, 0.904, 1.0], 997)]
    mu = np.r_[0.0, 7.7, 0.0, rng.uniform(0, 40, 996), engine.POISSON_PMF_MEAN]
    assert 2 * np.unique(p).size * np.unique(n0).size <= n0.size  # the table's way
    for high in (False, True):  # one mean above the bound: the exponential's way for all
        means = np.r_[mu[:-1], 900.0] if high else mu
        together = engine.binomial_poisson_pmf(n0, p, means)
        for i in range(n0.size):
            alone = engine.binomial_poisson_pmf(n0[i:i + 1], p[i:i + 1], means[i:i + 1])[0]
            n = min(alone.size, together.shape[1])
            assert np.abs(together[i, :n] - alone[:n]).max() < 1e-14
            ref = reference_closed_form(int(n0[i]), p[i], means[i], size=n)
            assert np.abs(together[i, :n] - ref).max() < 1e-13
    log_factorials = engine._log_factorials(3000)
    for k in (0, 1, 5, 63, 64, 65, 200, 2999):
        assert log_factorials[k] == pytest.approx(math.lgamma(k + 1.0), rel=1e-15, abs=1e-15)


def test_the_engine_takes_what_it_took_before_its_faster_ways():
    """No cells; a mean that is not a number (its cell's pmf is NaN, the others'
    are not); one cell given as numbers; groups given as masks, lists or a number."""
    assert engine.binomial_poisson_pmf([], [], []).shape == (0, 32)
    n0, mu = np.arange(50) % 5, np.full(50, 2.0)
    mu[3] = np.nan
    with np.errstate(invalid="ignore"):
        pmf = engine.binomial_poisson_pmf(n0, np.full(50, 0.8), mu)
    assert np.isnan(pmf).any(axis=1).nonzero()[0].tolist() == [3]
    alone = engine.binomial_poisson_pmf(n0[:1], np.full(1, 0.8), mu[:1])[0]
    assert np.abs(pmf[0, :alone.size] - alone).max() < 1e-15
    assert np.array_equal(engine.low_tails(3, 0.5, 1.0, 5), engine.low_tails(np.array([3]), [0.5], [1.0], 5)[0])
    rng = np.random.default_rng(2)
    n0, mu, p = rng.integers(0, 40, 200), rng.uniform(0, 3, 200), np.full(200, 0.85)
    by_index = [np.flatnonzero(n0 > 20), np.flatnonzero(n0 < 5), np.array([3]), np.arange(10)]
    by_other = [n0 > 20, list(np.flatnonzero(n0 < 5)), 3, range(10)]
    assert np.array_equal(engine_groups.total_quantiles_groups(n0, p, mu, by_other, (0.1, 0.9)),
                          engine_groups.total_quantiles_groups(n0, p, mu, by_index, (0.1, 0.9)))


def test_total_pmf_matches_convolution_of_cells():
    rng = np.random.default_rng(5)
    n0 = rng.integers(0, 20, 25)
    p = rng.choice([0.9, 0.95], 25)
    mu = rng.uniform(0, 3, 25)
    ref = np.array([1.0])
    for i in range(25):
        ref = np.convolve(ref, reference_closed_form(int(n0[i]), p[i], mu[i], size=80))
    offset, got = engine_groups.total_pmf(n0, p, mu)
    window = ref[offset: offset + got.size]
    assert np.abs(got[: window.size] - window).max() < 1e-12
    assert got.sum() == pytest.approx(1.0, abs=1e-9)


def test_total_pmf_window_on_a_large_unit():
    n0 = np.full(2000, 15)
    offset, pmf = engine_groups.total_pmf(n0, np.full(2000, 0.9), np.full(2000, 2.0))
    assert offset > 0 and pmf.sum() == pytest.approx(1.0, abs=1e-9)
    mean = offset + (np.arange(pmf.size) * pmf).sum()
    assert mean == pytest.approx(2000 * (15 * 0.9 + 2.0), rel=1e-9)


def test_poisson_binomial_against_dynamic_programming():
    probs = np.random.default_rng(1).uniform(size=333)
    dp = np.array([1.0])
    for q in probs:
        dp = np.convolve(dp, [1 - q, q])
    assert np.abs(engine_groups.poisson_binomial_pmf(probs) - dp).max() < 1e-13
    needed = int(np.ceil(0.95 * 333))
    assert engine_groups.prob_count_at_least(probs, 0.95) == pytest.approx(dp[needed:].sum(), abs=1e-13)
    assert engine_groups.prob_count_at_least(np.ones(20), 0.95) == pytest.approx(1.0)
    # 19 of 20 is exactly 95 %: one sure failure still meets the target
    assert engine_groups.prob_count_at_least(np.r_[np.ones(19), 0.0], 0.95) == pytest.approx(1.0)
    assert engine_groups.prob_count_at_least(np.r_[np.ones(18), 0.0, 0.0], 0.95) == pytest.approx(0.0)


def _dataset(n_cells=40, seed=0):
    cells, history = make_tables(n_cells=n_cells, seed=seed)
    return Dataset(cells, history)


def test_forecast_follows_model_md_formulas():
    """R_y = r E[M_{y-1}], E[M_y] = (s + r) E[M_{y-1}], lam by population share."""
    ds = _dataset()
    r, a, base, horizon = 0.04, 0.02, 2025, 2030
    res = forecast(ds, Scenario.textbook(r, a), horizons=[horizon])
    s = 1 - a
    n0 = ds.members_at(base).to_numpy()
    pop = ds.cells["population"].to_numpy(float)
    m = n0.sum()
    mu = np.zeros(len(n0))
    for y in range(base + 1, horizon + 1):
        R = r * m
        mu += R * pop / pop.sum() * s ** (horizon - y)
        m = (s + r) * m
    table = res.cells
    for i in range(len(n0)):
        ref = reference_closed_form(int(n0[i]), s ** (horizon - base), mu[i])
        row = table.iloc[i]
        assert row["expected_members"] == pytest.approx(n0[i] * s ** 5 + mu[i], abs=1e-9)
        assert row["p_at_least_4"] == pytest.approx(1 - ref[:4].sum(), abs=1e-12)
    prov = res.province.set_index("horizon").loc[horizon]
    assert prov["expected_members"] == pytest.approx(n0.sum() * (s + r) ** 5, rel=1e-9)


def test_members_allocation_gives_nothing_to_empty_cells():
    cells, history = make_tables(n_cells=40)
    history.loc[history["cell_id"] == "C001", ["local_members", "admitted", "exited", "transferred_in"]] = 0
    ds = Dataset(cells, history)
    res = forecast(ds, Scenario.textbook(allocation="members"), horizons=[2030])
    empty = ds.members_at(2025).to_numpy() == 0
    assert empty.any()
    assert (res.cells.loc[empty, "expected_members"] == 0).all()
    assert (res.cells.loc[empty, "p_zero"] == 1).all()


def test_admissions_per_year_as_a_number():
    ds = _dataset()
    res = forecast(ds, Scenario.textbook(admissions_per_year=10, attrition_rate=0.0), horizons=[2027])
    n0 = ds.members_at(2025).sum()
    assert res.province.set_index("horizon").loc[2027, "expected_members"] == pytest.approx(n0 + 20)


def test_exact_against_monte_carlo_within_4_standard_errors():
    ds = _dataset(n_cells=60, seed=2)
    scen = Scenario.textbook(0.05, 0.03)
    exact = forecast(ds, scen, horizons=[2030]).cells
    mc = forecast(ds, scen, horizons=[2030], method="monte-carlo", draws=20_000, seed=11).cells
    for k in (3, 4, 5):
        p, q = exact[f"p_at_least_{k}"].to_numpy(), mc[f"p_at_least_{k}"].to_numpy()
        se = np.sqrt(np.maximum(p * (1 - p), 1e-12) / 20_000)
        assert (np.abs(p - q) <= 4 * se + 1e-9).all()
    n0 = ds.members_at(2025).to_numpy()
    res = forecast(ds, scen, horizons=[2030])
    pp, mu = res.parameters(2030)
    var = n0 * pp[0] * (1 - pp[0]) + mu[0]
    se = np.sqrt(var / 20_000)
    assert (np.abs(exact["expected_members"] - mc["expected_members"]) <= 4 * se + 1e-9).all()


def test_monte_carlo_is_reproducible_with_a_seed():
    lam = np.full((3, 5), 0.7)
    a = simulate_members(np.array([1, 5, 9]), np.full(3, 0.97), lam, [3], draws=100, seed=4)
    b = simulate_members(np.array([1, 5, 9]), np.full(3, 0.97), lam, [3], draws=100, seed=4)
    assert np.array_equal(a[3], b[3])


@settings(max_examples=60, deadline=None)
@given(n0=hs.lists(hs.integers(0, 60), min_size=1, max_size=8),
       r=hs.floats(0.0, 0.2), a=hs.floats(0.0, 0.3), steps=hs.integers(1, 8), bump=hs.floats(0.001, 0.05))
def test_properties(n0, r, a, steps, bump):
    n0 = np.array(n0)
    pop = np.arange(1, n0.size + 1) * 100.0

    def stats(rate, attr):
        s = np.full(n0.size, 1 - attr)
        total = rate * n0.sum() if n0.sum() else rate
        lam = np.repeat((total * pop / pop.sum())[:, None], steps, axis=1)
        p, mu = engine.horizon_parameters(s, lam, steps)
        return engine.summarise_cells(n0, p, mu)

    base = stats(r, a)
    for key in ("p_zero", "p_at_least_3", "p_at_least_4", "p_at_least_5"):
        assert ((base[key] >= 0) & (base[key] <= 1)).all()
    assert (base["p_at_least_3"] >= base["p_at_least_4"] - 1e-12).all()
    assert (base["p_at_least_4"] >= base["p_at_least_5"] - 1e-12).all()
    assert (base["q10"] <= base["q50"]).all() and (base["q50"] <= base["q90"]).all()
    more_admissions = stats(r + bump, a)
    more_attrition = stats(r, min(a + bump, 0.99))
    for k in (3, 4, 5):
        assert (more_admissions[f"p_at_least_{k}"] >= base[f"p_at_least_{k}"] - 1e-12).all()
        assert (more_attrition[f"p_at_least_{k}"] <= base[f"p_at_least_{k}"] + 1e-12).all()


def _reach_by_convolution(probs, share):
    """P(share of cells that succeed ≥ share): the whole Poisson-binomial by repeated
    convolution, the plainest way."""
    pmf = np.array([1.0])
    for q in probs:
        pmf = np.convolve(pmf, [1 - q, q])
    return pmf[engine_groups.cells_needed(share, len(probs)):].sum()


def test_grouped_poisson_binomial_matches_one_by_one():
    rng = np.random.default_rng(9)
    probs = rng.uniform(size=(3, 200))
    groups = [np.arange(0, 7), np.arange(7, 100), np.arange(100, 200), np.array([5]), np.arange(200),
              np.array([], dtype=int), rng.permutation(200)[:60]]
    for share in (0.95, 0.3):  # few failures allowed (cut distribution), many (the FFT tree)
        got = engine_groups.share_reach_groups(probs, groups, share)
        for g, idx in enumerate(groups):
            for j in range(3):
                assert got[g, j] == pytest.approx(_reach_by_convolution(probs[j, idx], share), abs=1e-13)


def test_grouped_poisson_binomial_with_certain_cells():
    probs = np.r_[np.ones(50), np.zeros(3), np.random.default_rng(2).uniform(0.5, 1, 20)]
    groups = [np.arange(73), np.arange(40, 73), np.arange(50, 53)]
    got = engine_groups.share_reach_groups(probs, groups, 0.95)[:, 0]
    for g, idx in enumerate(groups):
        assert got[g] == pytest.approx(_reach_by_convolution(probs[idx], 0.95), abs=1e-13)


def test_grouped_poisson_binomial_in_batches(monkeypatch):
    """Groups cut into batches (a calibrated forecast's many draws) give what one
    batch gives, and the normal approximation takes over above EXACT_CELLS."""
    rng = np.random.default_rng(4)
    probs = rng.uniform(0.6, 1.0, size=(5, 400))
    groups = [rng.permutation(400)[:int(n)] for n in rng.integers(1, 120, size=30)]
    whole = engine_groups.share_reach_groups(probs, groups, 0.9)
    monkeypatch.setattr(engine_groups, "REACH_BATCH", 300)
    assert np.abs(engine_groups.share_reach_groups(probs, groups, 0.9) - whole).max() < 1e-15
    monkeypatch.setattr(engine_groups, "EXACT_CELLS", 50)
    near = engine_groups.share_reach_groups(probs, groups, 0.9)
    big = np.array([len(g) > 50 for g in groups])
    assert np.abs(near[~big] - whole[~big]).max() < 1e-15
    assert np.abs(near[big] - whole[big]).max() < 0.05  # the normal approximation of a hundred cells


def test_batched_group_totals_match_one_by_one():
    rng = np.random.default_rng(12)
    n0 = rng.integers(0, 40, 500)
    groups = [np.arange(0, 3), np.arange(3, 200), np.arange(200, 500), np.arange(500), np.array([7])]
    mu = rng.uniform(0, 4, 500)
    for p in (np.full(500, 0.9), rng.uniform(0.8, 1.0, 500)):  # common survival (batched) and per cell
        got = engine_groups.total_quantiles_groups(n0, p, mu, groups, (0.1, 0.5, 0.9))
        for g, idx in enumerate(groups):
            offset, pmf = engine_groups.total_pmf(n0[idx], p[idx], mu[idx])
            assert list(got[g]) == list(engine.quantiles_from_pmf(pmf, (0.1, 0.5, 0.9), offset=offset)[0])


@settings(max_examples=300, deadline=None)
@given(n0=hs.integers(0, 400), p=hs.one_of(hs.sampled_from([0.0, 1.0, 1 - 1e-9, 1e-9]), hs.floats(1e-300, 1)),
       mu=hs.one_of(hs.sampled_from([0.0, 1e-9]), hs.floats(0, 60)))
def test_low_tails_are_the_cdf_of_binomial_plus_poisson(n0, p, mu):
    """P(N ≤ k), k ≤ 5, against scipy's pmfs convolved — survival 1 included (no one
    leaves: exactly n0 stay; it once gave 0 for every k) and no admissions."""
    k = np.arange(6)
    pmf = [sum(st.binom.pmf(j, n0, p) * st.poisson.pmf(m - j, mu) for j in range(m + 1)) for m in k]
    got = engine.low_tails(np.array([n0]), np.array([p]), np.array([mu]), 5)[0]
    np.testing.assert_allclose(got, np.clip(np.cumsum(pmf), 0, 1), rtol=1e-9, atol=1e-12)


def test_no_attrition_keeps_exactly_the_members():
    """--attrition-rate 0: a cell of one member and almost no admissions is very
    unlikely to reach 3 (it was reported certain)."""
    stats = engine.summarise_cells(np.array([1, 2, 6]), np.ones(3), np.full(3, 0.02))
    assert stats["p_at_least_3"][0] < 1e-3 and stats["p_at_least_3"][1] < 0.03
    assert stats["p_at_least_5"][2] == pytest.approx(1.0) and stats["p_zero"][0] == 0.0


def test_normal_cdf_is_scipys_to_twelve_digits_in_both_tails():
    x = np.r_[np.linspace(-38, 9, 4001), -np.inf, np.inf, 0.0]
    np.testing.assert_allclose(engine_groups.normal_cdf(x), st.norm.cdf(x), rtol=1e-12, atol=1e-300)
    assert engine_groups.normal_cdf(np.ones((2, 3))).shape == (2, 3)


def test_chunks_on_every_core_give_the_same_numbers():
    """The cells' quantiles and tails in many chunks (on threads) are the numbers of
    one chunk; a chunk's error reaches the caller."""
    rng = np.random.default_rng(4)
    n0 = rng.integers(0, 120, 3000)
    p = rng.uniform(0.6, 1.0, (5, 3000))
    mu = rng.uniform(0.0, 12.0, (5, 3000))
    one = engine.summarise_cells(n0, p, mu, chunk_elements=10**9, per_draw=True)
    one.update(engine.cell_quantiles(n0, p, mu, chunk_elements=10**9))
    many = engine.summarise_cells(n0, p, mu, chunk_elements=3_000, per_draw=True)
    many.update(engine.cell_quantiles(n0, p, mu, chunk_elements=3_000))
    assert one.keys() == many.keys()
    for key in one:
        np.testing.assert_array_equal(one[key], many[key], err_msg=key)
    with pytest.raises(ZeroDivisionError):
        engine._on_every_core(lambda chunk: 1 / (chunk - 3), list(range(6)))
