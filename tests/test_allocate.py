"""The quota optimiser against brute force and scipy.optimize.milp on small cases,
its constraints, the briefing helpers, and the CLI as a subprocess."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
from scipy.optimize import Bounds, LinearConstraint, milp

from conftest import make_tables, run_cli
from nq21model import engine
from nq21model.allocate import (OUTPUT_COLUMNS, adaptive_comparison, allocate, cell_values, default_cap,
                                optimise_quotas, proportional_floors, quota_changes, quota_gain_table,
                                upper_bound, write_quota_workbooks)
from nq21model.data import Dataset
from nq21model.exceptions import ParameterError
from nq21model.forecast import forecast
from nq21model.scenario import Rates, Scenario, allocation_shares, province_admissions


# ------------------------------------------------------------- references


def reference_value(n0: int, p: float, mu: float, thresholds: dict) -> float:
    """Σ_k ω_k P(Binomial(n0, p) + Poisson(mu) ≥ k) by scipy convolution."""
    pmf = np.convolve(st.binom.pmf(np.arange(n0 + 1), n0, p), st.poisson.pmf(np.arange(200), mu))
    return sum(w * pmf[k:].sum() for k, w in thresholds.items())


def cell_options(n0, p, w, thresholds, lo, hi, i):
    """Every quota vector of cell i and its value (mixed over draws)."""
    Y = w.shape[-1]
    opts = np.array(list(itertools.product(*[range(lo[i, y], hi[i, y] + 1) for y in range(Y)])))
    mu = w[:, i, :] @ opts.T
    vals = cell_values(np.full(len(opts), n0[i]), np.repeat(p[:, [i]], len(opts), axis=1), mu, thresholds)
    return opts, vals


def milp_optimum(n0, p, w, budgets, thresholds, lo, hi) -> float:
    """The exact optimum: one binary per cell and quota vector, one vector per cell,
    the yearly budgets as linear constraints (scipy.optimize.milp)."""
    n = len(n0)
    cols, vals, owner = [], [], []
    for i in range(n):
        opts, v = cell_options(n0, p, w, thresholds, lo, hi, i)
        cols.append(opts)
        vals.append(v)
        owner.append(np.full(len(opts), i))
    cols, vals, owner = np.concatenate(cols), np.concatenate(vals), np.concatenate(owner)
    one_each = LinearConstraint((owner[None, :] == np.arange(n)[:, None]).astype(float), 1, 1)
    budget = LinearConstraint(cols.T.astype(float), -np.inf, budgets)
    res = milp(-vals, constraints=[one_each, budget], integrality=np.ones(vals.size), bounds=Bounds(0, 1))
    assert res.success
    return -res.fun


def brute_force_optimum(n0, p, w, budgets, thresholds, lo, hi) -> float:
    """Every combination of every cell's quota vectors."""
    tables = [cell_options(n0, p, w, thresholds, lo, hi, i) for i in range(len(n0))]
    best = -np.inf
    for combo in itertools.product(*[range(len(t[0])) for t in tables]):
        used = sum(tables[i][0][c] for i, c in enumerate(combo))
        if (used <= budgets).all():
            best = max(best, sum(tables[i][1][c] for i, c in enumerate(combo)))
    return best


def random_case(rng, trial, n_range=(3, 8), common_survival=False):
    n = int(rng.integers(*n_range))
    Y = int(rng.integers(1, 4))
    n0 = rng.integers(0, 7, n)
    D = 2 if trial % 3 == 0 and not common_survival else 1
    s = np.full((1, n), rng.uniform(0.9, 0.99)) if common_survival else rng.uniform(0.85, 0.99, (D, n))
    w = s[:, :, None] ** np.arange(Y - 1, -1, -1)[None, None, :] * rng.choice([1.0, 0.8])
    cap = int(rng.integers(2, 4))
    budgets = rng.integers(1, n * cap // 2 + 2, Y)
    lo = np.zeros((n, Y), np.int64)
    if trial % 4 == 0:
        lo[rng.integers(0, n), :] = 1
    budgets = np.maximum(budgets, lo.sum(axis=0))
    hi = np.full((n, Y), cap)
    thresholds = [{5: 1.0}, {3: 1.0}, {4: 0.5, 5: 0.5}][trial % 3]
    return n0, s ** Y, w, budgets, thresholds, lo, hi


# ------------------------------------------------------------- optimality


def test_cell_values_match_scipy_and_the_engine():
    rng = np.random.default_rng(0)
    n0 = rng.integers(0, 12, 50)
    p = rng.uniform(0.5, 1.0, 50)
    mu = rng.uniform(0, 8, 50)
    got = cell_values(n0, p, mu, {3: 0.3, 5: 0.7})
    ref = [reference_value(int(a), b, c, {3: 0.3, 5: 0.7}) for a, b, c in zip(n0, p, mu)]
    assert np.abs(got - ref).max() < 1e-12
    stats = engine.summarise_cells(n0, p, mu)
    assert np.abs(cell_values(n0, p, mu, [4]) - stats["p_at_least_4"]).max() < 1e-12


@pytest.mark.parametrize("seed", [1, 2])
def test_within_one_percent_of_the_milp_optimum(seed):
    rng = np.random.default_rng(seed)
    gaps = []
    for trial in range(12):
        n0, p, w, budgets, thresholds, lo, hi = random_case(rng, trial, common_survival=trial % 2 == 1)
        x, info = optimise_quotas(n0, p, w, budgets, thresholds=thresholds, floors=lo, caps=hi)
        assert (x.sum(axis=0) <= budgets).all() and (x >= lo).all() and (x <= hi).all()
        mu = np.einsum("dny,ny->dn", w, x)
        assert info["objective"] == pytest.approx(cell_values(n0, p, mu, thresholds).sum(), abs=1e-12)
        best = milp_optimum(n0, p, w, budgets, thresholds, lo, hi)
        assert info["objective"] <= best + 1e-9
        gaps.append((best - info["objective"]) / best)
    assert max(gaps) <= 0.01, gaps


def test_within_one_percent_of_brute_force():
    rng = np.random.default_rng(5)
    for trial in range(6):
        n0, p, w, budgets, thresholds, lo, hi = random_case(rng, trial, n_range=(3, 5))
        w, budgets = w[..., :2], budgets[:2]
        hi = np.minimum(hi[:, :2], 2)
        lo = np.minimum(lo[:, :2], hi)
        x, info = optimise_quotas(n0, p, w, budgets, thresholds=thresholds, floors=lo, caps=hi)
        best = brute_force_optimum(n0, p, w, budgets, thresholds, lo, hi)
        assert info["objective"] >= 0.99 * best


def test_greedy_alone_stalls_where_the_look_ahead_does_not():
    # two empty cells need 5 members; 6 units can lift one of them, not both:
    # one unit at a time nothing gains, a block of 6 gains a lot.
    n0 = np.array([0, 0])
    w = np.ones((2, 1))
    p = np.ones(2)
    x1, info1 = optimise_quotas(n0, p, w, [6], thresholds=[5], look_ahead=1, local_search=False)
    x6, info6 = optimise_quotas(n0, p, w, [6], thresholds=[5], look_ahead=8, local_search=False)
    assert sorted(x6[:, 0].tolist()) == [0, 6]
    assert info6["objective"] == pytest.approx(st.poisson.sf(4, 6.0))
    assert info6["objective"] > info1["objective"] + 0.1


def test_upper_bound_is_above_the_optimum_and_close():
    rng = np.random.default_rng(3)
    for trial in range(6):
        n0, p, w, budgets, thresholds, lo, hi = random_case(rng, 3 * trial + 1, common_survival=True)
        best = milp_optimum(n0, p, w, budgets, thresholds, lo, hi)
        bound = upper_bound(n0, p, w, budgets, thresholds=thresholds, floors=lo, caps=hi)
        assert bound >= best - 1e-9


def test_common_survival_makes_the_year_a_discount_only():
    # one cell, its units worth s^(T-y): the latest years are filled first
    x, _ = optimise_quotas([0], [0.9 ** 3], 0.9 ** np.arange(2, -1, -1)[None, :], [2, 2, 2],
                           thresholds=[3], caps=np.full((1, 3), 2))
    assert x.tolist() == [[2, 2, 2]]
    x, _ = optimise_quotas([0], [0.9 ** 3], 0.9 ** np.arange(2, -1, -1)[None, :], [3, 3, 3],
                           thresholds=[1], caps=np.full((1, 3), 1))
    assert x.tolist() == [[1, 1, 1]]


# ------------------------------------------------------------- province API


def _dataset(n_cells=40, seed=0) -> Dataset:
    cells, history = make_tables(n_cells=n_cells, seed=seed)
    return Dataset(cells, history)


def test_constraints_floors_and_caps_hold():
    ds = _dataset()
    a = allocate(ds, horizon=2030, admissions_per_year=12, floor=0.5, cap=2)
    assert a.quotas.shape == (40, 5) and a.quotas.dtype.kind == "i"
    assert (a.quotas.sum(axis=0) <= 12).all()
    assert (a.quotas <= 2).all() and (a.quotas >= a.floors).all()
    shares = allocation_shares(ds, "population", 2025)
    floors = proportional_floors(np.full(5, 12), shares, 0.5)
    assert (floors.sum(axis=1) == np.floor(0.5 * shares * 60 + 1e-9)).all()
    assert (a.quotas.sum(axis=1) >= floors.sum(axis=1)).all()
    # a higher floor binds: every cell's total at least its floor
    b = allocate(ds, horizon=2030, admissions_per_year=12, floor=1.0, cap=3)
    assert (b.quotas.sum(axis=1) >= np.floor(shares * 60 + 1e-9)).all()


def test_budget_from_the_rate_reuses_province_admissions():
    ds = _dataset()
    a = allocate(ds, horizon=2028, admission_rate=0.05, attrition_rate=0.03)
    n0 = ds.members_at(2025).to_numpy()
    raw = province_admissions(n0, np.full(40, 0.97), allocation_shares(ds, "population", 2025), 3, rate=0.05)
    assert np.allclose(a.budget_raw, raw)
    assert (a.budgets == np.floor(raw)).all()
    assert a.quotas.sum(axis=0).tolist() == a.budgets.tolist()


def test_optimised_beats_proportional_and_matches_forecast():
    ds = _dataset()
    a = allocate(ds, horizon=2030, admissions_per_year=15, thresholds={4: 0.5, 5: 0.5})
    for k in (4, 5):
        assert a.p_optimised[k].sum() > a.p_proportional[k].sum()
    prop = forecast(ds, Scenario(admissions_per_year=15), horizons=[2030]).cells
    assert np.abs(prop["p_at_least_5"].to_numpy() - a.p_proportional[5]).max() < 1e-9
    opt = forecast(ds, Scenario(allocation="quota", quotas=a.quota_table()), horizons=[2030]).cells
    assert np.abs(opt["p_at_least_4"].to_numpy() - a.p_optimised[4]).max() < 1e-9
    assert list(a.table.columns) == OUTPUT_COLUMNS
    assert len(a.table) == 40 * 5


def test_per_cell_survival_and_rates_plug_in():
    ds = _dataset()
    rng = np.random.default_rng(1)
    s = rng.uniform(0.9, 0.995, (3, 40))
    rates = Rates(base_year=2025, survival=s, lam=np.zeros((3, 40, 5)), source="test")
    a = allocate(ds, horizon=2030, admissions_per_year=10, survival=rates)
    b = allocate(ds, horizon=2030, admissions_per_year=10, survival=s)
    assert (a.quotas == b.quotas).all()
    lam = np.broadcast_to(a.quotas[None].astype(float), (3, 40, 5))
    res = forecast(ds, Scenario(), horizons=[2030], rates=Rates(2025, s, lam))
    assert np.abs(res.cells["p_at_least_5"].to_numpy() - a.p_optimised[5]).max() < 1e-9
    with pytest.raises(ParameterError, match="base year"):
        allocate(ds, horizon=2030, survival=Rates(2024, s, np.zeros((3, 40, 6))))


@pytest.mark.parametrize("kwargs,message", [
    ({"admissions_per_year": -1}, "≥ 0"),
    ({"thresholds": [0]}, "threshold"),
    ({"horizon": 2025}, "at or before the base year"),
    ({"admissions_per_year": 4, "floor": 5.0, "cap": 50}, "below the sum of the floors"),
    ({"admissions_per_year": 40, "floor": 1.0, "cap": 0}, "cap"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        allocate(_dataset(), **kwargs)


def test_default_cap_is_the_largest_yearly_admissions():
    ds = _dataset()
    admitted = ds.panel("admitted")
    assert default_cap(ds) == max(1, int(admitted.loc[:, 2019:2025].to_numpy().max()))


# ------------------------------------------------------ briefing helpers


def test_gain_table_changes_and_workbooks(tmp_path):
    ds = _dataset()
    a = allocate(ds, horizon=2030, admissions_per_year=12)
    gain = quota_gain_table(a)
    row = gain.iloc[0]
    assert row["Đơn vị"] == "Toàn tỉnh" and row["Số chi bộ"] == 40
    assert row["Tỷ lệ dự kiến - chỉ tiêu tối ưu"] == pytest.approx(a.p_optimised[5].mean())
    assert row["Chênh lệch"] == pytest.approx(a.p_optimised[5].mean() - a.p_proportional[5].mean())
    assert row["Tổng chỉ tiêu"] == a.quotas.sum()
    unit = quota_gain_table(a, by="district", unit="Tam Đường").iloc[0]
    mask = (ds.cells["district"] == "Tam Đường").to_numpy()
    assert unit["Số chi bộ"] == mask.sum()
    assert unit["Số chi bộ đạt thêm"] == pytest.approx((a.p_optimised[5] - a.p_proportional[5])[mask].sum())
    changes = quota_changes(a, "Tam Đường", n=5)
    assert len(changes) == 5 and set(changes["Mã chi bộ"]) <= set(ds.cells.loc[mask, "cell_id"])
    moved = np.abs(a.quotas.sum(axis=1) - a.lam_proportional.sum(axis=1))[mask]
    assert np.allclose(np.abs(changes["Thay đổi"]).to_numpy(), np.round(np.sort(moved)[::-1][:5], 1), atol=0.051)
    with pytest.raises(ParameterError):
        quota_changes(a, "Không có", n=5)
    paths = write_quota_workbooks(a, tmp_path / "wb")
    assert set(paths) == set(ds.cells["district"])
    assert sorted(p.name for p in (tmp_path / "wb").iterdir()) == sorted(p.name for p in paths.values())
    sheet = pd.read_excel(paths["Tam Đường"], sheet_name="Chỉ tiêu")
    assert len(sheet) == mask.sum()
    assert sheet[[f"Chỉ tiêu {y}" for y in range(2026, 2031)]].to_numpy().sum() == a.quotas[mask].sum()


def test_adaptive_comparison_runs_and_agrees_with_the_exact_fixed_plan():
    ds = _dataset(n_cells=12)
    a = allocate(ds, horizon=2027, admissions_per_year=4)
    out = adaptive_comparison(a, draws=120, seed=1)
    row = out.iloc[0]
    assert row["threshold"] == 5 and row["draws"] == 120
    assert abs(row["fixed_mc"] - row["fixed_exact"]) < 4 * row["se"] + 1e-9
    assert row["difference"] == pytest.approx(row["adaptive_mc"] - row["fixed_mc"])
    assert 0.0 <= row["adaptive_mc"] <= 1.0


# ------------------------------------------------------------------- CLI


def test_cli_writes_the_table_and_it_round_trips_through_forecast(small_files, tmp_path):
    cells, history = small_files
    out = tmp_path / "quotas.csv"
    proc = run_cli("allocate", "--cells", cells, "--history", history, "--horizon", 2030,
                   "--threshold", 4, "--admissions-per-year", 5, "--attrition-rate", 0.03, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "Toàn tỉnh" in proc.stdout and "≥4 optimised" in proc.stdout
    table = pd.read_csv(out)
    assert list(table.columns) == OUTPUT_COLUMNS
    assert (table.groupby("year")["quota"].sum() <= 5).all()
    fc = tmp_path / "forecast.csv"
    proc = run_cli("forecast", "--cells", cells, "--history", history, "--horizon", 2030,
                   "--attrition-rate", 0.03, "--quotas", out, "--out", fc)
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(fc).set_index("cell_id")["p_at_least_4"]
    want = table.drop_duplicates("cell_id").set_index("cell_id")["p_optimised"]
    assert np.abs(got.loc[want.index].to_numpy() - want.to_numpy()).max() < 1e-9


def test_cli_xlsx_and_workbooks(small_files, tmp_path):
    cells, history = small_files
    out = tmp_path / "quotas.xlsx"
    proc = run_cli("allocate", "--cells", cells, "--history", history, "--admissions-per-year", 4,
                   "--out", out, "--workbooks", tmp_path / "wb")
    assert proc.returncode == 0, proc.stderr
    assert list(pd.read_excel(out, sheet_name="quotas").columns) == OUTPUT_COLUMNS
    assert len(list((tmp_path / "wb").glob("*.xlsx"))) == 2


@pytest.mark.parametrize("args,message", [
    (["--admissions-per-year", 3, "--floor", 20], "below the sum of the floors"),
    (["--admissions-per-year", -3], "≥ 0"),
    (["--threshold", 0], "threshold must be ≥ 1"),
    (["--horizon", 2025], "at or before the base year"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(small_files, tmp_path, args, message):
    cells, history = small_files
    out = tmp_path / "quotas.csv"
    proc = run_cli("allocate", "--cells", cells, "--history", history, *args, "--out", out)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""
    assert sorted(f.name for f in tmp_path.iterdir()) == ["cells.csv", "history.csv"]


def test_optimised_quotas_feed_the_explorer():
    from nq21model.allocate import optimised_quotas
    from nq21model.explorer import Explorer, ExplorerState
    from nq21model.scenario import Scenario

    cells, history = make_tables(n_cells=30, seed=4)
    ds = Dataset(cells, history)
    quotas = optimised_quotas(ds, Scenario(admission_rate=0.05), 2025, 2030)
    assert list(quotas.columns) == ["cell_id", "year", "quota"]
    assert set(quotas["year"]) == set(range(2026, 2031))
    app = Explorer(ds, quota_provider=optimised_quotas)
    assert ("Theo chỉ tiêu tối ưu", "quota") in app.allocations()
    optimised = app.run(ExplorerState(level="province", admission_rate=0.05, allocation="quota"))
    proportional = app.run(ExplorerState(level="province", admission_rate=0.05, allocation="population"))
    top = optimised.shares().set_index("threshold").loc[5, "share"]
    assert top > proportional.shares().set_index("threshold").loc[5, "share"]
