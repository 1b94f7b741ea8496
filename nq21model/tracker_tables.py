"""The target tracker's own tables (issue 7): role booleans of the village cells by
year, grassroots party organisations with their yearly ratings and roles, and
yearly counts per unit. Read and checked like every input (:mod:`nq21model.tables`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .model_tables import CELL_COLUMNS, load_totals
from .exceptions import Violation
from .table_checks import _check_keys, _finish, _implies
from .tables import Column, _excel_row, _parse_table

ROLE_COLUMNS = (
    Column("cell_id", "Mã chi bộ", "id"),
    Column("year", "Năm", "int", minimum=1900),
    *(Column(c.name, c.alias, "bool") for c in CELL_COLUMNS if c.kind == "bool_or_blank"),
)

#: Kinds of grassroots party organisation: folded spelling -> code.
ORGANISATION_KINDS = {
    **dict.fromkeys(["commune", "xa", "phuong", "xaphuong", "xaphuongthitran", "dangboxa",
                     "capxa"], "commune"),
    **dict.fromkeys(["agency", "coquan", "coquandonvi", "donvisunghiep", "coquandonvisunghiep",
                     "coquanhanhchinh"], "agency"),
    **dict.fromkeys(["school", "truonghoc", "truong"], "school"),
    **dict.fromkeys(["health", "yte", "tramyte", "trungtamyte", "healthstation"], "health"),
    **dict.fromkeys(["stateenterprise", "doanhnghiepnhanuoc"], "state_enterprise"),
    **dict.fromkeys(["privateenterprise", "doanhnghieptunhan", "doanhnghiepngoaikhuvucnhanuoc"],
                    "private_enterprise"),
    **dict.fromkeys(["armedforces", "lucluongvutrang", "quandoi", "congan"], "armed_forces"),
}
#: Vietnamese labels of the organisation kinds, for reports.
ORGANISATION_KIND_LABELS = {
    "commune": "đảng bộ xã, phường, thị trấn", "agency": "cơ quan, đơn vị sự nghiệp",
    "school": "trường học", "health": "y tế", "state_enterprise": "doanh nghiệp nhà nước",
    "private_enterprise": "doanh nghiệp tư nhân", "armed_forces": "lực lượng vũ trang",
}
#: Kinds whose secretary may be the head of the agency or unit (indicator 4b).
UNIT_HEAD_KINDS = ("agency", "school", "health")

#: Yearly ratings (đánh giá, xếp loại), best first: folded spelling -> code.
RATINGS = {
    **dict.fromkeys(["xuatsac", "hoanthanhxuatsac", "hoanthanhxuatsacnhiemvu"], "xuat_sac"),
    **dict.fromkeys(["tot", "hoanthanhtot", "hoanthanhtotnhiemvu"], "tot"),
    **dict.fromkeys(["hoanthanh", "hoanthanhnhiemvu"], "hoan_thanh"),
    **dict.fromkeys(["khonghoanthanh", "khonghoanthanhnhiemvu"], "khong_hoan_thanh"),
}
RATING_LABELS = {
    "xuat_sac": "hoàn thành xuất sắc nhiệm vụ", "tot": "hoàn thành tốt nhiệm vụ",
    "hoan_thanh": "hoàn thành nhiệm vụ", "khong_hoan_thanh": "không hoàn thành nhiệm vụ",
}

ORGANISATION_COLUMNS = (
    Column("org_id", "Mã tổ chức", "id", extra_aliases=("Mã TCCS đảng",)),
    Column("org_name", "Tên tổ chức cơ sở đảng", "text", extra_aliases=("Tên tổ chức",)),
    Column("district", "Huyện", "text", extra_aliases=("Huyện, thành phố", "Huyện/thành phố")),
    Column("commune", "Xã", "text", extra_aliases=("Xã, phường", "Xã/phường", "Phường")),
    Column("kind", "Loại hình", "choice", extra_aliases=("Loại hình tổ chức",),
           choices=ORGANISATION_KINDS,
           choice_help="commune, agency, school, health, state_enterprise, private_enterprise or "
                       "armed_forces (xã/phường, cơ quan, trường học, y tế, doanh nghiệp nhà nước, "
                       "doanh nghiệp tư nhân, lực lượng vũ trang)"),
)

ORGANISATION_YEAR_COLUMNS = (
    Column("org_id", "Mã tổ chức", "id", extra_aliases=("Mã TCCS đảng",)),
    Column("year", "Năm", "int", minimum=1900),
    Column("rating", "Xếp loại", "choice", required=False, extra_aliases=("Đánh giá, xếp loại",),
           choices=RATINGS,
           choice_help="xuat_sac, tot, hoan_thanh or khong_hoan_thanh (hoàn thành xuất sắc / tốt / "
                       "hoàn thành / không hoàn thành nhiệm vụ)"),
    Column("secretary_is_council_chair", "Bí thư là chủ tịch HĐND", "bool_or_blank", required=False),
    Column("secretary_is_unit_head", "Bí thư là thủ trưởng", "bool_or_blank", required=False,
           extra_aliases=("Bí thư là thủ trưởng cơ quan, đơn vị",)),
)


def load_roles(path: str | Path, cells: pd.DataFrame | None = None, *,
               sheet: str | int | None = None, cells_name: str = "cells") -> pd.DataFrame:
    """Load the role booleans of the village cells by year (target tracker, 3a–3c).

    Columns ``cell_id, year, secretary_is_village_head, secretary_is_front_head,
    village_head_is_member, front_head_is_member`` (booleans: 1/0, có/không, yes/no).
    A secretary is a party member, so "secretary is village head" requires "village
    head is a member" (and likewise for the Front work committee). With ``cells``,
    every row must name a known cell.
    """
    path = Path(path)
    frame, headers, problems = _parse_table(path, ROLE_COLUMNS, sheet)
    name = frame.attrs.get("where", path.name)
    frame["_row"] = [_excel_row(i) for i in frame.index]
    known = set(cells["cell_id"]) if cells is not None else None
    _check_keys(frame, headers, name, ("cell_id", "year"), "cell", problems, known, "cell_id", cells_name)
    _implies(frame, headers, name, "secretary_is_village_head", "village_head_is_member",
             "the secretary is the village head, so the village head is a party member: expected 1", problems)
    _implies(frame, headers, name, "secretary_is_front_head", "front_head_is_member",
             "the secretary heads the Front work committee, so its head is a party member: expected 1",
             problems)
    out = _finish(frame, problems, ROLE_COLUMNS, ints=("year",), bools=[c.name for c in ROLE_COLUMNS[2:]])
    out["cell_id"] = out["cell_id"].astype(str)
    return out.sort_values(["cell_id", "year"], kind="stable").reset_index(drop=True)


def load_organisations(path: str | Path, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Load the grassroots party organisations: ``org_id, org_name, district,
    commune, kind`` (kind: commune, agency, school, health, state_enterprise,
    private_enterprise, armed_forces, or their Vietnamese names)."""
    path = Path(path)
    frame, headers, problems = _parse_table(path, ORGANISATION_COLUMNS, sheet)
    name = frame.attrs.get("where", path.name)
    frame["_row"] = [_excel_row(i) for i in frame.index]
    ids = frame.dropna(subset=["org_id"])
    for _, r in ids.loc[ids["org_id"].duplicated(keep="first")].iterrows():
        problems.append(Violation(name, r["_row"], headers["org_id"], f"duplicate org_id '{r['org_id']}'"))
    out = _finish(frame, problems, ORGANISATION_COLUMNS)
    return out.astype(str)


def load_organisation_years(path: str | Path, organisations: pd.DataFrame | None = None, *,
                            sheet: str | int | None = None,
                            organisations_name: str = "organisations") -> pd.DataFrame:
    """Load the yearly ratings and secretary roles of the organisations.

    Columns ``org_id, year, rating`` (hoàn thành xuất sắc / tốt / hoàn thành /
    không hoàn thành nhiệm vụ, or xuat_sac, tot, hoan_thanh, khong_hoan_thanh),
    ``secretary_is_council_chair`` (commune party committees only) and
    ``secretary_is_unit_head`` (agencies, schools, health units only); a blank is
    "not reported". With ``organisations``, each row must name a known organisation
    and a role may be given only for the kinds it applies to.
    """
    path = Path(path)
    frame, headers, problems = _parse_table(path, ORGANISATION_YEAR_COLUMNS, sheet)
    name = frame.attrs.get("where", path.name)
    frame["_row"] = [_excel_row(i) for i in frame.index]
    if organisations is not None:
        known = set(organisations["org_id"])
        _check_keys(frame, headers, name, ("org_id", "year"), "organisation", problems, known, "org_id",
                    organisations_name)
        kind = frame["org_id"].map(dict(zip(organisations["org_id"], organisations["kind"])))
        rules = (("secretary_is_council_chair", ("commune",), "commune party committees"),
                 ("secretary_is_unit_head", UNIT_HEAD_KINDS, "agencies, schools and health units"))
        for col, kinds, who in rules:
            if col not in frame:
                continue
            given = frame[col].notna() & kind.notna() & ~kind.isin(kinds)
            for i in frame.index[given]:
                problems.append(Violation(name, frame.at[i, "_row"], headers[col],
                                          f"applies to {who} only; '{frame.at[i, 'org_id']}' is a "
                                          f"{kind[i]} organisation: leave it blank"))
    else:
        _check_keys(frame, headers, name, ("org_id", "year"), "organisation", problems)
    out = _finish(frame, problems, ORGANISATION_YEAR_COLUMNS, ints=("year",),
                  bools=("secretary_is_council_chair", "secretary_is_unit_head"))
    out["org_id"] = out["org_id"].astype(str)
    return out


#: The tracker's yearly counts per unit are the totals table (one loader, one file).
load_unit_counts = load_totals
