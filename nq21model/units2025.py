"""The 2025 commune-level units of Lai Châu: old commune → new commune (``commune_2025``).

Since 1 July 2025 Vietnam has no district level, and Lai Châu's 106 communes, wards
and townships (xã, phường, thị trấn) became 38 commune-level units: 36 communes
(xã) and 2 wards (phường). The arrangement is **Resolution No. 1670/NQ-UBTVQH15 of
16 June 2025 of the National Assembly Standing Committee (Ủy ban Thường vụ Quốc
hội) "về việc sắp xếp các đơn vị hành chính cấp xã của tỉnh Lai Châu năm 2025"**,
in force from its adoption (16 June 2025); the new units operate from 1 July 2025.
Its Article 1, clauses 1–36, each merge the *whole* natural area and population of
two to five old units into one new unit ("Sắp xếp toàn bộ diện tích tự nhiên, quy
mô dân số của … thành xã mới có tên gọi là xã …"); clause 37 keeps xã Mù Cả and
xã Tà Tổng as they are. No old unit is split between two new ones.

The text was read in the copy of the resolution kept in the public repository
``dvhcvn/20250701``, file ``input/docs/1670_NQ-UBTVQH15.md`` (Article 1 in full;
the press summaries of the resolution by Lao Động and Người Tây Bắc list the same
34 new communes, 2 wards and 2 unchanged communes).

The table ``data/communes_2025.csv`` (columns ``district, commune, commune_2025,
note``) has one row for each of the 106 old units of the bundled layout
(:data:`nq21model.synth_places._LAI_CHAU`), written as the data write them ("Xã Bình
Lư", "Phường Tân Phong", "Thị trấn Tam Đường"), and the new unit with its prefix
("Xã …" / "Phường …") as the resolution names it. ``note`` cites the clause. Three
old names are spelled differently in the resolution ("Tông Qua Lìn" / "Tung Qua
Lìn", "Kan Hồ" / "Can Hồ", "Pa Vệ Sử" / "Pa Vệ Sủ"); they are the same communes
and the note says so. Several new units join units of two old districts (Thèn Sin
of Tam Đường goes to xã Sin Suối Hồ, Lản Nhì Thàng of Phong Thổ to phường Đoàn
Kết, Nùng Nàng and Bản Giang of Tam Đường to phường Tân Phong, Chăn Nưa and Pa Tần
of Sìn Hồ to xã Lê Lợi and xã Pa Tần, Vàng San of Mường Tè to xã Hua Bum).

Examples
--------
>>> import pandas as pd
>>> from nq21model.units2025 import commune_2025_for
>>> commune_2025_for(pd.Series(["Thị trấn Tam Đường", "Xã Mù Cả", "Xã Không Có"])).tolist()
['Xã Bình Lư', 'Xã Mù Cả', nan]
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

import pandas as pd

from . import config

__all__ = ["COMMUNES_2025_FILE", "RESOLUTION", "load_commune_map", "commune_2025_for"]

#: The mapping table, old commune → new commune.
COMMUNES_2025_FILE: Path = config.DATA_DIR / "communes_2025.csv"

#: The legal source of the mapping, as cited in reports.
RESOLUTION = ("Nghị quyết số 1670/NQ-UBTVQH15 ngày 16/6/2025 của Ủy ban Thường vụ Quốc hội "
              "về việc sắp xếp các đơn vị hành chính cấp xã của tỉnh Lai Châu năm 2025")

_COLUMNS = ["district", "commune", "commune_2025", "note"]


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


@lru_cache(maxsize=1)
def _read() -> pd.DataFrame:
    df = pd.read_csv(COMMUNES_2025_FILE, dtype=str, keep_default_na=False, encoding="utf-8")
    if list(df.columns) != _COLUMNS:
        raise ValueError(f"{COMMUNES_2025_FILE}: columns {list(df.columns)}, expected {_COLUMNS}")
    return df.apply(lambda col: col.map(_nfc))


def load_commune_map() -> pd.DataFrame:
    """The mapping table: one row per pre-2025 commune, ward or township of Lai Châu.

    Returns
    -------
    DataFrame
        Columns ``district`` (pre-2025 district-level unit, as in ``cells.csv``),
        ``commune`` (the old unit with its prefix, as in ``cells.csv``),
        ``commune_2025`` (the new unit, "Xã …" or "Phường …", as named by
        Resolution 1670/NQ-UBTVQH15) and ``note`` (the clause of Article 1, and any
        remark). 106 rows, 38 distinct ``commune_2025``. A fresh copy each call.
    """
    return _read().copy()


def commune_2025_for(communes: pd.Series) -> pd.Series:
    """The 2025 unit of each old commune name (``cells["commune"]`` for instance).

    Names are compared after Unicode NFC normalisation and trimming of outer
    spaces. A name that is not a pre-2025 unit of the layout (or a missing value)
    gives NaN, never an error. The result keeps the index of ``communes`` and is
    named ``commune_2025``.
    """
    lookup = dict(zip(_read()["commune"], _read()["commune_2025"]))

    def one(value):
        if not isinstance(value, str):
            return None
        return lookup.get(_nfc(value.strip()))

    out = pd.Series([one(v) for v in communes], index=communes.index,
                    name="commune_2025", dtype=object)
    return out.where(out.notna(), float("nan"))
