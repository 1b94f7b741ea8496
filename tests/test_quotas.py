"""The quota optimiser core (nq21model.quotas, issue 11): values against the engine,
the rules of a plan on random cases, the optimum against scipy.optimize.milp, the
floor, pooling, and the acceptance on the bundled data against the synthetic truth."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
from scipy.optimize import Bounds, LinearConstraint, milp

from nq21model import engine
from nq21model import quotas as qm
from nq21model.exceptions import ParameterError


def random_case(rng, n=None, Y=None, U=None, flat=True):
    n = int(rng.integers(6, 40)) if n is None else n
    Y = int(rng.integers(1, 6)) if Y is None else Y
    U = int(rng.integers(1, 4)) if U is None else U
    n0 = rng.integers(0, 9, n)
    s = rng.uniform(0.85, 0.99, n)
    nat = rng.gamma(1.5, 0.5, (n, 1)) * rng.uniform(0.8, 1.2, (1, Y))
    tr = rng.uniform(0.0, 0.2, n)
    unit = rng.integers(0, U, n)
    unit[:U] = np.arange(U)
    pop = rng.integers(50, 1500, n)
    b = rng.integers(3, 2 * n // U + 4, (U, 1))
    budgets = b + (np.arange(Y)[None, :] * rng.integers(0, 2, (U, 1)) if flat else rng.integers(0, 4, (U, Y)))
    return n0, s, nat, tr, unit, pop, budgets


# ------------------------------------------------------------------ values


def test_response_never_above_min():
    q = np.arange(0, 12)[:, None].astype(float)
    c = np.array([0.0, 0.2, 1.0, 2.5, 7.0])[None, :]
    m, e = qm.response(q, c, "min"), qm.response(q, c, "exp")
    assert np.allclose(m, np.minimum(q, c))
    assert (e <= m + 1e-12).all() and (np.diff(e, axis=0) >= -1e-12).all()
    assert np.allclose(e[:, 0], 0.0)
    with pytest.raises(ParameterError):
        qm.response(q, c, "linear")


def test_cell_values_match_engine_and_scipy():
    rng = np.random.default_rng(1)
    n, Y = 30, 4
    n0 = rng.integers(0, 12, n)
    s = rng.uniform(0.8, 1.0, n)
    nat = rng.gamma(2.0, 0.4, (n, Y))
    tr = rng.uniform(0, 0.3, (n, Y))
    q = rng.integers(0, 3, (n, Y))
    vals, real = qm.cell_values(q, n0, s, nat, tr, lift=1.5, thresholds={3: 0.5, 5: 1.0})
    p, mu = engine.horizon_parameters(s, np.minimum(q, 1.5 * nat) + tr, Y)
    pmf = engine.binomial_poisson_pmf(n0, p, mu)
    assert np.allclose(vals, 0.5 * pmf[:, 3:].sum(axis=1) + pmf[:, 5:].sum(axis=1), atol=1e-9)
    assert np.allclose(real, np.minimum(q, 1.5 * nat))
    # survival varying by year: Binomial(n0, Π s) + Poisson(Σ λ_y Π_{t>y} s_t)
    sy = rng.uniform(0.8, 1.0, (n, Y))
    vals, _ = qm.cell_values(q, n0, sy, nat, tr, lift=2.0, thresholds=5)
    for i in range(5):
        lam = np.minimum(q[i], 2.0 * nat[i]) + tr[i]
        mu = sum(lam[y] * np.prod(sy[i, y + 1:]) for y in range(Y))
        ref = np.convolve(st.binom.pmf(np.arange(n0[i] + 1), n0[i], np.prod(sy[i])),
                          st.poisson.pmf(np.arange(80), mu))[5:].sum()
        assert vals[i] == pytest.approx(ref, abs=1e-10)
    # heterogeneous lifts and the evaluation helpers agree
    lifts = rng.choice([1.0, 2.0, 3.0], n)
    v_het, _ = qm.cell_values(q, n0, s, nat, tr, lift=lifts, thresholds=5)
    assert qm.evaluate_plan(q, n0, s, nat, tr, lifts, Y, 5) == pytest.approx(v_het.mean())
    assert qm.expected_share(q, n0, s, nat, tr, lift=2.0, k=5) == pytest.approx(
        qm.evaluate_plan(np.c_[q, q], n0, s, np.c_[nat, nat], np.c_[tr, tr], 2.0, Y, 5))


# ------------------------------------------------------------------ rules


@pytest.mark.parametrize("seed", range(12))
def test_rules_hold_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    n0, s, nat, tr, unit, pop, budgets = random_case(rng, flat=seed % 3 != 0)
    for pool in (False, True):
        plan = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, thresholds={4: 0.5, 5: 1.0},
                           pool=pool, response_kind="exp" if seed % 2 else "min")
        q = plan.quotas
        assert q.dtype.kind == "i" and q.shape == nat.shape
        checks = qm.check_plan(q, unit, budgets, floors=plan.floors, caps=plan.caps, pool=pool)
        assert checks == {k: 0 for k in checks}, checks
        assert plan.info["checks"] == checks
        assert (np.abs(np.diff(q, axis=1)) <= 1).all()
        assert (q.sum(axis=1) >= plan.floors).all()
        if pool:
            assert (q.sum(axis=0) <= budgets.sum(axis=0)).all()
            assert plan.unit_transfer.sum() == q.sum() - budgets.sum()
        else:
            assert (plan.unit_quota <= budgets).all()
            assert (plan.unit_unplaced == budgets.sum(axis=1) - plan.unit_quota.sum(axis=1)).all()
            # the whole budget is used wherever the cells can take it
            room = np.bincount(unit, weights=plan.caps.min(axis=1) * nat.shape[1], minlength=len(budgets))
            roomy = room >= budgets.sum(axis=1) + budgets.shape[0] * nat.shape[1]
            if seed % 3:
                assert (plan.unit_unplaced[roomy] == 0).all()
        assert np.allclose(plan.realised, qm.response(q, 2.0 * nat, plan.info["response"]))
        assert np.allclose(plan.unit_unrealised, plan.unit_quota.sum(1) - plan.unit_realised.sum(1))


def test_spread_keeps_totals_budgets_and_steps():
    rng = np.random.default_rng(7)
    for _ in range(30):
        n, Y, U = int(rng.integers(2, 30)), int(rng.integers(1, 7)), int(rng.integers(1, 4))
        unit = rng.integers(0, U, n)
        Q = rng.integers(0, 4 * Y, n)
        tot = np.bincount(unit, weights=Q, minlength=U).astype(int)
        # budgets around the totals, rising by up to 5 % a year
        ramp = 1.0 + 0.05 * rng.uniform() * np.arange(Y)
        budgets = np.ceil(tot[:, None] * ramp[None, :] / ramp.sum()).astype(int) + rng.integers(0, 2, (U, 1))
        for pool in (False, True):
            q, lowered = qm.spread(Q, unit, budgets, pool=pool)
            assert (q.sum(axis=1) == Q - lowered).all() and (lowered >= 0).all()
            assert (np.abs(np.diff(q, axis=1)) <= 1).all() and (q >= 0).all()
            uq = np.zeros((U, Y), int)
            np.add.at(uq, unit, q)
            assert (uq.sum(axis=0) <= budgets.sum(axis=0)).all() if pool else (uq <= budgets).all()
            if not pool:
                assert lowered.sum() == 0


def test_population_split():
    rng = np.random.default_rng(3)
    n, Y, U = 200, 5, 3
    unit = rng.integers(0, U, n)
    pop = rng.integers(50, 2000, n)
    budgets = np.array([[40, 41, 42, 43, 44], [10, 10, 10, 11, 11], [0, 0, 0, 0, 0]])
    q = qm.population_split(budgets, unit, pop)
    uq = np.zeros((U, Y), int)
    np.add.at(uq, unit, q)
    assert (uq == budgets).all()
    assert (np.abs(np.diff(q, axis=1)) <= 1).all()
    upop = np.bincount(unit, weights=pop, minlength=U)
    exact = pop / upop[unit] * budgets.sum(axis=1)[unit]
    assert (np.abs(q.sum(axis=1) - exact) < 1).all()


def test_floor_as_written():
    """Big safe cells would get nothing; the rule gives each with a share ≥ 2 one."""
    n, Y = 10, 5
    n0 = np.array([40] * 5 + [3] * 5)
    pop = np.array([900] * 5 + [100] * 5)
    pop[0] = 150                                            # share 50 · 150/5150 · … < 2
    s, nat, tr = np.full(n, 0.97), np.full((n, Y), 0.8), np.zeros(n)
    budgets = np.full((1, Y), 10)
    unit = np.zeros(n, int)
    floors = qm.floors_as_written(budgets, unit, pop)
    share = pop / pop.sum() * budgets.sum()
    assert (floors == (share >= 2)).all() and floors[1:5].all() and not floors[0]
    with_rule = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, tie_break=0.0)
    without = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, floor_rule=False, tie_break=0.0)
    assert (without.quotas[1:5].sum(axis=1) == 0).all()      # nothing for the safe cells by themselves
    assert (with_rule.quotas.sum(axis=1) >= floors).all()
    assert with_rule.quotas[1:5].sum() == 4 and with_rule.quotas[0].sum() == 0
    assert without.value.sum() >= with_rule.value.sum() - 1e-12


def test_a_cell_with_no_local_member_is_given_one_a_year():
    """The programme's "no bản without a local member": a cell with none cannot reach
    5 by the horizon, so the objective alone gives it nothing (and a quota of 0 caps
    its admissions at 0); the floor gives it 1 a year while its unit's budget holds."""
    n, Y = 6, 5
    n0 = np.array([0, 0, 4, 4, 4, 4])
    s, nat, tr = np.full(n, 0.97), np.full((n, Y), 0.3), np.zeros(n)
    pop = np.array([100, 100, 1000, 1000, 1000, 1000])      # the empty cells' shares < 2: no floor as written
    unit = np.zeros(n, int)
    budgets = np.full((1, Y), 3)
    without = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, floor_rule=False)
    assert (without.quotas[:2] == 0).all()
    plan = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop)
    assert (plan.quotas[:2] == 1).all() and list(plan.empty) == [True, True] + [False] * 4
    assert list(plan.floors) == [5, 5, 1, 1, 1, 1]
    assert plan.info["checks"] == {k: 0 for k in plan.info["checks"]}
    # a budget that holds one empty cell's floor only: the one with more people
    more = pop.copy()
    more[1] = 120
    small = qm.optimise(n0, s, nat, tr, unit, np.full((1, Y), 1), population=more, floor_share=10)
    assert small.quotas[1].sum() == 5 and small.quotas[0].sum() == 0 and list(small.empty[:2]) == [False, True]
    assert small.info["checks"] == {k: 0 for k in small.info["checks"]}
    # years without budget: 1 in each year that has one (the floor was 5 and the plan broke it)
    late = qm.optimise(n0, s, nat, tr, unit, np.array([[0, 0, 0, 5, 5]]), population=pop, floor_share=10)
    assert list(late.floors[:2]) == [2, 2] and (late.quotas[:2, 3:] == 1).all()
    assert late.info["checks"] == {k: 0 for k in late.info["checks"]}
    # no capacity at all (a rate of 0): no quota to give
    nat0 = nat.copy()
    nat0[0] = 0.0
    assert qm.optimise(n0, s, nat0, tr, unit, budgets, population=pop).quotas[0].sum() == 0


def test_pooling_moves_budget_and_names_units():
    """Unit 0's cells are safe, unit 1's are short of members: pooled, unit 0 gives."""
    n, Y = 20, 5
    n0 = np.array([30] * 10 + [2] * 10)
    unit = np.repeat([0, 1], 10)
    s, nat, tr = np.full(n, 0.97), np.full((n, Y), 0.8), np.zeros(n)
    pop = np.full(n, 100)                                   # shares < 2: no floors
    budgets = np.array([[4, 4, 4, 4, 5], [4, 4, 4, 4, 5]])
    own = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop)
    pooled = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, pool=True)
    assert (own.unit_quota == budgets).all() and (own.unit_transfer == 0).all()
    assert pooled.unit_transfer[0] < 0 < pooled.unit_transfer[1]
    assert pooled.unit_transfer.sum() == 0
    assert list(pooled.losing_units) == [0] and list(pooled.gaining_units) == [1]
    assert (pooled.quotas.sum(axis=0) <= budgets.sum(axis=0)).all()
    assert pooled.value.sum() > own.value.sum() + 0.5
    checks = pooled.info["checks"]
    assert checks == {k: 0 for k in checks}


def test_unplaced_when_capacity_is_short():
    n, Y = 8, 5
    n0, s, tr = np.full(n, 3), np.full(n, 0.97), np.zeros(n)
    nat = np.full((n, Y), 0.2)                              # cap ceil(0.4) = 1 a year
    budgets = np.full((1, Y), 12)
    plan = qm.optimise(n0, s, nat, tr, np.zeros(n, int), budgets, population=np.full(n, 300))
    assert (plan.quotas == 1).all()
    assert plan.unit_unplaced[0] == budgets.sum() - n * Y
    assert plan.unit_unrealised[0] == pytest.approx(n * Y * (1 - 0.4))


def test_bad_input():
    n0, s, nat, tr, unit, pop, budgets = random_case(np.random.default_rng(0), n=8, Y=3, U=2)
    with pytest.raises(ParameterError):
        qm.optimise(n0, s, nat, tr, unit + 5, budgets, population=pop)
    with pytest.raises(ParameterError):
        qm.optimise(n0, s, nat, tr, unit, budgets[:, :2], population=pop)
    with pytest.raises(ParameterError):
        qm.optimise(n0, s, -nat, tr, unit, budgets, population=pop)
    with pytest.raises(ParameterError):
        qm.optimise(n0, s, nat, tr, unit, budgets - 100, population=pop)
    with pytest.raises(ParameterError):
        qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, thresholds=0)


# ------------------------------------------------------------------ optimum


def period_value(i, Qs, n0, s, nat, tr, lifts, kind, thresholds, tie_break):
    """Cell i's objective for period totals Qs spread evenly (remainders last),
    averaged over lifts — computed with cell_values, not the optimiser's code."""
    Y = nat.shape[1]
    q = np.array([[Q // Y + (y >= Y - Q % Y) for y in range(Y)] for Q in Qs])
    m = len(Qs)
    out = np.zeros(m)
    for L in lifts:
        v, real = qm.cell_values(q, np.full(m, n0[i]), np.full(m, s[i]), np.repeat(nat[[i]], m, 0),
                                 np.full(m, tr[i]), lift=L, thresholds=thresholds, response_kind=kind)
        out += v + tie_break * real.sum(axis=1)
    return out / len(lifts)


def milp_optimum(plan, n0, s, nat, tr, unit, budgets, pool, kind, thresholds):
    """Exact optimum of the period-total model: one binary per cell and total."""
    n, Y = nat.shape
    lo, hi = plan.floors, np.maximum(Y * plan.caps.min(axis=1), plan.floors)
    V, owner, Qv = [], [], []
    for i in range(n):
        Qs = np.arange(lo[i], hi[i] + 1)
        V.append(period_value(i, Qs, n0, s, nat, tr, plan.lifts, kind, thresholds, qm.TIE_BREAK))
        owner.append(np.full(Qs.size, i))
        Qv.append(Qs)
    V, owner, Qv = map(np.concatenate, (V, owner, Qv))
    group = np.zeros(n, int) if pool else unit
    gb = np.array([budgets.sum()]) if pool else budgets.sum(axis=1)
    one = LinearConstraint((owner[None, :] == np.arange(n)[:, None]).astype(float), 1, 1)
    budget = LinearConstraint(((group[owner][None, :] == np.arange(gb.size)[:, None]) * Qv[None, :]).astype(float),
                              -np.inf, gb)
    res = milp(-V, constraints=[one, budget], integrality=np.ones(V.size), bounds=Bounds(0, 1))
    assert res.success
    return -res.fun, V, owner, Qv


@pytest.mark.parametrize("seed", range(16))
def test_within_one_percent_of_milp(seed):
    rng = np.random.default_rng(100 + seed)
    n0, s, nat, tr, unit, pop, budgets = random_case(rng, n=int(rng.integers(6, 13)), Y=3,
                                                     U=int(rng.integers(1, 3)))
    nat = np.repeat(nat[:, :1], 3, axis=1)
    budgets = budgets[:, :1] + np.array([[0, 0, 1]])
    kind = ("min", "exp")[seed % 2]
    thresholds = {5: 1.0} if seed % 4 < 2 else {4: 0.5, 5: 1.0}
    for pool in (False, True):
        plan = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, thresholds=thresholds,
                           pool=pool, response_kind=kind)
        best, V, owner, Qv = milp_optimum(plan, n0, s, nat, tr, unit, budgets, pool, kind, thresholds)
        totals = plan.info["period_totals"]
        mine = sum(V[(owner == i) & (Qv == totals[i])][0] for i in range(len(n0)))
        assert mine >= best * (1 - 0.01) - 1e-9, (mine, best)
        # the yearly plan itself (after spreading) as well
        final = plan.quotas.sum(axis=1)
        spread_value = sum(V[(owner == i) & (Qv == final[i])][0] for i in range(len(n0)))
        assert spread_value >= best * (1 - 0.01) - 1e-9, (spread_value, best)


# ------------------------------------------------------------------ acceptance


def test_bundled_acceptance_against_the_synthetic_truth():
    """allocate() on estimated rates, scored under the true response: never below the
    population split at lifts 1–3, at least 2.5 points above it at lift 2."""
    from nq21model import synth
    from nq21model.allocate import allocate

    a = allocate()
    truth = synth.generate_province(seed=21).truth
    truth = truth[truth["year"].between(2026, 2030)]

    def arr(col):
        return truth.pivot(index="cell_id", columns="year", values=col).reindex(a.dataset.cells["cell_id"]).to_numpy()

    tnat, ttr, ts = arr("admission_mean"), arr("transfer_mean"), arr("survival")
    gains = {L: qm.evaluate_plan(a.quotas, a.n0, ts, tnat, ttr, L, 5, 5)
             - qm.evaluate_plan(a.proportional, a.n0, ts, tnat, ttr, L, 5, 5) for L in (1.0, 1.5, 2.0, 3.0)}
    assert min(gains.values()) > 0, gains
    assert gains[2.0] >= 0.025, gains
    plan = a.plan
    checks = plan.info["checks"]
    assert checks == {k: 0 for k in checks}


def test_capacity_world_acceptance(tmp_path):
    """A world of another model family whose cells answer quotas up to a hidden
    capacity (tests/worlds.py): allocate() plans from its own estimates; realised
    through the hidden true rate × L, the plan is never below the population split
    and gains ≥ 2.5 points at L = 2."""
    from worlds import capacity_world, write_world

    from nq21model.allocate import allocate
    from nq21model.data import load_dataset

    cw = capacity_world(n_cells=400, seed=2)
    paths = write_world(cw.world, tmp_path)
    a = allocate(load_dataset(paths["cells"], paths["history"]))
    ids = a.dataset.cells["cell_id"]
    natural = np.repeat(cw.natural.reindex(ids).to_numpy()[:, None], 5, axis=1)
    rates = cw.world.rates
    survival = 1.0 - rates[rates["year"] == rates["year"].max()].set_index("cell_id")["exit_prob"].reindex(ids)
    gains = {L: qm.evaluate_plan(a.quotas, a.n0, survival.to_numpy(), natural, 0 * natural, L, 5, 5)
             - qm.evaluate_plan(a.proportional, a.n0, survival.to_numpy(), natural, 0 * natural, L, 5, 5)
             for L in (1.0, 1.5, 2.0, 3.0)}
    assert min(gains.values()) > 0, gains
    assert gains[2.0] >= 0.025, gains


def test_mixed_values_are_cell_values_averaged_over_the_draws():
    """The allocation's figures: every plan at every lift, each draw's own rates, the
    mean over draws (several chunks of draws)."""
    rng = np.random.default_rng(3)
    D, n, Y = 7, 40, 5
    n0 = rng.integers(0, 9, n)
    s = rng.uniform(0.9, 1.0, (D, n))
    nat, tr = rng.gamma(1.0, 0.4, (D, n, Y + 1)), rng.gamma(1.0, 0.05, (D, n, Y + 1))
    plans = {"a": rng.integers(0, 3, (n, Y)), "b": rng.integers(0, 2, (n, Y))}
    old = qm.MIXED_CHUNK
    try:
        qm.MIXED_CHUNK = 3 * n  # chunks of 3, 3 and 1 draws
        got = qm.mixed_values(plans, n0, s, nat, tr, lifts=(1.0, 2.0), thresholds=[3, 5])
    finally:
        qm.MIXED_CHUNK = old
    for (name, lift), (p, real) in got.items():
        per = [qm.cell_values(plans[name], n0, s[d], nat[d], tr[d], lift=lift, thresholds=k)
               for d in range(D) for k in (3, 5)]
        np.testing.assert_allclose(p[3], np.mean([v for v, _ in per[0::2]], axis=0), rtol=1e-12)
        np.testing.assert_allclose(p[5], np.mean([v for v, _ in per[1::2]], axis=0), rtol=1e-12)
        np.testing.assert_allclose(real, np.mean([r.sum(axis=1) for _, r in per[0::2]], axis=0), rtol=1e-12)
    assert set(got) == {("a", 1.0), ("a", 2.0), ("b", 1.0), ("b", 2.0)}


def test_mixed_values_refuse_plans_and_rates_that_do_not_fit():
    s, nat = np.full((2, 3), 0.98), np.ones((2, 3, 5))
    with pytest.raises(ParameterError, match="plans must all be"):
        qm.mixed_values({"a": np.ones((3, 5)), "b": np.ones((3, 1))}, np.ones(3), s, nat, nat, lifts=(2.0,))
    with pytest.raises(ParameterError, match="plans must all be"):
        qm.mixed_values({"a": np.ones((3, 6))}, np.ones(3), s, nat, nat, lifts=(2.0,))
