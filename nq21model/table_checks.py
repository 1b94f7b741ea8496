"""Checks across the rows of a loaded table that the loaders share (duplicate keys,
unknown ids, one column implying another, one not above another) and the last
step of a load (every violation raised at once, else the canonical columns)."""
from __future__ import annotations

import numpy as np

from .exceptions import DataError, Violation


def _check_keys(frame, headers, name, keys, what, problems, known=None, known_col=None,
                known_name=""):
    """Duplicate keys and (optionally) unknown ids; appends violations."""
    good = frame.dropna(subset=list(keys))
    for _, r in good.loc[good.duplicated(list(keys), keep="first")].iterrows():
        problems.append(Violation(name, r["_row"], headers[keys[-1]],
                                  f"a second row for {what} '{r[keys[0]]}' in {r[keys[1]]}"))
    if known is not None:
        for _, r in good.loc[~good[known_col].isin(known)].iterrows():
            problems.append(Violation(name, r["_row"], headers[known_col],
                                      f"'{r[known_col]}' is not in the {known_name} file"))


def _implies(frame, headers, name, if_col, then_col, rule, problems):
    """Rows where ``if_col`` is true and ``then_col`` false break ``rule``."""
    both = frame.dropna(subset=[if_col, then_col])
    bad = both[if_col].astype(bool) & ~both[then_col].astype(bool)
    for i in both.index[bad]:
        problems.append(Violation(name, frame.at[i, "_row"], headers[then_col], rule))


def _not_greater(frame, headers, name, small, big, problems):
    """``small`` ≤ ``big`` on every row where both are given."""
    if small not in frame or big not in frame:
        return
    both = frame.dropna(subset=[small, big])
    for i in both.index[both[small] > both[big]]:
        problems.append(Violation(name, frame.at[i, "_row"], headers[small],
                                  f"{small} {both.at[i, small]} is more than {big} {both.at[i, big]}"))


def _finish(frame, problems, columns, ints=(), bools=()):
    if problems:
        problems.sort(key=lambda v: (v.row is None, v.row or 0))
        raise DataError(problems)
    out = frame.drop(columns="_row").reset_index(drop=True)
    for col in ints:
        if col in out:
            out[col] = out[col].astype(np.int64)
    for col in bools:
        if col in out:
            out[col] = out[col].astype("boolean")
    return out[[c.name for c in columns if c.name in out]]
