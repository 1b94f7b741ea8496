"""The synthetic tables of the programme's other indicators (issue 7).

Roles in the village cells, grassroots party organisations with their yearly
ratings and roles, and yearly counts per district (``roles.csv``,
``organisations.csv``, ``organisation_years.csv``, ``totals.csv`` of the bundle,
written by :func:`nq21model.synth.write_bundle`). Lai Châu layout only.

Drawn from a *separate* random stream, ``default_rng([seed, 7])``, after the
core province: the core tables (cells, history) are unchanged by this part.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .synth_base import DEFAULT_SEED, LAST_YEAR, _by, _logit_inv, _nfc
from .synth_places import _LAI_CHAU, _unique_names

if TYPE_CHECKING:
    from .synth import SyntheticProvince

__all__ = ["ProgrammeData", "generate_programme"]

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
    from .synth import generate_province  # lazy: synth imports this module

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
