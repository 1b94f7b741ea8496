"""The places and names of the synthetic province: its layout of cells.

The eight pre-2025 district-level units of Lai Châu and their 106 communes
(:data:`_LAI_CHAU`, :data:`DISTRICTS`), plausible names of bản, thôn and tổ dân
phố, and the two layouts of :func:`nq21model.synth.generate_province`: the one of
Lai Châu (the bundle) and a national-scale one of any number of cells
(benchmarks). Every name is drawn from the random stream it is given, in the
order of the generator.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .synth_base import _nfc


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


#: Communes before and since 1 July 2025 in the country (Resolution 1670/NQ-UBTVQH15 and
#: the others of June 2025): about three merged into one.
MERGED_PER_COMMUNE_2025 = 10_035 / 3_321


def _merged_2025(cells: pd.DataFrame) -> dict[str, str]:
    """Each commune of a national layout → its commune since 1 July 2025: a district's
    communes, in their order, merged by about three (no rng: the rest of the data set
    is drawn as before); a group with a ward becomes a ward (Phường), any other a
    commune (Xã) — the town (Thị trấn) is gone — named after its first member."""
    merged = {}
    for communes in cells.drop_duplicates("commune").groupby("district", sort=False)["commune"]:
        names = communes[1].tolist()
        for group in np.array_split(names, max(1, round(len(names) / MERGED_PER_COMMUNE_2025))):
            word = "Phường" if any(n.startswith("Phường ") for n in group) else "Xã"
            rest = group[0].split(" ", 2)[-1] if group[0].startswith("Thị trấn ") else group[0].split(" ", 1)[-1]
            merged.update({name: _nfc(f"{word} {rest}") for name in group})
    return merged


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
    cells["commune_2025"] = cells["commune"].map(_merged_2025(cells))
    names = list(dict.fromkeys(cells["district"]))
    beta_d = dict(zip(names, np.round(rng.normal(0.0, 0.15, len(names)), 3).tolist()))
    gamma_d = dict(zip(names, np.round(rng.normal(0.0, 0.08, len(names)), 3).tolist()))
    alpha_d = {k: round(0.6 * v, 3) for k, v in beta_d.items()}
    return cells, {"beta_district": beta_d, "gamma_district": gamma_d,
                   "alpha_district": alpha_d}, district_kind
