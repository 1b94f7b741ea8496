"""Admission quotas per cell (giao chỉ tiêu kết nạp) that maximise the expected
number of cells reaching their target within the province's budget.

The problem
-----------
Integer quotas ``q[i, y] ≥ 0`` for the years ``y = B+1 … T`` maximise

    Σ_i Σ_k ω_k · P(N_i,T ≥ k)

subject to ``Σ_i q[i, y] ≤ budget_y``, ``floor[i, y] ≤ q[i, y] ≤ cap[i, y]``.
Realised admissions for a quota q are Poisson(q · achievement) (achievement 1 by
default: a quota is met on average; give e.g. 0.8 to plan for shortfalls). By the
closed form of MODEL.md §2,

    N_i,T = Binomial(n0_i, s_i^(T−B)) + Poisson(Σ_y q[i, y] · achievement · s_i^(T−y)),

so a quota only acts through the Poisson mean ("mass") it adds at T, and one unit
placed in year y adds ``achievement · s_i^(T−y)``. Year placement therefore
matters only through that discount. With a common survival (the fixed-rate
scenario) every cell discounts the years alike: a unit in 2027 is worth the same
fraction of a unit in 2030 for every cell, so which cells are favoured does not
depend on the year, each year's budget is simply spent, and the later years' units
(worth the most) go to the cells whose gain per unit is largest. With per-cell
survival (calibrated ``Rates``) cells that lose members fast gain relatively more
from late quotas: the optimiser fills each cell's quota from its highest-weight
years first.

The algorithm
-------------
``P(≥ k)`` is not concave in the Poisson mean (a cell with 0 members gains
almost nothing from its first admission towards 5), so plain greedy stalls.
:func:`optimise_quotas` uses a lazy greedy on marginal gains *with look-ahead*: for
each cell the best ratio gain/units over blocks of 1 … ``look_ahead`` units (filled
into the cell's highest-weight years that still have budget and room), then takes
the best block province-wide. Stale ratios are upper bounds (budgets only shrink,
and fewer high-weight slots only lower a block's mass), so a block is accepted when
its recomputed ratio still beats every other cell's stale one (while no year is
short of units the stored ratios are exact and the best blocks are taken in a
batch). A second start comes from an exact knapsack DP over cells on the pooled
budget (:func:`_dp_start`). Both are polished by local moves — single units
between cells within a year, blocks a cell pulls from several donors, year swaps
between cells — and the better is kept. When no block gains more than ``tol`` cells per unit, what remains of each year's
budget is spread over cells in proportion to population (within caps), so big
cells that are safe anyway still receive admissions. ``tests/test_allocate.py``
checks the result against brute force and ``scipy.optimize.milp`` on small cases
(within 1 % of the optimum), and :func:`upper_bound` gives a certified bound for
the province (concave envelopes, one pooled mass budget).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .data import Dataset, load_dataset
from .exceptions import ParameterError
from .scenario import Rates, allocation_shares, province_admissions

__all__ = [
    "Allocation",
    "allocate",
    "optimise_quotas",
    "cell_values",
    "default_cap",
    "proportional_floors",
    "upper_bound",
    "adaptive_comparison",
    "quota_gain_table",
    "quota_changes",
    "write_quota_workbooks",
]

OUTPUT_COLUMNS = ["cell_id", "district", "commune", "cell_name", "year", "quota",
                  "p_proportional", "p_optimised"]

DEFAULT_FLOOR = 0.25
DEFAULT_LOOK_AHEAD = 16
#: A local-search move must raise the expected number of cells by more than this.
MOVE_GAIN = 1e-7
PROVINCE = "Toàn tỉnh"


# ----------------------------------------------------------------- the values


def _poisson_cdf(mu: np.ndarray, kmax: int) -> np.ndarray:
    """``P(Poisson(mu) ≤ m)`` for m = 0 … kmax−1 → array (..., kmax)."""
    mu = np.asarray(mu, dtype=float)
    terms = np.empty(mu.shape + (kmax,))
    terms[..., 0] = np.exp(-mu)
    for m in range(1, kmax):
        terms[..., m] = terms[..., m - 1] * mu / m
    return np.cumsum(terms, axis=-1)


def _binomial_low(n0: np.ndarray, p: np.ndarray, kmax: int) -> np.ndarray:
    """``P(Binomial(n0, p) = j)`` for j = 0 … kmax−1 → array (D, n, kmax)."""
    n0 = np.asarray(n0, dtype=float)[None, :]
    p = np.atleast_2d(np.asarray(p, dtype=float))
    out = np.empty(p.shape + (kmax,))
    choose = np.ones_like(n0)
    for j in range(kmax):
        if j:
            choose = choose * np.maximum(n0 - j + 1, 0.0) / j
        with np.errstate(invalid="ignore"):
            out[..., j] = np.where(n0 >= j, choose * p ** j * (1.0 - p) ** np.maximum(n0 - j, 0.0), 0.0)
    return out


def _values(blow: np.ndarray, mu: np.ndarray, ks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_k ω_k P(Bin + Poisson(mu) ≥ k), averaged over draws.

    ``blow`` (D, m, kmax) binomial pmf of the cells; ``mu`` (D, m, ...) Poisson means.
    Returns (m, ...).
    """
    kmax = blow.shape[-1]
    cdf = _poisson_cdf(mu, kmax)                               # (D, m, ..., kmax)
    extra = mu.ndim - 2
    b = blow.reshape(blow.shape[:2] + (1,) * extra + (kmax,))
    out = np.zeros(mu.shape)
    for k, w in zip(ks, weights):
        # P(sum < k) = Σ_{j<k} P(Bin = j) P(Pois ≤ k−1−j)
        below = (b[..., :k] * cdf[..., :k][..., ::-1]).sum(axis=-1)
        out += w * (1.0 - below)
    return np.clip(out, 0.0, None).mean(axis=0)


def cell_values(n0, p, mu, thresholds) -> np.ndarray:
    """Per cell ``Σ_k ω_k P(Binomial(n0, p) + Poisson(mu) ≥ k)``.

    Parameters
    ----------
    n0 : int array (n,)
    p, mu : arrays (n,) or (D, n); a draws axis is averaged over (a mixture).
    thresholds : dict {k: weight} or iterable of k (weight 1 each)
    """
    ks, ws = _threshold_arrays(thresholds)
    p = np.atleast_2d(np.asarray(p, dtype=float))
    mu = np.atleast_2d(np.asarray(mu, dtype=float))
    blow = _binomial_low(np.asarray(n0, dtype=np.int64), p, int(ks.max()))
    return _values(blow, mu, ks, ws)


def _threshold_arrays(thresholds) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(thresholds, dict):
        items = sorted((int(k), float(w)) for k, w in thresholds.items())
    else:
        items = [(int(k), 1.0) for k in sorted(set(np.atleast_1d(thresholds).tolist()))]
    if not items:
        raise ParameterError("give at least one threshold")
    for k, w in items:
        if k < 1:
            raise ParameterError(f"threshold must be ≥ 1 local member, got {k}")
        if w < 0:
            raise ParameterError(f"threshold weight must be ≥ 0, got {w} for k = {k}")
    return np.array([k for k, _ in items]), np.array([w for _, w in items])


# ------------------------------------------------------------- the optimiser


@dataclass
class _State:
    x: np.ndarray          # (n, Y) quotas
    rem: np.ndarray        # (Y,) budget left
    mu: np.ndarray         # (D, n) mass at T
    f: np.ndarray          # (n,) current value


def optimise_quotas(n0, p, weights, budgets, *, thresholds, floors=None, caps=None,
                    look_ahead: int = DEFAULT_LOOK_AHEAD, tol: float = 1e-6,
                    fill_shares=None, local_search: bool = True) -> tuple[np.ndarray, dict]:
    """Integer quotas that maximise Σ_i Σ_k ω_k P(N_i,T ≥ k) (the core, on arrays).

    Parameters
    ----------
    n0 : int array (n,)
        Local members at the base year.
    p : array (n,) or (D, n)
        Survival from the base year to the horizon.
    weights : array (n, Y) or (D, n, Y)
        Poisson mass at T that one unit of quota in year y adds (achievement · s^(T−y)).
    budgets : int array (Y,)
        Province quota per year.
    thresholds : dict {k: weight} or iterable of k
    floors, caps : int arrays (n, Y), optional
        Bounds per cell and year (default 0 and the year's budget).
    look_ahead : int
        Longest block of units whose gain per unit is weighed at once.
    tol : float
        Gain per unit (in cells) under which the rest is spread by ``fill_shares``.
    fill_shares : array (n,), optional
        How leftover budget is spread (default: equal shares).
    local_search : bool
        Improve by single-unit moves between cells after the greedy.

    Returns
    -------
    (quotas int array (n, Y), info dict with ``objective``, ``iterations``,
    ``moves``, ``filled`` and ``seconds``).
    """
    t0 = time.perf_counter()
    ks, ws = _threshold_arrays(thresholds)
    n0 = np.asarray(n0, dtype=np.int64)
    n = n0.size
    p = np.atleast_2d(np.asarray(p, dtype=float))
    w = np.asarray(weights, dtype=float)
    if w.ndim == 2:
        w = w[None]
    D, _, Y = w.shape
    budgets = np.asarray(budgets, dtype=np.int64)
    if budgets.shape != (Y,):
        raise ParameterError(f"budgets must have one value per year ({Y}), got shape {budgets.shape}")
    if (budgets < 0).any():
        raise ParameterError(f"the budget must be ≥ 0 admissions a year, got {budgets.min()}")
    lo = np.zeros((n, Y), np.int64) if floors is None else np.broadcast_to(np.asarray(floors, np.int64), (n, Y)).copy()
    hi = np.broadcast_to(budgets, (n, Y)).copy() if caps is None else np.broadcast_to(np.asarray(caps, np.int64), (n, Y)).copy()
    if (lo < 0).any():
        raise ParameterError("floors must be ≥ 0")
    if (lo > hi).any():
        i, y = np.argwhere(lo > hi)[0]
        raise ParameterError(f"the floor {lo[i, y]} of cell #{i} in year #{y} is above its cap {hi[i, y]}")
    need = lo.sum(axis=0)
    if (need > budgets).any():
        y = int(np.argmax(need > budgets))
        raise ParameterError(f"the budget {budgets[y]} of year #{y + 1} is below the sum of the floors "
                             f"({need[y]}); lower --floor or raise the budget")
    kmax = int(ks.max())
    blow = _binomial_low(n0, p, kmax)
    order = np.argsort(-w.mean(axis=0) + 1e-12 * np.arange(Y)[None, :], axis=1, kind="stable")
    L = max(1, int(look_ahead))
    steps = np.arange(L)

    x = lo.copy()
    rem = budgets - lo.sum(axis=0)
    mu = np.einsum("dny,ny->dn", w, x)
    f = _values(blow, mu, ks, ws)
    state = _State(x, rem, mu, f)

    def blocks(idx: np.ndarray):
        """Best block (ratio, units) for each cell of ``idx`` under the current budgets."""
        avail = np.minimum(state.rem[None, :], hi[idx] - state.x[idx])
        order_i = order[idx]
        cum = np.cumsum(np.take_along_axis(avail, order_i, axis=1), axis=1)
        pos = np.minimum((cum[:, None, :] <= steps[None, :, None]).sum(-1), Y - 1)
        year = np.take_along_axis(order_i, pos, axis=1)                      # (m, L)
        wslot = w[:, idx[:, None], year]                                      # (D, m, L)
        mass = state.mu[:, idx, None] + np.cumsum(wslot, axis=-1)
        gain = _values(blow[:, idx], mass, ks, ws) - state.f[idx, None]
        ratio = gain / (steps + 1)[None, :]
        ratio[steps[None, :] >= cum[:, -1:]] = -np.inf
        j = np.argmax(ratio, axis=1)
        return ratio[np.arange(idx.size), j], j + 1

    def add_units(i: int, units: int) -> None:
        left = units
        for y in order[i]:
            if left == 0:
                break
            take = min(left, state.rem[y], hi[i, y] - state.x[i, y])
            if take > 0:
                state.x[i, y] += take
                state.rem[y] -= take
                left -= take
        state.mu[:, i] = w[:, i, :] @ state.x[i]
        state.f[i] = _values(blow[:, [i]], state.mu[:, [i]], ks, ws)[0]

    all_idx = np.arange(n)
    ratio, units = blocks(all_idx) if n else (np.zeros(0), np.zeros(0, int))
    iterations = 0
    longest = max(1, int(hi.max()) if hi.size else 1)
    empty_seen = state.rem == 0
    while state.rem.sum() > 0 and n:
        iterations += 1
        open_years = state.rem > 0
        short = open_years & (state.rem < longest)
        batch = int(state.rem[open_years].min()) // (2 * L)
        if batch >= 1 and not short.any():
            # No open year is short of units for any cell's block, so once the ratios
            # are recomputed after a year ran out, every stored ratio is exact and the
            # top ``batch`` blocks fit in every year's budget together: take them at
            # once, as the greedy would one after the other.
            if (empty_seen != ~open_years).any():
                empty_seen = ~open_years
                ratio, units = blocks(all_idx)
            top = np.argpartition(-ratio, min(batch, n) - 1)[:batch] if batch < n else all_idx
            top = top[ratio[top] > tol]
            if top.size == 0:
                break
            for i in top:
                add_units(int(i), int(units[i]))
            ratio[top], units[top] = blocks(top)
            continue
        i = int(np.argmax(ratio))
        if not np.isfinite(ratio[i]) or ratio[i] <= tol:
            break
        r_i, u_i = blocks(np.array([i]))
        ratio[i] = -np.inf
        runner_up = ratio.max()
        if r_i[0] >= runner_up - 1e-15 and r_i[0] > tol:
            add_units(i, int(u_i[0]))
            r_i, u_i = blocks(np.array([i]))
        ratio[i], units[i] = r_i[0], u_i[0]

    moves = 0
    start = "greedy"
    if local_search:
        moves += _polish(state, w, blow, ks, ws, lo, hi, order, L)
        dp = _dp_start(n0, w, blow, ks, ws, budgets, lo, hi, max_units=max(4 * L, 4 * kmax))
        if dp is not None:
            moves_dp = _polish(dp, w, blow, ks, ws, lo, hi, order, L)
            if dp.f.sum() > state.f.sum() + 1e-12:
                state, moves, start = dp, moves_dp, "knapsack"
    filled = _fill(state, hi, fill_shares)
    state.mu = np.einsum("dny,ny->dn", w, state.x)
    state.f = _values(blow, state.mu, ks, ws)
    info = {"objective": float(state.f.sum()), "iterations": iterations, "moves": moves, "start": start,
            "filled": filled, "seconds": time.perf_counter() - t0}
    return state.x, info


def _polish(state: _State, w, blow, ks, ws, lo, hi, order, look_ahead: int) -> int:
    """Local search: single units within a year, blocks pulled from several donors,
    single units again, then year swaps between cells."""
    moves = _local_search(state, w, blow, ks, ws, lo, hi)
    moves += _pull(state, w, blow, ks, ws, lo, hi, look_ahead)
    if moves:
        moves += _local_search(state, w, blow, ks, ws, lo, hi)
    moves += _year_swaps(state, w, blow, ks, ws, lo, hi)
    return moves


def _dp_start(n0, w, blow, ks, ws, budgets, lo, hi, *, max_units: int) -> _State | None:
    """A second start: an exact knapsack DP over cells on one pooled budget.

    Each cell's value for e units above its floors is taken at the mass of e units
    of the average year (the free budget's mix of years); the DP then picks every
    cell's number of units exactly for that pooled problem (non-concave values are
    no obstacle), and the units are spread over the years in proportion to what is
    left of each year's budget. :func:`_polish` then repairs the year mix.
    """
    n, Y = lo.shape
    free_budget = budgets - lo.sum(axis=0)
    U = int(free_budget.sum())
    if U <= 0 or n == 0:
        return None
    mix = free_budget / U
    wbar = (w * mix[None, None, :]).sum(axis=-1)                            # (D, n)
    mu_lo = np.einsum("dny,ny->dn", w, lo)
    room = hi - lo
    emax = np.minimum(room.sum(axis=1), min(U, max_units))
    E = int(emax.max())
    e = np.arange(E + 1)
    vals = _values(blow, mu_lo[:, :, None] + wbar[:, :, None] * e[None, None, :], ks, ws)  # (n, E+1)
    vals[e[None, :] > emax[:, None]] = -np.inf
    dp = np.zeros(U + 1)
    choice = np.zeros((n, U + 1), dtype=np.int16 if E < 32_000 else np.int32)
    for i in range(n):
        ei = int(emax[i])
        cand = np.full((ei + 1, U + 1), -np.inf)
        for k in range(ei + 1):
            cand[k, k:] = dp[: U + 1 - k] + vals[i, k]
        choice[i] = np.argmax(cand, axis=0)
        dp = cand[choice[i], np.arange(U + 1)]
    units = np.zeros(n, dtype=np.int64)
    b = U
    for i in range(n - 1, -1, -1):
        units[i] = choice[i, b]
        b -= units[i]
    x = lo.copy()
    rem = free_budget.copy()
    for i in np.argsort(-units, kind="stable"):
        left = int(units[i])
        while left > 0:
            space = np.minimum(rem, hi[i] - x[i])
            if space.sum() == 0:
                break
            share = np.where(space > 0, rem, 0).astype(float)
            target = left * share / share.sum()
            add = np.minimum(np.floor(target).astype(np.int64), space)
            if add.sum() == 0:
                add = np.zeros(Y, np.int64)
                add[int(np.argmax(np.where(space > 0, target, -1.0)))] = 1
            add = np.minimum(add, left)
            x[i] += add
            rem -= add
            left -= int(add.sum())
    mu = np.einsum("dny,ny->dn", w, x)
    return _State(x, rem, mu, _values(blow, mu, ks, ws))


def _local_search(state: _State, w, blow, ks, ws, lo, hi, max_moves: int = 10_000) -> int:
    """Move single units between cells within a year while the objective rises."""
    n, Y = state.x.shape
    moves = 0
    improved = True
    while improved and moves < max_moves:
        improved = False
        for y in range(Y):
            while moves < max_moves:
                up = _values(blow, state.mu + w[:, :, y], ks, ws) - state.f
                down = state.f - _values(blow, np.maximum(state.mu - w[:, :, y], 0.0), ks, ws)
                can_up = (state.x[:, y] < hi[:, y])
                can_down = state.x[:, y] > lo[:, y]
                if state.rem[y] > 0 and can_up.any():
                    b = int(np.argmax(np.where(can_up, up, -np.inf)))
                    if up[b] > 1e-12:
                        _shift(state, w, blow, ks, ws, None, b, y)
                        moves += 1
                        improved = True
                        continue
                if not can_up.any() or not can_down.any():
                    break
                a = int(np.argmin(np.where(can_down, down, np.inf)))
                b = int(np.argmax(np.where(can_up, up, -np.inf)))
                if a == b or up[b] - down[a] <= MOVE_GAIN:
                    break
                _shift(state, w, blow, ks, ws, a, b, y)
                moves += 1
                improved = True
    return moves


def _year_swaps(state: _State, w, blow, ks, ws, lo, hi, max_moves: int = 10_000) -> int:
    """Swap years between two cells (a gives a unit of year y1 and takes one of y2;
    b the opposite), so every year's total stays, while the objective rises. Cells
    that lose members fast should hold the late (heavier) units."""
    n, Y = state.x.shape
    moves = 0
    improved = Y > 1
    while improved and moves < max_moves:
        improved = False
        for y1 in range(Y):
            for y2 in range(Y):
                if y1 == y2:
                    continue
                shift = w[:, :, y2] - w[:, :, y1]
                ok_a = (state.x[:, y1] > lo[:, y1]) & (state.x[:, y2] < hi[:, y2])
                ok_b = (state.x[:, y2] > lo[:, y2]) & (state.x[:, y1] < hi[:, y1])
                if not ok_a.any() or not ok_b.any():
                    continue
                da = np.where(ok_a, _values(blow, np.maximum(state.mu + shift, 0.0), ks, ws) - state.f, -np.inf)
                db = np.where(ok_b, _values(blow, np.maximum(state.mu - shift, 0.0), ks, ws) - state.f, -np.inf)
                # pair the best givers with the best takers, each cell once
                givers = np.argsort(-da, kind="stable")
                takers = np.argsort(-db, kind="stable")
                used = np.zeros(n, bool)
                t = 0
                for a in givers:
                    if not np.isfinite(da[a]):
                        break
                    if used[a]:
                        continue
                    while t < n and (used[takers[t]] or takers[t] == a):
                        t += 1
                    if t >= n:
                        break
                    b = takers[t]
                    if not np.isfinite(db[b]) or da[a] + db[b] <= MOVE_GAIN:
                        break
                    used[a] = used[b] = True
                    state.x[a, y1] -= 1
                    state.x[a, y2] += 1
                    state.x[b, y2] -= 1
                    state.x[b, y1] += 1
                    for c in (a, b):
                        state.mu[:, c] = w[:, c, :] @ state.x[c]
                        state.f[c] = _values(blow[:, [c]], state.mu[:, [c]], ks, ws)[0]
                    moves += 1
                    improved = True
    return moves


def _pull(state: _State, w, blow, ks, ws, lo, hi, look_ahead: int,
          max_rounds: int = 5, max_receivers: int = 128) -> int:
    """Receiver-driven moves: a cell takes a block of 1 … ``look_ahead`` units, unit
    by unit from the year where a unit of mass costs least — what is left of the
    budget first, else the cell that loses least by giving one up in that year
    (several donors at once).
    Taken when the receiver gains more than the donors lose. Each round tries the
    ``max_receivers`` cells with the most to gain."""
    n, Y = state.x.shape
    total = float(ws.sum())
    moves = 0
    for _ in range(max_rounds):
        improved = False
        # receivers: cells that could gain more than a move's minimum from a block
        best_mass = np.sort(w * (state.x < hi)[None], axis=-1)[..., ::-1][..., :look_ahead].sum(axis=-1)
        potential = _values(blow, state.mu + best_mass * max(1, look_ahead // max(Y, 1)), ks, ws) - state.f
        receivers = np.flatnonzero((state.f < total - MOVE_GAIN) & (potential > MOVE_GAIN)
                                   & (state.x < hi).any(axis=1))
        receivers = receivers[np.argsort(-potential[receivers], kind="stable")][:max_receivers]
        down = np.full((n, Y), np.inf)
        for y in range(Y):
            can = state.x[:, y] > lo[:, y]
            down[can, y] = state.f[can] - _values(blow[:, can], np.maximum(state.mu[:, can] - w[:, can, y], 0.0), ks, ws)
        for b in receivers:
            room_b = hi[b] - state.x[b]
            if room_b.sum() == 0:
                continue
            x_try = {}
            rem = state.rem.copy()
            d = down.copy()
            d[b] = np.inf
            lost, best, best_j, plan = 0.0, MOVE_GAIN, 0, []
            lost_steps, masses = [], []
            wb = w[:, b, :].mean(axis=0)
            for _step in range(look_ahead):
                # the next unit from the year where a unit of mass costs least
                donors = np.argmin(d, axis=0)
                cost = np.where(rem > 0, 0.0, d[donors, np.arange(Y)])
                cost = np.where(room_b > 0, cost / np.maximum(wb, 1e-300), np.inf)
                y = int(np.lexsort((-wb, cost))[0])
                if not np.isfinite(cost[y]):
                    break
                room_b[y] -= 1
                if rem[y] > 0:
                    rem[y] -= 1
                    plan.append((None, y))
                else:
                    c = int(donors[y])
                    lost += d[c, y]
                    xc = x_try.setdefault(c, state.x[c].copy())
                    xc[y] -= 1
                    mu_c = w[:, c, :] @ xc
                    trial = np.concatenate([mu_c[:, None], np.maximum(mu_c[:, None] - w[:, c, :], 0.0)], axis=1)
                    v = _values(blow[:, [c]], trial[:, None, :], ks, ws)[0]          # (1 + Y,)
                    d[c] = np.where(xc > lo[c], v[0] - v[1:], np.inf)
                    plan.append((c, y))
                lost_steps.append(lost)
                masses.append(w[:, b, y])
            if plan:
                mass = state.mu[:, [b], None] + np.cumsum(np.stack(masses, axis=-1), axis=-1)[:, None, :]
                net = _values(blow[:, [b]], mass, ks, ws)[0] - state.f[b] - np.array(lost_steps)
                j = int(np.argmax(net))
                if net[j] > best:
                    best, best_j = net[j], j + 1
            if best_j:
                for c, y in plan[:best_j]:
                    if c is None:
                        state.rem[y] -= 1
                    else:
                        state.x[c, y] -= 1
                    state.x[b, y] += 1
                for c in {b, *(c for c, _ in plan[:best_j] if c is not None)}:
                    state.mu[:, c] = w[:, c, :] @ state.x[c]
                    state.f[c] = _values(blow[:, [c]], state.mu[:, [c]], ks, ws)[0]
                    for y in range(Y):
                        down[c, y] = (state.f[c] - _values(blow[:, [c]], np.maximum(state.mu[:, [c]] - w[:, [c], y], 0.0), ks, ws)[0]
                                      if state.x[c, y] > lo[c, y] else np.inf)
                moves += 1
                improved = True
        if not improved:
            break
    return moves


def _shift(state: _State, w, blow, ks, ws, a, b, y) -> None:
    for cell, delta in ((a, -1), (b, 1)):
        if cell is None:
            state.rem[y] -= 1
            continue
        state.x[cell, y] += delta
        state.mu[:, cell] = w[:, cell, :] @ state.x[cell]
        state.f[cell] = _values(blow[:, [cell]], state.mu[:, [cell]], ks, ws)[0]


def _fill(state: _State, hi, shares) -> int:
    """Spread each year's leftover budget in proportion to ``shares`` within caps."""
    n, Y = state.x.shape
    shares = np.full(n, 1.0 / max(n, 1)) if shares is None else np.asarray(shares, float)
    filled = 0
    for y in range(Y):
        while state.rem[y] > 0:
            room = hi[:, y] - state.x[:, y]
            open_ = room > 0
            if not open_.any():
                break
            s = np.where(open_, shares, 0.0)
            s = s / s.sum() if s.sum() > 0 else open_ / open_.sum()
            target = state.rem[y] * s
            add = np.minimum(np.floor(target).astype(np.int64), room)
            if add.sum() == 0:
                frac = np.where(open_, target - np.floor(target), -1.0)
                add = np.zeros(n, np.int64)
                add[np.argsort(-frac, kind="stable")[: state.rem[y]]] = 1
                add = np.minimum(add, room)
            state.x[:, y] += add
            state.rem[y] -= add.sum()
            filled += int(add.sum())
    return filled


# --------------------------------------------------------------- upper bound


def upper_bound(n0, p, weights, budgets, *, thresholds, floors=None, caps=None) -> float:
    """A certified upper bound on the optimum of :func:`optimise_quotas`.

    Valid for one set of rates (D = 1). Relaxes the yearly budgets to one pooled
    budget of mass ``Σ_y budget_y · max_i w[i, y]`` and each cell's mass to
    ``[floor mass, cap mass]``; each cell's value is replaced by its concave
    envelope over a fine grid of masses, and the relaxed problem is solved exactly
    by water-filling on the envelope slopes. The true optimum is ≤ the result.
    """
    ks, ws = _threshold_arrays(thresholds)
    n0 = np.asarray(n0, dtype=np.int64)
    p = np.atleast_2d(np.asarray(p, dtype=float))
    w = np.asarray(weights, dtype=float)
    if w.ndim == 3:
        if w.shape[0] != 1:
            raise ParameterError("upper_bound needs one set of rates (D = 1)")
        w = w[0]
    n, Y = w.shape
    budgets = np.asarray(budgets, dtype=float)
    lo = np.zeros((n, Y)) if floors is None else np.broadcast_to(floors, (n, Y)).astype(float)
    hi = np.broadcast_to(budgets, (n, Y)).astype(float) if caps is None else np.broadcast_to(caps, (n, Y)).astype(float)
    wmax = w.max(axis=0)
    # mass lower bound: floors at the cell's own weights; upper: caps at the best weights
    m_lo = (lo * w).sum(axis=1)
    m_hi = np.minimum((hi * w).sum(axis=1), m_lo + (budgets * wmax).sum())
    pool = (budgets * wmax).sum() - m_lo.sum()
    grid = 400
    t = np.linspace(0.0, 1.0, grid + 1)
    mass = m_lo[:, None] + (m_hi - m_lo)[:, None] * t[None, :]
    blow = _binomial_low(n0, p, int(ks.max()))
    vals = _values(blow, mass[None], ks, ws)                                  # (n, G+1)
    # The envelope of grid values may lie below the function between grid points.
    # The slope of P(S ≥ k) in mu is P(S = k−1), itself with slope in [−1, 1]; so on
    # a grid step h the function exceeds the chord by at most h/2 · (g + h/2), g the
    # largest slope at the step's ends. Lifting every value by that keeps a bound.
    step = (m_hi - m_lo) / grid
    slope = np.zeros_like(vals)
    for k, wk in zip(ks, ws):
        at_least_prev = 1.0 if k == 1 else _values(blow, mass[None], np.array([k - 1]), np.array([1.0]))
        slope += wk * (at_least_prev - _values(blow, mass[None], np.array([k]), np.array([1.0])))
    lift = 0.5 * step * (slope.max(axis=1) + 0.5 * step * ws.sum())
    vals = vals + lift[:, None]
    segments = []   # (slope, length) of every envelope segment above the start
    base = vals[:, 0].sum()
    for i in range(n):
        hull = _upper_hull(mass[i], vals[i])
        xs, ys = mass[i][hull], vals[i][hull]
        for a in range(len(hull) - 1):
            length = xs[a + 1] - xs[a]
            if length > 0:
                segments.append(((ys[a + 1] - ys[a]) / length, length))
    cap_total = float(n * ws.sum())
    if not segments:
        return float(min(base, cap_total))
    seg = np.array(segments)
    seg = seg[np.argsort(-seg[:, 0], kind="stable")]
    cum = np.cumsum(seg[:, 1])
    full = cum <= pool
    total = base + (seg[full, 0] * seg[full, 1]).sum()
    k = int(full.sum())
    if k < len(seg):
        used = cum[k - 1] if k else 0.0
        total += seg[k, 0] * max(0.0, pool - used)
    return float(min(total, cap_total))


def _upper_hull(x: np.ndarray, y: np.ndarray) -> list[int]:
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (y[b] - y[a]) * (x[i] - x[a]) <= (y[i] - y[a]) * (x[b] - x[a]):
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


# -------------------------------------------------------- province-level API


def default_cap(dataset: Dataset, base_year: int | None = None) -> int:
    """The largest number of admissions any cell made in one year of history up to
    the base year (at least 1): a quota above what a village cell has ever achieved
    would not be credible. 7 on the bundled data."""
    base_year = dataset.last_year if base_year is None else base_year
    admitted = dataset.panel("admitted")
    years = [y for y in admitted.columns if dataset.first_year < y <= base_year]
    if not years:
        return 1
    return max(1, int(admitted[years].to_numpy().max()))


def proportional_floors(budgets, shares, floor: float) -> np.ndarray:
    """Floors per cell and year → int array (n, Y).

    Cell i keeps at least ``L_i = ⌊floor · share_i · Σ_y budget_y⌋`` over the
    period (its population-proportional share of the whole budget, scaled and
    rounded down), spread over the years in proportion to the budgets (the
    remainder to the years with the largest fractions, staggered between cells).
    The floor is taken over the period because a yearly proportional share is
    about half an admission in a typical cell, so a yearly floor rounded down
    would vanish almost everywhere.
    """
    if not 0 <= floor <= 1e6:
        raise ParameterError(f"the floor must be a number ≥ 0 (a fraction of the proportional share), got {floor}")
    budgets = np.asarray(budgets, dtype=float)
    shares = np.asarray(shares, dtype=float)
    n, Y = shares.size, budgets.size
    total = np.floor(floor * shares * budgets.sum() + 1e-9).astype(np.int64)
    if budgets.sum() <= 0:
        return np.zeros((n, Y), np.int64)
    exact = total[:, None] * budgets[None, :] / budgets.sum()
    out = np.floor(exact + 1e-9).astype(np.int64)
    frac = exact - out + 1e-6 * ((np.arange(n)[:, None] + np.arange(Y)[None, :]) % Y) / Y
    short = total - out.sum(axis=1)
    rank = np.argsort(np.argsort(-frac, axis=1, kind="stable"), axis=1)
    return out + (rank < short[:, None]).astype(np.int64)


@dataclass
class Allocation:
    """Optimised quotas and the proportional plan beside them.

    ``quotas`` (n, Y) int for ``years``; ``lam_proportional`` (n, Y) the
    population-proportional admissions; ``p_proportional`` / ``p_optimised``
    dicts threshold → (n,) probabilities of ≥ k local members at ``horizon``.
    """

    dataset: Dataset
    base_year: int
    horizon: int
    thresholds: dict
    quotas: np.ndarray
    budgets: np.ndarray
    budget_raw: np.ndarray
    floors: np.ndarray
    caps: np.ndarray
    lam_proportional: np.ndarray
    p_proportional: dict
    p_optimised: dict
    survival: np.ndarray
    achievement: float
    floor: float
    cap: int
    info: dict = field(default_factory=dict)

    @property
    def years(self) -> list[int]:
        """Calendar years of the quotas."""
        return list(range(self.base_year + 1, self.horizon + 1))

    @property
    def threshold(self) -> int:
        """The threshold the table's ``p_*`` columns refer to (the highest one)."""
        return max(self.thresholds)

    @property
    def table(self) -> pd.DataFrame:
        """One row per cell and year: the 8 output columns (MODEL.md §4, allocate)."""
        cells = self.dataset.cells[["cell_id", "district", "commune", "cell_name"]].reset_index(drop=True)
        n, Y = self.quotas.shape
        frame = cells.loc[np.repeat(np.arange(n), Y)].reset_index(drop=True)
        frame["year"] = np.tile(self.years, n)
        frame["quota"] = self.quotas.ravel()
        frame["p_proportional"] = np.repeat(self.p_proportional[self.threshold], Y)
        frame["p_optimised"] = np.repeat(self.p_optimised[self.threshold], Y)
        return frame[OUTPUT_COLUMNS]

    def quota_table(self) -> pd.DataFrame:
        """``cell_id, year, quota`` — what ``Scenario(allocation="quota")`` takes."""
        return self.table[["cell_id", "year", "quota"]]

    def cell_frame(self) -> pd.DataFrame:
        """One row per cell: totals over the years and both plans' P(≥ k) for every k."""
        frame = self.dataset.cells[["cell_id", "district", "commune", "cell_name"]].reset_index(drop=True).copy()
        frame["members_base"] = self.dataset.members_at(self.base_year).to_numpy()
        frame["quota_total"] = self.quotas.sum(axis=1)
        frame["proportional_total"] = self.lam_proportional.sum(axis=1)
        for k in sorted(self.thresholds):
            frame[f"p_proportional_{k}"] = self.p_proportional[k]
            frame[f"p_optimised_{k}"] = self.p_optimised[k]
        return frame

    def summary(self, by: str = "district") -> pd.DataFrame:
        """Expected share of cells with ≥ k at the horizon, proportional vs optimised,
        per unit and for the province (last row)."""
        frame = self.cell_frame()
        if by not in frame.columns and by not in self.dataset.cells.columns:
            raise ParameterError(f"no column '{by}' in the cells table")
        if by not in frame.columns:
            frame[by] = self.dataset.cells[by].to_numpy()
        rows = []
        groups = list(frame.groupby(by, sort=True)) + [(PROVINCE, frame)]
        for unit, part in groups:
            row = {"unit": unit, "cells": len(part), "quota_total": int(part["quota_total"].sum()),
                   "proportional_total": float(part["proportional_total"].sum())}
            for k in sorted(self.thresholds):
                row[f"share_proportional_{k}"] = part[f"p_proportional_{k}"].mean()
                row[f"share_optimised_{k}"] = part[f"p_optimised_{k}"].mean()
            rows.append(row)
        return pd.DataFrame(rows)

    def print_summary(self, by: str = "district") -> None:
        """Print :meth:`summary` with Vietnamese number formats."""
        print(format_summary(self, by))


def format_summary(allocation: Allocation, by: str = "district") -> str:
    """The allocation summary as text."""
    from .fmt import format_number, format_percent

    table = allocation.summary(by)
    a = allocation
    lines = [f"Admission quotas {a.years[0]}–{a.years[-1]} (base {a.base_year}, horizon {a.horizon}); "
             f"budget per year {', '.join(format_number(b) for b in a.budgets)}; floor {format_percent(a.floor, 0)} "
             f"of the proportional share; cap {a.cap} a cell and year; achievement {format_percent(a.achievement, 0)}"]
    if a.dataset.synthetic:
        lines.append("Dữ liệu mô phỏng (synthetic data)")
    ks = sorted(a.thresholds)
    head = f"{'unit':<24}{'cells':>7}{'quota':>8}"
    for k in ks:
        head += f"{'≥' + str(k) + ' proportional':>18}{'≥' + str(k) + ' optimised':>15}"
    lines += ["", f"Expected share of cells at {a.horizon}", head]
    for _, r in table.iterrows():
        line = f"{str(r['unit']):<24}{r['cells']:>7}{r['quota_total']:>8}"
        for k in ks:
            line += f"{format_percent(r[f'share_proportional_{k}'], 2):>18}{format_percent(r[f'share_optimised_{k}'], 2):>15}"
        lines.append(line)
    info = a.info
    if "seconds" in info:
        lines.append("")
        lines.append(f"Optimised in {info['seconds']:.1f} s"
                     + (f"; upper bound on the optimum {format_percent(info['bound_share'], 2)}"
                        if "bound_share" in info else ""))
    return "\n".join(lines)


def _survival_array(survival, n: int, attrition_rate: float, base_year: int) -> np.ndarray:
    if survival is None:
        if not 0.0 <= attrition_rate < 1.0:
            raise ParameterError(f"attrition rate must be in [0, 1), got {attrition_rate}")
        return np.full((1, n), 1.0 - attrition_rate)
    if isinstance(survival, Rates):
        if survival.base_year != base_year:
            raise ParameterError(f"the rates start at {survival.base_year}, not at the base year {base_year}")
        survival = survival.survival
    s = np.atleast_2d(np.asarray(survival, dtype=float))
    if s.shape[-1] != n:
        raise ParameterError(f"survival must have one value per cell ({n}), got shape {s.shape}")
    if ((s < 0) | (s > 1)).any():
        raise ParameterError("survival must be in [0, 1]")
    return s


def allocate(dataset: Dataset | None = None, *, base_year: int | None = None,
             horizon: int | None = None, thresholds=None,
             admissions_per_year: float | None = None, admission_rate: float | None = None,
             attrition_rate: float = config.ATTRITION_RATE, survival=None,
             floor: float = DEFAULT_FLOOR, cap: int | None = None, achievement: float = 1.0,
             look_ahead: int = DEFAULT_LOOK_AHEAD, bound: bool = True) -> Allocation:
    """Optimise admission quotas per cell and year for a dataset.

    Parameters
    ----------
    dataset : Dataset, optional
        Default the bundled synthetic province.
    base_year : int, optional
        Default the last year of history.
    horizon : int, optional
        Target year T > base year; default the last target year (2030), else base + 5.
    thresholds : int, iterable of int or dict {k: weight}, optional
        Default the highest target threshold at the horizon (5 for 2030, 3 for 2025).
    admissions_per_year, admission_rate : float, optional
        The budget: a number a year, or a share r of local members
        (``R_y = r · E[M_{y−1}]`` as in :func:`scenario.province_admissions`);
        default the scenario's 3.5 %. Quotas are integers, so each year's budget is
        ``⌊R_y⌋``.
    attrition_rate : float
        Fixed yearly attrition (survival 1 − a for every cell) unless ``survival``.
    survival : array (n,) or (D, n), or Rates, optional
        Per-cell yearly survival (e.g. calibrated ``Rates``; D > 1 draws are mixed over).
    floor : float
        Each cell keeps at least ``⌊floor · its population-proportional share⌋`` of
        the period's budget (see :func:`proportional_floors`).
    cap : int, optional
        Most quota per cell and year; default :func:`default_cap`.
    achievement : float
        Realised admissions for a quota q are Poisson(q · achievement).
    look_ahead : int
        See :func:`optimise_quotas`.
    bound : bool
        Also compute the certified upper bound (one set of rates only).
    """
    dataset = dataset if dataset is not None else load_dataset()
    base_year = dataset.last_year if base_year is None else int(base_year)
    dataset.check_base_year(base_year)
    if horizon is None:
        from .forecast import default_horizons

        horizon = default_horizons(base_year)[-1]
    horizon = int(horizon)
    if horizon <= base_year:
        raise ParameterError(f"horizon {horizon} is at or before the base year {base_year}; "
                             "quotas are for the years after it")
    if horizon > base_year + 50:
        raise ParameterError(f"horizon {horizon} is more than 50 years after the base year")
    if thresholds is None:
        thresholds = {max(config.TARGETS.get(horizon, config.THRESHOLDS)): 1.0}
    elif not isinstance(thresholds, dict):
        thresholds = {int(k): 1.0 for k in np.atleast_1d(thresholds)}
    _threshold_arrays(thresholds)
    if admissions_per_year is not None and admission_rate is not None:
        raise ParameterError("give the budget as admissions per year or as an admission rate, not both")
    if admissions_per_year is not None and admissions_per_year < 0:
        raise ParameterError(f"the budget must be ≥ 0 admissions a year, got {admissions_per_year}")
    if admission_rate is not None and not 0.0 <= admission_rate <= 1.0:
        raise ParameterError(f"admission rate must be in [0, 1], got {admission_rate}")
    if not 0.0 <= achievement <= 10.0:
        raise ParameterError(f"achievement must be in [0, 10], got {achievement}")
    if admissions_per_year is None and admission_rate is None:
        admission_rate = config.ADMISSION_RATE
    n = len(dataset.cells)
    s = _survival_array(survival, n, attrition_rate, base_year)
    steps = horizon - base_year
    n0 = dataset.members_at(base_year).to_numpy(dtype=np.int64)
    shares = allocation_shares(dataset, "population", base_year)
    budget_raw = province_admissions(n0, s.mean(axis=0), shares, steps, rate=admission_rate,
                                     per_year=admissions_per_year)
    budgets = np.floor(budget_raw + 1e-9).astype(np.int64)
    cap = default_cap(dataset, base_year) if cap is None else int(cap)
    if cap < 0:
        raise ParameterError(f"the cap must be ≥ 0, got {cap}")
    floors = proportional_floors(budgets, shares, floor)
    caps = np.full((n, steps), cap, dtype=np.int64)
    if (floors.sum(axis=0) > budgets).any():
        y = int(np.argmax(floors.sum(axis=0) > budgets))
        raise ParameterError(f"the budget of {base_year + 1 + y} ({budgets[y]}) is below the sum of "
                             f"the floors ({floors[:, y].sum()}); lower --floor or raise the budget")
    if (floors > caps).any():
        raise ParameterError(f"the cap {cap} is below the floor of some cells "
                             f"(largest floor {floors.max()}); raise --cap or lower --floor")
    discount = s[:, :, None] ** np.arange(steps - 1, -1, -1)[None, None, :]   # (D, n, Y)
    p = s ** steps
    quotas, info = optimise_quotas(n0, p, achievement * discount, budgets, thresholds=thresholds,
                                   floors=floors, caps=caps, look_ahead=look_ahead, fill_shares=shares)
    lam_prop = shares[:, None] * budget_raw[None, :]
    mu_prop = (discount * lam_prop[None]).sum(axis=-1)
    mu_opt = (discount * (achievement * quotas)[None]).sum(axis=-1)
    ks = sorted(thresholds)
    p_prop = {k: cell_values(n0, p, mu_prop, [k]) for k in ks}
    p_opt = {k: cell_values(n0, p, mu_opt, [k]) for k in ks}
    if bound and s.shape[0] == 1:
        ub = upper_bound(n0, p, achievement * discount, budgets, thresholds=thresholds,
                         floors=floors, caps=caps)
        info["bound"] = ub
        info["bound_share"] = ub / (n * sum(thresholds.values()))
    return Allocation(dataset=dataset, base_year=base_year, horizon=horizon,
                      thresholds=dict(thresholds), quotas=quotas, budgets=budgets,
                      budget_raw=budget_raw, floors=floors, caps=caps, lam_proportional=lam_prop,
                      p_proportional=p_prop, p_optimised=p_opt, survival=s,
                      achievement=float(achievement), floor=float(floor), cap=cap, info=info)


# --------------------------------------------------------- adaptive policy


def adaptive_comparison(allocation: Allocation, *, draws: int = 200, seed: int = 0,
                        look_ahead: int = DEFAULT_LOOK_AHEAD, polish: bool = True) -> pd.DataFrame:
    """The fixed plan against an adaptive policy, on the Monte Carlo engine.

    The adaptive policy re-optimises each year on the simulated state: at the start
    of year y it takes each simulated province's counts, re-solves the quotas for
    y … T with the same yearly budgets, floors and caps, and admits the first year's
    quotas (receding horizon). The fixed plan admits the allocation's quotas
    whatever happens. Both are simulated with ``draws`` provinces from ``seed``.
    ``polish=False`` re-optimises by the greedy alone (about 5× faster on the
    province, slightly below the polished optimum).

    Returns one row per threshold: ``threshold``, ``fixed_exact`` (the exact expected
    share of the fixed plan), ``fixed_mc``, ``adaptive_mc``, ``difference``
    (adaptive − fixed, on the simulations) and ``se`` (its standard error).
    """
    from .montecarlo import simulate_members

    a = allocation
    if a.survival.shape[0] != 1:
        raise ParameterError("the adaptive comparison needs one set of rates (D = 1)")
    if draws < 2:
        raise ParameterError(f"draws must be ≥ 2, got {draws}")
    n0 = a.dataset.members_at(a.base_year).to_numpy(dtype=np.int64)
    s = a.survival[0]
    steps = a.horizon - a.base_year
    ks = sorted(a.thresholds)
    fixed_lam = a.achievement * a.quotas.astype(float)

    def policy(step: int, counts: np.ndarray) -> np.ndarray:
        if step == 1:
            return np.broadcast_to(fixed_lam[:, 0], counts.shape)
        left = steps - step + 1
        disc = s[:, None] ** np.arange(left - 1, -1, -1)[None, :]
        out = np.empty(counts.shape)
        for d in range(counts.shape[0]):
            x, _ = optimise_quotas(counts[d], s ** left, a.achievement * disc, a.budgets[step - 1:],
                                   thresholds=a.thresholds, floors=a.floors[:, step - 1:],
                                   caps=a.caps[:, step - 1:], look_ahead=look_ahead, local_search=polish,
                                   fill_shares=a.dataset.cells["population"].to_numpy(float))
            out[d] = a.achievement * x[:, 0]
        return out

    rng_seed = np.random.SeedSequence(seed).spawn(2)
    fixed = simulate_members(n0, s, fixed_lam, [steps], draws=draws, rng=np.random.default_rng(rng_seed[0]))[steps]
    adaptive = simulate_members(n0, s, fixed_lam, [steps], draws=draws,
                                rng=np.random.default_rng(rng_seed[1]), policy=policy)[steps]
    rows = []
    for k in ks:
        f_share = (fixed >= k).mean(axis=1)
        a_share = (adaptive >= k).mean(axis=1)
        rows.append({"threshold": k, "fixed_exact": float(a.p_optimised[k].mean()),
                     "fixed_mc": float(f_share.mean()), "adaptive_mc": float(a_share.mean()),
                     "difference": float(a_share.mean() - f_share.mean()),
                     "se": float(math.sqrt(a_share.var(ddof=1) / draws + f_share.var(ddof=1) / draws)),
                     "draws": draws})
    return pd.DataFrame(rows)


# ------------------------------------------------ for the briefing section


def _unit_mask(allocation: Allocation, by: str | None, unit: str | None) -> np.ndarray:
    cells = allocation.dataset.cells
    if unit is None or unit == PROVINCE:
        return np.ones(len(cells), bool)
    if by not in cells.columns:
        raise ParameterError(f"no column '{by}' in the cells table")
    mask = (cells[by] == unit).to_numpy()
    if not mask.any():
        raise ParameterError(f"no cells with {by} = '{unit}'")
    return mask


def quota_gain_table(allocation: Allocation, by: str = "district", unit: str | None = None) -> pd.DataFrame:
    """Gain of the optimised quotas over the proportional split, for the briefing
    section "Đề xuất chỉ tiêu kết nạp".

    One row per threshold for ``unit`` (a value of ``by``; None or "Toàn tỉnh":
    the province). Columns (Vietnamese, ready to show): ``Đơn vị``, ``Ngưỡng``
    (text "≥ k đảng viên"), ``Số chi bộ``, ``Tỷ lệ dự kiến - phân bổ theo dân số``,
    ``Tỷ lệ dự kiến - chỉ tiêu tối ưu``, ``Chênh lệch`` (shares in [0, 1], the
    difference in percentage points / 100), ``Số chi bộ đạt thêm`` (expected extra
    cells reaching k), ``Tổng chỉ tiêu`` (quotas over the years).
    """
    mask = _unit_mask(allocation, by, unit)
    rows = []
    for k in sorted(allocation.thresholds):
        prop = allocation.p_proportional[k][mask]
        opt = allocation.p_optimised[k][mask]
        rows.append({"Đơn vị": unit or PROVINCE, "Ngưỡng": f"≥ {k} đảng viên", "Số chi bộ": int(mask.sum()),
                     "Tỷ lệ dự kiến - phân bổ theo dân số": float(prop.mean()),
                     "Tỷ lệ dự kiến - chỉ tiêu tối ưu": float(opt.mean()),
                     "Chênh lệch": float(opt.mean() - prop.mean()),
                     "Số chi bộ đạt thêm": float(opt.sum() - prop.sum()),
                     "Tổng chỉ tiêu": int(allocation.quotas[mask].sum())})
    return pd.DataFrame(rows)


def quota_changes(allocation: Allocation, unit: str | None = None, n: int = 15, *,
                  by: str = "district") -> pd.DataFrame:
    """The ``n`` cells of ``unit`` whose quota differs most from the proportional split
    (total over the years, by absolute change; ties by cell id).

    Columns: ``Mã chi bộ``, ``Chi bộ``, ``Xã``, ``Đảng viên tại chỗ {B}``,
    ``Theo dân số`` (proportional admissions over the years), ``Chỉ tiêu đề xuất``
    (optimised quota total), ``Thay đổi``, ``Khả năng đạt ≥ k - theo dân số``,
    ``Khả năng đạt ≥ k - đề xuất`` (k the highest threshold).
    """
    if n < 0:
        raise ParameterError(f"n must be ≥ 0, got {n}")
    a = allocation
    mask = _unit_mask(a, by, unit)
    k = a.threshold
    cells = a.dataset.cells.reset_index(drop=True)
    frame = pd.DataFrame({
        "Mã chi bộ": cells["cell_id"], "Chi bộ": cells["cell_name"], "Xã": cells["commune"],
        f"Đảng viên tại chỗ {a.base_year}": a.dataset.members_at(a.base_year).to_numpy(),
        "Theo dân số": np.round(a.lam_proportional.sum(axis=1), 1),
        "Chỉ tiêu đề xuất": a.quotas.sum(axis=1),
    })
    frame["Thay đổi"] = np.round(frame["Chỉ tiêu đề xuất"] - a.lam_proportional.sum(axis=1), 1)
    frame[f"Khả năng đạt ≥ {k} - theo dân số"] = a.p_proportional[k]
    frame[f"Khả năng đạt ≥ {k} - đề xuất"] = a.p_optimised[k]
    frame = frame.loc[mask]
    change = (a.quotas.sum(axis=1) - a.lam_proportional.sum(axis=1))[mask]
    order = np.lexsort((frame["Mã chi bộ"].to_numpy(), -np.abs(change)))
    return frame.iloc[order[:n]].reset_index(drop=True)


def quota_sheet(allocation: Allocation, mask: np.ndarray) -> pd.DataFrame:
    """The quota list to hand out: one row per cell, one column per year (Vietnamese)."""
    a = allocation
    cells = a.dataset.cells.reset_index(drop=True)
    frame = pd.DataFrame({"Mã chi bộ": cells["cell_id"], "Chi bộ": cells["cell_name"],
                          "Xã": cells["commune"], "Huyện": cells["district"],
                          f"Đảng viên tại chỗ {a.base_year}": a.dataset.members_at(a.base_year).to_numpy()})
    for j, y in enumerate(a.years):
        frame[f"Chỉ tiêu {y}"] = a.quotas[:, j]
    frame[f"Tổng {a.years[0]}–{a.years[-1]}"] = a.quotas.sum(axis=1)
    frame[f"Khả năng đạt ≥ {a.threshold} ĐV năm {a.horizon}"] = np.round(a.p_optimised[a.threshold], 3)
    return frame.loc[mask].sort_values(["Xã", "Mã chi bộ"]).reset_index(drop=True)


def write_quota_workbooks(allocation: Allocation, out_dir: str | Path, by: str = "district") -> dict[str, Path]:
    """One XLSX per unit of ``by`` with its quota list, written atomically.

    Each workbook has a sheet "Chỉ tiêu" (one row per cell, a column per year) and a
    sheet "Ghi chú" (base year, horizon, budget, floor, cap; "Dữ liệu mô phỏng" when
    the data are synthetic). Returns {unit: path}; file names are the unit's name
    made file-safe, distinct for every unit (:func:`fmt.unit_file_names`), e.g.
    ``chi_tieu_ket_nap_tam-duong.xlsx``; all are written, or none.
    """
    from .files import write_tables
    from .fmt import unit_file_names

    a = allocation
    cells = a.dataset.cells
    if by not in cells.columns:
        raise ParameterError(f"no column '{by}' in the cells table")
    out_dir = Path(out_dir)
    notes = pd.DataFrame({"Mục": ["Năm gốc", "Năm mục tiêu", "Ngưỡng", "Tổng chỉ tiêu/năm",
                                  "Mức sàn (tỷ lệ phần theo dân số)", "Trần mỗi chi bộ/năm", "Dữ liệu"],
                          "Giá trị": [str(a.base_year), str(a.horizon), f"≥ {a.threshold} đảng viên",
                                      ", ".join(f"{y}: {b}" for y, b in zip(a.years, a.budgets)),
                                      str(a.floor), str(a.cap),
                                      "Dữ liệu mô phỏng" if a.dataset.synthetic else "Dữ liệu thật"]})
    names = unit_file_names(cells[by].unique())
    paths = {unit: out_dir / f"chi_tieu_ket_nap_{names[unit]}.xlsx" for unit in sorted(names)}
    write_tables({paths[unit]: {"Chỉ tiêu": quota_sheet(a, (cells[by] == unit).to_numpy()), "Ghi chú": notes}
                  for unit in paths})
    return paths


def optimised_quotas(dataset: Dataset, scenario, base_year: int, horizon: int) -> pd.DataFrame:
    """Optimised quotas ``cell_id, year, quota`` for a scenario's budget and attrition
    (the explorer's "theo chỉ tiêu tối ưu": ``Explorer(quota_provider=optimised_quotas)``).

    The budget is the scenario's admissions (a rate or a number a year), the target
    the highest threshold of the horizon, the floor and cap the defaults.
    """
    budget = ({"admissions_per_year": scenario.admissions_per_year} if scenario.admissions_per_year is not None
              else {"admission_rate": scenario.admission_rate})
    return allocate(dataset, base_year=base_year, horizon=horizon, attrition_rate=scenario.attrition_rate,
                    bound=False, **budget).quota_table()
