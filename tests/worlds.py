"""Test worlds of another model family than ``nq21model.synth`` (written apart from it).

The project's calibration (GLMs and a gamma-Poisson empirical Bayes) assumes a
per-cell survival, a per-cell Poisson mean and fixed year effects. This generator
breaks each of those assumptions on purpose, so that tests can see how the
calibration behaves when its model family is wrong.

Model, for cell *i* of type *t* in unit *u* (the district, or the commune when
``with_district=False``) and year *y*::

    log lam[i,y]  = log(pop_i / 1000) + ADM_BASE + ADM_TYPE[t] + log rho_i
                    + P_adm[y] + U_adm[u,y] + e_adm[y]
    logit a[i,y]  = EXIT_BASE + EXIT_TYPE[t] + f_i + P_exit[y] + U_exit[u,y] + e_exit[y]

- ``P`` are province random walks (innovations ``Normal(0, drift_sd)``, level 0 the
  year before ``first_year``), ``U`` per-unit random walks (``unit_drift_sd``),
  ``e`` yearly province shocks (``shock_sd``, independent, not accumulated).
- ``rho_i`` is a two-point mixture: a share ``dormant_share`` of "dormant" cells with
  ``rho = 0.12 * LogNormal(0, 0.3)`` and an exit frailty ``f`` raised by 0.4; the
  "active" others ``rho = LogNormal(0, 0.45)``; ``f_i ~ Normal(0, 0.3)``.
- admissions: zero-inflated negative binomial, mean ``lam``: no admission at all with
  probability ``zero_inflation``, otherwise NB with size ``nb_size`` (overdispersion
  within the cell from year to year, not a fixed per-cell gamma multiplier);
- exits: beta-binomial, ``Binomial(N[y-1], q)``, ``q ~ Beta(a c, (1 - a) c)``,
  ``c = exit_concentration`` (members leave together);
- transfers in (only with ``with_transfers``): ``Poisson(transfer_mean)`` plus, in the
  year a neighbour is merged into the cell, all of the neighbour's members.
  Without transfers the members of a merged cell leave the village records.
- cells founded during the history start from ``M0`` members the year before their
  first row (0 with probability 0.6, else ``1 + Poisson(1.5)``); dissolved cells are
  merged into another cell of their commune, their history ends before the last year.

The totals table adds, per unit, members of other organisations (agencies, schools
...) with their own admissions, so that totals are at least the village sums.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

TYPES = ("ban", "thon", "to_dan_pho")
ADM_BASE = np.log(1.9)  # admissions per 1000 residents a year at walk level 0
ADM_TYPE = np.array([0.1, 0.0, -0.35])
EXIT_BASE = np.log(0.02 / 0.98)
EXIT_TYPE = np.array([-0.15, 0.0, 0.35])
INIT_PER_1000 = np.array([24.0, 27.0, 40.0])  # initial members per 1000 residents
MEDIAN_POP = np.array([340.0, 450.0, 800.0])
_WORD = {"ban": "bản", "thon": "thôn", "to_dan_pho": "tổ dân phố"}
_SYLLABLES = ("Nà", "Tăm", "Pá", "Khum", "Nậm", "Sì", "Lở", "Mường", "Phìn", "Hồ", "Thàng", "Lả", "Hua",
              "Cò", "Chạ", "Tả", "Lèng", "Su", "Phì", "Huổi", "Mòn", "Khoen", "Pắc", "Đông", "Sáng", "Xá",
              "Vàng", "Pho", "Lùng", "Thẳm", "Ngải", "Chồ", "Bum", "Dền", "Tủa", "Hưng", "Tân", "Phúc",
              "Kẻng", "Lĩnh", "Nhùn", "Ma", "Quải", "Cang", "Mỏ", "Sang", "Khoang", "Ô", "Tà", "Pú")


@dataclass
class World:
    """A generated world: the three tables of MODEL.md §1 and the truth behind them.

    Attributes
    ----------
    cells, history, totals : pandas.DataFrame
        The tables as written by :func:`write_world`.
    truth : pandas.DataFrame
        Per cell (index ``cell_id``): ``unit``, ``propensity`` (rho), ``dormant``,
        ``exit_frailty`` (f), ``start_year``, ``end_year``, ``absorbed_by`` (the cell a
        dissolved cell was merged into, else empty).
    rates : pandas.DataFrame
        Per existing cell and year: the true ``admission_mean`` (lam) and ``exit_prob`` (a).
    params : dict
        Every argument of :func:`make_world` and the walks (``walk_province``: year ->
        (adm, exit) level without shock; ``shock``: year -> (adm, exit)).
    state : dict
        Arrays that :func:`simulate_future` continues from (internal).
    """

    cells: pd.DataFrame
    history: pd.DataFrame
    totals: pd.DataFrame
    truth: pd.DataFrame
    rates: pd.DataFrame
    params: dict
    state: dict = field(repr=False)


def _names(rng, count, prefix, taken):
    """``count`` new unique two-syllable names (NFC), not in ``taken``."""
    out = []
    while len(out) < count:
        name = unicodedata.normalize("NFC", f"{prefix}{' '.join(rng.choice(_SYLLABLES, 2, replace=False))}")
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


def _flows(rng, n_prev, lam, exit_p, p):
    """Admissions (zero-inflated NB, mean ``lam``) and exits (beta-binomial of ``n_prev``)."""
    k, pi0 = p["nb_size"], p["zero_inflation"]
    mu = lam / (1.0 - pi0)
    admitted = rng.negative_binomial(k, k / (k + mu))
    admitted[rng.random(admitted.shape) < pi0] = 0
    c = p["exit_concentration"]
    q = rng.beta(exit_p * c, (1.0 - exit_p) * c)
    return admitted, rng.binomial(n_prev, q)


def _expit(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def make_world(n_cells: int = 600, first_year: int = 2015, last_year: int = 2025, seed: int = 0, *,
               drift_sd: float = 0.15, unit_drift_sd: float = 0.05, shock_sd: float = 0.08,
               with_district: bool = True, with_transfers: bool = False, fraction_founded: float = 0.05,
               fraction_dissolved: float = 0.04, no_admission_year: int | None = None,
               one_district: bool = False, only_ban: bool = False, dormant_share: float = 0.25,
               nb_size: float = 1.5, zero_inflation: float = 0.1, exit_concentration: float = 30.0,
               transfer_mean: float = 0.08) -> World:
    """Draw a world (deterministic in ``seed``).

    Parameters
    ----------
    n_cells : int
        Cells in the cells table, founded ones included.
    first_year, last_year : int
        Years of the history (at least 3 years).
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    drift_sd, unit_drift_sd, shock_sd : float
        Innovation sd of the province and unit random walks, sd of the yearly shocks
        (log scale for admissions, logit scale for exits).
    with_district : bool
        Write a ``district`` column; without it the unit (walks, totals) is the commune.
    with_transfers : bool
        Write ``transferred_in``; merged members then move to the absorbing cell.
    fraction_founded, fraction_dissolved : float
        Shares of cells founded after ``first_year`` / dissolved before ``last_year``.
    no_admission_year : int, optional
        A year with no admission at all (village cells and totals).
    one_district, only_ban : bool
        One district only; every cell a bản.
    dormant_share, nb_size, zero_inflation, exit_concentration, transfer_mean : float
        Hidden parameters of the cell heterogeneity and of the flows (module docstring).
    """
    params = dict(locals())
    rng = np.random.default_rng(seed)
    years = np.arange(first_year, last_year + 1)
    n_years = len(years)
    if n_years < 3 or n_cells < 2:
        raise ValueError("need at least 3 years and 2 cells")
    n_found = int(round(fraction_founded * n_cells))
    n_base = n_cells - n_found
    n_communes = max(1, int(round(n_base / 8)))
    n_districts = 1 if one_district else min(8, n_communes)
    # layout: districts (the first is the city), communes, cells
    district_of_commune = np.concatenate([np.arange(n_districts),
                                          rng.integers(0, n_districts, n_communes - n_districts)])
    district_of_commune.sort()
    commune = np.concatenate([np.arange(n_communes), np.arange(n_communes),
                              rng.integers(0, n_communes, n_cells - 2 * n_communes)])[:n_cells]
    founded = np.zeros(n_cells, bool)  # never among the first two cells of a commune
    later = np.arange(min(2 * n_communes, n_cells), n_cells)
    founded[rng.choice(later, min(n_found, len(later)), replace=False)] = True
    city = (district_of_commune[commune] == 0) & (n_districts > 1)
    type_p = np.where(city[:, None], [0.15, 0.10, 0.75], [0.70, 0.22, 0.08])
    ctype = np.minimum((rng.random(n_cells)[:, None] > type_p.cumsum(1)).sum(1), 2) * (not only_ban)
    pop = MEDIAN_POP[ctype] * np.exp(rng.normal(0, 0.45, n_cells))
    pop *= np.where(rng.random(n_cells) < 0.03, rng.uniform(2.0, 3.0, n_cells), 1.0)  # a few large villages
    pop = np.maximum(40, np.round(pop)).astype(int)
    dormant = rng.random(n_cells) < dormant_share
    rho = np.where(dormant, 0.12 * np.exp(rng.normal(0, 0.3, n_cells)), np.exp(rng.normal(0, 0.45, n_cells)))
    frailty = rng.normal(0, 0.3, n_cells) + 0.4 * dormant
    assigned = rng.choice([0, 0, 0, 1, 1, 2], n_cells)
    # existence: start / end indices into years
    start = np.where(founded, rng.integers(1, n_years, n_cells), 0)
    end = np.full(n_cells, n_years - 1)
    weight = np.where(founded, 0.0, 1.0 / (1.0 + pop / 300.0))
    n_diss = min(int(round(fraction_dissolved * n_cells)), int((weight > 0).sum()))
    dissolved = np.zeros(n_cells, bool)
    if n_diss:
        dissolved[rng.choice(n_cells, n_diss, replace=False, p=weight / weight.sum())] = True
    absorber = np.full(n_cells, -1)
    for c in np.unique(commune[dissolved]):
        base = np.flatnonzero((commune == c) & ~founded)
        if dissolved[base].all():
            dissolved[base[0]] = False  # every commune keeps a cell
        for i in base[dissolved[base]]:
            absorber[i] = rng.choice(base[~dissolved[base]])
    end[dissolved] = rng.integers(1, n_years - 1, dissolved.sum())  # last row: first_year+1 ... last_year-1
    # units, walks and shocks
    unit_code = district_of_commune[commune] if with_district else commune
    n_units = int(unit_code.max()) + 1
    prov = np.cumsum(rng.normal(0, drift_sd, (n_years, 2)), axis=0)
    unit_walk = np.cumsum(rng.normal(0, unit_drift_sd, (n_units, n_years, 2)), axis=1)
    shock = rng.normal(0, shock_sd, (n_years, 2))
    adm_const = np.log(pop / 1000) + ADM_BASE + ADM_TYPE[ctype] + np.log(rho)
    exit_const = EXIT_BASE + EXIT_TYPE[ctype] + frailty
    # initial members (the year before the first row)
    m = pop / 1000 * INIT_PER_1000[ctype] * rho ** 0.4
    n_init = np.where(founded, np.where(rng.random(n_cells) < 0.6, 0, 1 + rng.poisson(1.5, n_cells)),
                      rng.negative_binomial(1.2, 1.2 / (1.2 + m)))
    members, adm, ext, tin = (np.zeros((n_cells, n_years), int) for _ in range(4))
    lam_all, exit_all = np.zeros((n_cells, n_years)), np.zeros((n_cells, n_years))
    for t in range(n_years):
        alive = (start <= t) & (t <= end)
        prev = np.where(start == t, n_init, members[:, t - 1] if t else 0)
        lam_all[:, t] = np.exp(adm_const + prov[t, 0] + unit_walk[unit_code, t, 0] + shock[t, 0])
        exit_all[:, t] = _expit(exit_const + prov[t, 1] + unit_walk[unit_code, t, 1] + shock[t, 1])
        a, e = _flows(rng, prev, lam_all[:, t], exit_all[:, t], params)
        if years[t] == no_admission_year:
            a[:] = 0
        moved = rng.poisson(transfer_mean, n_cells)
        merged = np.flatnonzero(dissolved & (end == t - 1))
        np.add.at(moved, absorber[merged], members[merged, t - 1])
        adm[:, t], ext[:, t] = a * alive, e * alive
        tin[:, t] = moved * alive * with_transfers
        members[:, t] = (prev + adm[:, t] + tin[:, t] - ext[:, t]) * alive
    # names and ids
    taken: set[str] = set()
    dnames = ["Huyện " + n for n in _names(rng, n_districts, "", taken)]
    if n_districts > 1:
        dnames[0] = "Thành phố" + dnames[0][5:]
    cprefix = np.where(district_of_commune == 0, "Phường ", "Xã ") if n_districts > 1 else np.full(n_communes, "Xã ")
    cnames = [_names(rng, 1, str(cprefix[c]), taken)[0] for c in range(n_communes)]
    order = np.lexsort((np.arange(n_cells), commune))
    ids, names = np.empty(n_cells, object), np.empty(n_cells, object)
    for c in range(n_communes):
        idx = order[commune[order] == c]
        village, tdp = _names(rng, len(idx), "", set()), 0
        for k, i in enumerate(idx):
            ids[i] = f"W{district_of_commune[c] + 1}-{c + 1:03d}-{k + 1:02d}"
            if ctype[i] == 2:
                tdp += 1
                names[i] = f"Chi bộ tổ dân phố số {tdp}"
            else:
                names[i] = f"Chi bộ {_WORD[TYPES[ctype[i]]]} {village[k]}"
    cells = pd.DataFrame({"cell_id": ids, "cell_name": names, "commune": np.array(cnames)[commune],
                          "district": np.array(dnames)[district_of_commune[commune]],
                          "cell_type": np.array(TYPES)[ctype], "population": pop})
    unit_name = cells["district" if with_district else "commune"].to_numpy()
    if not with_district:
        cells = cells.drop(columns="district")
    ci, ti = np.nonzero((start[:, None] <= np.arange(n_years)) & (np.arange(n_years) <= end[:, None]))
    history = pd.DataFrame({"cell_id": ids[ci], "year": years[ti], "local_members": members[ci, ti],
                            "admitted": adm[ci, ti], "exited": ext[ci, ti], "assigned_members": assigned[ci]})
    if with_transfers:
        history["transferred_in"] = tin[ci, ti]
    rates = pd.DataFrame({"cell_id": ids[ci], "year": years[ti], "admission_mean": lam_all[ci, ti],
                          "exit_prob": exit_all[ci, ti]})
    # totals: village sums plus other organisations of the unit
    village = history.assign(unit=unit_name[ci]).groupby(["unit", "year"])[["local_members", "admitted"]].sum()
    units = sorted(set(unit_name))
    vm = village["local_members"].unstack("year").reindex(index=units, columns=years, fill_value=0).to_numpy()
    va = village["admitted"].unstack("year").reindex(index=units, columns=years, fill_value=0).to_numpy()
    other = np.round(vm[:, 0] * rng.uniform(0.5, 1.5, len(units))).astype(int) + 5
    t_members, t_adm = np.zeros_like(vm), np.zeros_like(va)
    for t in range(n_years):
        oa = rng.poisson(0.03 * other * np.exp(prov[t, 0] + shock[t, 0]))
        oa = oa * (years[t] != no_admission_year)
        other = other + oa - rng.binomial(other, 0.015)
        t_members[:, t], t_adm[:, t] = vm[:, t] + other, va[:, t] + oa
    totals = pd.DataFrame({"unit": np.repeat(units, n_years), "year": np.tile(years, len(units)),
                           "members": t_members.ravel(), "admitted": t_adm.ravel()})
    cells = cells.sort_values("cell_id", ignore_index=True)
    history = history.sort_values(["cell_id", "year"], ignore_index=True)
    rates = rates.sort_values(["cell_id", "year"], ignore_index=True)
    truth = pd.DataFrame({"unit": unit_name, "propensity": rho, "dormant": dormant, "exit_frailty": frailty,
                          "start_year": years[start], "end_year": years[end],
                          "absorbed_by": np.where(absorber >= 0, ids[absorber], "")},
                         index=pd.Index(ids, name="cell_id")).sort_index()
    params["walk_province"] = {int(y): tuple(map(float, prov[t])) for t, y in enumerate(years)}
    params["shock"] = {int(y): tuple(map(float, shock[t])) for t, y in enumerate(years)}
    state = {"ids": ids, "years": years, "start": start, "end": end, "unit_code": unit_code, "prov": prov,
             "unit_walk": unit_walk, "adm_const": adm_const, "exit_const": exit_const, "members": members}
    return World(cells, history, totals, truth, rates, params, state)


@dataclass
class FutureDraws:
    """Simulated futures: ``members[draw, cell, year]`` for ``cell_id`` and ``years``."""

    cell_id: np.ndarray
    years: np.ndarray
    members: np.ndarray

    def quantiles(self, year: int, qs=(0.1, 0.5, 0.9)) -> pd.DataFrame:
        """Per cell: the ``qs`` quantiles and the mean of local members at ``year``."""
        m = self.members[:, :, list(self.years).index(year)]
        out = pd.DataFrame(np.quantile(m, qs, axis=0).T, index=pd.Index(self.cell_id, name="cell_id"),
                           columns=[f"q{round(100 * q)}" for q in qs])
        out["mean"] = m.mean(axis=0)
        return out


def simulate_future(world: World, from_year: int | None = None, to_year: int | None = None,
                    draws: int = 1000, seed: int = 0) -> FutureDraws:
    """Continue the world's random process after ``from_year`` (default its last year).

    The walks go on from their hidden levels at ``from_year`` with fresh innovations
    and shocks in every draw (so cells are correlated within a draw). The cell list
    is the one alive at ``from_year``: no cell is founded or dissolved in the
    simulation, and transfers in (``with_transfers``) are the background Poisson only.
    This is the true predictive distribution given the hidden state at ``from_year``.

    Parameters
    ----------
    world : World
    from_year, to_year : int, optional
        Base year (a year of the world, default the last) and horizon (default +5).
    draws, seed : int
        Number of simulated futures; seed of their own generator.

    Returns
    -------
    FutureDraws
        ``members`` of shape (draws, cells alive at ``from_year``, to_year - from_year).
    """
    st, p = world.state, world.params
    from_year = int(st["years"][-1]) if from_year is None else from_year
    to_year = from_year + 5 if to_year is None else to_year
    t0 = from_year - int(st["years"][0])
    if not 0 <= t0 < len(st["years"]) or to_year <= from_year:
        raise ValueError("from_year must be a year of the world and to_year after it")
    alive = np.flatnonzero((st["start"] <= t0) & (t0 <= st["end"]))
    alive = alive[np.argsort(st["ids"][alive])]
    unit = st["unit_code"][alive]
    n = st["members"][alive, t0][None, :].repeat(draws, 0)
    prov = st["prov"][t0][None, :].repeat(draws, 0)
    walk = st["unit_walk"][:, t0][None].repeat(draws, 0)
    rng = np.random.default_rng(seed)
    out = np.zeros((draws, len(alive), to_year - from_year), int)
    for h in range(to_year - from_year):
        prov = prov + rng.normal(0, p["drift_sd"], prov.shape)
        walk = walk + rng.normal(0, p["unit_drift_sd"], walk.shape)
        level = prov[:, None, :] + walk[:, unit, :] + rng.normal(0, p["shock_sd"], prov.shape)[:, None, :]
        lam = np.exp(st["adm_const"][alive] + level[..., 0])
        a, e = _flows(rng, n, lam, _expit(st["exit_const"][alive] + level[..., 1]), p)
        moved = rng.poisson(p["transfer_mean"], n.shape) * p["with_transfers"]
        n = n + a + moved - e
        out[:, :, h] = n
    return FutureDraws(st["ids"][alive], np.arange(from_year + 1, to_year + 1), out)


@dataclass
class CapacityWorld:
    """A world whose cells answer quotas under a hidden capacity.

    Hidden parameters (per cell, index ``cell_id``, cells alive in the last year):
    ``natural`` the true expected admissions a year without quota, at the walk
    levels of the last year without its shock (not proportional to population: it
    carries the propensity mixture and the unit walk; not the historical mean: the
    walks drift); ``lift`` drawn uniformly in ``lift_range``; ``capacity = natural *
    lift``. ``response`` "min": ``E[admitted] = min(q, capacity)``; "saturating":
    ``capacity * (1 - exp(-q / capacity))``, below both ``q`` and ``capacity``.
    Admissions are NB with mean ``E`` and size ``nb_size``; a quota of 0 admits none.
    The capacity is the same in every future year (it does not follow the walks).
    """

    world: World
    natural: pd.Series
    lift: pd.Series
    capacity: pd.Series
    response: str
    nb_size: float


def capacity_world(n_cells: int = 300, seed: int = 0, *, lift_range: tuple[float, float] = (1.0, 3.0),
                   response: str = "min", nb_size: float = 4.0, **world_options) -> CapacityWorld:
    """A :func:`make_world` world plus a hidden capacity per cell (see :class:`CapacityWorld`).

    ``lift`` comes from its own stream ``default_rng([seed, 99])``; ``world_options`` go
    to :func:`make_world`.
    """
    if response not in ("min", "saturating"):
        raise ValueError("response is 'min' or 'saturating'")
    world = make_world(n_cells, seed=seed, **world_options)
    st = world.state
    t = len(st["years"]) - 1
    alive = st["end"] == t
    natural = np.exp(st["adm_const"] + st["prov"][t, 0] + st["unit_walk"][st["unit_code"], t, 0])[alive]
    lift = np.random.default_rng([seed, 99]).uniform(*lift_range, alive.sum())
    index = pd.Index(st["ids"][alive], name="cell_id")
    return CapacityWorld(world, pd.Series(natural, index).sort_index(), pd.Series(lift, index).sort_index(),
                         pd.Series(natural * lift, index).sort_index(), response, nb_size)


def expected_admissions(cw: CapacityWorld, cell_id, quota) -> np.ndarray:
    """The hidden response ``E[admitted]`` to ``quota`` in cells ``cell_id``."""
    cap = cw.capacity.reindex(np.asarray(cell_id)).to_numpy()
    if np.isnan(cap).any():
        raise KeyError("quota for a cell that is not alive in the last year")
    q = np.maximum(np.asarray(quota, float), 0.0)
    if cw.response == "min":
        return np.minimum(q, cap)
    return cap * -np.expm1(-q / cap)


def realised_admissions(cw: CapacityWorld, quotas_by_cell_year, rng: np.random.Generator) -> pd.DataFrame:
    """Draw admissions given quotas (DataFrame ``cell_id, year, quota`` or a Series on a
    (cell_id, year) MultiIndex); return ``cell_id, year, quota, expected`` (hidden), ``admitted``."""
    q = quotas_by_cell_year
    if isinstance(q, pd.Series):
        q = q.rename("quota").reset_index().set_axis(["cell_id", "year", "quota"], axis=1)
    out = q[["cell_id", "year", "quota"]].reset_index(drop=True)
    out["expected"] = mean = expected_admissions(cw, out["cell_id"], out["quota"])
    out["admitted"] = rng.negative_binomial(cw.nb_size, cw.nb_size / (cw.nb_size + mean))
    return out


def write_world(world: World, directory: str | Path, *, marker: bool = True) -> dict[str, Path]:
    """Write ``cells.csv``, ``history.csv``, ``totals.csv`` (UTF-8, ``\\n``) and, with
    ``marker``, ``SYNTHETIC.json``; return their paths by name."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / f"{name}.csv" for name in ("cells", "history", "totals")}
    for name, path in paths.items():
        getattr(world, name).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    if marker:
        paths["marker"] = directory / "SYNTHETIC.json"
        info = {"synthetic": True, "generator": "tests/worlds.py", "seed": world.params["seed"]}
        paths["marker"].write_text(json.dumps(info, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths
