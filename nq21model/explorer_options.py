"""What the explorer's controls offer for a dataset: its levels and units, base
years and horizons, the choices of a scenario, the labels that depend on the data
and which controls do nothing in a state. A part of :class:`nq21model.explorer.Explorer`
(its ``dataset``, ``quota_provider``, ``programme``, ``can_calibrate`` and ``_years``)."""
from __future__ import annotations

import unicodedata

from . import config
from .exceptions import DataError, ParameterError
from .explorer_base import (ADMISSIONS, ALLOCATION_CHOICES, LEVELS, MAX_STEPS, OPTIMISED_QUOTAS, RATE_MODELS,
                            ExplorerState)
from .results import PROVINCE


class ExplorerOptions:
    """The options of :class:`~nq21model.explorer.Explorer`'s controls."""

    def levels(self) -> list[tuple[str, str]]:
        """(Vietnamese label, level) pairs of the levels the data has: the province,
        then district, commune_2025 and commune when the cells table has them."""
        return [(label, key) for key, label in LEVELS.items() if key == "province" or key in self.dataset.cells]

    def default_level(self) -> str:
        """The data's largest unit below the province (district, else the post-2025
        commune, else the commune)."""
        return next(key for key in ("district", "commune_2025", "commune") if key in self.dataset.cells)

    def start(self, level: str | None, unit: str | None) -> tuple[str, str | None, str]:
        """A (level, unit) to show first, and a note when the one asked for is not in
        the data (another data set than the bundled one): then the data's default
        level and its first unit."""
        levels = [key for _, key in self.levels()]
        note = ""
        if level not in levels:
            if level:
                note = f"Dữ liệu không có cấp '{level}'; hiển thị {LEVELS[self.default_level()].lower()}."
            level = self.default_level()
        if level == "province":
            return level, None, note
        names = self.units(level)
        if unit not in names:
            if unit:
                note = (note + " " if note else "") + f"Không có '{unit}' trong dữ liệu; hiển thị {names[0]}."
            unit = names[0]
        return level, unit, note

    def units(self, level: str) -> list[str]:
        """Names a unit of ``level`` may take, sorted (province: ['Toàn tỉnh'])."""
        if level == "province":
            return [PROVINCE]
        self._check_level(level)
        return sorted(self.dataset.cells[level].astype(str).unique(), key=_sort_key)

    def unit_options(self, level: str) -> list[tuple[str, str]]:
        """(label, name) pairs for a dropdown: communes carry their district (when
        the data has districts)."""
        if level != "commune" or "district" not in self.dataset.cells:
            return [(name, name) for name in self.units(level)]
        district = self.dataset.cells.drop_duplicates("commune").set_index("commune")["district"]
        return [(f"{name} ({district[name]})", name) for name in self.units(level)]

    def base_years(self) -> list[int]:
        """Years of history that can serve as base year."""
        return list(self.dataset.years)

    def horizons(self, base_year: int | None = None) -> list[int]:
        """Horizons offered after ``base_year``: the next :data:`MAX_STEPS` years."""
        base = self.dataset.last_year if base_year is None else int(base_year)
        return list(range(base + 1, base + MAX_STEPS + 1))

    def default_horizon(self, base_year: int | None = None, current: int | None = None) -> int:
        """``current`` if it is after the base year, else the first target year after
        it (else the base year + 5)."""
        choices = self.horizons(base_year)
        if current in choices:
            return int(current)
        base = choices[0] - 1
        later = [y for y in sorted(config.TARGETS) if y > base]
        return later[0] if later else base + 5

    def admissions_options(self) -> list[tuple[str, str]]:
        """(label, value) pairs of a scenario's admissions."""
        return [(label, key) for key, label in ADMISSIONS.items()]

    def rate_options(self) -> list[tuple[str, str]]:
        """(label, value) pairs of a scenario's rates."""
        return [(label, key) for key, label in RATE_MODELS.items()]

    def allocations(self, *, quotas: bool = False) -> list[tuple[str, str]]:
        """(Vietnamese label, value) pairs of the allocations on offer; 'quota' only
        when a quotas table is at hand (``quotas=True``) or a provider was given."""
        values = ["calibrated", "population", "members"]
        if quotas or self.quota_provider is not None:
            values.append("quota")
        labels = dict(ALLOCATION_CHOICES)
        if self.quota_provider is not None and not quotas:
            labels["quota"] = OPTIMISED_QUOTAS
        return [(labels[v], v) for v in values]

    def admission_base(self, base_year: int | None = None) -> str:
        """``all`` when the totals table gives the programme's base in ``base_year``
        (the rate is a share of all party members), else ``local`` (a share of the
        village cells' local members)."""
        base = self.dataset.last_year if base_year is None else int(base_year)
        return "all" if self.programme(base) is not None else "local"

    def rate_description(self, which: str = "a", base_year: int | None = None) -> str:
        """The admission-rate slider's label: what the rate is a share of (all party
        members, or the village cells' local members when the data has no totals)."""
        of = "tổng số đảng viên" if self.admission_base(base_year) == "all" else "đảng viên tại chỗ"
        return f"{which.upper()}: kết nạp/năm (% {of})"

    def controls_disabled(self, state: ExplorerState) -> dict[str, bool]:
        """Which scenario controls do nothing in ``state`` (the notebook greys them
        out): the rate slider and the allocation with continued admissions, the
        attrition slider with calibrated rates."""
        try:
            base = self._years(state)[0]
            calibrated = self.can_calibrate(base)
        except (ParameterError, DataError):
            calibrated = True
        out = {}
        for which, prefix in (("a", ""), ("b", "compare_")):
            f = state.scenario_fields(which)
            fitted = calibrated and f["rates"] == "calibrated"
            keep = fitted and f["admissions"] == "continue"
            out[prefix + "admission_rate"] = keep
            out[prefix + "allocation"] = keep
            out[prefix + "attrition_rate"] = fitted
        return out

    def _check_level(self, level: str) -> None:
        levels = [key for _, key in self.levels()]
        if level not in levels:
            raise ParameterError(f"level must be one of {', '.join(levels)} (the data's levels), got '{level}'")


def _sort_key(name: str) -> str:
    """Vietnamese-like order: accents ignored, đ after d."""
    text = unicodedata.normalize("NFD", name.casefold().replace("đ", "d~"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))
