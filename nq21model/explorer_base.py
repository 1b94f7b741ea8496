"""What the scenario explorer and its view share: the widgets' labels, ranges and
defaults, the :class:`ExplorerState` they set and a scenario :class:`Choice`, and
the texts shown beside the controls (the programme's 3–4 % ruler, a scenario's
admissions in people, the error line).

:mod:`nq21model.explorer_view` and :mod:`nq21model.explorer` build on this one and
:mod:`nq21model.explorer` re-exports its public names; nothing here imports
another explorer module.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field, fields, replace

import pandas as pd

from . import config
from .exceptions import ParameterError
from .fmt import format_number, format_percent
from .results import PROVINCE
from .scenario import Rates, Scenario
from .statuses import risk_threshold

__all__ = [
    "LEVELS", "ADMISSIONS", "RATE_MODELS", "ALLOCATION_CHOICES", "OPTIMISED_QUOTAS", "ADMISSION_RANGE",
    "ATTRITION_RANGE", "PROGRAMME_BAND", "EXPLORER_DRAWS", "REPORT_DRAWS", "MAX_STEPS", "AT_RISK_ROWS",
    "SCENARIO_FIELDS", "ExplorerState", "Choice", "default_threshold", "threshold_options", "rate_band_html",
    "people_label", "all_members_rate",
]

#: Level of the unit → Vietnamese label (the value is the cells column, or province);
#: a level is offered when the cells table has its column.
LEVELS = {"province": "Toàn tỉnh", "district": "Huyện, thành phố", "commune_2025": "Xã, phường (sau 1/7/2025)",
          "commune": "Xã, phường, thị trấn"}

#: Admissions of a scenario → Vietnamese label.
ADMISSIONS = {"continue": "Giữ nguyên xu hướng hiện nay", "rate": "Theo tỷ lệ kết nạp"}

#: Rates of a scenario → Vietnamese label.
RATE_MODELS = {"calibrated": "Hiệu chỉnh theo lịch sử", "fixed": "Cố định"}

#: Allocation of a rate over the cells → Vietnamese label (quota: a quotas file).
ALLOCATION_CHOICES = {"calibrated": "Theo khả năng của từng chi bộ", "population": "Theo dân số",
                      "members": "Theo số đảng viên tại chỗ", "quota": "Theo chỉ tiêu giao (tệp chỉ tiêu)"}
#: Its label when the quotas come from the optimiser.
OPTIMISED_QUOTAS = "Theo chỉ tiêu tối ưu"

#: Admission-rate slider: minimum, maximum, step.
ADMISSION_RANGE = (0.02, 0.06, 0.001)

#: Attrition slider: minimum, maximum, step.
ATTRITION_RANGE = (0.005, 0.05, 0.001)

#: The programme's band of yearly admissions (3–4 % of all party members, section II.2).
PROGRAMME_BAND = (0.03, 0.04)

#: Parameter draws of the explorer's calibrated rates: 40 keep a slider move within
#: the redraw goals (benchmarks/explorer.py); forecasts and briefings use
#: :data:`REPORT_DRAWS`. On the bundled data, between seeds, shares move by ±0.002
#: and P(share ≥ 95 %) by up to ±0.05 with 40 draws (±0.01 with 100).
EXPLORER_DRAWS = 40
#: Parameter draws of a calibration by default (``Calibration(draws=100)``).
REPORT_DRAWS = 100

#: Years after the base year that the horizon may take.
MAX_STEPS = 15

#: Cells listed at most in the at-risk table (the XLSX export has them all).
AT_RISK_ROWS = 15


def default_threshold(horizon: int) -> int:
    """Threshold of local members for the at-risk list at ``horizon``.

    The lowest threshold of the first programme target year at or after the
    horizon (2025 → 3; 2026–2030 → 4); after the last target year, the highest
    threshold (5).
    """
    return risk_threshold(horizon)


def threshold_options() -> list[tuple[str, int]]:
    """(label, value) pairs for the at-risk threshold; 0 = the programme's target."""
    return [("Theo mục tiêu", 0)] + [(f"≥ {k} đảng viên", k) for k in config.THRESHOLDS]


@dataclass(frozen=True)
class ExplorerState:
    """What the explorer's widgets show; scenario A and the scenario B it is compared with.

    Parameters
    ----------
    level : {"province", "district", "commune_2025", "commune"}
        A level whose column the cells table has (see :meth:`Explorer.levels`).
    unit : str, optional
        Name of the district or commune (ignored for the province).
    admissions : {"continue", "rate"}
        Scenario A's admissions: calibrated trend carried forward, or the rate.
    admission_rate : float
        Scenario A's programme rate: yearly admissions as a share of all party
        members (of the village cells' local members when the data has no totals).
    rates : {"calibrated", "fixed"}
        Scenario A's rates; ``attrition_rate`` applies only to fixed rates.
    allocation : {"calibrated", "population", "members", "quota"}
        Scenario A's split of a rate over cells.
    base_year : int, optional
        Default the last year of history.
    horizon : int
        Year of the forecast shown (after the base year).
    threshold : int, optional
        Local members a cell needs in the at-risk table; None or 0 means
        :func:`default_threshold` of the horizon.
    compare_* :
        Scenario B, shown beside A (default: the programme's 3 % rate).
    quotas : DataFrame, optional
        ``cell_id, year, quota`` for ``allocation="quota"`` (both scenarios).
    """

    level: str = "district"
    unit: str | None = None
    admissions: str = "continue"
    admission_rate: float = config.ADMISSION_RATE
    rates: str = "calibrated"
    attrition_rate: float = config.ATTRITION_RATE
    allocation: str = "calibrated"
    base_year: int | None = None
    horizon: int = 2030
    threshold: int | None = None
    compare_admissions: str = "rate"
    compare_admission_rate: float = PROGRAMME_BAND[0]
    compare_rates: str = "calibrated"
    compare_attrition_rate: float = config.ATTRITION_RATE
    compare_allocation: str = "calibrated"
    quotas: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def key(self) -> tuple:
        """Hashable identity of the state (the quotas table by object identity)."""
        values = tuple(getattr(self, f.name) for f in fields(self) if f.name != "quotas")
        return values + (id(self.quotas) if self.quotas is not None else None,)

    def with_(self, **changes) -> "ExplorerState":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def scenario_fields(self, which: str) -> dict:
        """Scenario A's or B's fields without prefix: ``admissions, admission_rate,
        rates, attrition_rate, allocation``."""
        if which not in ("a", "b"):
            raise ParameterError(f"which must be 'a' or 'b', got '{which}'")
        prefix = "" if which == "a" else "compare_"
        return {name: getattr(self, prefix + name) for name in SCENARIO_FIELDS}


#: The fields of one scenario in an :class:`ExplorerState` (B's carry ``compare_``).
SCENARIO_FIELDS = ("admissions", "admission_rate", "rates", "attrition_rate", "allocation")


@dataclass(frozen=True)
class Choice:
    """A scenario of the explorer: the :class:`Scenario` run, and the notes that
    say where it departs from what the widgets ask (short history, fixed rates
    without calibrated shares)."""

    scenario: Scenario
    notes: tuple = ()
    requested: dict = field(default_factory=dict, compare=False)


def rate_band_html(rate_a: float | None, rate_b: float | None = None, *, approx_a: bool = False,
                   approx_b: bool = False) -> str:
    """A 2–6 % ruler with the programme's 3–4 % band of all party members shaded and
    markers at the admission rates of scenario A (and B), as shares of all members;
    says whether A is inside the band. ``approx_*``: the rate is what a scenario
    that does not follow the slider amounts to ("≈")."""
    lo, hi = ADMISSION_RANGE[0], ADMISSION_RANGE[1]

    def pos(rate: float) -> float:
        return 100.0 * (min(max(rate, lo), hi) - lo) / (hi - lo)

    band = (f'<div style="position:absolute;left:{pos(PROGRAMME_BAND[0]):.1f}%;'
            f'width:{pos(PROGRAMME_BAND[1]) - pos(PROGRAMME_BAND[0]):.1f}%;top:0;bottom:0;'
            'background:#a5d6a7"></div>')
    marks = [(r, c, n) for r, c, n in ((rate_a, "#1565c0", "A"), (rate_b, "#ef6c00", "B")) if r is not None]
    markers = "".join(
        f'<div title="{name}" style="position:absolute;left:calc({pos(rate):.1f}% - 1px);width:3px;top:-3px;'
        f'bottom:-3px;background:{colour}"></div>' for rate, colour, name in marks)
    ticks = "".join(f'<span style="position:absolute;left:{pos(r):.1f}%;transform:translateX(-50%)">'
                    f"{format_percent(r, 0)}</span>" for r in (0.02, 0.03, 0.04, 0.05, 0.06))
    text = ""
    inside = None
    if rate_a is not None:
        inside = PROGRAMME_BAND[0] - 1e-9 <= rate_a <= PROGRAMME_BAND[1] + 1e-9
        verdict = "trong" if inside else "ngoài"
        text = (f"Kết nạp A {'≈ ' if approx_a else ''}{format_percent(rate_a)}/năm — {verdict} khung 3–4% tổng số "
                "đảng viên của Chương trình hành động")
    if rate_b is not None:
        text += ("; " if text else "") + f"B {'≈ ' if approx_b else ''}{format_percent(rate_b)}/năm"
    return (f'<div class="nq21-rate-band" data-inside="{str(inside).lower()}" '
            'style="max-width:420px;margin:2px 14px 0 14px;font-size:11px;line-height:1.3">'
            f'<div style="position:relative;height:8px;background:#eceff1;margin:4px 0">{band}{markers}</div>'
            f'<div style="position:relative;height:14px">{ticks}</div><div>{text}</div></div>')


def people_label(scenario: Scenario, rates: Rates, programme=None, *, unit: str | None = None,
                 unit_rates: Rates | None = None, missing: str = "không có bảng tổng số đảng viên") -> str:
    """What a scenario's admissions mean in people in the first forecast year, e.g.
    "3,5% tổng số đảng viên ≈ 1.038 đảng viên/năm toàn tỉnh, chi bộ thôn, bản ≈ 655".

    The province's admissions are the rate times all members of the programme's
    base (``programme``, :func:`~nq21model.scenario.programme_base`), the village
    cells' the rates' expected admissions (mean over parameter draws) of every cell
    (``rates``) and of the unit's cells (``unit_rates``, named ``unit``). A rate of
    local members says why it is not of all members (``missing``).
    """
    year = rates.base_year + 1
    village = float(rates.admissions.mean(axis=0)[:, 0].sum())
    part = ""
    if unit is not None and unit_rates is not None and unit != PROVINCE:
        part = f"; {unit} ≈ {format_number(float(unit_rates.admissions.mean(axis=0)[:, 0].sum()))}"
    kind = scenario.kind
    if kind == "rate" and scenario.admission_base == "all":
        province = rates.info.get("province_admissions")
        province = float(province[0]) if province is not None else scenario.rate * programme.members_at(year - 1)
        return (f"{format_percent(scenario.rate)} tổng số đảng viên ≈ {format_number(province)} đảng viên/năm toàn "
                f"tỉnh, chi bộ thôn, bản ≈ {format_number(village)}{part} (năm {year})")
    if kind == "rate":
        return (f"{format_percent(scenario.rate)} số đảng viên tại chỗ của chi bộ thôn, bản ≈ "
                f"{format_number(village)} đảng viên/năm{part} (năm {year}); {missing} nên không tính được theo "
                "tổng số đảng viên")
    what = "giữ nguyên xu hướng hiện nay" if kind == "continue" else "theo chỉ tiêu giao, thực hiện được"
    text = f"{what}: chi bộ thôn, bản ≈ {format_number(village)} đảng viên/năm{part} (năm {year})"
    share = all_members_rate(rates, programme)
    if share is not None:
        text += (f", tức là tỷ lệ kết nạp chung của toàn tỉnh ≈ {format_percent(share)} tổng số đảng viên "
                 f"(chi bộ thôn, bản chiếm ≈ {format_percent(programme.phi, 0)} số kết nạp)")
    return text


def all_members_rate(rates: Rates, programme=None) -> float | None:
    """The village cells' expected admissions in the first forecast year as the
    province's rate of all members they amount to (their share φ of the province's
    admissions held as in the recent years); None without a programme base."""
    if programme is None or programme.phi <= 0:
        return None
    village = float(rates.admissions.mean(axis=0)[:, 0].sum())
    return village / programme.phi / programme.members_at(rates.base_year)


def _error_html(message: str) -> str:
    return (f'<div class="nq21-error" style="color:#b71c1c;border:1px solid #b71c1c;padding:6px">'
            f'Không tính được với các tham số này: {html.escape(message)}</div>')
