"""The seeded generator of the bundled synthetic province, with its truth.

The bundled data set in ``data/raw/`` is **synthetic** ("Dữ liệu mô phỏng"): it
was made by :func:`write_bundle` from this module and describes no real person
or party cell. Its layout follows the eight pre-2025 district-level units of
Lai Châu and their 106 communes; its totals are calibrated to public aggregates
(see ``data/README.md``); every member count is drawn at random.

The process is the one of ``MODEL.md`` §2, with heterogeneity a calibration can
find. For cell *i* and year *y* (2016 … 2025; 2015 is the initial state):

* each local member present at the end of *y−1* is still present at the end of
  *y* with probability ``s[i, y]``, independently::

      logit(1 - s[i, y]) = gamma_type[t] + gamma_district[d] + gamma_year[y] + f[i]

  with ``f[i] ~ Normal(0, attrition_frailty_sd)`` a mild per-cell frailty;
* admissions are ``Poisson(lam[i, y])``::

      lam[i, y] = population[i] / 1000 * exp(beta_type[t] + beta_district[d]
                                             + beta_year[y]) * u[i]

  with ``u[i] ~ Gamma(shape=k, mean 1)`` the unobserved admission propensity;
* transfers in are ``Poisson(transfer_mean[t])`` (small);
* ``local_members[y] = local_members[y-1] + admitted + transferred_in - exited``.

Years after 2025 (in :attr:`SyntheticProvince.truth` only) reuse the 2025 year
effects. The true parameters are in :attr:`SyntheticProvince.params`.

Examples
--------
>>> from nq21model.synth import generate_province
>>> sp = generate_province(seed=21)
>>> sp.cells.shape[0] > 1000
True
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .synth_base import DEFAULT_SEED, FIRST_YEAR, LAST_YEAR, TRUTH_LAST_YEAR, _by, _logit_inv, _nfc
from .synth_places import DISTRICTS, _lai_chau_layout, _national_layout
from .synth_programme import ProgrammeData, generate_programme

__all__ = [
    "SyntheticProvince", "generate_province", "write_bundle", "province_summary",
    "DEFAULT_SEED", "DISTRICTS", "ProgrammeData", "generate_programme",
]

CELL_TYPES = ("thon", "ban", "to_dan_pho")

CELLS_COLUMNS = ["cell_id", "cell_name", "commune", "district", "cell_type", "population"]
#: Stream key of the cells dissolved and founded during the history
#: (``default_rng([seed, CHANGES_STREAM])``).
CHANGES_STREAM = 11
HISTORY_COLUMNS = [
    "cell_id", "year", "local_members", "admitted", "exited",
    "assigned_members", "transferred_in",
]


# --------------------------------------------------------------------------
# True parameters (fixed; the seed only drives the random draws).
# --------------------------------------------------------------------------
_YEARS_OBS = tuple(range(FIRST_YEAR, LAST_YEAR + 1))

_PARAMS_BASE = {
    # admissions: log lam = log(pop/1000) + beta_type + beta_district + beta_year + log u
    "beta_type": {"ban": 0.20, "thon": 0.10, "to_dan_pho": 0.0},
    "beta_district": {
        "Thành phố Lai Châu": 0.10, "Tam Đường": 0.10, "Phong Thổ": -0.05,
        "Sìn Hồ": -0.10, "Mường Tè": -0.20, "Nậm Nhùn": -0.15,
        "Than Uyên": 0.15, "Tân Uyên": 0.10,
    },
    "beta_year": {
        2015: -0.05, 2016: 0.00, 2017: 0.02, 2018: 0.00, 2019: 0.03, 2020: -0.08,
        2021: -0.12, 2022: 0.00, 2023: 0.15, 2024: 0.20, 2025: 0.22,
    },
    "propensity_shape": 3.0,
    # attrition: logit a = gamma_type + gamma_district + gamma_year + f
    "gamma_type": {"ban": float(np.log(0.015 / 0.985)), "thon": float(np.log(0.02 / 0.98)),
                   "to_dan_pho": float(np.log(0.028 / 0.972))},
    "gamma_district": {
        "Thành phố Lai Châu": 0.05, "Tam Đường": 0.00, "Phong Thổ": -0.05,
        "Sìn Hồ": 0.05, "Mường Tè": 0.15, "Nậm Nhùn": 0.10,
        "Than Uyên": 0.00, "Tân Uyên": -0.05,
    },
    "gamma_year": {
        2015: 0.00, 2016: 0.00, 2017: 0.00, 2018: 0.00, 2019: 0.00, 2020: 0.05,
        2021: 0.15, 2022: 0.10, 2023: 0.05, 2024: 0.05, 2025: 0.05,
    },
    "attrition_frailty_sd": 0.15,
    # transfers in: Poisson(transfer_mean[type]) per cell-year
    "transfer_mean": {"ban": 0.05, "thon": 0.08, "to_dan_pho": 0.20},
    # initial state (end of 2015): N0 ~ Poisson(m), m = pop/1000 * exp(alpha_type
    # + alpha_district) * u**initial_propensity_power * w, w ~ Gamma(initial_shape, mean 1)
    "alpha_type": {"ban": 3.05, "thon": 3.15, "to_dan_pho": 3.50},
    "alpha_district": {
        "Thành phố Lai Châu": 0.10, "Tam Đường": 0.05, "Phong Thổ": -0.05,
        "Sìn Hồ": -0.05, "Mường Tè": -0.15, "Nậm Nhùn": -0.10,
        "Than Uyên": 0.10, "Tân Uyên": 0.05,
    },
    "initial_propensity_power": 0.2,
    "initial_shape": 3.2,
    # population of the village: lognormal(log median, sd) by type
    "population_median": {"ban": 360.0, "thon": 430.0, "to_dan_pho": 820.0},
    "population_log_sd": {"ban": 0.42, "thon": 0.38, "to_dan_pho": 0.35},
    # assigned commune cadres: initial 0..3 with these probabilities (weak cells get
    # more), then each year a change of +-1 with probability assigned_change_prob
    "assigned_probs": (0.50, 0.33, 0.13, 0.04),
    "assigned_probs_small_cell": (0.20, 0.40, 0.28, 0.12),
    "assigned_change_prob": 0.04,
    # cells dissolved (merged into a neighbour of their commune, members moving with
    # them) and founded (split from a neighbour, taking a share of its members) during
    # the history, Lai Châu layout only; their years are drawn from `change_years`
    "dissolved_cells": 12,
    "founded_cells": 6,
    "change_years": (2019, 2024),
    "founded_share": 0.3,
}


@dataclass(frozen=True)
class SyntheticProvince:
    """A synthetic province: the data a user would hold, and the truth behind it.

    Attributes
    ----------
    cells : DataFrame
        One row per village cell: ``cell_id, cell_name, commune, district,
        cell_type, population`` (``cell_type`` in ``{"thon", "ban", "to_dan_pho"}``).
    history : DataFrame
        One row per cell and year 2015 … 2025: ``cell_id, year, local_members,
        admitted, exited, assigned_members, transferred_in`` (int64 ≥ 0), sorted
        by ``cell_id, year``.
    truth : DataFrame
        One row per cell and year 2016 … 2035: ``cell_id, year, survival,
        admission_mean, transfer_mean, attrition, propensity, attrition_frailty``.
        ``survival`` is the true probability that a member present at the end of
        *y−1* is still present at the end of *y*; ``admission_mean`` the true
        Poisson mean of admissions in *y* (after 2025: the 2025 year effects).
    params : dict
        The true global parameters (see the module docstring).
    seed : int
    """

    cells: pd.DataFrame
    history: pd.DataFrame
    truth: pd.DataFrame
    params: dict = field(repr=False)
    seed: int = DEFAULT_SEED

    def summary(self) -> pd.DataFrame:
        """Province totals and shares of cells by threshold, one row per year."""
        return province_summary(self.history)


# --------------------------------------------------------------------------
# Process
# --------------------------------------------------------------------------
def generate_province(seed: int = DEFAULT_SEED, n_cells: int | None = None) -> SyntheticProvince:
    """Generate the synthetic province (deterministic in ``seed``).

    Parameters
    ----------
    seed : int, default 21
        Seed of ``numpy.random.default_rng``; the bundled data set uses 21.
    n_cells : int, optional
        If given, a national-scale data set of exactly that many cells (same
        process, many synthetic districts and communes) instead of the eight
        districts of Lai Châu. Used by benchmarks.

    Returns
    -------
    SyntheticProvince
    """
    rng = np.random.default_rng(seed)
    params = json.loads(json.dumps(_PARAMS_BASE, default=float))  # deep copy
    params["beta_year"] = {int(k): v for k, v in params["beta_year"].items()}
    params["gamma_year"] = {int(k): v for k, v in params["gamma_year"].items()}
    if n_cells is None:
        cells = _lai_chau_layout(rng)
        params["layout"] = "lai_chau"
        from .units2025 import commune_2025_for

        cells.insert(4, "commune_2025", commune_2025_for(cells["commune"]).to_numpy())
    else:
        n_cells = int(n_cells)
        if n_cells < 1:
            raise ValueError(f"n_cells must be a positive integer, got {n_cells}")
        cells, district_effects, _ = _national_layout(rng, n_cells)
        params.update(district_effects)
        params["layout"] = "national"
    params["seed"] = int(seed)
    n = len(cells)
    ctype = cells["cell_type"].to_numpy()
    dist = cells["district"].to_numpy()

    # population
    med = _by(params["population_median"], ctype)
    lsd = _by(params["population_log_sd"], ctype)
    pop = np.maximum(40, np.round(med * np.exp(lsd * rng.standard_normal(n)))).astype(np.int64)
    cells["population"] = pop

    # per-cell latents
    k = params["propensity_shape"]
    u = rng.gamma(k, 1.0 / k, n)
    frailty = params["attrition_frailty_sd"] * rng.standard_normal(n)
    w = rng.gamma(params["initial_shape"], 1.0 / params["initial_shape"], n)

    years = np.arange(FIRST_YEAR, TRUTH_LAST_YEAR + 1)
    by = np.array([params["beta_year"].get(int(y), params["beta_year"][LAST_YEAR]) for y in years])
    gy = np.array([params["gamma_year"].get(int(y), params["gamma_year"][LAST_YEAR]) for y in years])
    base_adm = pop / 1000.0 * np.exp(_by(params["beta_type"], ctype)
                                     + _by(params["beta_district"], dist)) * u
    lam = base_adm[:, None] * np.exp(by)[None, :]                      # (n, years)
    attr = _logit_inv((_by(params["gamma_type"], ctype) + _by(params["gamma_district"], dist)
                       + frailty)[:, None] + gy[None, :])
    tmean = _by(params["transfer_mean"], ctype)

    # initial state, end of 2015
    m0 = (pop / 1000.0 * np.exp(_by(params["alpha_type"], ctype) + _by(params["alpha_district"], dist))
          * u ** params["initial_propensity_power"] * w)
    n0 = rng.poisson(m0).astype(np.int64)
    changes = np.random.default_rng([int(seed), CHANGES_STREAM])
    start, end, absorber, parent = _changes(changes, cells, params)
    obs_years = np.arange(FIRST_YEAR, LAST_YEAR + 1)
    exists = (obs_years[None, :] >= start[:, None]) & (obs_years[None, :] <= end[:, None])
    n0 = np.where(exists[:, 0], n0, 0)

    n_obs = LAST_YEAR - FIRST_YEAR + 1
    local = np.zeros((n, n_obs), np.int64)
    adm = np.zeros((n, n_obs), np.int64)
    ext = np.zeros((n, n_obs), np.int64)
    tin = np.zeros((n, n_obs), np.int64)
    # 2015 flows: drawn so that they are plausible, not checked by the identity
    a0 = rng.poisson(lam[:, 0])
    t0 = rng.poisson(tmean)
    a0 = np.minimum(a0, n0)
    t0 = np.minimum(t0, n0 - a0)
    stay = n0 - a0 - t0
    e0 = rng.poisson(stay * attr[:, 0] / (1.0 - attr[:, 0]))
    local[:, 0], adm[:, 0], ext[:, 0], tin[:, 0] = n0, a0, e0, t0
    local[~exists[:, 0], 0] = adm[~exists[:, 0], 0] = ext[~exists[:, 0], 0] = tin[~exists[:, 0], 0] = 0
    for j in range(1, n_obs):
        year = FIRST_YEAR + j
        prev = local[:, j - 1]
        ext[:, j] = prev - rng.binomial(prev, 1.0 - attr[:, j])
        adm[:, j] = rng.poisson(lam[:, j])
        tin[:, j] = rng.poisson(tmean)
        new = np.flatnonzero(start == year)          # founded: a share of a neighbour's members
        k = changes.binomial(prev[parent[new]] - ext[parent[new], j], params["founded_share"])
        np.add.at(ext[:, j], parent[new], k)
        tin[new, j] += k
        gone = np.flatnonzero(end == year - 1)       # dissolved last year: its members move
        np.add.at(tin[:, j], absorber[gone], prev[gone])
        out = ~exists[:, j]
        ext[out, j] = adm[out, j] = tin[out, j] = 0
        local[:, j] = np.where(out, 0, prev - ext[:, j] + adm[:, j] + tin[:, j])

    # assigned commune cadres: small, mostly constant, more in weak cells
    p_norm = np.asarray(params["assigned_probs"])
    p_small = np.asarray(params["assigned_probs_small_cell"])
    small = n0 < 3
    a_init = np.where(small, rng.choice(4, n, p=p_small), rng.choice(4, n, p=p_norm))
    steps = np.where(rng.random((n, n_obs)) < params["assigned_change_prob"],
                     rng.choice([-1, 1], (n, n_obs)), 0)
    steps[:, 0] = 0
    assigned = np.clip(a_init[:, None] + np.cumsum(steps, axis=1), 0, 3).astype(np.int64)

    # frames in cell_id order
    ids = cells["cell_id"].to_numpy()
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    cells = cells.iloc[order].reset_index(drop=True)[[c for c in CELLS_COLUMNS[:4] + ["commune_2025"]
                                                       + CELLS_COLUMNS[4:] if c in cells]]
    local, adm, ext, tin, assigned = (a[order] for a in (local, adm, ext, tin, assigned))
    attr, lam, tmean, u, frailty = (a[order] for a in (attr, lam, tmean, u, frailty))
    start, end, exists = start[order], end[order], exists[order]
    history = pd.DataFrame({
        "cell_id": np.repeat(ids, n_obs),
        "year": np.tile(obs_years, n).astype(np.int64),
        "local_members": local.ravel(),
        "admitted": adm.ravel(),
        "exited": ext.ravel(),
        "assigned_members": assigned.ravel(),
        "transferred_in": tin.ravel(),
    })[exists.ravel()].reset_index(drop=True)
    ty = years[1:]
    nt = len(ty)
    truth = pd.DataFrame({
        "cell_id": np.repeat(ids, nt),
        "year": np.tile(ty, n).astype(np.int64),
        "survival": (1.0 - attr[:, 1:]).ravel(),
        "attrition": attr[:, 1:].ravel(),
        "admission_mean": lam[:, 1:].ravel(),
        "transfer_mean": np.repeat(tmean, nt),
        "propensity": np.repeat(u, nt),
        "attrition_frailty": np.repeat(frailty, nt),
    })
    alive = (ty[None, :] >= start[:, None]) & (ty[None, :] <= end[:, None])
    truth = truth[alive.ravel()].reset_index(drop=True)

    return SyntheticProvince(cells=cells, history=history, truth=truth, params=params, seed=int(seed))


def _changes(rng, cells: pd.DataFrame, params: dict):
    """Years of each cell (first, last; ±inf when it exists throughout) and, for a cell
    dissolved or founded during the history, the neighbour that absorbs its members or
    that it splits from (same commune). Lai Châu layout only; the national one has none."""
    n = len(cells)
    start = np.full(n, -np.inf)
    end = np.full(n, np.inf)
    absorber = np.zeros(n, np.int64)
    parent = np.zeros(n, np.int64)
    if params.get("layout") != "lai_chau":
        return start, end, absorber, parent
    first, last = params["change_years"]
    commune = cells["commune"].to_numpy()
    rural = np.flatnonzero(np.isin(cells["cell_type"].to_numpy(), ("ban", "thon")))
    urban = np.flatnonzero(cells["cell_type"].to_numpy() == "to_dan_pho")
    dissolved = rng.choice(rural, params["dissolved_cells"], replace=False)
    founded = rng.choice(urban, params["founded_cells"], replace=False)
    changed = set(dissolved.tolist()) | set(founded.tolist())
    for cell, kind in [(c, "dissolved") for c in dissolved] + [(c, "founded") for c in founded]:
        peers = [j for j in np.flatnonzero(commune == commune[cell]) if j not in changed]
        neighbour = int(peers[rng.integers(len(peers))])
        year = int(rng.integers(first, last + 1))
        if kind == "dissolved":
            end[cell], absorber[cell] = year - 1, neighbour
        else:
            start[cell], parent[cell] = year, neighbour
    return start, end, absorber, parent


# --------------------------------------------------------------------------
# Aggregates and the bundle
# --------------------------------------------------------------------------
def province_summary(history: pd.DataFrame, cells: pd.DataFrame | None = None,
                     by: str | None = None) -> pd.DataFrame:
    """Totals and threshold shares per year (and per ``by`` column of ``cells``).

    Columns: ``cells, local_members, admitted, exited, transferred_in,
    admission_rate, attrition_rate, share_zero, share_below_3, share_at_least_3,
    share_at_least_4, share_at_least_5`` (rates relative to the members at the end
    of the previous year).
    """
    h = history
    keys = ["year"]
    if by is not None:
        h = h.merge(cells[["cell_id", by]], on="cell_id", how="left")
        keys = [by, "year"]
    n = h["local_members"]
    h = h.assign(zero=n.eq(0), below_3=n.lt(3), ge3=n.ge(3), ge4=n.ge(4), ge5=n.ge(5))
    g = h.groupby(keys, sort=True)
    out = pd.DataFrame({
        "cells": g.size(),
        "local_members": g["local_members"].sum(),
        "admitted": g["admitted"].sum(),
        "exited": g["exited"].sum(),
        "transferred_in": g["transferred_in"].sum(),
        "share_zero": g["zero"].mean(),
        "share_below_3": g["below_3"].mean(),
        "share_at_least_3": g["ge3"].mean(),
        "share_at_least_4": g["ge4"].mean(),
        "share_at_least_5": g["ge5"].mean(),
    })
    prev = out["local_members"].groupby(level=0).shift(1) if by is not None else out["local_members"].shift(1)
    out.insert(5, "admission_rate", out["admitted"] / prev)
    out.insert(6, "attrition_rate", out["exited"] / prev)
    return out


def _marker(seed: int, sp: SyntheticProvince) -> dict:
    return {
        "synthetic": True,
        "generator": "nq21model.synth",
        "seed": int(seed),
        "description": (
            "SYNTHETIC data (Dữ liệu mô phỏng): a simulated province laid out on the "
            "eight pre-2025 district-level units of Lai Châu, calibrated to public "
            "aggregates; no row describes a real party cell or person. "
            "Dữ liệu mô phỏng, không phải số liệu thật: tỉnh giả lập theo 8 huyện, thành "
            "phố của Lai Châu trước năm 2025, hiệu chỉnh theo số liệu tổng hợp công khai; "
            "không dòng nào mô tả chi bộ hay đảng viên có thật. "
            "Regenerate with `nq21model synth` (see data/README.md)."
        ),
        "cells": int(len(sp.cells)),
        "years": [FIRST_YEAR, LAST_YEAR],
    }


def write_bundle(directory, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Write the bundled synthetic data set to ``directory``.

    ``cells.csv``, ``history.csv`` and ``SYNTHETIC.json`` (the core), then the
    programme tables of :func:`generate_programme`: ``roles.csv``,
    ``organisations.csv``, ``organisation_years.csv`` and ``totals.csv`` (yearly
    members and admissions of each district's whole party organisation).
    The files are bit-for-bit reproducible for a given seed (UTF-8, NFC, ``\\n``
    line ends, integer counts only).

    Returns
    -------
    dict
        ``{"cells", "history", "marker", "roles", "organisations",
        "organisation_years", "totals"}`` → path.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    sp = generate_province(seed=seed)
    paths = {"cells": d / "cells.csv", "history": d / "history.csv", "marker": d / "SYNTHETIC.json"}
    for key in ("cells", "history"):
        frame = getattr(sp, key)
        text = frame.to_csv(index=False, lineterminator="\n")
        paths[key].write_bytes(_nfc(text).encode("utf-8"))
    marker = json.dumps(_marker(seed, sp), ensure_ascii=False, indent=2) + "\n"
    paths["marker"].write_bytes(_nfc(marker).encode("utf-8"))
    programme = generate_programme(sp)
    for key, file in (("roles", "roles"), ("organisations", "organisations"),
                      ("organisation_years", "organisation_years"), ("totals", "totals")):
        paths[key] = d / f"{file}.csv"
        text = getattr(programme, "unit_counts" if key == "totals" else key).to_csv(index=False, lineterminator="\n")
        paths[key].write_bytes(_nfc(text).encode("utf-8"))
    return paths
