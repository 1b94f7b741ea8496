"""The programme's thresholds by target year and the status of a target (in
Vietnamese, as the programme's tracker says them): the vocabulary results, the
tracker, the briefings and their charts share."""
from __future__ import annotations

import math

from . import config

#: The statuses of a target (Vietnamese, as the programme's tracker says them): a year
#: observed is MET or MISSED; a forecast LIKELY_MET, AT_RISK or UNLIKELY_MET ("khó đạt": a
#: small chance, not a certain failure). NO_DATA: the unit has what the target
#: counts but no figures for it; NOT_APPLICABLE: the unit has nothing the target counts
#: (a ward without bản cells and "no bản cell without a local member").
MET, LIKELY_MET, AT_RISK, MISSED, UNLIKELY_MET, NO_DATA = ("đạt", "có khả năng đạt", "nguy cơ không đạt", "không đạt",
                                                           "khó đạt", "không có dữ liệu")
NOT_APPLICABLE = "không áp dụng"
#: Why, in a briefing's conclusion (the one target it can be: no bản cells).
NOT_APPLICABLE_WHY = "đơn vị không có chi bộ bản nào"


def target_thresholds(year: int) -> tuple[int, ...]:
    """The programme's thresholds for a year: its own if it is a target year, else
    those of the next target year (of the last one after it)."""
    later = [y for y in sorted(config.TARGETS) if y >= year]
    return config.TARGETS[later[0] if later else max(config.TARGETS)]


def risk_threshold(horizon: int) -> int:
    """Local members a cell should reach at ``horizon`` (at-risk lists): the lowest
    threshold of the first target year at or after it (2025 → 3; 2026–2030 → 4);
    after the last target year, the highest threshold (5)."""
    if horizon > max(config.TARGETS):
        return max(config.THRESHOLDS)
    return min(target_thresholds(horizon))


def target_status(probability: float | None, *, observed: bool) -> str:
    """The status of a target from the probability that it is met.

    Observed years pass 1.0 (met) or 0.0; forecasts the model's probability, judged
    against ``config.STATUS_LIKELY`` and ``config.STATUS_UNLIKELY``. None/NaN →
    "không có dữ liệu".
    """
    if probability is None or (isinstance(probability, float) and math.isnan(probability)):
        return NO_DATA
    if observed:
        return MET if probability >= 0.5 else MISSED
    if probability >= config.STATUS_LIKELY:
        return LIKELY_MET
    if probability >= config.STATUS_UNLIKELY:
        return AT_RISK
    return UNLIKELY_MET
