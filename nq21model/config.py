"""Paths and defaults, defined once.

The targets come from the Lai Châu action programme for Resolution 21-NQ/TW
(``shared/programme/TARGETS.md``): by 2025, 95 % of village cells with at least 3
local members and none with 0; by 2030, 95 % with at least 4 (and with at least 5).
"""
from __future__ import annotations

from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJ_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
CELLS_FILE = RAW_DIR / "cells.csv"
HISTORY_FILE = RAW_DIR / "history.csv"
#: Yearly members and admissions of the whole party organisation per unit (MODEL.md §1).
TOTALS_FILE = RAW_DIR / "totals.csv"
OUTPUTS_DIR = PROJ_ROOT / "outputs"
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"

#: Name of the marker file that flags a data folder as synthetic.
SYNTHETIC_MARKER = "SYNTHETIC.json"

#: Thresholds of local members the programme speaks of.
THRESHOLDS = (3, 4, 5)

#: Share of cells that must reach the threshold.
TARGET_SHARE = 0.95

#: Target year -> thresholds checked at that year.
TARGETS = {2025: (3,), 2030: (4, 5)}

#: Default fixed rates of the scenario (programme: admissions 3-4 % a year).
ADMISSION_RATE = 0.035
ATTRITION_RATE = 0.02

#: One scale for every target's status (briefings, tracker, index): a forecast with
#: P(target met) ≥ STATUS_LIKELY is "có khả năng đạt", below STATUS_UNLIKELY
#: "khó đạt", between "nguy cơ không đạt"; observed years are "đạt" / "không đạt".
STATUS_LIKELY = 0.8
STATUS_UNLIKELY = 0.2

#: Quantile levels of the 80 % band.
BAND = (0.10, 0.90)

#: Kernel that `make` installs into the project's environment.
KERNEL_NAME = "nq21model"
