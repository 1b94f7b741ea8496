"""Vietnamese number formats (babel's ``vi`` locale): 1.000; 3,5%; 0,82."""
from __future__ import annotations

import math
import re
import unicodedata

from babel.numbers import format_decimal, format_percent as _babel_percent

LOCALE = "vi"

#: Vietnamese names of the grouping columns (briefings, workbooks, the index).
UNIT_LABELS = {"district": "huyện, thành phố", "commune": "xã, phường, thị trấn",
               "commune_2025": "xã, phường (từ 01/7/2025)"}


def format_number(value, digits: int = 0) -> str:
    """1234.5 → '1.234,5' (with ``digits`` decimals at most); NaN → '–'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=LOCALE)


def format_percent(value, digits: int = 1) -> str:
    """0.035 → '3,5%'; 0.95 → '95%'; NaN → '–'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    pattern = "#,##0" + ("." + "#" * digits if digits else "") + "%"
    return _babel_percent(value, format=pattern, locale=LOCALE)


def format_point_change(new: float, old: float, digits: int = 1) -> str:
    """The change from share ``old`` to ``new`` as the page shows them
    (:func:`format_percent`): the difference of the rounded figures, so that
    "90,5% → 94,9%" reads "+4,4 điểm phần trăm", never the +4,3 of the unrounded ones."""
    from decimal import ROUND_HALF_EVEN, Decimal

    if not (math.isfinite(float(new)) and math.isfinite(float(old))):
        return "–"
    step = Decimal(1).scaleb(-digits)
    a, b = ((Decimal(repr(float(v))) * 100).quantize(step, rounding=ROUND_HALF_EVEN) for v in (new, old))
    change = a - b
    return f"{'+' if change >= 0 else '−'}{format_number(abs(float(change)), digits)} điểm phần trăm"


def format_probability(value, digits: int = 2) -> str:
    """0.8234 → '0,82'; NaN → '–'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format_decimal(value, format="0." + "0" * digits, locale=LOCALE)


def slugify(name: str) -> str:
    """ASCII file-name part of a unit: 'Tam Đường' → 'tam-duong', 'Xã Bình Lư' → 'xa-binh-lu'."""
    text = unicodedata.normalize("NFD", str(name).replace("Đ", "D").replace("đ", "d"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "unit"


#: Names Windows keeps for devices: no file may be called so, whatever its extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
#: Longest slug (a file name must stay under 255 bytes with its prefix and suffix).
_SLUG_MAX = 80


def unit_file_names(units) -> dict[str, str]:
    """A distinct file-name part (:func:`slugify`) for each unit of a run.

    Names that slugify alike — differing only by tone marks ("Xã Nà Tăm" / "Xã Nà
    Tâm"), by case ("Bản A" / "bản a") or by punctuation ("Nà-Tăm" / "Nà Tăm") —
    get "-2", "-3"… in the order of their exact text, so that no unit's file
    overwrites another's; the result depends only on the set of names. Slugs are
    lower case (distinct on case-insensitive file systems too), at most 80
    characters, never a Windows device name. Briefings and quota workbooks both
    name their files with it; their manifests map each unit to its files.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for unit in sorted(set(units), key=str):
        base = slugify(unit)[:_SLUG_MAX].strip("-") or "unit"
        if base in _RESERVED:
            base = f"{base}-unit"
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        out[unit] = slug
    return out
