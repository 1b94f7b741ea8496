"""Constants and small helpers shared by the generator of the synthetic data set.

The seed of the bundle, the years of its history and of its truth, the NFC
normalisation of every name and text it writes, and the two vector helpers of
the process; used by :mod:`nq21model.synth`, :mod:`nq21model.synth_places` and
:mod:`nq21model.synth_programme`, so that none of them imports another in a cycle.
"""
from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

#: Seed of the bundled data set.
DEFAULT_SEED = 21

#: First year of history (initial state) and last observed year.
FIRST_YEAR = 2015
LAST_YEAR = 2025
#: Last year of :attr:`SyntheticProvince.truth`.
TRUTH_LAST_YEAR = 2035


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _logit_inv(x):
    return 1.0 / (1.0 + np.exp(-x))


def _by(mapping: dict, keys: np.ndarray) -> np.ndarray:
    return pd.Series(keys).map(mapping).to_numpy(dtype=float)
