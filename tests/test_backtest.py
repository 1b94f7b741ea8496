"""Backtest: the acceptance figures on the bundled data, an unseen synthetic world,
scores and tables, the briefing helpers, the CLI."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from nq21model.backtest import backtest, backtest_scores_table, plot_reliability, province_rates, reliability_table
from nq21model.crosscheck import ets_crosscheck_table
from nq21model.data import load_dataset
from nq21model.exceptions import ParameterError
from nq21model.synth import write_bundle


@pytest.fixture(scope="module")
def bundled():
    return load_dataset()


@pytest.fixture(scope="module")
def replay(bundled):
    return backtest(bundled, 2020, 2025)


def _scores(result, method):
    return result.scores[result.scores["method"] == method].set_index("k")


def test_acceptance_on_the_bundled_data(replay):
    cal, sheet, oracle = (_scores(replay, m) for m in ("calibrated", "spreadsheet", "oracle"))
    for k in (3, 4, 5):
        assert cal.loc[k, "brier"] <= 1.10 * oracle.loc[k, "brier"], k
        assert cal.loc[k, "brier"] <= 0.60 * sheet.loc[k, "brier"], k
        assert 0.75 <= cal.loc[k, "pit_coverage_80"] <= 0.85
    # the probabilistic baseline sits between
    glob = _scores(replay, "global")
    assert (glob["brier"] > cal["brier"]).all() and (glob["brier"] < sheet["brier"]).all()
    assert set(replay.scores["method"]) == {"calibrated", "spreadsheet", "global", "oracle", "oracle_latent"}


def test_scores_are_what_they_say(bundled, replay):
    cells = replay.cells
    # scored: the cells present in 2020 that still exist in 2025
    span = bundled.spans.loc[cells["cell_id"]]
    assert (span["first_year"] <= 2020).all() and (span["last_year"] >= 2025).all()
    assert len(cells) == ((bundled.spans["first_year"] <= 2020) & (bundled.spans["last_year"] >= 2025)).sum()
    actual = bundled.members_at(2025).loc[cells["cell_id"]].to_numpy()
    for k in (3, 4, 5):
        p = cells[f"calibrated_p{k}"].to_numpy()
        brier = np.mean((p - (actual >= k)) ** 2)
        assert _scores(replay, "calibrated").loc[k, "brier"] == pytest.approx(brier)
        assert set(np.unique(cells[f"spreadsheet_p{k}"])) <= {0.0, 1.0}
    r, a = province_rates(bundled, 2020)
    n0 = bundled.members_at(2020).loc[cells["cell_id"]].to_numpy()
    np.testing.assert_allclose(cells["spreadsheet_expected"], n0 * (1 + r - a) ** 5)
    rel = replay.reliability.query("method == 'calibrated' and k == 3")
    assert len(rel) == 10 and rel["forecasts"].sum() == len(cells)
    assert "Brier" in replay.summary() and "Dữ liệu mô phỏng" in replay.summary()


def test_reliability_table_bins():
    prob = np.array([0.05, 0.15, 0.15, 0.95, 1.0])
    event = np.array([0, 1, 0, 1, 1], bool)
    table = reliability_table(prob, event)
    assert table["forecasts"].tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert table.loc[1, "observed_frequency"] == 0.5 and np.isnan(table.loc[2, "mean_forecast"])


def test_briefing_tables(bundled, replay):
    table = backtest_scores_table(replay)
    assert list(table["k"]) == [3, 4, 5]
    assert (table["improvement"] >= 0.4).all()
    assert {"brier_calibrated", "brier_spreadsheet", "coverage_80", "base_year", "horizon"} <= set(table)
    cross = replay.crosscheck
    assert list(cross["year"]) == [2021, 2022, 2023, 2024, 2025]
    assert (cross["ets_q10"] < cross["ets_forecast"]).all() and (cross["ets_forecast"] < cross["ets_q90"]).all()
    assert (cross["cells_q10"] <= cross["cells_expected"]).all()
    assert (cross["cells_expected"] <= cross["cells_q90"]).all()
    assert cross["observed"].notna().all()
    # the briefing's version: from the last year of history to the last target year
    future = ets_crosscheck_table(bundled)
    assert list(future["year"]) == list(range(2026, 2031)) and future["observed"].isna().all()
    assert (future["cells_expected"] > 15_643).all()


def test_plot_reliability(replay):
    import matplotlib

    matplotlib.use("Agg")
    ax = plot_reliability(replay.reliability, k=4)
    assert ax.get_xlabel().startswith("Xác suất") and len(ax.collections) >= 3


def test_unseen_world_and_no_oracle_without_the_generator(tmp_path):
    world = tmp_path / "w"
    write_bundle(world, seed=7)
    ds = load_dataset(world / "cells.csv", world / "history.csv")
    result = backtest(ds, 2020, 2025, crosscheck=False)
    cal, oracle, sheet = (_scores(result, m) for m in ("calibrated", "oracle", "spreadsheet"))
    assert (cal["brier"] <= 1.10 * oracle["brier"]).all()
    assert (cal["brier"] <= 0.6 * sheet["brier"]).all()
    # the same data without the synthetic marker has no oracle
    (world / "SYNTHETIC.json").unlink()
    plain = load_dataset(world / "cells.csv", world / "history.csv")
    assert "oracle" not in set(backtest(plain, 2021, 2025, crosscheck=False, draws=10).scores["method"])


def test_bad_horizons(bundled):
    with pytest.raises(ParameterError, match="after the last year"):
        backtest(bundled, 2020, 2026)
    with pytest.raises(ParameterError, match="after the base year"):
        backtest(bundled, 2020, 2020)


def test_cli_backtest(tmp_path, small_files):
    cp, hp = small_files       # 2018–2025, 12 cells, not synthetic
    out = tmp_path / "scores.xlsx"
    proc = run_cli("backtest", "--cells", cp, "--history", hp, "--base-year", 2021, "--horizon", 2024,
                   "--draws", 20, "--out", out, check=True)
    assert "Backtest: base 2021 → 2024" in proc.stdout
    assert "spreadsheet" in proc.stdout and "Reliability" in proc.stdout
    sheets = pd.read_excel(out, sheet_name=None)
    assert {"scores", "reliability", "cells"} <= set(sheets)
    proc = run_cli("backtest", "--cells", cp, "--history", hp, "--base-year", 2020)
    assert proc.returncode == 2 and "at least 3 years" in proc.stderr


@pytest.mark.slow
def test_notebook_runs_with_papermill(tmp_path, small_files):
    import nbformat
    import papermill as pm

    from nq21model import config

    cp, hp = small_files
    out = tmp_path / "backtest.ipynb"
    pm.execute_notebook(str(config.NOTEBOOKS_DIR / "backtest.ipynb"), str(out), kernel_name=config.KERNEL_NAME,
                        parameters={"cells_file": str(cp), "history_file": str(hp), "base_year": 2021,
                                    "horizon": 2024, "draws": 10}, progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Backtest: base 2021 → 2024" in text
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))
    source = nbformat.read(config.NOTEBOOKS_DIR / "backtest.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in source.cells if c.cell_type == "code")
    assert "parameters" in source.cells[1].metadata.get("tags", [])


def test_each_units_total_is_scored_against_its_band(bundled, replay):
    """The replay scores each district's total as well as each cell: a district's
    cells moving together shows there, not in the cells' coverage."""
    from nq21model.crosscheck import unit_totals

    units = replay.units
    assert replay.unit_column == "district" and len(units) == 8
    seen = replay.cells.merge(bundled.cells[["cell_id", "district"]], on="cell_id")
    assert units.set_index("unit")["actual"].to_dict() == seen.groupby("district")["members_actual"].sum().to_dict()
    assert (units["q10"] <= units["q90"]).all() and units["pit"].between(0, 1).all()
    assert (units["inside"] == ((units["q10"] <= units["actual"]) & (units["actual"] <= units["q90"]))).all()
    assert units["inside"].sum() >= 5                                   # the bundled world is the model's own
    assert f"{int(units['inside'].sum())} of 8 inside their 80 % band" in replay.summary()
    table = backtest_scores_table(replay)
    assert (table["units"] == 8).all() and (table["units_inside_80"] == units["inside"].sum()).all()
    # a total far above its band: outside, PIT above 0.9; a certain total: inside, at its value
    n0, p, mu = np.array([10, 10]), np.full((3, 2), 0.9), np.full((3, 2), 1.0)
    high = unit_totals(np.array(["A", "A"]), n0, p, mu, np.array([30, 30]))
    assert not high["inside"].iloc[0] and high["pit"].iloc[0] > 0.99
    sure = unit_totals(np.array(["A", "B"]), n0, np.ones((1, 2)), np.zeros((1, 2)), np.array([10, 10]))
    assert sure["inside"].all() and (sure["q10"] == 10).all() and (sure["q90"] == 10).all()
