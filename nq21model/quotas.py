"""Admission quotas a cell can meet: the optimiser core, on arrays (issue 11).

Model (MODEL.md §2 "Quotas"). Cell i, years y = B+1 … T: members ``n0_i``, yearly
survival ``s_iy``, natural admission rate ``nat_iy``, transfers in ``tr_iy``.
Capacity ``c_iy = L · nat_iy``; a quota q is realised as Poisson(r(q, c)),
``r = min(q, c)`` (``"min"``) or ``c · (1 − exp(−q/c))`` (``"exp"``, never above
it). Exactly, with ``w_iy = Π_{t>y} s_it``,

    N_i,T = Binomial(n0_i, Π_y s_iy) + Poisson(Σ_y (r(q_iy, c_iy) + tr_iy) · w_iy).

Objective: ``Σ_i Σ_k ω_k P(N_i,T ≥ k) + tie_break · E[realised admissions]``,
averaged over ``lifts`` (default ``L/2, L, 3L/2``: the plan must hold when the
true lift is not the one assumed; figures in ``benchmarks/quotas.py``).

Rules of a plan people can follow (:mod:`nq21model.quota_rules`): each cell's period total ``Q_i`` is spread
evenly (``Q_i // Y`` a year, the remainders in distinct years: steps ≤ 1); at
most ``ceil(c_iy)`` a year; the floor as written (population share of the
unit's period budget ≥ 2 → at least 1) and, for a cell with no local member at
the base year, 1 a year (where its capacity and its unit's budgets allow; the cells
with most people first); each unit u within its yearly budget
``B_uy`` (``pool=True``: the province's ``Σ_u B_uy``, and the units that lose to
others are named); remainders go to the years with most room, so a unit's
totals keep the shape of its budgets (change ≤ max(1, 20 %) a year, checked).

Algorithm: (1) each cell's value curve over Q = floor … Qmax, vectorised in
chunks; (2) ``P(≥ k)`` is S-shaped, so greedy runs on each curve's upper concave
hull: all hull segments of a budget group (unit, or province when pooled) by
slope while they fit — the Lagrangian solution, exact on the hulls; (3) an
exchange pass moves d = 1 … D units between cells (or from unused budget) on the
true curves, repairing the split segment; (4) the spread over the years, budget
a spread could not use going to the best cells. Memory is linear in cells;
``tests/test_quotas.py`` checks against ``scipy.optimize.milp``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .exceptions import ParameterError
from .quota_rules import (_top_up, _unit_arrays, check_plan, floors_as_written, floors_for_empty,
                          population_split, spread)

__all__ = ["QuotaPlan", "optimise", "population_split", "evaluate_plan", "expected_share",
           "cell_values", "mixed_values", "response", "floors_as_written", "check_plan", "spread"]

RESPONSES = ("min", "exp")
#: Default tie-breaker: value of one expected realised admission, in cells.
TIE_BREAK = 1e-2
#: Grid points (cells × Q × years) per chunk when building value curves.
_CHUNK = 2_000_000


# ---------------------------------------------------------------- the response


def response(q, c, kind: str = "min") -> np.ndarray:
    """Expected realised admissions of a quota ``q`` for capacity ``c``.

    ``"min"``: ``min(q, c)``; ``"exp"``: ``c · (1 − exp(−q/c))`` (0 where c = 0),
    smooth and never above ``min(q, c)``.
    """
    q = np.asarray(q, dtype=float)
    c = np.asarray(c, dtype=float)
    if kind == "min":
        return np.minimum(q, c)
    if kind == "exp":
        with np.errstate(divide="ignore", invalid="ignore"):
            out = -c * np.expm1(-q / c)
        return np.where(c > 0, out, 0.0)
    raise ParameterError(f"response must be one of {', '.join(RESPONSES)}, got '{kind}'")


def _thresholds(thresholds) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(thresholds, dict):
        items = sorted((int(k), float(w)) for k, w in thresholds.items())
    else:
        items = [(int(k), 1.0) for k in sorted(set(np.atleast_1d(thresholds).tolist()))]
    if not items or any(k < 1 or w < 0 for k, w in items):
        raise ParameterError(f"thresholds must be ≥ 1 with weights ≥ 0, got {thresholds}")
    return np.array([k for k, _ in items]), np.array([w for _, w in items])


def _discounts(survival, n: int, Y: int) -> tuple[np.ndarray, np.ndarray]:
    """(p (n,), w (n, Y)): survival base → T, and from the end of each year to T."""
    s = np.asarray(survival, dtype=float)
    if s.ndim == 1:
        s = np.repeat(s[:, None], Y, axis=1)
    if s.shape != (n, Y):
        raise ParameterError(f"survival must have shape ({n},) or ({n}, {Y}), got {s.shape}")
    if ((s < 0) | (s > 1)).any():
        raise ParameterError("survival must be in [0, 1]")
    tail = np.cumprod(s[:, ::-1], axis=1)[:, ::-1]            # Π_{t ≥ y} s_t
    w = np.concatenate([tail[:, 1:], np.ones((n, 1))], axis=1)
    return tail[:, 0], w


def _per_year(x, n: int, Y: int, what: str) -> np.ndarray:
    """(n,) or (n, ≥ Y) → (n, Y) float."""
    x = np.asarray(x, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[0] != n or x.shape[1] not in (1,) and x.shape[1] < Y:
        raise ParameterError(f"{what} must have shape ({n},) or ({n}, {Y}), got {x.shape}")
    return np.broadcast_to(x[:, :Y], (n, Y))


def _binom_low(n0: np.ndarray, p: np.ndarray, kmax: int) -> np.ndarray:
    """``P(Binomial(n0, p) = j)``, j < kmax → (n, kmax)."""
    n0 = np.asarray(n0, dtype=float)
    out = np.zeros(n0.shape + (kmax,))
    choose = np.ones_like(n0)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(kmax):
            if j:
                choose = choose * np.maximum(n0 - j + 1, 0.0) / j
            out[..., j] = np.where(n0 >= j, choose * p ** j * (1.0 - p) ** np.maximum(n0 - j, 0.0), 0.0)
    return out


def _tail(blow: np.ndarray, mu: np.ndarray, ks, ws) -> np.ndarray:
    """Σ_k ω_k P(Bin + Poisson(mu) ≥ k); ``blow`` (m, kmax), ``mu`` (m, …) → mu's shape."""
    kmax = blow.shape[-1]
    term = np.exp(-mu)
    cdf = [term]
    for j in range(1, kmax):
        term = term * mu / j
        cdf.append(cdf[-1] + term)
    b = blow.reshape(blow.shape[:1] + (1,) * (mu.ndim - 1) + (kmax,))
    out = np.zeros(mu.shape)
    for k, w in zip(ks, ws):
        below = sum(b[..., j] * cdf[k - 1 - j] for j in range(k))
        out += w * (1.0 - below)
    return np.clip(out, 0.0, None)


def cell_values(quotas, n0, survival, natural, transfers, *, lift, thresholds=5,
                response_kind: str = "min") -> tuple[np.ndarray, np.ndarray]:
    """Per cell ``Σ_k ω_k P(N_i,T ≥ k)`` and expected realised admissions (n, Y)
    of integer quotas (n, Y) under capacity ``lift · natural``."""
    q = np.asarray(quotas, dtype=float)
    n, Y = q.shape
    ks, ws = _thresholds(thresholds)
    blow, w = _cells(n0, survival, n, Y, int(ks.max()))
    mu, real = _mean(q, _per_year(natural, n, Y, "natural"), _per_year(transfers, n, Y, "transfers"), w, lift,
                     response_kind)
    return _tail(blow, mu, ks, ws), real


def _cells(n0, survival, n: int, Y: int, kmax: int) -> tuple[np.ndarray, np.ndarray]:
    """What a cell's value does not owe to its quotas: ``P(Binomial(n0, p) = j)``,
    j < kmax (n, kmax), and the discounts w (n, Y) (:func:`_discounts`)."""
    p, w = _discounts(survival, n, Y)
    return _binom_low(np.asarray(n0), p, kmax), w


def _mean(q, nat, tr, w, lift, response_kind) -> tuple[np.ndarray, np.ndarray]:
    """The Poisson mean at the horizon of what quotas ``q`` (n, Y) bring (n,), and the
    admissions they realise (n, Y), under capacity ``lift · nat``."""
    L = np.asarray(lift, dtype=float)
    real = response(q, (L[:, None] if L.ndim == 1 else L) * nat, response_kind)
    return np.einsum("iy,iy->i", real + tr, w), real  # 2.5× sum(axis=1) over a few years


#: Cell-draws scored at once by :func:`mixed_values` (the arrays of a chunk stay small).
MIXED_CHUNK = 500_000


def mixed_values(plans: dict, n0, survival, natural, transfers, *, lifts, thresholds=5,
                 response_kind: str = "min") -> dict:
    """:func:`cell_values` of several plans at several lifts, mixed over parameter
    draws — the forecast's own probabilities of a plan (``Scenario(allocation=
    "quota")`` realises a quota as ``min(q, lift · natural)`` in every draw):
    ``plans`` {name: quotas (n, Y)}, ``survival`` (D, n), ``natural`` and
    ``transfers`` (D, n, ≥ Y). Returns {(name, lift): ({k: P(N_i,T ≥ k) (n,)},
    expected realised admissions of each cell over the years (n,))}, averaged over
    the D draws; what does not depend on a plan is computed once per draw."""
    s, nat, tr = (np.asarray(x, dtype=float) for x in (survival, natural, transfers))
    D, n = s.shape
    Y = next(iter(plans.values())).shape[1]
    if any(np.shape(q) != (n, Y) for q in plans.values()) or nat.shape[:2] != (D, n) or tr.shape[:2] != (D, n) \
            or min(nat.shape[2], tr.shape[2]) < Y:
        raise ParameterError(f"plans must all be ({n}, Y) and the rates (D, {n}, ≥ Y): plans "
                             f"{[np.shape(q) for q in plans.values()]}, rates {nat.shape} and {tr.shape}")
    ks, _ = _thresholds(thresholds)
    keys = [(name, float(lift)) for name in plans for lift in sorted(set(map(float, lifts)))]
    sums = {key: ({int(k): np.zeros(n) for k in ks}, np.zeros(n)) for key in keys}
    step = max(1, MIXED_CHUNK // max(n, 1))
    for start in range(0, D, step):
        m = min(step, D - start)
        rows = slice(start, start + m)
        blow, w = _cells(np.tile(n0, m), s[rows].reshape(m * n), m * n, Y, int(ks.max()))
        nat_m, tr_m = nat[rows, :, :Y].reshape(m * n, Y), tr[rows, :, :Y].reshape(m * n, Y)
        tiled = {name: np.tile(np.asarray(q, dtype=float), (m, 1)) for name, q in plans.items()}
        for name, lift in keys:
            mu, real = _mean(tiled[name], nat_m, tr_m, w, lift, response_kind)
            for k in ks:
                sums[(name, lift)][0][int(k)] += _tail(blow, mu, [int(k)], [1.0]).reshape(m, n).sum(axis=0)
            sums[(name, lift)][1][:] += real.reshape(m, n, Y).sum(axis=(0, 2))
    return {key: ({k: v / D for k, v in p.items()}, real / D) for key, (p, real) in sums.items()}


def evaluate_plan(quotas, n0, survival, true_natural, transfers, lift, horizon_steps, k=5,
                  response_kind: str = "min") -> float:
    """Expected share of cells with ≥ k members at the horizon, a plan realised
    through the true response (capacity ``lift · true_natural``).

    ``quotas``, ``true_natural``, ``transfers`` (n, ≥ horizon_steps); ``survival``
    (n,) or (n, horizon_steps); ``k`` an int or a dict {k: weight} (then the mean
    weighted value). Reusable on any world that gives these arrays.
    """
    Y = int(horizon_steps)
    q = np.asarray(quotas)[:, :Y]
    s = np.asarray(survival, dtype=float)
    s = s if s.ndim == 1 else s[:, :Y]
    values, _ = cell_values(q, n0, s, true_natural, transfers, lift=lift,
                            thresholds=k, response_kind=response_kind)
    return float(values.mean())


def expected_share(quotas, n0, survival, natural, transfers, *, lift=2.0, k=5,
                   response_kind: str = "min") -> float:
    """Expected share of cells with ≥ k (the plan's own model when given its rates)."""
    q = np.asarray(quotas)
    return evaluate_plan(q, n0, survival, natural, transfers, lift, q.shape[1], k, response_kind)



# ------------------------------------------------------------------- the plan


@dataclass
class QuotaPlan:
    """Optimised quotas and what they are expected to achieve.

    ``quotas`` int (n, Y); ``value`` (n,) Σ_k ω_k P(N_i,T ≥ k) at the nominal
    lift, ``value_robust`` averaged over ``lifts`` (what was optimised);
    ``realised`` (n, Y) expected realised admissions at the nominal lift;
    ``floors`` (n,) the period's least quota, ``empty`` (n,) bool the cells with no
    local member given 1 a year, ``caps`` (n, Y). Per unit: ``unit_budget``, ``unit_quota``,
    ``unit_realised`` (U, Y); ``unit_unplaced`` budget its cells cannot take
    (capacity; pooled: 0, the province's is ``info["unplaced"]``);
    ``unit_unrealised`` quota its cells are not expected to meet;
    ``unit_transfer`` pooled, quotas gained (> 0) from or lost (< 0) to others.
    ``info["share_by_lift"]``: expected share at each lift of ``lifts``.
    """

    quotas: np.ndarray
    value: np.ndarray
    value_robust: np.ndarray
    realised: np.ndarray
    floors: np.ndarray
    empty: np.ndarray
    caps: np.ndarray
    unit_budget: np.ndarray
    unit_quota: np.ndarray
    unit_realised: np.ndarray
    unit_unplaced: np.ndarray
    unit_unrealised: np.ndarray
    unit_transfer: np.ndarray
    pooled: bool
    lift: float
    lifts: tuple
    info: dict = field(default_factory=dict)

    @property
    def losing_units(self) -> np.ndarray:
        """Units whose cells get fewer admissions than their own budget (pooled)."""
        return np.flatnonzero(self.unit_transfer < 0)

    @property
    def gaining_units(self) -> np.ndarray:
        """Units whose cells get more than their own budget (pooled)."""
        return np.flatnonzero(self.unit_transfer > 0)


# ------------------------------------------------------------- the optimiser


def _curves(G, lo, n0_blow, w, nat, tr, lifts, rkind, ks, ws, tie_break):
    """Value grids (flat, Σ G) of the given cells for Q = lo … lo + G − 1."""
    m, Y = nat.shape
    Gm = int(G.max())
    Q = lo[:, None] + np.arange(Gm)[None, :]                               # (m, Gm)
    yr = np.arange(Y)
    q = (Q // Y)[:, :, None] + (yr[None, None, :] >= Y - (Q % Y)[:, :, None])  # remainders last
    vals = np.zeros((m, Gm))
    for L in lifts:
        real = response(q, L * nat[:, None, :], rkind)
        mu = ((real + tr[:, None, :]) * w[:, None, :]).sum(axis=-1)
        vals += _tail(n0_blow, mu, ks, ws) + tie_break * real.sum(axis=-1)
    vals /= len(lifts)
    return vals[np.arange(Gm)[None, :] < G[:, None]]


def _hull_segments(vals, G):
    """Upper concave hull segments (cell, start index, length, slope) of each grid,
    rising segments only."""
    n = G.size
    Gm = int(G.max())
    V = np.full((n, Gm), -np.inf)
    V[np.arange(Gm)[None, :] < G[:, None]] = vals
    cur = np.zeros(n, np.int64)
    rows = np.flatnonzero(G > 1)
    out = []
    jj = np.arange(Gm)
    while rows.size:
        den = jj[None, :] - cur[rows, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(den > 0, (V[rows] - V[rows, cur[rows]][:, None]) / den, -np.inf)
        nxt = np.argmax(slope, axis=1)
        best = slope[np.arange(rows.size), nxt]
        ok = best > 1e-15
        rows, nxt, best = rows[ok], nxt[ok], best[ok]
        out.append((rows, cur[rows].copy(), nxt - cur[rows], best))
        cur[rows] = nxt
        rows = rows[cur[rows] < G[rows] - 1]
    if not out:
        return (np.zeros(0, np.int64),) * 3 + (np.zeros(0),)
    return tuple(np.concatenate(parts) for parts in zip(*out))


def _exchange(vals, off, G, j, group, free, D: int, max_rounds: int, tol: float = 1e-12) -> tuple[int, int]:
    """Best move of d ≤ D units per group and round: from a donor cell to a receiver
    cell, or from the group's unused budget. Modifies ``j`` and ``free``."""
    n = G.size
    order = np.argsort(group, kind="stable")
    gs = group[order]
    starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    gid = gs[starts]
    ds = np.arange(1, D + 1)
    moves = rounds = 0
    big = np.iinfo(np.int64).max
    for rounds in range(1, max_rounds + 1):
        jo, Go, oo = j[order], G[order], off[order]
        here = vals[oo + jo]
        up_i, dn_i = jo[:, None] + ds[None, :], jo[:, None] - ds[None, :]
        up = np.where(up_i < Go[:, None], vals[oo[:, None] + np.minimum(up_i, Go[:, None] - 1)] - here[:, None], -np.inf)
        dn = np.where(dn_i >= 0, here[:, None] - vals[oo[:, None] + np.maximum(dn_i, 0)], np.inf)
        pos = np.arange(n)[:, None]
        gup = np.maximum.reduceat(up, starts, axis=0)                               # (ng, D)
        seg = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n]))
        recv = np.minimum.reduceat(np.where(up == gup[seg], pos, big), starts, axis=0)
        dn[recv.clip(0, n - 1), np.broadcast_to(np.arange(D), recv.shape)] = np.inf
        gdn = np.minimum.reduceat(dn, starts, axis=0)
        donor = np.minimum.reduceat(np.where(dn == gdn[seg], pos, big), starts, axis=0)
        move = gup - gdn
        fill = np.where(free[gid][:, None] >= ds[None, :], gup, -np.inf)
        gain = np.maximum(move, fill)
        d = np.argmax(gain, axis=1)
        best = gain[np.arange(gid.size), d]
        go = np.flatnonzero(best > tol)
        if go.size == 0:
            break
        for g in go.tolist():
            dd = int(d[g])
            j[order[recv[g, dd]]] += dd + 1
            if fill[g, dd] >= move[g, dd]:
                free[gid[g]] -= dd + 1
            else:
                j[order[donor[g, dd]]] -= dd + 1
            moves += 1
    return moves, rounds


def optimise(n0, survival, natural, transfers, unit, budgets, *, population, thresholds=5,
             lift: float = 2.0, lifts=None, response_kind: str = "min", pool: bool = False,
             floor_rule: bool = True, floor_share: float = 2.0, cap: int | None = None,
             max_cell_step: int = 1, max_unit_change: float = 0.2,
             tie_break: float = TIE_BREAK, max_rounds: int = 200) -> QuotaPlan:
    """Integer quotas per cell and year that maximise the expected number of cells
    at the threshold(s) under the capacity response, within each unit's budget.

    Parameters
    ----------
    n0 : int (n,)           local members at the base year
    survival : (n,) or (n, Y)
    natural : (n, Y)        natural admissions a year (calibrated posterior mean)
    transfers : (n,) or (n, Y)
    unit : int (n,)         unit label 0 … U−1 of each cell
    budgets : int (U, Y)    each unit's yearly budget
    population : (n,)       residents (the floor rule)
    thresholds : int, iterable or dict {k: weight}
    lift : float            capacity ``lift · natural``; quotas ≤ its ceiling
    lifts : sequence, optional
        Lifts the value is averaged over; default ``(lift/2, lift, 3·lift/2)``;
        ``(lift,)`` trusts the lift.
    response_kind : {"min", "exp"}
    pool : bool             share the province's yearly budget between units
    floor_rule : bool       ≥ 1 for a cell whose population share is ≥ ``floor_share``;
                            1 a year for a cell with no local member
    floor_share : float     the population share (admissions over the period) of the floor rule
    cap : int, optional     most quota a cell and year, whatever its capacity
    max_cell_step, max_unit_change
        Rules checked in ``info["checks"]`` (the even spread keeps steps ≤ 1).
    tie_break : float       value of one expected realised admission, in cells
    max_rounds : int        rounds of the exchange pass
    """
    t0 = time.perf_counter()
    n0 = np.asarray(n0, dtype=np.int64)
    n = n0.size
    nat = np.asarray(natural, dtype=float)
    if n == 0 or nat.ndim != 2 or nat.shape[0] != n:
        raise ParameterError(f"natural must have shape ({n}, Y) with n ≥ 1, got {nat.shape}")
    Y = nat.shape[1]
    unit, budgets = _unit_arrays(unit, budgets, n)
    if budgets.shape[1] != Y:
        raise ParameterError(f"budgets must have {Y} years, got {budgets.shape[1]}")
    if (nat < 0).any() or not np.isfinite(nat).all() or lift <= 0 or max_cell_step < 1:
        raise ParameterError("natural rates must be finite and ≥ 0, the lift > 0, max_cell_step ≥ 1")
    tr = _per_year(transfers, n, Y, "transfers")
    lifts = tuple(float(x) for x in ((lift / 2, lift, 1.5 * lift) if lifts is None else lifts))
    ks, ws = _thresholds(thresholds)
    p, w = _discounts(survival, n, Y)
    blow = _binom_low(n0, p, int(ks.max()))
    U = budgets.shape[0]
    caps = np.ceil(lift * nat - 1e-9).astype(np.int64)
    if cap is not None:
        caps = np.minimum(caps, int(cap))
    lo = floors_as_written(budgets, unit, population, floor_share) if floor_rule else np.zeros(n, np.int64)
    if cap is not None:
        lo = np.minimum(lo, Y * int(cap))
    group = np.zeros(n, np.int64) if pool else unit
    gbudget = np.array([budgets.sum()]) if pool else budgets.sum(axis=1)
    empty = np.zeros(n, np.int64)
    if floor_rule:  # a cell with no local member: 1 a year, in place of its floor as written
        room = gbudget - np.bincount(group, weights=np.where(n0 == 0, 0, lo), minlength=gbudget.size)
        yearly = budgets.sum(axis=0, keepdims=True) if pool else budgets
        empty = floors_for_empty(n0, caps, group, room.astype(np.int64), yearly, population)
        lo = np.where(empty > 0, empty, lo)
    G = np.maximum(Y * caps.min(axis=1), lo) - lo + 1

    # 1. value curves and their hulls, in chunks of cells with grids of similar length
    order = np.argsort(G, kind="stable")
    off = np.zeros(n, np.int64)
    off[order] = np.r_[0, np.cumsum(G[order])[:-1]]
    vals = np.empty(int(G.sum()))
    segs, start = [], 0
    while start < n:
        win = order[start:start + max(1, _CHUNK // Y)]
        size = np.arange(1, win.size + 1) * G[win] * Y                      # G ascending
        idx = win[:max(1, int(np.searchsorted(size, _CHUNK, side="right")))]
        a, b = off[idx[0]], off[idx[0]] + G[idx].sum()
        vals[a:b] = _curves(G[idx], lo[idx], blow[idx], w[idx], nat[idx], tr[idx],
                            lifts, response_kind, ks, ws, tie_break)
        c_, s_, l_, k_ = _hull_segments(vals[a:b], G[idx])
        segs.append((idx[c_], s_, l_, k_))
        start += idx.size
    cell, s0, length, slope = (np.concatenate(x) for x in zip(*segs))
    t_curves = time.perf_counter() - t0

    # 2. hull segments of each budget group by slope, while they fit
    free = gbudget - np.bincount(group, weights=lo, minlength=gbudget.size).astype(np.int64)
    seq = np.lexsort((s0, cell, -slope, group[cell]))
    cell, length, gseg = cell[seq], length[seq], group[cell[seq]]
    cum = np.cumsum(length)
    before = np.r_[0, cum][np.searchsorted(gseg, np.arange(gbudget.size))][gseg]
    taken = (cum - before) <= free[gseg]                                       # a prefix per group
    j = np.bincount(cell[taken], weights=length[taken], minlength=n).astype(np.int64)
    free -= np.bincount(gseg[taken], weights=length[taken], minlength=gbudget.size).astype(np.int64)

    # 3. exchange pass on the true curves
    D = int(min(max(int(length.max()) if length.size else 1, 2 * Y), max(1, int(G.max()) - 1)))
    moves, rounds = _exchange(vals, off, G, j, group, free, D, max_rounds)
    Q = lo + j

    # 4. spread over the years; budget a spread could not use goes to the best cells
    quotas, lowered = spread(Q, unit, budgets, pool=pool)
    topped = 0
    if lowered.any():
        def gain(totals):
            k = totals - lo
            up = vals[off + np.minimum(k + 1, G - 1)] - vals[off + np.clip(k, 0, G - 1)]
            return np.where((k >= 0) & (k + 1 < G), up, -np.inf)
        topped = _top_up(quotas, caps, group, budgets.sum(axis=0, keepdims=True) if pool else budgets, gain)

    # 5. what the plan is expected to achieve
    def at(L):
        return cell_values(quotas, n0, survival, nat, tr, lift=L, thresholds=thresholds,
                           response_kind=response_kind)
    value, real = at(lift)
    by_lift = {L: at(L)[0] for L in lifts}
    robust = np.mean([by_lift[L] for L in lifts], axis=0)
    uq, ur = np.zeros((U, Y), np.int64), np.zeros((U, Y))
    np.add.at(uq, unit, quotas)
    np.add.at(ur, unit, real)
    info = {"seconds": time.perf_counter() - t0, "seconds_curves": t_curves, "grid_points": int(G.sum()),
            "segments": int(cell.size), "exchange_moves": moves, "exchange_rounds": rounds,
            "lowered_by_spread": int(lowered.sum()), "topped_up": topped, "period_totals": Q,
            "objective": float(value.sum()), "objective_robust": float(robust.sum()),
            "share_by_lift": {L: float(v.mean()) for L, v in by_lift.items()},
            "unplaced": int(budgets.sum() - quotas.sum()), "response": response_kind,
            "checks": check_plan(quotas, unit, budgets, floors=lo, caps=caps, pool=pool,
                                 max_cell_step=max_cell_step, max_unit_change=max_unit_change)}
    return QuotaPlan(quotas=quotas, value=value, value_robust=robust, realised=real, floors=lo, caps=caps,
                     empty=empty > 0, unit_budget=budgets, unit_quota=uq, unit_realised=ur,
                     unit_unplaced=np.zeros(U, np.int64) if pool else budgets.sum(axis=1) - uq.sum(axis=1),
                     unit_unrealised=uq.sum(axis=1) - ur.sum(axis=1),
                     unit_transfer=uq.sum(axis=1) - budgets.sum(axis=1) if pool else np.zeros(U, np.int64),
                     pooled=bool(pool), lift=float(lift), lifts=lifts, info=info)
