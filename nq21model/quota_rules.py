"""The rules of a quota plan people can follow (MODEL.md §2 "Quotas"), on arrays:
the floors as written, a unit's budget split by population, each cell's period
total spread evenly over the years within every unit's yearly budget, budget a
spread could not use topped up to the best cells, and :func:`check_plan`, which
holds a plan to all of them. The optimiser that chooses the totals is
:mod:`nq21model.quotas`."""
from __future__ import annotations

import numpy as np

from .exceptions import ParameterError

def _largest_remainder(exact: np.ndarray, group: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Integers summing to ``totals[g]`` in each group, ≥ ⌊exact⌋, by largest remainder."""
    out = np.floor(exact + 1e-9).astype(np.int64)
    short = totals - np.bincount(group, weights=out, minlength=totals.size).astype(np.int64)
    frac = exact - out
    order = np.lexsort((np.arange(exact.size), -frac, group))
    starts = np.searchsorted(group[order], np.arange(totals.size))
    rank = np.arange(exact.size) - starts[group[order]]
    out[order[rank < short[group[order]]]] += 1
    return out


def _unit_arrays(unit, budgets, n: int) -> tuple[np.ndarray, np.ndarray]:
    unit = np.asarray(unit, dtype=np.int64)
    budgets = np.asarray(budgets)
    if budgets.ndim != 2:
        raise ParameterError(f"budgets must be (units, years), got shape {budgets.shape}")
    if unit.shape != (n,) or (n and (unit.min() < 0 or unit.max() >= budgets.shape[0])):
        raise ParameterError(f"unit must give each of the {n} cells a label 0 … {budgets.shape[0] - 1}")
    if (budgets < 0).any() or not np.allclose(budgets, np.round(budgets)):
        raise ParameterError("budgets must be integers ≥ 0")
    return unit, np.round(budgets).astype(np.int64)


def floors_as_written(budgets, unit, population, share: float = 2.0) -> np.ndarray:
    """1 for every cell whose population share of its unit's budget for the
    period is ≥ ``share`` admissions (default 2), else 0 → int (n,)."""
    pop = np.asarray(population, dtype=float)
    unit, budgets = _unit_arrays(unit, budgets, pop.size)
    unit_pop = np.bincount(unit, weights=pop, minlength=budgets.shape[0])
    share_of_cell = pop / np.maximum(unit_pop[unit], 1e-300) * budgets.sum(axis=1)[unit]
    return (share_of_cell >= share - 1e-9).astype(np.int64)


def floors_for_empty(n0, caps, group, room, yearly, population) -> np.ndarray:
    """The programme's "no village cell without a local member": a cell with none at
    the base year is given 1 a year (each year its capacity allows) → int (n,) period
    floors, 0 for the others. Where a budget group cannot hold them all, the cells
    with most people come first: in a year at most the group's budget of that year
    (``yearly`` (groups, Y)) of them, and over the period at most ``room`` (groups,),
    what the group's budget holds beyond its other floors."""
    caps = np.asarray(caps)
    n = caps.shape[0]
    order = np.lexsort((np.arange(n), -np.asarray(population, float), group))  # by group, most people first
    order = order[(np.asarray(n0)[order] == 0) & (caps[order] >= 1).any(axis=1)]
    g = group[order]
    start = np.searchsorted(g, np.arange(len(room)))
    rank = np.arange(order.size) - start[g]                     # place of each among its group's empty cells
    want = ((caps[order] >= 1) & (rank[:, None] < np.asarray(yearly)[g])).sum(axis=1)
    cum = np.cumsum(want)
    fits = cum - np.r_[0, cum][start[g]] <= np.asarray(room)[g]
    out = np.zeros(n, np.int64)
    out[order] = np.where(fits, want, 0)
    return out


def population_split(budgets, unit, population) -> np.ndarray:
    """Each unit's budget split over its cells in proportion to population → (n, Y) int.

    The period's budget is split by largest remainder, then each cell's total is
    spread evenly over the years within the unit's yearly budgets (:func:`spread`).
    """
    pop = np.asarray(population, dtype=float)
    unit, budgets = _unit_arrays(unit, budgets, pop.size)
    unit_pop = np.bincount(unit, weights=pop, minlength=budgets.shape[0])
    exact = pop / np.maximum(unit_pop[unit], 1e-300) * budgets.sum(axis=1)[unit]
    totals = np.where(unit_pop > 0, budgets.sum(axis=1), 0)
    Q = _largest_remainder(exact, unit, totals)
    quotas, _ = spread(Q, unit, budgets)
    return quotas


def _place(base: np.ndarray, r: np.ndarray, group: np.ndarray, room: np.ndarray,
           exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Add ``r_i`` single units to distinct years of each item, within ``room``
    (groups × years); the item with most remainders first, each into the years of
    its group with most room left (later years on ties), never into a year of
    ``exclude`` (items × years). Returns (quotas, short): ``short_i`` units that
    found no room. Without exclusions this greedy fails only when no placement
    exists (Gale–Ryser: rows served by the columns with most residual room)."""
    m, Y = base.shape
    out = base.copy()
    short = np.zeros(m, np.int64)
    rooms = room.astype(np.int64).tolist()
    years = list(range(Y - 1, -1, -1))
    todo = np.flatnonzero(r > 0)
    todo = todo[np.argsort(-r[todo], kind="stable")]
    banned = exclude[todo].tolist() if exclude is not None else None
    for t, (i, ri, g) in enumerate(zip(todo.tolist(), r[todo].tolist(), group[todo].tolist())):
        rm = rooms[g]
        ok = years if banned is None else [y for y in years if not banned[t][y]]
        pick = sorted((y for y in ok if rm[y] > 0), key=lambda y: -rm[y])[:ri]
        for y in pick:
            rm[y] -= 1
            out[i, y] += 1
        short[i] = ri - len(pick)
    return out, short


def spread(Q, unit, budgets, pool: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Period totals ``Q`` (n,) → yearly quotas (n, Y): ``Q // Y`` every year and the
    ``Q mod Y`` remainders in distinct years, so a cell's years differ by at most 1.

    Each unit's yearly total stays within ``budgets[u, y]``; with ``pool`` only the
    province's ``Σ_u budgets[u, y]`` binds, and each unit's remainders follow the
    shape of the province's room (a unit's totals keep the budgets' shape), the
    few that do not fit going to any year with room left. When a budget of some
    year is below the sum of ``Q // Y`` (budgets far from even), the largest totals
    are lowered first. Returns (quotas, lowered): ``lowered`` (n,) the units of
    ``Q`` that did not fit.
    """
    Q = np.asarray(Q, dtype=np.int64).copy()
    unit = np.asarray(unit, dtype=np.int64)
    budgets = np.asarray(budgets, dtype=np.int64)
    U, Y = budgets.shape
    Q0 = Q.copy()
    group = np.zeros_like(unit) if pool else unit
    hard = budgets.sum(axis=0, keepdims=True) if pool else budgets
    base = Q // Y
    room = hard - np.bincount(group, weights=base, minlength=hard.shape[0]).astype(np.int64)[:, None]
    for g in np.flatnonzero((room < 0).any(axis=1)):          # rare: budgets far from even
        cells = np.flatnonzero(group == g)
        while room[g].min() < 0:
            i = cells[np.argmax(base[cells] * Y - Q[cells] % Y)]
            if base[i] == 0:
                break
            Q[i] = base[i] * Y - 1                             # one unit less every year
            base[i] -= 1
            room[g] += 1
    room = np.maximum(room, 0)
    r = Q - base * Y
    even = np.repeat(base[:, None], Y, axis=1)
    if not pool:
        quotas, short = _place(even, r, unit, room)
        return quotas, Q0 - Q + short
    # pooled: each unit's remainders over the years in proportion to the province's room
    R = np.bincount(unit, weights=r, minlength=U).astype(np.int64)
    exact = R[:, None] * room[0][None, :] / max(int(room.sum()), 1)
    floor = np.floor(exact + 1e-9).astype(np.int64)
    target, _ = _place(floor, R - floor.sum(axis=1), np.zeros(U, np.int64),
                       (room[0] - floor.sum(axis=0))[None, :])
    quotas, short = _place(even, r, unit, target)
    if short.any():
        left = room[0] - (quotas - even).sum(axis=0)
        quotas, short = _place(quotas, short, np.zeros_like(unit), left[None, :], exclude=quotas > even)
    if short.any():                                            # tiny units: the province's own greedy
        other, other_short = _place(even, r, np.zeros_like(unit), room)
        if other_short.sum() < short.sum():
            quotas, short = other, other_short
    return quotas, Q0 - Q + short


def _top_up(quotas: np.ndarray, caps: np.ndarray, group: np.ndarray, hard: np.ndarray, gain) -> int:
    """Give budget left in a year (after :func:`spread` lowered some totals) to
    the cells that gain most from one more unit that year, keeping steps ≤ 1 and
    caps; ``gain(totals)`` → marginal value of one more unit per cell. In place;
    returns units added."""
    Y = quotas.shape[1]
    added = 0
    for _ in range(Y):
        room = hard - np.array([np.bincount(group, weights=quotas[:, y], minlength=hard.shape[0])
                                for y in range(Y)]).T.astype(np.int64)
        if not (room > 0).any():
            break
        before = added
        for y in range(Y - 1, -1, -1):
            if not (room[:, y] > 0).any():
                continue
            up = quotas[:, y] + 1
            ok = (up <= caps[:, y]) & (room[group, y] > 0)
            if y > 0:
                ok &= up - quotas[:, y - 1] <= 1
            if y < Y - 1:
                ok &= up - quotas[:, y + 1] <= 1
            g = np.where(ok, gain(quotas.sum(axis=1)), -np.inf)
            cand = np.flatnonzero(g > 0)
            if cand.size == 0:
                continue
            cand = cand[np.lexsort((-g[cand], group[cand]))]
            first = np.searchsorted(group[cand], group[cand])
            take = cand[np.arange(cand.size) - first < room[group[cand], y]]
            quotas[take, y] += 1
            room[:, y] -= np.bincount(group[take], minlength=hard.shape[0])
            added += take.size
        if added == before:
            break
    return added


# ------------------------------------------------------------------- checks


def check_plan(quotas, unit, budgets, *, floors=None, caps=None, pool: bool = False,
               max_cell_step: int = 1, max_unit_change: float = 0.2) -> dict:
    """The rules a plan must keep → dict rule → number of breaches (all 0 when kept).

    ``unit_change`` counts unit-years whose total moves by more than
    ``max(1, max_unit_change · previous total)`` where the unit's own budgets do not.
    """
    q = np.asarray(quotas, dtype=np.int64)
    unit, budgets = _unit_arrays(unit, budgets, q.shape[0])
    U, Y = budgets.shape
    uq = np.zeros((U, Y), np.int64)
    np.add.at(uq, unit, q)
    out = {"negative": int((q < 0).sum()),
           "cell_step": int((np.abs(np.diff(q, axis=1)) > max_cell_step).sum())}
    out["budget"] = int((uq.sum(axis=0) > budgets.sum(axis=0)).sum()) if pool else int((uq > budgets).sum())
    allowed = np.maximum(1.0, max_unit_change * uq[:, :-1]) + 1e-9
    own = np.abs(np.diff(budgets, axis=1)) > np.maximum(1.0, max_unit_change * budgets[:, :-1]) + 1e-9
    out["unit_change"] = int(((np.abs(np.diff(uq, axis=1)) > allowed) & ~own).sum())
    if floors is not None:
        out["floor"] = int((q.sum(axis=1) < np.asarray(floors)).sum())
    if caps is not None:
        out["cap"] = int((q > np.asarray(caps)).sum())
    return out
