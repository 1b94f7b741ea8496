"""Exact distributions of the process of MODEL.md §2, vectorised over cells.

From base year B to horizon T a cell with ``n0`` local members, a yearly survival
``s`` and Poisson admissions ``lam[y]`` ends with

    N_T = Binomial(n0, s**(T-B)) + Poisson(sum_y lam[y] * s**(T-y)).

The pmf of that sum has the probability generating function
``G(z) = (1 - p + p z)**n0 * exp(mu (z - 1))``; evaluating ``G`` on the M-th roots of
unity and inverting with a real FFT gives the pmf exactly up to rounding (~1e-15)
and a wrap-around of the mass above M, which the choice of M keeps below 1e-20.
No sampling, no randomness.

Parameter uncertainty enters as a leading "draws" axis on ``p`` and ``mu``: the
pmfs are averaged over it (a mixture).
"""
from __future__ import annotations

import functools
import math

import numpy as np

#: Sums over groups of cells (a unit's total, the cells that reach a threshold) are
#: :mod:`nq21model.engine_groups`.
__all__ = ["horizon_parameters", "binomial_poisson_pmf", "low_tails", "summarise_cells", "cell_quantiles",
           "quantiles_from_pmf", "LARGE_CELL_DRAWS", "QUANTILE_DRAWS"]

_TIE = 1e-9  # a CDF within this of a quantile level counts as reaching it
_SURE = 1e-15  # a trial this close to certain counts as certain in Poisson-binomials


def horizon_parameters(survival: np.ndarray, lam: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Survival to the horizon and Poisson mean of the admitted still present.

    Parameters
    ----------
    survival : array (..., n)
        Yearly survival of each cell.
    lam : array (..., n, Y)
        Admissions' Poisson mean of each cell for the years B+1, B+2, ...; at least
        ``steps`` years.
    steps : int
        T - B, years from base to horizon (≥ 1).

    Returns
    -------
    p : array (..., n)   ``s ** steps``
    mu : array (..., n)  ``sum_{j=1..steps} lam[j] * s ** (steps - j)``
    """
    survival = np.asarray(survival, dtype=float)
    lam = np.asarray(lam, dtype=float)[..., :steps]
    if survival.size and (survival == survival.flat[0]).all():  # one survival for all (fixed rates): its powers
        one = survival.reshape(-1)[:1]
        return np.broadcast_to(one ** steps, survival.shape).copy(), \
            (lam * (one[:, None] ** np.arange(steps - 1, -1, -1))[0]).sum(axis=-1)
    powers = survival[..., None] ** np.arange(steps - 1, -1, -1)
    return survival ** steps, (lam * powers).sum(axis=-1)


def _log_binomial_pgf(p: np.ndarray, size: int) -> np.ndarray:
    """``log(1 − p + p z)`` at the roots of unity ``z = exp(−2πi j/size)``,
    j = 0 … size/2, for each p (…, 1) → (…, size/2 + 1). Real logarithm and arctan2
    of the real and imaginary parts: an order of magnitude faster than numpy's complex
    log, the same to 1e-14."""
    theta = 2.0 * np.pi * np.arange(size // 2 + 1) / size
    re = 1.0 + p * (np.cos(theta) - 1.0)
    im = -p * np.sin(theta)
    with np.errstate(divide="ignore"):
        return 0.5 * np.log(re * re + im * im) + 1j * np.arctan2(im, re)


#: FFT lengths: the numbers 2^a 3^b 5^c from 32 to 2^24, all fast for numpy's FFT —
#: within a tenth above any support, where a power of two was up to twice its length
#: (above 2^24, a power of two).
_FFT_SIZES = np.array(sorted({2 ** a * 3 ** b * 5 ** c for a in range(25) for b in range(16) for c in range(11)
                              if 32 <= 2 ** a * 3 ** b * 5 ** c <= 2 ** 24}), dtype=np.int64)


def fft_lengths(need) -> np.ndarray:
    """The first of :data:`_FFT_SIZES` at or above each ``need`` (a power of two
    above them): by a table of the first lengths up to 2^16, where most needs are."""
    need = np.ceil(np.asarray(need, dtype=float))
    table = _first_lengths()
    beyond = ~(need < table.size)  # and a need that is not a number, as a search puts it: last
    out = np.asarray(table[np.maximum(np.where(beyond, 0, need), 0).astype(np.int64)])
    if beyond.any():
        at = np.searchsorted(_FFT_SIZES, need[beyond])
        out[beyond] = np.where(at < _FFT_SIZES.size, _FFT_SIZES[np.minimum(at, _FFT_SIZES.size - 1)],
                               2 ** np.ceil(np.log2(need[beyond])))
    return out


@functools.lru_cache(maxsize=1)
def _first_lengths() -> np.ndarray:
    """The first of :data:`_FFT_SIZES` at or above each whole number to 2^16."""
    table = _FFT_SIZES[np.searchsorted(_FFT_SIZES, np.arange(2 ** 16 + 1))]
    table.flags.writeable = False
    return table


def _poisson_end(mu):
    """Where Poisson(mu)'s mass ends (of each mean): above it, less than 1e-18."""
    return mu + 8.0 * np.sqrt(mu) + 15.0


def _size_for(n0: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """FFT length per cell: :func:`fft_lengths` above the support's practical end."""
    return fft_lengths(n0 + _poisson_end(mu) + 1)


def _pgf_pmf(n0: np.ndarray, p: np.ndarray, mu: np.ndarray, size: int, clip: bool = True) -> np.ndarray:
    """pmf (…, size) of Binomial(n0, p) + Poisson(mu) by the PGF on roots of unity.

    Where the distinct (p, n0) are few beside the cells (one survival for all, members
    a few dozen) and the means at most :data:`POISSON_PMF_MEAN`, the binomial part
    ``(1 − p + p z)**n0`` is made once for each and the Poisson part is the real FFT
    of its pmf: a third of the work of a complex exponential a value,
    ``exp(n0 log(1 − p + p z) + mu (z − 1))``, as otherwise."""
    n0 = np.asarray(n0, dtype=np.int64)
    p, mu = np.asarray(p, dtype=float), np.asarray(mu, dtype=float)
    shape = np.broadcast_shapes(n0.shape, p.shape, mu.shape)
    if not math.prod(shape):
        return np.zeros(shape + (size,))
    (p_values, p_at), (n_values, n_at) = _distinct(p), _distinct(n0)  # before broadcasting: fewer values
    n0, p, mu, p_at, n_at = (np.broadcast_to(a, shape) for a in (n0, p, mu, p_at, n_at))
    top = mu.max()
    logs = _log_binomial_pgf(p_values[:, None], size)  # one row per distinct p
    with np.errstate(divide="ignore", invalid="ignore"):
        if 2 * p_values.size * n_values.size <= p.size and top <= POISSON_PMF_MEAN:
            powers = np.exp(logs[:, None, :] * n_values[:, None])
            powers[:, n_values == 0] = 1.0  # no members: no binomial part (0·log 0)
            g = powers[p_at, n_at]
            g *= np.fft.rfft(_poisson_pmf(mu, min(size, int(_poisson_end(top)) + 1)), n=size, axis=-1)
        else:
            g = logs[p_at]  # log G, built in place: these arrays are large
            g *= n0[..., None]
            g[n0 == 0] = 0.0
            g += mu[..., None] * (np.exp(-2j * np.pi * np.arange(size // 2 + 1) / size) - 1.0)
            np.exp(g, out=g)
    pmf = np.fft.irfft(g, n=size, axis=-1)
    return np.clip(pmf, 0.0, None) if clip else pmf


#: Up to this Poisson mean :func:`_pgf_pmf` may take the Poisson factor from the pmf
#: (its logarithm's terms, k log μ, μ and log k!, lose 1e-16 of their size: within
#: 1e-14 of the exponential's up to here; a cell's admissions are a few a year).
POISSON_PMF_MEAN = 200.0


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, each value's place among them) — ``np.unique``'s,
    without its sort where it can: one value (a survival for all), or counts that
    are small whole numbers."""
    if values.size and (values == values.flat[0]).all():
        return values.reshape(-1)[:1].copy(), np.zeros(values.shape, dtype=np.intp)
    if values.dtype.kind == "i" and values.size and 0 <= values.min() and values.max() <= 4 * values.size:
        present = np.bincount(values.reshape(-1)) > 0
        return np.flatnonzero(present), (np.cumsum(present) - 1)[values]
    found, at = np.unique(values, return_inverse=True)
    return found, at.reshape(values.shape)


def _poisson_pmf(mu: np.ndarray, size: int) -> np.ndarray:
    """P(Poisson(mu) = k) for k < size → (…, size), as ``exp(k log mu − mu − log k!)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pmf = np.log(mu)[..., None] * np.arange(size)
    pmf -= mu[..., None]
    pmf -= _log_factorials(size)
    np.exp(pmf, out=pmf)
    pmf[..., 0] = np.exp(-mu)  # 0 · log 0 for mu = 0
    return pmf


@functools.lru_cache(maxsize=64)
def _log_factorials(size: int) -> np.ndarray:
    """log k! for k < size: ``math.lgamma`` to 63, then Stirling's series (its next
    term is below 1e-16 there)."""
    small = min(size, 64)
    out = np.empty(size)
    out[:small] = [math.lgamma(k + 1.0) for k in range(small)]
    x = np.arange(small, size, dtype=float) + 1.0
    out[small:] = ((x - 0.5) * np.log(x) - x + 0.5 * math.log(2.0 * math.pi)
                   + 1.0 / (12.0 * x) - 1.0 / (360.0 * x ** 3) + 1.0 / (1260.0 * x ** 5))
    out.flags.writeable = False
    return out


def binomial_poisson_pmf(n0, p, mu, size: int | None = None) -> np.ndarray:
    """Exact pmf of ``Binomial(n0, p) + Poisson(mu)`` for each cell.

    Parameters
    ----------
    n0 : int array (n,)
    p, mu : float arrays (n,) or (D, n); a leading draws axis is averaged over.
    size : int, optional
        Length of the returned pmf; default large enough for every cell.

    Returns
    -------
    array (n, size): ``pmf[i, k] = P(N_i = k)``.
    """
    n0 = np.asarray(n0, dtype=np.int64)
    p = np.atleast_2d(np.asarray(p, dtype=float))
    mu = np.atleast_2d(np.asarray(mu, dtype=float))
    need = int(_size_for(n0, mu.max(axis=0)).max()) if n0.size else 32
    fft_size = max(need, 32 if size is None else 2 ** math.ceil(math.log2(max(size, 2))))
    pmf = _pgf_pmf(n0, p, mu, fft_size).mean(axis=0)
    return pmf[:, : (size or fft_size)]


def quantiles_from_pmf(pmf: np.ndarray, levels, offset: int = 0) -> np.ndarray:
    """Smallest k with P(N ≤ k) ≥ level, for each row and level → (rows, levels)."""
    cdf = np.cumsum(np.atleast_2d(pmf), axis=-1)
    out = np.empty((cdf.shape[0], len(levels)), dtype=np.int64)
    for j, level in enumerate(levels):
        out[:, j] = np.argmax(cdf >= level - _TIE, axis=-1) + offset
    return out


#: Above this many cell-draws, a cell's quantiles come from :data:`QUANTILE_DRAWS`
#: of the draws (its probabilities, from every draw, stay exact).
LARGE_CELL_DRAWS = 4_000_000
QUANTILE_DRAWS = 32


def thinned_draws(draws: int, size: int = None) -> np.ndarray:
    """Indices of ``size`` (default :data:`QUANTILE_DRAWS`) of ``draws`` parameter draws,
    evenly spaced over the first half with each one's antithetic partner in the second
    (the calibration draws its normals in pairs: ``flows.antithetic_normal``), so that a
    thinned mean keeps the pairs' steadiness; evenly spaced when the draws are odd."""
    size = QUANTILE_DRAWS if size is None else size
    half = draws // 2
    if draws % 2 or size < 2 or half < size // 2 + 1:
        return np.linspace(0, draws - 1, min(size, draws)).round().astype(int)
    first = np.linspace(0, half - 1, size // 2).round().astype(int)
    odd = [] if size % 2 == 0 else [int(np.setdiff1d(np.arange(half), first)[0])]  # an odd size: one unpaired
    return np.concatenate([first, first + half, odd]).astype(int)


def low_tails(n0, p, mu, kmax: int, *, chunk_elements: int = 500_000) -> np.ndarray:
    """``P(N ≤ k)`` for k = 0 … kmax of ``Binomial(n0, p) + Poisson(mu)``, directly
    (sums of products of the two pmfs: exact, no transform) → array (..., kmax + 1)
    for ``p``, ``mu`` of shape (..., n).

    Each pmf from its first term by the ratio of consecutive terms —
    ``b_{j+1} = b_j (n0 − j)/(j + 1) · p/(1 − p)``, ``π_{j+1} = π_j μ/(j + 1)`` — a few
    multiplications where log-gamma functions took most of a forecast's time; terms
    below 1e-300 (a cell with hundreds of members) come out as 0, as they did. Large
    arrays go by chunks of cells of about ``chunk_elements`` values, on every core."""
    n0 = np.asarray(n0, dtype=float)
    p = np.asarray(p, dtype=float)
    mu = np.asarray(mu, dtype=float)
    shape = np.broadcast_shapes(n0.shape, p.shape, mu.shape)
    n0, p, mu = (np.broadcast_to(a, shape) for a in (n0, p, mu))
    if not shape:  # one cell given as numbers
        return _low_tails(n0[None], p[None], mu[None], kmax)[0]
    if math.prod(shape) * (kmax + 1) <= chunk_elements:
        return _low_tails(n0, p, mu, kmax)
    out = np.empty(shape + (kmax + 1,))
    step = max(1, chunk_elements // (math.prod(shape[:-1]) * (kmax + 1)))

    def chunk_tails(part):  # each chunk writes its own cells
        out[..., part, :] = _low_tails(n0[..., part], p[..., part], mu[..., part], kmax)

    _on_every_core(chunk_tails, [slice(start, start + step) for start in range(0, shape[-1], step)])
    return out


def _low_tails(n0: np.ndarray, p: np.ndarray, mu: np.ndarray, kmax: int) -> np.ndarray:
    """:func:`low_tails` of arrays of one shape, at once: each term of the two pmfs
    and of their sums a whole array (the terms side by side were four times slower)."""
    shape = p.shape
    certain = p >= 1.0  # every member stays: exactly n0 of them
    q = np.where(certain, 1.0, 1.0 - p)
    odds = np.where(certain, 0.0, p / q)
    binom = np.empty((kmax + 1,) + shape)
    pois = np.empty((kmax + 1,) + shape)
    with np.errstate(under="ignore"):
        binom[0] = np.where(certain, n0 == 0, q ** n0)
        pois[0] = np.exp(-mu)
        for j in range(kmax):
            np.multiply(binom[j], np.maximum(n0 - j, 0.0) / (j + 1), out=binom[j + 1])
            binom[j + 1] *= odds
            np.multiply(pois[j], mu / (j + 1), out=pois[j + 1])
    if certain.any():
        for j in range(kmax + 1):
            binom[j][certain] = n0[certain] == j
    cdf = np.empty(shape + (kmax + 1,))
    term = np.empty(shape)
    for k in range(kmax + 1):
        total = binom[0] * pois[k]  # P(N = k), then P(N ≤ k)
        for j in range(1, k + 1):
            total += np.multiply(binom[j], pois[k - j], out=term)
        if k:
            total += cdf[..., k - 1]
        cdf[..., k] = total
    return np.clip(cdf, 0.0, 1.0)


def summarise_cells(n0, p, mu, *, thresholds=(3, 4, 5), levels=(0.1, 0.5, 0.9),
                    chunk_elements: int = 500_000, per_draw: bool = False) -> dict[str, np.ndarray]:
    """Per-cell summary of the exact distribution at one horizon.

    Parameters
    ----------
    n0 : int array (n,)
        Local members at the base year.
    p, mu : float arrays (n,) or (D, n)
        Survival to the horizon and Poisson mean (see :func:`horizon_parameters`);
        with a draws axis the distribution is the mixture over draws.
    chunk_elements : int
        Values of the low tails computed at once (cells × draws × thresholds); the
        quantiles go in :func:`cell_quantiles`' own chunks.
    per_draw : bool
        Also return ``draws_at_least_{k}`` and ``draws_zero`` (D, n): P(≥ k) and
        P(0) given each draw (what the probability that a share of cells reaches a
        target mixes over).

    Returns
    -------
    dict with arrays (n,): ``expected`` (exact, from the moments), ``p_zero``,
    ``p_at_least_{k}`` (exact: :func:`low_tails` of every draw), ``q10``, ``q50``,
    ``q90`` (for the default levels; keys ``q{round(100*level)}``: the mixture's
    quantiles by the transform of every draw — of :data:`QUANTILE_DRAWS` draws
    (:func:`thinned_draws`) when there are more than :data:`LARGE_CELL_DRAWS` cell-draws).
    """
    n0 = np.asarray(n0, dtype=np.int64)
    p = np.atleast_2d(np.asarray(p, dtype=float))
    mu = np.atleast_2d(np.asarray(mu, dtype=float))
    kmax = max(thresholds)
    out = {"expected": (n0 * p + mu).mean(axis=0)}
    tails = low_tails(n0, p, mu, kmax, chunk_elements=chunk_elements)         # (D, n, kmax + 1)
    low = tails.mean(axis=0)
    out["p_zero"] = low[:, 0]
    for k in thresholds:
        out[f"p_at_least_{k}"] = np.clip(1.0 - low[:, k - 1], 0.0, 1.0)
        if per_draw:
            out[f"draws_at_least_{k}"] = 1.0 - tails[:, :, k - 1]
    if per_draw:
        out["draws_zero"] = tails[:, :, 0]
    if levels:
        out.update(cell_quantiles(n0, p, mu, levels=levels))
    return out


def cell_quantiles(n0, p, mu, *, levels=(0.1, 0.5, 0.9), chunk_elements: int = 250_000) -> dict[str, np.ndarray]:
    """Each cell's quantiles of its local members at one horizon: ``q{round(100*level)}``
    (n,), the smallest k whose mixture CDF reaches the level, by the transform of every
    draw (of :data:`QUANTILE_DRAWS` draws, :func:`thinned_draws`, above :data:`LARGE_CELL_DRAWS`
    cell-draws). The cells go in chunks of about ``chunk_elements`` transform values
    (they stay in cache), on every core (:func:`_on_every_core`). Other arguments as
    :func:`summarise_cells`'."""
    n0 = np.asarray(n0, dtype=np.int64)
    p = np.atleast_2d(np.asarray(p, dtype=float))
    mu = np.atleast_2d(np.asarray(mu, dtype=float))
    if p.shape[0] * n0.size > LARGE_CELL_DRAWS:
        pick = thinned_draws(p.shape[0])
        p, mu = p[pick], mu[pick]
    quant = np.zeros((n0.size, len(levels)), dtype=np.int64)
    sizes = _size_for(n0, mu.max(axis=0))
    chunks = []
    for size in np.unique(sizes):
        idx = np.flatnonzero(sizes == size)
        step = max(1, chunk_elements // (p.shape[0] * (size // 2 + 1)))
        chunks += [(int(size), idx[start:start + step]) for start in range(0, idx.size, step)]

    def chunk_quantiles(chunk):  # each chunk writes its own rows of quant
        size, part = chunk
        pmf = _pgf_pmf(n0[part], p[:, part], mu[:, part], size, clip=False)  # rounding noise ±1e-17
        cdf = np.cumsum(pmf[0] if p.shape[0] == 1 else pmf.mean(axis=0), axis=-1)
        for j, level in enumerate(levels):
            quant[part, j] = np.argmax(cdf >= level - _TIE, axis=-1)

    _on_every_core(chunk_quantiles, chunks)
    return {f"q{round(100 * level)}": quant[:, j] for j, level in enumerate(levels)}


def _on_every_core(work, chunks: list) -> None:
    """``work(chunk)`` for every chunk, on threads as many as the cores this process
    may use when there are several chunks (numpy's transforms and ufuncs let go of
    the GIL: two cores do the national quantiles in half the time)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if len(chunks) < 2 or cores < 2:
        for chunk in chunks:
            work(chunk)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(cores, len(chunks))) as pool:
        for _ in pool.map(work, chunks):  # re-raises a chunk's error
            pass
