"""Both CSV readers on one load, and pyarrow's reading ahead: what the tests of the
fast (pyarrow) reader compare (tests/test_data.py on awkward shapes,
tests/test_reader_fuzz.py on generated files)."""
from __future__ import annotations

import warnings

import pandas as pd

from nq21model import csv_arrow, tables
from nq21model.exceptions import DataError

ARROW_READER = tables.read_csv_arrow


def both_readers(load) -> tuple[list, bool]:
    """``load()``'s outcome with pyarrow's CSV reader, then with pandas' alone — its
    value, its DataError's message, or "crash <type>" — and whether pyarrow's reader
    read every CSV it was given."""
    outcomes, fast = [], []

    def spy(*args):
        frame = ARROW_READER(*args)
        fast.append(frame is not None)
        return frame

    for reader in (spy, lambda *args: None):
        tables.read_csv_arrow = reader
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcomes.append(load())
        except DataError as exc:
            outcomes.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - a crash is an outcome: assert_same fails on it
            outcomes.append(f"crash {type(exc).__name__}: {exc}")
        finally:
            tables.read_csv_arrow = ARROW_READER
    return outcomes, bool(fast) and all(fast)


def assert_same(fast, slow) -> None:
    """The same tables (each pair of frames equal) or the same message; a crash of
    either reader fails."""
    for outcome in (fast, slow):
        assert not (isinstance(outcome, str) and outcome.startswith("crash ")), outcome
    if isinstance(fast, str) or isinstance(slow, str):
        assert fast == slow
    else:
        for a, b in zip(fast, slow):
            pd.testing.assert_frame_equal(a, b)


def dataset_both_ways(cells, history) -> bool:
    """``load_dataset`` of the two files, with and without ``reconcile``, gives the
    same tables and adjustments, or the same message, with either reader and with
    the files read ahead (:func:`~nq21model.csv_arrow.read_ahead`); returns
    whether pyarrow's reader read every file."""
    from nq21model.data import load_dataset

    by_arrow = True
    for reconcile in (False, True):
        def load():
            ds = load_dataset(cells, history, totals=False, reconcile=reconcile)
            return ds.cells, ds.history, ds.adjustments

        (fast, slow), read = both_readers(load)
        assert_same(fast, slow)
        by_arrow &= read
        csv_arrow.read_ahead([cells, history])  # as the command line reads them, while pandas imports
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ahead = load()
        except DataError as exc:
            ahead = str(exc)
        finally:
            csv_arrow.forget_read_ahead()
        assert_same(ahead, fast)
    return by_arrow
