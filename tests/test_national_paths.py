"""The national-scale ways of the engine give the bundled data's results (issue 14:
"same results as today on the bundled data"). The bundled province (1,062 cells, 100
parameter draws) stays below every size cut-off, so its results come from the plain
ways; here the cut-offs are lowered until the bundled data take the national ways:
the chunked tails, quantiles and share probabilities give the same numbers, the
quantiles from 32 of the draws differ by the Monte Carlo error of the draws, and the
normal Poisson-binomial of a large group by less than 0.001."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nq21model import engine, engine_groups
from nq21model.data import load_dataset
from nq21model.forecast import forecast
from nq21model.scenario import Scenario

SEED = 7


@pytest.fixture(scope="module")
def dataset():
    return load_dataset()


def _run(dataset):
    """The calibrated forecast of the bundled data (seeded), its cells, district and
    province tables, and the yearly province path."""
    results = forecast(dataset, Scenario(), horizons=[2027, 2030], seed=SEED)
    return results.cells, results.units("district"), results.province, results.path(None, None)


@pytest.fixture(scope="module")
def plain(dataset):
    return _run(dataset)


def _chunked(monkeypatch, name: str, size: int) -> list:
    """``engine.<name>`` with chunks of ``size`` values; the calls' chunk sizes."""
    calls, plain = [], getattr(engine, name)

    def chunked(*args, **kwargs):
        kwargs["chunk_elements"] = size
        calls.append(size)
        return plain(*args, **kwargs)

    monkeypatch.setattr(engine, name, chunked)
    return calls


def test_the_chunked_ways_give_the_same_numbers(dataset, plain, monkeypatch):
    """A country's arrays go by chunks (and on every core); chunks of a few cells here:
    the tails (through summarise_cells, which passes its own chunk size on), the
    quantiles and the chances that 95 % of a unit's cells reach k."""
    summaries = _chunked(monkeypatch, "summarise_cells", 2_000)
    quantiles = _chunked(monkeypatch, "cell_quantiles", 2_000)
    monkeypatch.setattr(engine_groups, "REACH_BATCH", 5_000)
    for mine, theirs in zip(_run(dataset), plain):
        pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-9, atol=1e-12)
    assert summaries and quantiles  # the forecast went through them


def test_quantiles_from_32_draws_differ_as_much_as_another_100_draws_do(dataset, plain, monkeypatch):
    """Above LARGE_CELL_DRAWS cell-draws a cell's quantiles come from 32 of the 100
    draws; its probabilities still from every draw. The quantiles then move from the
    100 draws' as much as those of 100 other draws (another calibration seed) do:
    within the Monte Carlo error of the draws."""
    from nq21model.calibrate import Calibration

    cells = plain[0]
    other = forecast(dataset, Scenario(), horizons=[2027, 2030], seed=SEED,
                     calibration=Calibration(seed=1).fit(dataset, dataset.last_year)).cells
    monkeypatch.setattr(engine, "LARGE_CELL_DRAWS", 1)
    thinned = _run(dataset)[0]
    probability = [c for c in cells if c.startswith("p_")]
    assert probability and np.abs(thinned[probability] - cells[probability]).to_numpy().max() < 1e-12
    for q in ("q10", "q50", "q90"):
        moved, noise = (thinned[q] - cells[q]).abs(), (other[q] - cells[q]).abs()
        assert noise.mean() > 0.05  # the seed's draws do differ
        assert moved.mean() <= 1.5 * noise.mean() + 0.02, q
        assert moved.quantile(0.99) <= noise.quantile(0.99) + 1, q


def test_the_normal_poisson_binomial_of_a_large_group_gives_the_same_chances(dataset, plain, monkeypatch):
    """Groups of more than EXACT_CELLS (4,096) uncertain cells — a country's provinces
    and large districts — take the normal approximation of the Poisson-binomial. With
    the cut-off at 500 the bundled province (about 1,000 cells) takes it: its chance
    that 95 % of cells reach k within 0.001 of the exact one (the error shrinks as the
    group grows); everything else unchanged."""
    monkeypatch.setattr(engine_groups, "EXACT_CELLS", 500)
    cells, units, province, path = _run(dataset)
    chances = [c for c in province if c.startswith("p_share_95")]
    gap = np.abs(province[chances] - plain[2][chances]).to_numpy()
    assert chances and 0 < gap.max() < 1e-3  # the province did take the approximation
    rest = [c for c in province if c not in chances]
    pd.testing.assert_frame_equal(province[rest], plain[2][rest], check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(units, plain[1], check_exact=False, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(cells, plain[0], check_exact=False, rtol=1e-9, atol=1e-12)
