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
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "SyntheticProvince", "generate_province", "write_bundle", "province_summary",
    "DEFAULT_SEED", "DISTRICTS", "ProgrammeData", "generate_programme",
]

#: Seed of the bundled data set.
DEFAULT_SEED = 21

#: First year of history (initial state) and last observed year.
FIRST_YEAR = 2015
LAST_YEAR = 2025
#: Last year of :attr:`SyntheticProvince.truth`.
TRUTH_LAST_YEAR = 2035

CELL_TYPES = ("thon", "ban", "to_dan_pho")

CELLS_COLUMNS = ["cell_id", "cell_name", "commune", "district", "cell_type", "population"]
#: Stream key of the cells dissolved and founded during the history
#: (``default_rng([seed, CHANGES_STREAM])``).
CHANGES_STREAM = 11
HISTORY_COLUMNS = [
    "cell_id", "year", "local_members", "admitted", "exited",
    "assigned_members", "transferred_in",
]


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


# --------------------------------------------------------------------------
# Layout of Lai Châu before the 2025 reorganisation: 8 district-level units,
# 106 communes / wards / townships. Each entry: (code, district, kind,
# mean cells per rural commune, [(commune_kind, commune name), ...]).
# commune_kind: "phuong" (ward), "thi_tran" (district township), "xa" (commune).
# district kind: "city", "mixed" (thôn and bản), "highland" (bản dominant).
# --------------------------------------------------------------------------
_LAI_CHAU = [
    ("TPL", "Thành phố Lai Châu", "city", 9.0, [
        ("phuong", "Tân Phong"), ("phuong", "Đoàn Kết"), ("phuong", "Quyết Thắng"),
        ("phuong", "Quyết Tiến"), ("phuong", "Đông Phong"),
        ("xa", "San Thàng"), ("xa", "Sùng Phài"),
    ]),
    ("TDU", "Tam Đường", "mixed", 11.5, [
        ("thi_tran", "Tam Đường"), ("xa", "Bình Lư"), ("xa", "Bản Bo"), ("xa", "Bản Giang"),
        ("xa", "Bản Hon"), ("xa", "Hồ Thầu"), ("xa", "Khun Há"), ("xa", "Nà Tăm"),
        ("xa", "Nùng Nàng"), ("xa", "Sơn Bình"), ("xa", "Thèn Sin"), ("xa", "Tả Lèng"),
        ("xa", "Giang Ma"),
    ]),
    ("PTO", "Phong Thổ", "highland", 10.0, [
        ("thi_tran", "Phong Thổ"), ("xa", "Bản Lang"), ("xa", "Dào San"), ("xa", "Hoang Thèn"),
        ("xa", "Huổi Luông"), ("xa", "Khổng Lào"), ("xa", "Lản Nhì Thàng"), ("xa", "Ma Li Pho"),
        ("xa", "Mồ Sì San"), ("xa", "Mường So"), ("xa", "Nậm Xe"), ("xa", "Pa Vây Sử"),
        ("xa", "Sì Lở Lầu"), ("xa", "Sin Suối Hồ"), ("xa", "Tông Qua Lìn"),
        ("xa", "Vàng Ma Chải"), ("xa", "Mù Sang"),
    ]),
    ("SHO", "Sìn Hồ", "highland", 9.5, [
        ("thi_tran", "Sìn Hồ"), ("xa", "Căn Co"), ("xa", "Chăn Nưa"), ("xa", "Hồng Thu"),
        ("xa", "Làng Mô"), ("xa", "Lùng Thàng"), ("xa", "Ma Quai"), ("xa", "Nậm Cha"),
        ("xa", "Nậm Cuổi"), ("xa", "Nậm Hăn"), ("xa", "Nậm Mạ"), ("xa", "Nậm Tăm"),
        ("xa", "Noong Hẻo"), ("xa", "Pa Khóa"), ("xa", "Pa Tần"), ("xa", "Phăng Sô Lin"),
        ("xa", "Phìn Hồ"), ("xa", "Pu Sam Cáp"), ("xa", "Sà Dề Phìn"), ("xa", "Tả Ngảo"),
        ("xa", "Tả Phìn"), ("xa", "Tủa Sín Chải"),
    ]),
    ("MTE", "Mường Tè", "highland", 9.0, [
        ("thi_tran", "Mường Tè"), ("xa", "Bum Nưa"), ("xa", "Bum Tở"), ("xa", "Ka Lăng"),
        ("xa", "Kan Hồ"), ("xa", "Mù Cả"), ("xa", "Mường Tè"), ("xa", "Nậm Khao"),
        ("xa", "Pa Ủ"), ("xa", "Pa Vệ Sử"), ("xa", "Tà Tổng"), ("xa", "Thu Lũm"),
        ("xa", "Tá Bạ"), ("xa", "Vàng San"),
    ]),
    ("NNH", "Nậm Nhùn", "highland", 8.5, [
        ("thi_tran", "Nậm Nhùn"), ("xa", "Hua Bum"), ("xa", "Lê Lợi"), ("xa", "Mường Mô"),
        ("xa", "Nậm Ban"), ("xa", "Nậm Chà"), ("xa", "Nậm Hàng"), ("xa", "Nậm Manh"),
        ("xa", "Nậm Pì"), ("xa", "Pú Đao"), ("xa", "Trung Chải"),
    ]),
    ("THU", "Than Uyên", "mixed", 12.0, [
        ("thi_tran", "Than Uyên"), ("xa", "Hua Nà"), ("xa", "Khoen On"), ("xa", "Mường Cang"),
        ("xa", "Mường Kim"), ("xa", "Mường Mít"), ("xa", "Mường Than"), ("xa", "Pha Mu"),
        ("xa", "Phúc Than"), ("xa", "Ta Gia"), ("xa", "Tà Hừa"), ("xa", "Tà Mung"),
    ]),
    ("TAU", "Tân Uyên", "mixed", 11.5, [
        ("thi_tran", "Tân Uyên"), ("xa", "Hố Mít"), ("xa", "Mường Khoa"), ("xa", "Nậm Cần"),
        ("xa", "Nậm Sỏ"), ("xa", "Pắc Ta"), ("xa", "Phúc Khoa"), ("xa", "Tà Mít"),
        ("xa", "Thân Thuộc"), ("xa", "Trung Đồng"),
    ]),
]

_COMMUNE_PREFIX = {"phuong": "Phường", "thi_tran": "Thị trấn", "xa": "Xã"}

# Syllables of the place names of the north-west highlands (Thái, Mông, Dao, Hà
# Nhì, Lự, Giáy ...), used to make plausible bản names.
_SYL_A = (
    "Nà", "Nậm", "Huổi", "Pá", "Pa", "Phiêng", "Hua", "Co", "Sin", "Sì", "Tả", "Séo",
    "Lả", "Pắc", "Bản", "Mường", "Noong", "Hô", "Chu", "Lùng", "Ma", "Giàng", "Thèn",
    "Khoen", "Pú", "Tà", "Xà", "Phìn", "Ná", "Cò", "Tát", "Hồ", "Lao", "Ló", "Vàng",
)
_SYL_B = (
    "Tăm", "Cáp", "Chải", "Phìn", "Hồ", "Pao", "Thàng", "Hẻo", "Sẻ", "Lếch", "Bon",
    "Hon", "Lò", "Nưa", "Luông", "Sáng", "Mu", "Khoa", "Dạo", "Sử", "San", "Phát",
    "Khương", "Mạ", "Củm", "Giang", "Hỏm", "Kim", "Ngà", "Lang", "Ún", "Hán", "Lầu",
    "Mò", "Xá", "Đông", "Tẩu", "Cuổi", "Pằng", "Chang", "Sảng", "Chá", "Khao", "Mé",
    "Bó", "Lót", "Ten", "Cang", "Mít", "Xe",
)
# Names of lowland-style thôn.
_THON = (
    "Tân Lập", "Đoàn Kết", "Thống Nhất", "Tiến Bộ", "Hợp Nhất", "Tân Bình", "Bình Minh",
    "Hòa Bình", "Quyết Thắng", "Tân Hợp", "Đồng Tâm", "Phúc Lợi", "Tân Tiến",
    "Hưng Thịnh", "Thanh Bình", "Tân Sơn", "Minh Khai", "Trung Tâm", "Tân Phú",
    "Quyết Tiến", "Tân Thành", "Đông Phong", "Tân Hưng", "Hòa Lạc", "Tân Yên",
    "Phú Thịnh", "Bình Lư", "Nà Đoong", "Thác Cạn", "Cốc Phát",
)

#: The eight pre-2025 district-level units of Lai Châu, in the customary order.
DISTRICTS = tuple(_nfc(d[1]) for d in _LAI_CHAU)

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
# Layout
# --------------------------------------------------------------------------
def _unique_names(rng: np.random.Generator, n: int, taken: set[str], first: str | None,
                  retries: int = 50) -> list[str]:
    """``n`` bản-style names not in ``taken`` (updated); ``first`` may lead.

    A drawn name already taken is drawn again up to ``retries`` times, then made
    unique by a number ("Nà Tăm 2").
    """
    out: list[str] = []
    if first is not None and n > 0 and first not in taken:
        out.append(first)
        taken.add(first)
    tries = 0
    while len(out) < n:
        a = _SYL_A[rng.integers(len(_SYL_A))]
        b = _SYL_B[rng.integers(len(_SYL_B))]
        name = f"{a} {b}"
        tries += 1
        if name in taken and tries < retries:
            continue
        base, k = name, 2
        while name in taken:
            name = f"{base} {k}"
            k += 1
        taken.add(name)
        out.append(name)
        tries = 0
    return out


def _thon_names(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    order = rng.permutation(len(_THON))
    out = []
    for j in range(n):
        name = _THON[order[j % len(_THON)]]
        if j >= len(_THON):
            name = f"{name} {j // len(_THON) + 1}"
        while name in taken:
            name = f"{name} 2"
        taken.add(name)
        out.append(name)
    return out


def _commune_cells(rng, district_kind: str, commune_kind: str, mean_rural: float):
    """Number of cells of each type in one commune: dict type -> count."""
    if commune_kind == "phuong":
        n_tdp = 9 + int(rng.poisson(4.0))
        n_rural = int(rng.binomial(2, 0.3))
        return {"to_dan_pho": n_tdp, "ban": n_rural, "thon": 0}
    if commune_kind == "thi_tran":
        n_tdp = 6 + int(rng.poisson(3.0))
        n_rural = int(rng.poisson(2.0))
        if district_kind == "mixed":
            n_thon = int(rng.binomial(n_rural, 0.5))
            return {"to_dan_pho": n_tdp, "ban": n_rural - n_thon, "thon": n_thon}
        return {"to_dan_pho": n_tdp, "ban": n_rural, "thon": 0}
    n = 4 + int(rng.poisson(mean_rural - 4.0))
    p_thon = {"city": 0.5, "mixed": 0.3, "highland": 0.05}[district_kind]
    n_thon = int(rng.binomial(n, p_thon))
    return {"to_dan_pho": 0, "ban": n - n_thon, "thon": n_thon}


def _layout_rows(rng, code, district, district_kind, mean_rural, communes, id_fmt):
    rows = []
    for c_idx, (ckind, cname) in enumerate(communes, start=1):
        commune = _nfc(f"{_COMMUNE_PREFIX[ckind]} {cname}")
        counts = _commune_cells(rng, district_kind, ckind, mean_rural)
        taken: set[str] = set()
        names = []
        # bản first: in a rural commune one bản often bears the commune's name
        first = cname if (ckind == "xa" and rng.random() < 0.5) else None
        names += [("ban", n) for n in _unique_names(rng, counts["ban"], taken, first)]
        names += [("thon", n) for n in _thon_names(rng, counts["thon"], taken)]
        # villages listed in a random order within the commune, after the
        # residential groups in their numbered order
        names = [names[j] for j in rng.permutation(len(names))]
        names = [("to_dan_pho", f"số {k}") for k in range(1, counts["to_dan_pho"] + 1)] + names
        for k_idx, (ctype, nm) in enumerate(names, start=1):
            label = {"ban": "bản", "thon": "thôn", "to_dan_pho": "tổ dân phố"}[ctype]
            rows.append((
                id_fmt.format(code=code, c=c_idx, k=k_idx),
                _nfc(f"Chi bộ {label} {nm}"), commune, district, ctype,
            ))
    return rows


def _lai_chau_layout(rng) -> pd.DataFrame:
    rows = []
    for code, district, dkind, mean_rural, communes in _LAI_CHAU:
        rows += _layout_rows(rng, code, _nfc(district), dkind, mean_rural,
                             [(k, _nfc(n)) for k, n in communes], "{code}-{c:02d}-{k:03d}")
    return pd.DataFrame(rows, columns=["cell_id", "cell_name", "commune", "district", "cell_type"])


def _national_layout(rng, n_cells: int) -> tuple[pd.DataFrame, dict, dict]:
    """A national-scale layout of exactly ``n_cells`` cells, synthetic names."""
    n_districts = max(1, int(np.ceil(n_cells / 130)))
    width = max(3, len(str(n_districts)))
    kinds = rng.choice(["city", "mixed", "highland"], size=n_districts, p=[0.06, 0.44, 0.50])
    taken_d: set[str] = set()
    dnames = _unique_names(rng, n_districts, taken_d, None)
    rows: list[tuple] = []
    district_kind = {}
    taken_c: set[str] = set()  # commune names unique over the whole data set
    for d in range(n_districts):
        if len(rows) >= n_cells:
            break
        kind = str(kinds[d])
        dname = _nfc(("Thành phố " if kind == "city" else "Huyện ") + dnames[d])
        district_kind[dname] = kind
        n_comm = int(min(60, 8 + rng.poisson(5)))
        cnames = _unique_names(rng, n_comm, taken_c, None, retries=2)
        if kind == "city":
            ckinds = ["phuong"] * max(1, n_comm - 2) + ["xa"] * min(2, n_comm - 1)
        else:
            ckinds = ["thi_tran"] + ["xa"] * (n_comm - 1)
        communes = list(zip(ckinds, cnames))
        mean_rural = 9.0 if kind == "highland" else 11.0
        rows += _layout_rows(rng, f"D{d + 1:0{width}d}", dname, kind, mean_rural, communes,
                             "{code}-{c:02d}-{k:03d}")
    rows = rows[:n_cells]
    if len(rows) < n_cells:  # pragma: no cover - n_districts is generous
        raise RuntimeError("national layout too small")
    cells = pd.DataFrame(rows, columns=["cell_id", "cell_name", "commune", "district", "cell_type"])
    names = list(dict.fromkeys(cells["district"]))
    beta_d = dict(zip(names, np.round(rng.normal(0.0, 0.15, len(names)), 3).tolist()))
    gamma_d = dict(zip(names, np.round(rng.normal(0.0, 0.08, len(names)), 3).tolist()))
    alpha_d = {k: round(0.6 * v, 3) for k, v in beta_d.items()}
    return cells, {"beta_district": beta_d, "gamma_district": gamma_d,
                   "alpha_district": alpha_d}, district_kind


# --------------------------------------------------------------------------
# Process
# --------------------------------------------------------------------------
def _logit_inv(x):
    return 1.0 / (1.0 + np.exp(-x))


def _by(mapping: dict, keys: np.ndarray) -> np.ndarray:
    return pd.Series(keys).map(mapping).to_numpy(dtype=float)


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


# --------------------------------------------------------------------------
# The programme's other indicators (issue 7): roles in the village cells,
# grassroots party organisations, yearly counts per district.
#
# Drawn from a *separate* random stream, ``default_rng([seed, 7])``, after the
# core province: the core tables (cells, history) are unchanged by this part.
# --------------------------------------------------------------------------

#: Stream key of the programme tables (``default_rng([seed, PROGRAMME_STREAM])``).
PROGRAMME_STREAM = 7
#: Years of the role booleans (the programme asks for a yearly review from 2022).
ROLE_YEARS = tuple(range(2020, LAST_YEAR + 1))
#: Years of organisation ratings and of the counts per district.
ORG_YEARS = tuple(range(2018, LAST_YEAR + 1))

ROLE_COLUMNS = ["cell_id", "year", "secretary_is_village_head", "secretary_is_front_head",
                "village_head_is_member", "front_head_is_member"]
ORGANISATION_COLUMNS = ["org_id", "org_name", "district", "commune", "kind"]
ORGANISATION_YEAR_COLUMNS = ["org_id", "year", "rating", "secretary_is_council_chair",
                             "secretary_is_unit_head"]
UNIT_COUNT_COLUMNS = ["unit", "year", "members", "admitted", "members_rated", "members_rated_good",
                      "villages", "villages_with_cell", "admitted_private", "admitted_owners"]

#: Kinds of grassroots party organisation (tổ chức cơ sở đảng).
ORGANISATION_KINDS = ("commune", "agency", "school", "health", "state_enterprise",
                      "private_enterprise", "armed_forces")
#: Ratings, best first (canonical codes; Vietnamese labels in ``data.RATING_LABELS``).
RATINGS = ("xuat_sac", "tot", "hoan_thanh", "khong_hoan_thanh")

_PROGRAMME_PARAMS = {
    # role booleans: P = expit(a + b (y - 2020) + district + cell effect); a latent
    # uniform per cell kept from one year to the next with probability `keep`
    "village_head_member": {"a": 1.05, "b": 0.15, "cell_sd": 0.8},
    "front_head_member": {"a": -0.25, "b": 0.11, "cell_sd": 0.8},
    # P(secretary is that head | the head is a member)
    "secretary_village_head": {"a": -0.70, "b": 0.10, "cell_sd": 0.5},
    "secretary_front_head": {"a": -1.30, "b": 0.08, "cell_sd": 0.5},
    "role_keep": 0.75,
    "role_district": {
        "Thành phố Lai Châu": 0.35, "Tam Đường": 0.15, "Phong Thổ": -0.10, "Sìn Hồ": -0.15,
        "Mường Tè": -0.40, "Nậm Nhùn": -0.30, "Than Uyên": 0.20, "Tân Uyên": 0.10,
    },
    # ratings of organisations: P(tốt or better) = expit(a + b (y - 2018) + kind + org effect)
    "rating_good": {"a": 1.95, "b": 0.085, "org_sd": 0.6},
    "rating_kind": {"commune": -0.25, "agency": 0.25, "school": 0.35, "health": 0.2,
                    "state_enterprise": 0.2, "private_enterprise": -0.4, "armed_forces": 0.6},
    "rating_excellent_given_good": 0.2,
    "rating_fail_given_not_good": 0.12,
    # commune secretary is chair of the People's Council; agency secretary is its head
    "council_chair": {"a": 0.0, "b": 0.11, "org_sd": 0.6, "keep": 0.85},
    "unit_head": {"a": 1.45, "b": 0.085, "org_sd": 0.5, "keep": 0.85},
    # counts per district: all members = village members x ratio (2018), the rest in
    # the district's other organisations
    "members_ratio": {
        "Thành phố Lai Châu": 2.98, "Tam Đường": 1.91, "Phong Thổ": 1.85, "Sìn Hồ": 1.79,
        "Mường Tè": 1.96, "Nậm Nhùn": 2.36, "Than Uyên": 1.79, "Tân Uyên": 1.85,
    },
    # admissions a year in the district's other organisations, a share of their members
    "other_admission_rate": {
        "Thành phố Lai Châu": 0.030, "Tam Đường": 0.027, "Phong Thổ": 0.024, "Sìn Hồ": 0.023,
        "Mường Tè": 0.020, "Nậm Nhùn": 0.022, "Than Uyên": 0.028, "Tân Uyên": 0.027,
    },
    "admission_year": {2018: 1.0, 2019: 1.0, 2020: 0.92, 2021: 0.88, 2022: 1.0, 2023: 1.06,
                       2024: 1.08, 2025: 1.1},
    "exit_rate": 0.013,
    "transfer_rate": 0.007,
    "exempt_share": 0.04,
    # members rated "hoàn thành tốt" or better: expit(a + b (y - 2018) + district)
    "member_good": {"a": 1.80, "b": 0.045},
    "member_good_district": {
        "Thành phố Lai Châu": 0.25, "Tam Đường": 0.10, "Phong Thổ": -0.05, "Sìn Hồ": -0.10,
        "Mường Tè": -0.20, "Nậm Nhùn": -0.15, "Than Uyên": 0.15, "Tân Uyên": 0.05,
    },
    # admissions in private enterprises, province-wide mean per year, split by the
    # district's private enterprises; owners among them
    "private_admissions": {2018: 2.0, 2019: 2.0, 2020: 3.0, 2021: 4.0, 2022: 5.0, 2023: 7.0,
                           2024: 8.0, 2025: 9.0},
    "owner_share": {"city": 0.14, "mixed": 0.12, "highland": 0.05},
    # villages (thôn, bản, tổ dân phố) without a party cell, by district and years
    "villages_without_cell": {"Mường Tè": (2021, 2022, 2023), "Nậm Nhùn": (2019,)},
}

_DISTRICT_KIND = {_nfc(d[1]): d[2] for d in _LAI_CHAU}
_AGENCIES = (
    "Văn phòng Huyện ủy", "Cơ quan Ủy ban nhân dân", "Phòng Giáo dục và Đào tạo",
    "Phòng Tài chính - Kế hoạch", "Phòng Nông nghiệp", "Phòng Tài nguyên và Môi trường",
    "Phòng Lao động - Thương binh và Xã hội", "Ban Quản lý dự án", "Trung tâm Văn hóa - Thể thao",
    "Kho bạc Nhà nước", "Chi cục Thuế", "Phòng Văn hóa - Thông tin", "Tòa án nhân dân",
    "Viện Kiểm sát nhân dân", "Chi cục Thi hành án dân sự", "Trung tâm Chính trị",
)
_SCHOOLS = ("Trường THPT", "Trường PTDTNT", "Trường Trung học phổ thông số 2", "Trường PTDTBT THCS",
            "Trường Mầm non", "Trường Tiểu học", "Trường THCS", "Trung tâm GDNN - GDTX")


@dataclass(frozen=True)
class ProgrammeData:
    """The synthetic tables of the programme's other indicators (issue 7).

    Attributes
    ----------
    roles : DataFrame
        One row per village cell and year 2020 … 2025: ``cell_id, year`` and the four
        role booleans of MODEL.md §1 as 0/1.
    organisations : DataFrame
        Grassroots party organisations: ``org_id, org_name, district, commune, kind``.
    organisation_years : DataFrame
        One row per organisation and year 2018 … 2025: ``org_id, year, rating,
        secretary_is_council_chair`` (communes only; empty otherwise),
        ``secretary_is_unit_head`` (agencies, schools, health units only).
    unit_counts : DataFrame
        One row per district and year 2018 … 2025: all members and admissions,
        members rated and rated "hoàn thành tốt" or better, villages and villages
        with a cell, admissions in private enterprises and of owners.
    """

    roles: pd.DataFrame
    organisations: pd.DataFrame
    organisation_years: pd.DataFrame
    unit_counts: pd.DataFrame


def _persistent_uniform(rng, n: int, years: int, keep: float | np.ndarray) -> np.ndarray:
    """(n, years) uniforms, each kept from the year before with probability ``keep``.

    Every column is Uniform(0, 1), so ``u < p`` has exactly probability ``p``,
    while a cell's value mostly persists from year to year.
    """
    keep = np.broadcast_to(np.asarray(keep, dtype=float), (years,))
    u = np.empty((n, years))
    u[:, 0] = rng.random(n)
    for j in range(1, years):
        fresh = rng.random(n)
        u[:, j] = np.where(rng.random(n) < keep[j], u[:, j - 1], fresh)
    return u


def _role_tables(rng, sp: SyntheticProvince, p: dict) -> pd.DataFrame:
    cells = sp.cells
    n = len(cells)
    years = np.asarray(ROLE_YEARS)
    t = (years - ROLE_YEARS[0])[None, :]
    dist = _by(p["role_district"], cells["district"].to_numpy())[:, None]

    def prob(spec):
        z = spec["cell_sd"] * rng.standard_normal(n)[:, None]
        return _logit_inv(spec["a"] + spec["b"] * t + dist + z)

    keep = p["role_keep"]
    vh_member = _persistent_uniform(rng, n, len(years), keep) < prob(p["village_head_member"])
    fh_member = _persistent_uniform(rng, n, len(years), keep) < prob(p["front_head_member"])
    sec_vh = vh_member & (_persistent_uniform(rng, n, len(years), keep) < prob(p["secretary_village_head"]))
    sec_fh = fh_member & ~sec_vh & (
        _persistent_uniform(rng, n, len(years), keep) < prob(p["secretary_front_head"]))
    roles = pd.DataFrame({
        "cell_id": np.repeat(cells["cell_id"].to_numpy(), len(years)),
        "year": np.tile(years, n).astype(np.int64),
        "secretary_is_village_head": sec_vh.ravel().astype(np.int64),
        "secretary_is_front_head": sec_fh.ravel().astype(np.int64),
        "village_head_is_member": vh_member.ravel().astype(np.int64),
        "front_head_is_member": fh_member.ravel().astype(np.int64),
    })[ROLE_COLUMNS]
    existing = pd.MultiIndex.from_frame(sp.history[["cell_id", "year"]])
    return roles[pd.MultiIndex.from_frame(roles[["cell_id", "year"]]).isin(existing)].reset_index(drop=True)


def _organisation_list(rng, cells: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for district in dict.fromkeys(cells["district"]):
        in_d = cells[cells["district"] == district]
        code = in_d["cell_id"].iloc[0].split("-")[0]
        kind_d = _DISTRICT_KIND.get(district, "mixed")
        communes = list(dict.fromkeys(in_d.sort_values("cell_id")["commune"]))
        seat = communes[0]
        level = "thành phố" if kind_d == "city" else "huyện"
        entries = []
        for commune in communes:
            prefix, _, rest = commune.partition(" ")
            entries.append(("commune", _nfc(f"Đảng bộ {prefix.lower()} {rest}"), commune))
        n_agency = min(len(_AGENCIES), (11 if kind_d == "city" else 6) + int(rng.poisson(3)))
        for j in sorted(rng.choice(len(_AGENCIES), n_agency, replace=False)):
            entries.append(("agency", _nfc(f"Chi bộ {_AGENCIES[j]} {level} {district.replace('Thành phố ', '')}"),
                            seat))
        n_school = min(len(_SCHOOLS), 2 + int(rng.poisson(2)))
        for j in sorted(rng.choice(len(_SCHOOLS), n_school, replace=False)):
            where = communes[int(rng.integers(len(communes)))]
            entries.append(("school", _nfc(f"Chi bộ {_SCHOOLS[j]} {where.partition(' ')[2]}"), where))
        entries.append(("health", _nfc(f"Chi bộ Trung tâm Y tế {level} {district.replace('Thành phố ', '')}"),
                        seat))
        entries.append(("armed_forces", _nfc(f"Chi bộ Quân sự {level} {district.replace('Thành phố ', '')}"),
                        seat))
        if kind_d != "highland" or rng.random() < 0.5:
            entries.append(("state_enterprise", _nfc(f"Chi bộ Công ty nhà nước {district.replace('Thành phố ', '')}"),
                            seat))
        n_private = (4 if kind_d == "city" else 2 if kind_d == "mixed" else 1) + int(rng.poisson(1.0))
        taken: set[str] = set()
        for name in _unique_names(rng, n_private, taken, None):
            where = communes[int(rng.integers(min(3, len(communes))))]
            entries.append(("private_enterprise", _nfc(f"Chi bộ Công ty TNHH {name}"), where))
        for k, (kind, name, commune) in enumerate(entries, start=1):
            rows.append((f"{code}-O{k:03d}", name, district, commune, kind))
    return pd.DataFrame(rows, columns=ORGANISATION_COLUMNS)


def _organisation_years(rng, orgs: pd.DataFrame, p: dict) -> pd.DataFrame:
    n = len(orgs)
    years = np.asarray(ORG_YEARS)
    t = (years - ORG_YEARS[0])[None, :]
    kind = orgs["kind"].to_numpy()
    spec = p["rating_good"]
    q = spec["org_sd"] * rng.standard_normal(n)[:, None]
    p_good = _logit_inv(spec["a"] + spec["b"] * t + _by(p["rating_kind"], kind)[:, None] + q)
    u = rng.random((n, len(years)))
    good = u < p_good
    second = rng.random((n, len(years)))
    rating = np.where(good, np.where(second < p["rating_excellent_given_good"], 0, 1),
                      np.where(second < p["rating_fail_given_not_good"], 3, 2))
    labels = np.asarray(RATINGS, dtype=object)[rating]

    def role(spec, applies):
        z = spec["org_sd"] * rng.standard_normal(n)[:, None]
        keep = np.full(len(years), spec["keep"])
        keep[list(years).index(2021)] = 0.4  # the 2021 elections reshuffle the posts
        val = _persistent_uniform(rng, n, len(years), keep) < _logit_inv(spec["a"] + spec["b"] * t + z)
        out = np.where(val, "1", "0").astype(object)
        out[~applies] = ""
        return out

    chair = role(p["council_chair"], kind == "commune")
    head = role(p["unit_head"], np.isin(kind, ("agency", "school", "health")))
    return pd.DataFrame({
        "org_id": np.repeat(orgs["org_id"].to_numpy(), len(years)),
        "year": np.tile(years, n).astype(np.int64),
        "rating": labels.ravel(),
        "secretary_is_council_chair": chair.ravel(),
        "secretary_is_unit_head": head.ravel(),
    })[ORGANISATION_YEAR_COLUMNS]


def _unit_counts(rng, sp: SyntheticProvince, orgs: pd.DataFrame, p: dict) -> pd.DataFrame:
    """Yearly counts per district of the whole party organisation: its village cells
    (from the history) plus the members of its other organisations (agencies,
    schools, armed forces, commune party committees…), whose own admissions, exits
    and transfers are drawn here; so a district never admits fewer than its
    village cells did."""
    h = sp.history.merge(sp.cells[["cell_id", "district"]], on="cell_id")
    village = h.groupby(["district", "year"])[["local_members", "admitted"]].sum()
    n_cells = h.groupby(["district", "year"]).size()
    private = orgs[orgs["kind"] == "private_enterprise"].groupby("district").size()
    districts = list(dict.fromkeys(sp.cells["district"]))
    private = private.reindex(districts).fillna(0.0)
    weight = (private / private.sum()).to_numpy()
    rows = []
    first = ORG_YEARS[0]
    others = {d: int(round(village.loc[(d, first), "local_members"] * (p["members_ratio"][d] - 1.0)))
              for d in districts}
    for y in ORG_YEARS:
        priv = rng.poisson(p["private_admissions"][y] * weight)
        for j, d in enumerate(districts):
            prev = others[d]
            admitted = int(rng.poisson(p["other_admission_rate"][d] * p["admission_year"][y] * prev))
            if y > first:
                exited = int(rng.binomial(prev, p["exit_rate"]))
                moved = int(rng.poisson(p["transfer_rate"] * prev))
                others[d] = prev + admitted - exited + moved
            m = others[d] + int(village.loc[(d, y), "local_members"])
            admitted += int(village.loc[(d, y), "admitted"])
            rated = int(rng.binomial(m, 1.0 - p["exempt_share"]))
            good_p = _logit_inv(p["member_good"]["a"] + p["member_good"]["b"] * (y - first)
                                + p["member_good_district"][d])
            good = int(rng.binomial(rated, good_p))
            owners = int(rng.binomial(int(priv[j]), p["owner_share"][_DISTRICT_KIND[d]]))
            missing = int(y in p["villages_without_cell"].get(d, ()))
            cells_now = int(n_cells[(d, y)])
            rows.append((d, y, m, admitted, rated, good, cells_now + missing, cells_now, int(priv[j]), owners))
    return pd.DataFrame(rows, columns=UNIT_COUNT_COLUMNS)


def generate_programme(sp: SyntheticProvince | None = None, seed: int | None = None) -> ProgrammeData:
    """The programme tables for a synthetic province (Lai Châu layout only).

    Uses ``numpy.random.default_rng([seed, 7])``, a stream separate from the one of
    :func:`generate_province`, so the core tables are the same with or without it.

    Parameters
    ----------
    sp : SyntheticProvince, optional
        Default ``generate_province(seed)``.
    seed : int, optional
        Default ``sp.seed`` (21 for the bundle).
    """
    sp = sp if sp is not None else generate_province(seed=DEFAULT_SEED if seed is None else seed)
    seed = sp.seed if seed is None else int(seed)
    if sp.params.get("layout") != "lai_chau":
        raise ValueError("the programme tables are generated for the Lai Châu layout only")
    rng = np.random.default_rng([seed, PROGRAMME_STREAM])
    p = _PROGRAMME_PARAMS
    roles = _role_tables(rng, sp, p)
    orgs = _organisation_list(rng, sp.cells)
    org_years = _organisation_years(rng, orgs, p)
    counts = _unit_counts(rng, sp, orgs, p)
    return ProgrammeData(roles=roles, organisations=orgs, organisation_years=org_years, unit_counts=counts)
