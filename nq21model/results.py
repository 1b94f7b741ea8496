"""ForecastResults: the numbers of a forecast and what to do with them (MODEL.md §3)."""
from __future__ import annotations

from dataclasses import replace
from functools import cached_property, partial

import numpy as np
import pandas as pd

from . import config, engine, engine_groups
from .data import PROVINCE, Dataset
from .engine_groups import Groups
from .exceptions import ParameterError
from .results_base import (OBSERVED_COLUMNS, QUANTILE_LEVELS, UNIT_COLUMNS, _CellStats, _share,
                           _summarise_samples, group_indices)
from .scenario import Rates, Scenario
from .statuses import risk_threshold

CELL_COLUMNS = ["cell_id", "district", "commune", "cell_name", "horizon", "expected_members",
                "q10", "q50", "q90", "p_zero"] + [f"p_at_least_{k}" for k in config.THRESHOLDS]


class ForecastResults:
    """Per-cell, per-unit and province results of one forecast.

    Made by :func:`nq21model.forecast.forecast`. ``dataset`` holds the cells present
    in the base year (the ones forecast), ``full`` the whole data (observed figures
    count every cell of their year), ``absent`` the cells not forecast (dissolved, or
    not yet in the data). Tables are DataFrame properties; ``summary()`` renders the
    key figures; ``plot_*`` draw on a given Axes.
    """

    def __init__(self, dataset: Dataset, scenario: Scenario, rates: Rates, horizons: list[int], *,
                 full: Dataset | None = None, method: str = "exact", samples: dict[int, np.ndarray] | None = None,
                 draws: int | None = None, seed: int | None = None, notes: tuple[str, ...] = ()):
        self.dataset = dataset
        self.full = full if full is not None else dataset
        self.scenario = scenario
        self.rates = rates
        self.base_year = rates.base_year
        self.horizons = list(horizons)
        self.method = method
        self.draws = draws
        self.seed = seed
        self.notes = list(notes)
        self._samples = samples
        self._parameters: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._stats: dict[int, dict[str, np.ndarray]] = {}
        self._units: dict[str, pd.DataFrame] = {}
        self._group_cache: dict[str, dict] = {}
        self.n0 = dataset.members_at(self.base_year).to_numpy(dtype=np.int64)
        #: (column, unit) when these are one unit's results (:meth:`subset`).
        self.subset_of: tuple[str, str] | None = None
        #: The same cells under other scenarios, when a batch handed them over
        #: (``report_scenarios.scenario_key`` → ForecastResults).
        self.scenario_runs: dict | None = None

    def subset(self, by: str | None, unit: str) -> "ForecastResults":
        """The results of one unit's cells alone (what a unit's briefing shows): the
        same rates, the engine run on these cells only. ``full`` stays the whole data
        (observed figures), ``absent`` the unit's absent cells."""
        by = by or self.unit_column
        idx = self._unit_index(by, unit)
        info = dict(self.rates.info)
        for key in ("admissions", "transfers"):
            if key in info:
                info[key] = info[key][:, idx]
        rates = replace(self.rates, survival=self.rates.survival[:, idx], lam=self.rates.lam[:, idx], info=info)
        samples = None if self._samples is None else {k: v[:, idx] for k, v in self._samples.items()}
        out = ForecastResults.for_unit(self.full, self.dataset, self.scenario, rates, self.horizons, by, unit,
                                       idx=idx, method=self.method, samples=samples, draws=self.draws,
                                       seed=self.seed, notes=tuple(self.notes))
        # what is per cell and already computed is the unit's cells' part of it
        out._parameters = {h: (p[..., idx], mu[..., idx]) for h, (p, mu) in self._parameters.items()}
        if self._samples is None:
            out.use_stats(self._stats_of(idx))
        return out

    @classmethod
    def for_unit(cls, full: Dataset, active: Dataset, scenario: Scenario, rates: Rates, horizons, by: str,
                 unit: str, *, idx: np.ndarray | None = None, **options) -> "ForecastResults":
        """One unit's results from its cells' own ``rates`` (as :meth:`subset` makes
        them, or as a batch saved them): ``active`` the cells present in the base
        year, ``full`` the whole data; ``options`` as the constructor's."""
        if idx is None:
            idx = np.flatnonzero(active.cells[by].eq(unit).to_numpy())
        mask = np.zeros(len(active.cells), bool)
        mask[idx] = True
        sub = active.subset(mask)
        if active.absent is not None and by in active.absent:
            sub = replace(sub, absent=active.absent[active.absent[by] == unit].reset_index(drop=True))
        out = cls(sub, scenario, rates, horizons, full=full, **options)
        out.subset_of = (by, unit)
        return out

    @property
    def unit_column(self) -> str:
        """The default grouping (district, or commune when the data has no district)."""
        return self.dataset.default_unit

    @property
    def absent(self) -> pd.DataFrame:
        """Cells of the cells table not forecast: ``reason`` dissolved (history ends
        before the base year) or not_yet (no history up to it)."""
        return self.dataset.absent if self.dataset.absent is not None else pd.DataFrame()

    @property
    def years(self) -> list[int]:
        """Every year from the base year + 1 to the last horizon."""
        return list(range(self.base_year + 1, max(self.horizons) + 1))

    # ------------------------------------------------------------------ engine
    def parameters(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(p, mu), each (D, n): survival to ``horizon`` and Poisson mean of admitted."""
        if horizon not in self._parameters:
            self._parameters[horizon] = engine.horizon_parameters(
                self.rates.survival, self.rates.lam, horizon - self.base_year)
        return self._parameters[horizon]

    def stats(self, year: int) -> dict[str, np.ndarray]:
        """Per-cell summary at ``year`` (see :func:`engine.summarise_cells`); with
        parameter draws also P(≥ k) given each draw (``draws_at_least_k``)."""
        if year not in self._stats:
            if self._samples is not None:
                self._stats[year] = _summarise_samples(self._samples[year - self.base_year])
            else:
                p, mu = self.parameters(year)
                self._stats[year] = _CellStats(
                    engine.summarise_cells(self.n0, p, mu, thresholds=config.THRESHOLDS, levels=(),
                                           per_draw=self.rates.draws > 1),
                    partial(self._quantiles, year))
        return self._stats[year]

    def unit_stats(self, by: str, unit: str) -> dict[int, dict[str, np.ndarray]]:
        """Each horizon's per-cell statistics of the unit's cells (quantiles included
        while the engine uses every draw), computed once for every cell:
        :meth:`use_stats` hands them over."""
        return self._stats_of(self._unit_index(by, unit), every_horizon=True)

    def _stats_of(self, idx: np.ndarray, *, every_horizon: bool = False) -> dict[int, dict[str, np.ndarray]]:
        """The per-cell statistics of cells ``idx`` by year — those computed so far, or
        (``every_horizon``) every horizon's with its quantiles — as the cells' own
        results compute them (cells are independent given the rates). The quantiles
        only while the engine used every draw for them: above
        ``engine.LARGE_CELL_DRAWS`` cell-draws it thins them, a unit alone does not."""
        every_draw = self.rates.survival.size <= engine.LARGE_CELL_DRAWS
        quantile_keys = {f"q{round(100 * q)}" for q in QUANTILE_LEVELS}
        out = {}
        for year in (self.horizons if every_horizon else list(self._stats)):
            stats = self.stats(year)
            if every_horizon and every_draw:
                stats[min(quantile_keys)]  # computed once for every cell
            out[year] = {key: np.ascontiguousarray(v[..., idx]) for key, v in stats.items()
                         if every_draw or key not in quantile_keys}
        return out

    def use_stats(self, stats: dict[int, dict[str, np.ndarray]]) -> None:
        """Take per-cell statistics made elsewhere for these cells and rates
        (:meth:`unit_stats` of a batch's results) instead of computing them."""
        for horizon, values in stats.items():
            if int(horizon) in self.horizons:
                self._stats[int(horizon)] = _CellStats(dict(values), partial(self._quantiles, int(horizon)))

    def _quantiles(self, year: int) -> dict[str, np.ndarray]:
        """Each cell's ``q10, q50, q90`` at ``year`` (what :meth:`stats` adds when asked)."""
        return engine.cell_quantiles(self.n0, *self.parameters(year), levels=QUANTILE_LEVELS)

    @property
    def _cell_stats(self) -> dict[int, dict[str, np.ndarray]]:
        return {h: self.stats(h) for h in self.horizons}

    # ------------------------------------------------------------------ tables
    @property
    def cell_columns(self) -> list[str]:
        """Columns of :attr:`cells` (MODEL.md §3; ``district`` when the data has it)."""
        return [c for c in CELL_COLUMNS if c != "district" or "district" in self.dataset.cells]

    @cached_property
    def cells(self) -> pd.DataFrame:
        """One row per cell and horizon: expected members, quantiles, P(0), P(≥ k)."""
        base = {c: self.dataset.cells[c].array for c in ("cell_id", "district", "commune", "cell_name")
                if c in self.dataset.cells}
        keys = ("q10", "q50", "q90", "p_zero", *(f"p_at_least_{k}" for k in config.THRESHOLDS))
        frames = []
        for horizon in self.horizons:  # each horizon's table made at once, not a column at a time
            stats = self.stats(horizon)
            columns = {**base, "horizon": horizon, "expected_members": stats["expected"], **{k: stats[k] for k in keys}}
            frames.append(pd.DataFrame(columns, index=pd.RangeIndex(len(self.dataset.cells)), copy=False))
        return (frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True))[self.cell_columns]

    def _groups(self, by: str | None) -> dict[str, np.ndarray]:
        by = by or self.unit_column
        if by not in self.dataset.cells:
            raise ParameterError(f"no column '{by}' in the cells table "
                                 f"(columns: {', '.join(self.dataset.cells.columns)})")
        if by not in self._group_cache:  # found once: a country has thousands of units
            self._group_cache[by] = group_indices(self.dataset.cells[by])
        return dict(self._group_cache[by])

    def units(self, by: str | None = None) -> pd.DataFrame:
        """One row per unit (value of ``by``, default :attr:`unit_column`) and target
        year or horizon.

        Target years at or before the base year are ``observed`` from history (every
        cell of that year); the horizons are ``forecast``. Columns: ``unit, horizon,
        status, cells, expected_members, members_q10, members_q90,
        share_at_least_k, p_share_95_at_least_k`` (P(the share reaches 95 %): cells
        independent given the parameters, mixed over parameter draws),
        ``expected_zero_cells, p_no_zero_cell`` and, where history covers the year,
        ``observed_cells`` (the cells with a count that year, which a replay's forecast
        cells — those present in the base year — need not be), ``observed_members,
        observed_share_at_least_k``.
        """
        by = by or self.unit_column
        if by not in self._units:
            self._units[by] = self._unit_rows(self._groups(by), by)
        return self._units[by].copy()

    @cached_property
    def province(self) -> pd.DataFrame:
        """The units table for the whole province (unit 'Toàn tỉnh')."""
        return self._unit_rows({PROVINCE: np.arange(len(self.dataset.cells))}, None)

    def _observed_frame(self, units: list[str], by: str | None, year: int) -> dict[str, np.ndarray]:
        """Each unit's observed figures of ``year`` (every cell of the full data with a
        count that year): the columns of a units table's observed row."""
        cache = self.__dict__.setdefault("_full_groups", {})
        if by not in cache:  # the forecast's own when the full data has the same cells (most forecasts)
            cache[by] = {None: np.arange(len(self.full.cells))} if by is None else \
                self._groups(by) if self.full.cells is self.dataset.cells else group_indices(self.full.cells[by])
        empty = np.array([], np.int64)
        groups = Groups([cache[by].get(None if by is None else unit, empty) for unit in units])
        members = self.__dict__.setdefault("_members_at", {})
        if year not in members:
            members[year] = self.full.members_at(year).to_numpy()
        counts = members[year][groups.flat]
        seen = ~np.isnan(counts)
        labels, counts = groups.labels[seen], counts[seen]
        n = np.bincount(labels, minlength=len(units))
        total = np.bincount(labels, weights=counts, minlength=len(units))
        out = {"cells": n, "expected_members": total, "members_q10": total, "members_q90": total}
        needed = np.array([engine_groups.cells_needed(config.TARGET_SHARE, int(c)) for c in n])
        for k in config.THRESHOLDS:
            reaching = np.bincount(labels, weights=counts >= k, minlength=len(units))
            out[f"share_at_least_{k}"] = _share(reaching, n)
            out[f"p_share_95_at_least_{k}"] = (reaching >= needed).astype(float)
        zero = np.bincount(labels, weights=counts == 0, minlength=len(units))
        out["expected_zero_cells"], out["p_no_zero_cell"] = zero, (zero == 0).astype(float)
        return out

    def _unit_rows(self, groups: dict[str, np.ndarray], by: str | None) -> pd.DataFrame:
        """The units table of :meth:`units` for ``groups`` (unit → cells): per unit,
        its observed target years, then its horizons."""
        units = list(groups)
        observed_years = [y for y in sorted(set(config.TARGETS) | set(self.horizons)) if y in self.full.years]
        blocks = []
        for year in [y for y in observed_years if y in config.TARGETS and y <= self.base_year]:
            seen = self._observed_frame(units, by, year)
            own = {"observed_cells": seen["cells"], "observed_members": seen["expected_members"],
                   **{f"observed_share_at_least_{k}": seen[f"share_at_least_{k}"] for k in config.THRESHOLDS}}
            blocks.append({"unit": units, "horizon": year, "status": "observed", **seen,  # its own observed figures
                           **{column: np.asarray(values, dtype=float) for column, values in own.items()}})
        for horizon in self.horizons:
            block = {"unit": units, "horizon": horizon, "status": "forecast",
                     **self._forecast_frame(horizon, groups)}
            if horizon in observed_years:
                seen = self._observed_frame(units, by, horizon)
                block["observed_cells"] = seen["cells"]
                block["observed_members"] = seen["expected_members"]
                for k in config.THRESHOLDS:
                    block[f"observed_share_at_least_{k}"] = seen[f"share_at_least_{k}"]
            blocks.append(block)
        frame = pd.concat([pd.DataFrame(b) for b in blocks], ignore_index=True)
        order = np.argsort(np.tile(np.arange(len(units)), len(blocks)), kind="stable")  # unit by unit
        frame = frame.iloc[order].reset_index(drop=True)
        for col in OBSERVED_COLUMNS:
            if col not in frame:
                frame[col] = np.nan
        return frame[UNIT_COLUMNS]

    def _reach(self, year: int, groups: list[np.ndarray]) -> np.ndarray:
        """P(share ≥ 95 %) per group and threshold → (groups, thresholds): exact
        Poisson-binomial given each parameter draw, averaged over the draws."""
        stats = self.stats(year)
        out = np.empty((len(groups), len(config.THRESHOLDS)))
        for j, k in enumerate(config.THRESHOLDS):
            probs = stats.get(f"draws_at_least_{k}", stats[f"p_at_least_{k}"][None, :])
            out[:, j] = engine_groups.share_reach_groups(probs, groups, config.TARGET_SHARE).mean(axis=1)
        return out

    def _bands(self, horizon: int, groups: list[np.ndarray]):
        """The 80 % band of each group's total local members (exact engine)."""
        p, mu = self.parameters(horizon)
        return engine_groups.total_quantiles_groups(self.n0, p, mu, groups, config.BAND)

    def _forecast_frame(self, horizon: int, groups: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each group's forecast at ``horizon``: the columns of a units table's
        forecast row (exact engine: sums by group; Monte Carlo: from the draws)."""
        idxs = list(groups.values())
        if self._samples is not None:
            rows = [self._sampled_unit(horizon, idx) for idx in idxs]
            return {key: np.array([r[key] for r in rows]) for key in rows[0]} if rows else {}
        stats, parts = self.stats(horizon), Groups(idxs)
        band = np.asarray(self._bands(horizon, idxs), dtype=float).reshape(len(idxs), 2)  # (groups, 2)
        reach = self._reach(horizon, idxs)
        out = {"cells": parts.sizes, "expected_members": parts.sum(stats["expected"]),
               "members_q10": band[:, 0], "members_q90": band[:, 1]}
        for j, k in enumerate(config.THRESHOLDS):
            out[f"share_at_least_{k}"] = _share(parts.sum(stats[f"p_at_least_{k}"]), parts.sizes)
            out[f"p_share_95_at_least_{k}"] = reach[:, j]
        out["expected_zero_cells"] = parts.sum(stats["p_zero"])
        with np.errstate(divide="ignore"):  # a cell certain to be empty: log 0, a product of 0
            out["p_no_zero_cell"] = np.exp(parts.sum(np.log1p(-stats["p_zero"])))
        return out

    def _sampled_unit(self, horizon: int, idx: np.ndarray) -> dict:
        """One unit's forecast from the Monte Carlo draws (:meth:`_forecast_frame`)."""
        n = idx.size
        counts = self._samples[horizon - self.base_year][:, idx]
        total = counts.sum(axis=1)
        row = {"cells": n, "expected_members": float(total.mean())}
        row["members_q10"], row["members_q90"] = (
            float(v) for v in np.quantile(total, config.BAND, method="inverted_cdf"))
        needed = engine_groups.cells_needed(config.TARGET_SHARE, n)
        for k in config.THRESHOLDS:
            reaching = (counts >= k).sum(axis=1)
            row[f"share_at_least_{k}"] = float(reaching.mean() / n)
            row[f"p_share_95_at_least_{k}"] = float((reaching >= needed).mean())
        row["expected_zero_cells"] = float((counts == 0).sum(axis=1).mean())
        row["p_no_zero_cell"] = float(((counts == 0).sum(axis=1) == 0).mean())
        return row

    def unit_paths(self, by: str | None = None) -> pd.DataFrame:
        """The yearly path of every unit and of the province (MODEL.md §3,
        ``--out-units``): ``unit, year, expected_members, members_q10, members_q90,
        expected_admissions`` (village cells' admissions during the year),
        ``share_at_least_k`` (expected shares) and ``p_share_95_k``."""
        groups = {PROVINCE: np.arange(len(self.dataset.cells)), **self._groups(by)}
        admissions = self.rates.admissions.mean(axis=0)                      # (n, Y)
        parts = Groups(list(groups.values()))
        frames = []
        for year in self.years:
            unit = self._forecast_frame(year, groups)
            frame = {"unit": list(groups), "year": year, "expected_members": unit["expected_members"],
                     "members_q10": unit["members_q10"], "members_q90": unit["members_q90"],
                     "expected_admissions": parts.sum(admissions[:, year - self.base_year - 1])}
            frame.update({f"share_at_least_{k}": unit[f"share_at_least_{k}"] for k in config.THRESHOLDS})
            frame.update({f"p_share_95_{k}": unit[f"p_share_95_at_least_{k}"] for k in config.THRESHOLDS})
            frames.append(pd.DataFrame(frame))
        return pd.concat(frames, ignore_index=True)

    def path(self, by: str | None = None, unit: str | None = None) -> pd.DataFrame:
        """Yearly local members of a unit (or the province): history (every cell of
        the year), then the forecast's expectation and 80 % band. Columns ``year,
        observed, expected, q10, q90``."""
        idx = self._unit_index(by, unit)
        cells = self.full.cells
        mask = np.ones(len(cells), bool) if unit is None or unit == PROVINCE else \
            cells[by or self.unit_column].eq(unit).to_numpy()
        history = self.full.panel("local_members").iloc[np.flatnonzero(mask)]
        rows = [{"year": int(y), "observed": float(history[y].sum())} for y in history.columns]
        for year in self.years:
            if self._samples is not None and (year - self.base_year) in self._samples:
                total = self._samples[year - self.base_year][:, idx].sum(axis=1)
                q10, q90 = np.quantile(total, config.BAND, method="inverted_cdf")
                expected = total.mean()
            else:
                p, mu = self.parameters(year)
                offset, pmf = engine_groups.total_pmf(self.n0[idx], p[:, idx], mu[:, idx])
                q10, q90 = engine.quantiles_from_pmf(pmf, config.BAND, offset=offset)[0]
                expected = (self.n0[idx] * p[:, idx] + mu[:, idx]).sum(axis=1).mean()
            rows.append({"year": year, "expected": float(expected), "q10": float(q10), "q90": float(q90)})
        frame = pd.DataFrame(rows).groupby("year", as_index=False).first()
        base = frame["year"].eq(self.base_year)
        for col in ("expected", "q10", "q90"):
            frame.loc[base, col] = frame.loc[base, "observed"]
        return frame

    def _unit_index(self, by: str | None, unit: str | None) -> np.ndarray:
        if unit is None or unit == PROVINCE:
            return np.arange(len(self.dataset.cells))
        by = by or self.unit_column
        if by not in self.dataset.cells:
            raise ParameterError(f"no column '{by}' in the cells table")
        groups = self._groups(by)
        if unit not in groups:
            choices = ", ".join(sorted(self.dataset.cells[by].astype(str).unique()))
            raise ParameterError(f"no {by} named '{unit}' (choose from: {choices})")
        return groups[unit]

    def _horizon_threshold(self, horizon: int | None, threshold: int | None) -> tuple[int, int]:
        """The horizon (default the first) and threshold (default its lowest programme one)."""
        horizon = horizon or self.horizons[0]
        if horizon not in self.horizons:
            raise ParameterError(f"{horizon} is not a horizon of this forecast ({', '.join(map(str, self.horizons))})")
        threshold = threshold or risk_threshold(horizon)
        if threshold not in config.THRESHOLDS:
            raise ParameterError(f"threshold must be one of {config.THRESHOLDS}, got {threshold}")
        return horizon, threshold

    def at_risk(self, horizon: int | None = None, threshold: int | None = None, *,
                by: str | None = None, unit: str | None = None, level: float = 0.5) -> pd.DataFrame:
        """Cells with P(≥ threshold at horizon) < ``level`` or no local member now.

        Defaults: the first horizon and its programme threshold (the lowest one).
        Columns: ``cell_id, cell_name, commune, district`` (when present),
        ``members_now, expected_members, p_at_least``; sorted by risk.
        """
        horizon, threshold = self._horizon_threshold(horizon, threshold)
        table = self.cells[self.cells["horizon"] == horizon].reset_index(drop=True)
        table["members_now"] = self.n0
        idx = self._unit_index(by, unit)
        table = table.iloc[idx]
        col = f"p_at_least_{threshold}"
        risky = table[(table[col] < level) | (table["members_now"] == 0)]
        cols = ["cell_id", "cell_name", "commune", *(["district"] if "district" in table else []),
                "members_now", "expected_members", col]
        out = risky[cols].rename(columns={col: "p_at_least"})
        return out.sort_values(["p_at_least", "members_now"]).reset_index(drop=True)

    def probability_classes(self, horizon: int | None = None, threshold: int | None = None, *,
                            by: str | None = None, unit: str | None = None) -> pd.Series:
        """Number of cells in each class of P(≥ threshold): <0.5, 0.5–0.8, 0.8–0.95, ≥0.95."""
        horizon, threshold = self._horizon_threshold(horizon, threshold)
        table = self.cells[self.cells["horizon"] == horizon].reset_index(drop=True).iloc[self._unit_index(by, unit)]
        bins = [-0.01, 0.5, 0.8, 0.95, 1.01]
        labels = ["< 0,5", "0,5–0,8", "0,8–0,95", "≥ 0,95"]
        classes = pd.cut(table[f"p_at_least_{threshold}"], bins=bins, labels=labels, right=False)
        return classes.value_counts().reindex(labels).fillna(0).astype(int)

    # ----------------------------------------------------------------- render
    def summary(self, by: str | None = None) -> pd.DataFrame:
        """Province and each unit: share ≥ 3/4/5 and P(share ≥ 95 %) per year."""
        table = pd.concat([self.province, self.units(by)], ignore_index=True)
        cols = ["unit", "horizon", "status", "cells", "expected_members"]
        for k in config.THRESHOLDS:
            cols += [f"share_at_least_{k}", f"p_share_95_at_least_{k}"]
        return table[cols]

    def print_summary(self, by: str | None = None, *, max_units: int | None = None) -> None:
        """Print :meth:`summary` as a plain text table (:func:`nq21model.console.forecast_text`)."""
        from .console import forecast_text

        print(forecast_text(self, by, max_units=max_units))

    def plot_fan_chart(self, *, by: str | None = None, unit: str | None = None, ax=None):
        """History and forecast band of local members; returns the Axes."""
        from .plots import plot_fan_chart

        return plot_fan_chart(self.path(by, unit), base_year=self.base_year, title_unit=unit or PROVINCE, ax=ax)
