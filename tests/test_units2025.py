"""The 2025 commune mapping (Resolution 1670/NQ-UBTVQH15): data/communes_2025.csv
and its accessor nq21model.units2025."""
from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from nq21model.synth_places import _COMMUNE_PREFIX, _LAI_CHAU
from nq21model.units2025 import COMMUNES_2025_FILE, commune_2025_for, load_commune_map

ROOT = Path(__file__).resolve().parents[1]


def _layout() -> list[tuple[str, str]]:
    """(district, commune) of every pre-2025 unit of the bundled layout, as the data write them."""
    nfc = lambda s: unicodedata.normalize("NFC", s)  # noqa: E731
    return [(nfc(district), nfc(f"{_COMMUNE_PREFIX[kind]} {name}"))
            for _, district, _, _, communes in _LAI_CHAU for kind, name in communes]


@pytest.fixture(scope="module")
def cmap() -> pd.DataFrame:
    return load_commune_map()


def test_the_file_sits_in_data_and_has_the_four_columns(cmap):
    assert COMMUNES_2025_FILE == ROOT / "data" / "communes_2025.csv"
    assert list(cmap.columns) == ["district", "commune", "commune_2025", "note"]


def test_every_old_commune_of_the_layout_appears_exactly_once(cmap):
    layout = _layout()
    assert len(layout) == 106
    assert cmap["commune"].is_unique
    assert sorted(cmap["commune"]) == sorted(c for _, c in layout)
    # and under the district the data give it
    assert set(zip(cmap["district"], cmap["commune"])) == set(layout)


def test_exactly_38_new_units_36_communes_and_2_wards(cmap):
    new = set(cmap["commune_2025"])
    assert len(new) == 38
    assert sum(n.startswith("Xã ") for n in new) == 36
    assert sum(n.startswith("Phường ") for n in new) == 2
    assert new == {n for n in new if n.startswith(("Xã ", "Phường "))}
    assert {n for n in new if n.startswith("Phường ")} == {"Phường Tân Phong", "Phường Đoàn Kết"}


def test_mu_ca_and_ta_tong_map_to_themselves_and_alone(cmap):
    m = dict(zip(cmap["commune"], cmap["commune_2025"]))
    for name in ("Xã Mù Cả", "Xã Tà Tổng"):
        assert m[name] == name
        assert (cmap["commune_2025"] == name).sum() == 1


def test_every_other_new_unit_merges_two_to_five_old_units(cmap):
    sizes = cmap["commune_2025"].value_counts()
    merged = sizes.drop(["Xã Mù Cả", "Xã Tà Tổng"])
    assert merged.between(2, 5).all()
    assert sizes.sum() == 106


@pytest.mark.parametrize("old, new", [
    ("Thị trấn Mường Tè", "Xã Bum Tở"),     # the township ...
    ("Xã Mường Tè", "Xã Mường Tè"),         # ... and the commune of the same name
    ("Thị trấn Tam Đường", "Xã Bình Lư"),
    ("Xã Thèn Sin", "Xã Sin Suối Hồ"),      # Tam Đường → with communes of Phong Thổ
    ("Xã Lản Nhì Thàng", "Phường Đoàn Kết"),
    ("Xã Nùng Nàng", "Phường Tân Phong"),
    ("Xã Chăn Nưa", "Xã Lê Lợi"),
    ("Xã Vàng San", "Xã Hua Bum"),
    ("Xã Tông Qua Lìn", "Xã Dào San"),      # "Tung Qua Lìn" in the resolution
    ("Xã Kan Hồ", "Xã Bum Tở"),             # "Can Hồ"
    ("Xã Pa Vệ Sử", "Xã Bum Nưa"),          # "Pa Vệ Sủ"
])
def test_some_mappings_read_in_the_resolution(cmap, old, new):
    assert dict(zip(cmap["commune"], cmap["commune_2025"]))[old] == new


def test_no_blank_and_nfc(cmap):
    for col in cmap.columns:
        values = cmap[col]
        assert values.notna().all(), col
        assert (values.str.strip() != "").all(), col
        assert (values == values.str.strip()).all(), col
        assert all(unicodedata.is_normalized("NFC", v) for v in values), col


def test_file_bytes_utf8_nfc_lf():
    raw = COMMUNES_2025_FILE.read_bytes()
    text = raw.decode("utf-8")
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert unicodedata.is_normalized("NFC", text)
    assert "\r" not in text and text.endswith("\n")
    assert text.splitlines()[0] == "district,commune,commune_2025,note"


def test_commune_2025_for_maps_series_and_gives_nan_for_unknown():
    s = pd.Series(["Xã Bình Lư", "Phường Quyết Thắng", "Xã Không Có", None,
                   unicodedata.normalize("NFD", "Xã Nậm Khao"), " Xã Mù Cả "],
                  index=[10, 11, 12, 13, 14, 15])
    out = commune_2025_for(s)
    assert out.name == "commune_2025"
    assert list(out.index) == [10, 11, 12, 13, 14, 15]
    assert out[10] == "Xã Bình Lư" and out[11] == "Phường Đoàn Kết"
    assert pd.isna(out[12]) and pd.isna(out[13])
    assert out[14] == "Xã Mường Tè" and out[15] == "Xã Mù Cả"
    assert commune_2025_for(pd.Series([], dtype=object)).empty


def test_every_cell_of_the_bundled_data_gets_a_2025_unit():
    cells = pd.read_csv(ROOT / "data" / "raw" / "cells.csv", dtype=str)
    out = commune_2025_for(cells["commune"])
    assert out.notna().all()
    assert out.nunique() == 38


def test_load_commune_map_returns_a_copy():
    a = load_commune_map()
    a.loc[0, "commune_2025"] = "changed"
    assert load_commune_map().loc[0, "commune_2025"] != "changed"
