"""Distributions of sums over groups of cells, from the cells' own (:mod:`nq21model.engine`):
a unit's total local members (:func:`total_pmf`, :func:`total_quantiles_groups`) and
the number of its cells that reach a threshold — the Poisson-binomial, exact or by its
normal approximation for thousands of cells (:func:`share_reach_groups`,
:func:`count_cdf`), mixed over parameter draws.
"""
from __future__ import annotations

import math

import numpy as np

from .engine import _SURE, _TIE, _log_binomial_pgf, _on_every_core, fft_lengths, quantiles_from_pmf

__all__ = [
    "Groups", "total_pmf", "total_quantiles_groups", "poisson_binomial_pmf", "cells_needed", "prob_count_at_least",
    "share_reach_groups", "normal_cdf", "count_cdf", "EXACT_CELLS", "SURVIVAL_CLASSES",
]


#: Survival classes a total's binomial parts are grouped into, in every draw (on the
#: bundled data's units and province, 1, 4 and 64 classes give the same 80 % bands:
#: the spread between parameter draws dominates).
SURVIVAL_CLASSES = 4


def _survival_classes(p: np.ndarray, n0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(D, C) survivals and members of the binomial parts of a total in each draw:
    the cells ordered by survival and cut into at most :data:`SURVIVAL_CLASSES`
    classes of about equal members, each at its member-weighted mean survival (the
    total's mean is kept exactly; its variance moves by Σ n0 (p − p̄)², a few
    millionths of it; with at most that many cells, each cell is its own class)."""
    D, n = p.shape
    if n <= SURVIVAL_CLASSES:
        return p, np.broadcast_to(n0.astype(float), p.shape)
    order = np.argsort(p, axis=1)
    ps = np.take_along_axis(p, order, axis=1)
    ns = n0[order].astype(float)
    new = np.concatenate([np.ones((D, 1), bool), np.diff(ps, axis=1) > 0], axis=1)
    if new.sum(axis=1).max() <= SURVIVAL_CLASSES:   # few distinct survivals: each its own class (exact)
        cls = np.cumsum(new, axis=1) - 1
    else:
        cum = np.cumsum(ns, axis=1)
        total = np.maximum(cum[:, -1:], 1e-300)
        cls = np.minimum(((cum - ns / 2) * SURVIVAL_CLASSES // total), SURVIVAL_CLASSES - 1).astype(np.int64)
    flat = cls + SURVIVAL_CLASSES * np.arange(D)[:, None]
    members = np.bincount(flat.ravel(), weights=ns.ravel(), minlength=D * SURVIVAL_CLASSES)
    weighted = np.bincount(flat.ravel(), weights=(ns * ps).ravel(), minlength=D * SURVIVAL_CLASSES)
    members = members.reshape(D, SURVIVAL_CLASSES)
    mean = weighted.reshape(D, SURVIVAL_CLASSES) / np.maximum(members, 1e-300)
    return mean, members


class Groups:
    """Cells of several groups (index arrays, which may overlap) for sums by group:
    ``flat`` every group's cells one group after the other, ``labels`` the group of each."""

    def __init__(self, idxs: list[np.ndarray]):
        self.sizes = np.array([len(i) for i in idxs], dtype=np.int64)
        self.flat = np.concatenate(idxs).astype(np.int64) if idxs else np.array([], np.int64)
        self.labels = np.repeat(np.arange(len(idxs)), self.sizes)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Each group's sum of ``values`` (one per cell)."""
        return np.bincount(self.labels, weights=values[self.flat], minlength=len(self.sizes))


def total_pmf(n0, p, mu) -> tuple[int, np.ndarray]:
    """Exact pmf of the total of independent cells (mixed over parameter draws), on a
    window that holds its mass.

    Returns ``(offset, pmf)`` with ``pmf[j] = P(total = offset + j)``. Given each draw,
    the binomial parts are grouped by survival (:func:`_survival_classes`), the PGF
    evaluated on roots of unity of a window of ±(10 sd + 25) around that draw's mean
    (so a wide spread of means between draws costs nothing), inverted, and added
    into the common window.
    """
    n0 = np.asarray(n0, dtype=np.int64)
    p = np.atleast_2d(np.asarray(p, dtype=float))
    mu = np.atleast_2d(np.asarray(mu, dtype=float))
    D = p.shape[0]
    means = (n0 * p).sum(axis=1) + mu.sum(axis=1)
    sds = np.sqrt((n0 * p * (1 - p)).sum(axis=1) + mu.sum(axis=1))
    mu_tot = mu.sum(axis=1)
    support_end = n0.sum() + mu_tot + 10 * np.sqrt(mu_tot) + 25                   # per draw
    width = np.minimum(support_end, 2 * (10 * sds + 25))
    size = int(2 ** math.ceil(math.log2(width.max() + 2)))
    starts = np.where(support_end < size, 0, np.maximum(0, np.floor(means - size / 2))).astype(np.int64)
    offset = int(starts.min())
    z = np.exp(-2j * np.pi * np.arange(size // 2 + 1) / size)
    values, counts = _survival_classes(p, n0)
    log_g = mu_tot[:, None] * (z - 1.0)
    for start in range(0, values.shape[1], 16):
        v = values[:, start:start + 16, None]
        c = counts[:, start:start + 16, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            term = c * _log_binomial_pgf(v, size)
        log_g = log_g + np.where(c > 0, term, 0.0).sum(axis=1)
    pmf = np.clip(np.fft.irfft(np.exp(log_g), n=size, axis=1), 0.0, None)     # (D, size)
    rows = (np.arange(size)[None, :] + starts[:, None]) % size                  # unwrap each draw's window
    pmf = np.take_along_axis(pmf, rows, axis=1)
    acc = np.zeros(int(starts.max() - offset) + size)
    np.add.at(acc, (starts[:, None] - offset + np.arange(size)[None, :]).ravel(), pmf.ravel())
    return offset, acc / D


def poisson_binomial_pmf(probs) -> np.ndarray:
    """pmf of the number of successes among independent trials with ``probs``.

    Product of the trials' PGFs by a binary tree of FFT multiplications,
    O(n log² n). ``probs`` (n,) gives an array of length n + 1; (m, n) gives one
    row per set of trials, (m, n + 1).
    """
    probs = np.asarray(probs, dtype=float)
    single = probs.ndim == 1
    probs = np.atleast_2d(probs)
    m, n = probs.shape
    if n == 0:
        out = np.ones((m, 1))
        return out[0] if single else out
    leaves = 1 << (n - 1).bit_length() if n > 1 else 1
    polys = np.zeros((m, leaves, 2))
    polys[:, :, 0] = 1.0
    polys[:, :n, 0] = 1.0 - probs
    polys[:, :n, 1] = probs
    while polys.shape[1] > 1:
        # Two polynomials of degree d = 2^j multiply into one of degree 2d; an FFT of
        # size 2d (a power of two) wraps only the top coefficient onto the constant
        # one, and the top coefficient is the product of the two tops: unwrap it.
        degree = polys.shape[2] - 1
        left, right = polys[:, 0::2], polys[:, 1::2]
        f = np.fft.rfft(left, n=2 * degree, axis=2) * np.fft.rfft(right, n=2 * degree, axis=2)
        product = np.fft.irfft(f, n=2 * degree, axis=2)
        top = left[:, :, -1] * right[:, :, -1]
        product[:, :, 0] -= top
        polys = np.concatenate([product, top[:, :, None]], axis=2)
    out = np.clip(polys[:, 0, : n + 1], 0.0, 1.0)
    return out[0] if single else out


def cells_needed(share: float, n: int) -> int:
    """Cells that make ``share`` of ``n`` (ceil, safe against float noise: 95 % of 20 is 19)."""
    return math.ceil(share * n - 1e-9)


def prob_count_at_least(probs, share: float):
    """P(share of cells that succeed ≥ ``share``) for independent cells (Poisson-binomial):
    :func:`share_reach_groups` of one group. ``probs`` (n,) gives a float; (m, n) gives
    an array of m probabilities."""
    probs = np.asarray(probs, dtype=float)
    out = share_reach_groups(probs, [np.arange(probs.shape[-1])], share)[0]
    return float(out[0]) if probs.ndim == 1 else out


#: Groups with more uncertain cells than this use the normal approximation of the
#: Poisson-binomial (with continuity correction; its error is far below 1e-3 there).
EXACT_CELLS = 4096

#: Values of the failures' distributions :func:`share_reach_groups` builds at once
#: (groups × rows × cells: 16 MB a batch of a calibrated forecast's many draws).
REACH_BATCH = 2_000_000


def share_reach_groups(probs, groups, share: float) -> np.ndarray:
    """P(share of a group's cells that succeed ≥ ``share``) for m sets of independent
    cell probabilities at once → (len(groups), m).

    ``probs`` (m, n), e.g. one row per parameter draw; the caller averages over draws
    (a mixture). Cells certain in every row are counted, not convolved. A group
    reaches the share when at most ``allowed`` of its uncertain cells fail (5 % of a
    district's cells: a handful), so the number of failures is built cell by cell —
    ``f[j] ← f[j]·p + f[j−1]·(1 − p)`` — cut at ``allowed + 1`` terms: exact, a few
    operations a cell for every group and row at once (an FFT of the whole
    Poisson-binomial did eight times the work with parameter draws). A group that may
    lose more than log2(width)² cells (most of its cells certain) takes the FFT tree
    (:func:`poisson_binomial_pmf`), less work there. Groups of more than
    :data:`EXACT_CELLS` uncertain cells use the normal approximation.
    """
    probs = np.atleast_2d(np.asarray(probs, dtype=float))
    m = probs.shape[0]
    groups = [np.asarray(g, dtype=np.int64) for g in groups]
    parts = Groups(groups)
    sizes, flat, labels = parts.sizes, parts.flat, parts.labels
    sure = (probs >= 1.0 - _SURE).all(axis=0)[flat]
    keep = ~sure & (probs > _SURE).any(axis=0)[flat]
    needed = np.array([cells_needed(share, int(n)) for n in sizes], dtype=np.int64) \
        - np.bincount(labels[sure], minlength=len(groups))
    kept = np.bincount(labels[keep], minlength=len(groups))
    out = np.zeros((len(groups), m))
    out[needed <= 0] = 1.0
    open_ = (needed > 0) & (needed <= kept)
    for g in np.flatnonzero(open_ & (kept > EXACT_CELLS)):
        sub = probs[:, flat[keep & (labels == g)]]
        mean, sd = sub.sum(axis=1), np.sqrt((sub * (1 - sub)).sum(axis=1))
        out[g] = normal_cdf((mean - (needed[g] - 0.5)) / np.maximum(sd, 1e-12))
    exact = np.flatnonzero(open_ & (kept <= EXACT_CELLS))
    widths = 1 << np.ceil(np.log2(np.maximum(kept[exact], 2))).astype(np.int64)
    tree = (kept[exact] - needed[exact] + 1) > np.log2(widths) ** 2  # many failures allowed: the FFT tree is less work
    for width in np.unique(widths[tree]):
        items = exact[tree & (widths == width)]
        batch = np.zeros((items.size * m, int(width)))
        for j, g in enumerate(items):
            batch[j * m:(j + 1) * m, :kept[g]] = probs[:, flat[keep & (labels == g)]]
        pmf = poisson_binomial_pmf(batch)
        for j, g in enumerate(items):
            out[g] = np.minimum(1.0, pmf[j * m:(j + 1) * m, needed[g]:].sum(axis=1))
    exact = exact[~tree]
    order = exact[np.argsort(-kept[exact], kind="stable")]  # most uncertain cells first
    if order.size:
        cells, owner = flat[keep], labels[keep]
        position = np.arange(cells.size) - (np.cumsum(kept) - kept)[owner]  # within its group (flat is by group)
    start = 0
    while start < order.size:
        stop = start + max(1, REACH_BATCH // (int(kept[order[start]]) * m))
        batch = order[start:stop]
        out[batch] = _failures_at_most(probs, batch, kept, needed, cells, owner, position, len(groups))
        start = stop
    return out


def _failures_at_most(probs, batch, kept, needed, cells, owner, position, n_groups) -> np.ndarray:
    """P(at most kept − needed failures) of the groups of ``batch`` (most uncertain
    cells first) → (batch, m): :func:`share_reach_groups`' exact part."""
    m = probs.shape[0]
    slot = np.full(n_groups, -1)
    slot[batch] = np.arange(batch.size)
    mine = slot[owner] >= 0
    length = int(kept[batch[0]])
    q = np.zeros((length, batch.size, m))  # a cell's failure, position by position; 0 past a group's end
    q[position[mine], slot[owner[mine]]] = 1.0 - probs[:, cells[mine]].T
    q = q.reshape(length, batch.size * m)
    rows = np.repeat(kept[batch], m)  # descending: the rows still going at position l come first
    going = rows.size - np.searchsorted(rows[::-1], np.arange(length), side="right")
    allowed = np.repeat(kept[batch] - needed[batch], m)
    f = np.zeros((int(allowed.max()) + 1, rows.size))
    f[0] = 1.0
    fail = np.empty_like(f)
    for l in range(length):
        n = going[l]
        ql, fl, tl = q[l, :n], f[:, :n], fail[:, :n]
        np.multiply(fl, ql, out=tl)
        fl *= 1.0 - ql
        fl[1:] += tl[:-1]
    reach = np.cumsum(f, axis=0)[allowed, np.arange(rows.size)]
    return np.minimum(1.0, reach).reshape(batch.size, m)


_ERFC = np.frompyfunc(math.erfc, 1, 1)


def normal_cdf(x) -> np.ndarray:
    """Φ(x), the standard normal CDF, as ``erfc(−x/√2)/2`` to double precision in
    both tails (one ``math.erfc`` a value: the arrays here hold a group's draws, and
    scipy's import would cost a fixed-rate forecast a tenth of a second)."""
    x = np.asarray(x, dtype=float)
    return 0.5 * _ERFC(-x / math.sqrt(2.0)).astype(float)


def count_cdf(probs) -> tuple[int, np.ndarray]:
    """CDF of the number of successes among independent cells, mixed over the rows
    of ``probs`` (D, n) (parameter draws) → ``(offset, cdf)`` with ``cdf[j] = P(count ≤
    offset + j)``: exact (Poisson-binomial) up to :data:`EXACT_CELLS` cells, else the
    mixture of each draw's normal approximation (continuity-corrected) on a window
    holding the mass."""
    probs = np.atleast_2d(np.asarray(probs, dtype=float))
    n = probs.shape[1]
    if n <= EXACT_CELLS:
        return 0, np.cumsum(poisson_binomial_pmf(probs).mean(axis=0))
    mean, sd = probs.sum(axis=1), np.sqrt((probs * (1 - probs)).sum(axis=1))
    lo = max(0, int(np.floor((mean - 10 * sd - 5).min())))
    hi = min(n, int(np.ceil((mean + 10 * sd + 5).max())))
    k = np.arange(lo, hi + 1)
    cdf = normal_cdf((k[None, :] + 0.5 - mean[:, None]) / np.maximum(sd[:, None], 1e-12)).mean(axis=0)
    return lo, cdf


def total_quantiles_groups(n0, p, mu, groups, levels) -> np.ndarray:
    """Quantiles of the total of each group of cells → array (len(groups), len(levels)).

    With one set of rates and one survival for every cell (the fixed-rate scenario)
    a group's total is exactly ``Binomial(Σ n0, p) + Poisson(Σ mu)``: all groups are
    done in one batched transform. Otherwise each group goes through :func:`total_pmf`.
    """
    n0 = np.asarray(n0, dtype=np.int64)
    p = np.atleast_2d(np.asarray(p, dtype=float))
    mu = np.atleast_2d(np.asarray(mu, dtype=float))
    cells = np.arange(n0.size)
    groups = [np.atleast_1d(cells[idx]) for idx in groups]  # positions, whatever indexes them (a mask, a list)
    out = np.empty((len(groups), len(levels)), dtype=np.int64)
    if p.shape[0] != 1 or p.size == 0 or not np.all(p == p[0, 0]):
        def group_quantiles(part):  # each writes its own groups' rows, on every core
            for g in part:
                offset, pmf = total_pmf(n0[groups[g]], p[:, groups[g]], mu[:, groups[g]])
                out[g] = quantiles_from_pmf(pmf, levels, offset=offset)[0]

        _on_every_core(group_quantiles, [range(start, min(start + 64, len(groups)))
                                         for start in range(0, len(groups), 64)])
        return out
    prob = float(p[0, 0])
    parts = Groups(groups)  # each group's sums at once
    n_tot, mu_tot = parts.sum(n0), parts.sum(mu[0])
    mean = n_tot * prob + mu_tot
    sd = np.sqrt(n_tot * prob * (1 - prob) + mu_tot)
    end = n_tot + mu_tot + 10 * np.sqrt(mu_tot) + 25          # past every group's support
    width = np.minimum(end, 2 * (10 * sd + 25))                 # or a window of ±(10 sd + 25)
    sizes = fft_lengths(width + 2)  # each group's transform: as short as it can be
    for size in np.unique(sizes):
        part = np.flatnonzero(sizes == size)
        offset = np.where(end[part] < size, 0, np.maximum(0, np.floor(mean[part] - size / 2))).astype(np.int64)
        z = np.exp(-2j * np.pi * np.arange(size // 2 + 1) / size)
        with np.errstate(divide="ignore"):
            log_binom = np.log((1.0 - prob) + prob * z)
        g = np.exp(n_tot[part, None] * log_binom + mu_tot[part, None] * (z - 1.0))
        pmf = np.clip(np.fft.irfft(g, n=size, axis=1), 0.0, None)
        rows = (offset[:, None] + np.arange(size)) % size             # unwrap each group's window
        cdf = np.cumsum(np.take_along_axis(pmf, rows, axis=1), axis=1)
        for j, level in enumerate(levels):
            out[part, j] = np.argmax(cdf >= level - _TIE, axis=1) + offset
    return out
