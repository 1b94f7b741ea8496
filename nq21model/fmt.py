"""Vietnamese number formats (babel's ``vi`` locale): 1.000; 3,5%; 0,82."""
from __future__ import annotations

import math
import re
import unicodedata

from babel.numbers import format_decimal, format_percent as _babel_percent

LOCALE = "vi"


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
