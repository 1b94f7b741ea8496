"""The :class:`Dataset` the model's input tables make (MODEL.md §1), and
:func:`load_dataset`, which reads them.

The tables themselves — cells, history, the optional totals of the whole party
organisation, quotas: columns, loaders, the template — are
:mod:`nq21model.model_tables` (its loaders are importable from here too).

Real files are uneven, and that is not an error: a cell's history may start late
(founded) or end early (dissolved, merged into a neighbour); a cell of the cells
table may have no history yet; a file made after July 2025 has no ``district``.
:meth:`Dataset.at_base` keeps the cells present in a base year and lists the others.
"""
from __future__ import annotations

import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .exceptions import DataError, DataWarning, Violation, deferred_warnings
from .model_tables import PROVINCE_UNITS, UNIT_COLUMNS, _load_history, keyed_history, load_cells, load_totals
from .model_tables import load_history, load_quotas, write_template  # noqa: F401  (importable from here too)
from .spelling import _fold, same_word, tone_key, unit_name_key

#: The name results give the province.
PROVINCE = "Toàn tỉnh"


# ----------------------------------------------------------------------- dataset

#: Why a cell of the cells table is not forecast from a base year.
DISSOLVED, NOT_YET = "dissolved", "not_yet"
#: Their Vietnamese names, for briefings.
ABSENCE_LABELS = {DISSOLVED: "đã giải thể, sáp nhập", NOT_YET: "chưa có số liệu đến năm gốc"}


@dataclass(frozen=True)
class Dataset:
    """Validated cells and history (and, optionally, totals), with where they came from.

    ``synthetic`` is True when a ``SYNTHETIC.json`` marker lies beside the cells
    file (the bundled data set carries one): reports then say "Dữ liệu mô phỏng".
    ``adjustments`` lists the history rows that ``reconcile`` adjusted.
    """

    cells: pd.DataFrame
    history: pd.DataFrame
    sources: dict = field(default_factory=dict)
    synthetic: bool = False
    synthetic_info: dict = field(default_factory=dict)
    #: Row of the cells table for each history row, when loading knew it (saves a lookup).
    cell_rows: np.ndarray | None = field(default=None, repr=False, compare=False)
    totals: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    adjustments: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    #: Cells of the cells table left out by :meth:`at_base` (cell_id, reason, first/last year).
    absent: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def first_year(self) -> int:
        """First year of history."""
        return int(self.history["year"].min())

    @property
    def last_year(self) -> int:
        """Last year of history (the default base year)."""
        return int(self.history["year"].max())

    @cached_property
    def years(self) -> list[int]:
        """Every year from the first to the last of history (a year no cell reports
        stays in, with no values: cells may start and end in different years)."""
        return list(range(self.first_year, self.last_year + 1))

    @property
    def default_unit(self) -> str:
        """The grouping of briefings and tables: ``district`` when the cells table has
        it, else ``commune`` (files made after the July 2025 reform)."""
        return "district" if "district" in self.cells else "commune"

    @property
    def place_columns(self) -> list[str]:
        """The cells table's columns that locate a cell, coarsest first (for outputs)."""
        return [c for c in ("district", "commune_2025", "commune") if c in self.cells]

    def members_at(self, year: int) -> pd.Series:
        """Local members at the end of ``year``, indexed by cell_id in cells order
        (NaN for a cell with no row that year)."""
        return self.panel("local_members").loc[:, year]

    def panel(self, column: str) -> pd.DataFrame:
        """One history column as a cells × years table (cells in cells order; NaN
        where a cell has no row for a year). Cached."""
        cache = self.__dict__.setdefault("_panels", {})
        if column not in cache:
            shape = (len(self.cells), len(self.years))
            if "_positions" not in cache:
                rows = self.cell_rows
                if rows is None or len(rows) != len(self.history):
                    rows = pd.Index(self.cells["cell_id"]).get_indexer(self.history["cell_id"])
                cols = self.history["year"].to_numpy() - self.first_year
                in_order = len(self.history) == shape[0] * shape[1] and \
                    bool((rows.reshape(shape) == np.arange(shape[0])[:, None]).all()) and \
                    bool((cols.reshape(shape) == np.arange(shape[1])).all())
                cache["_positions"] = None if in_order else (rows, cols)  # None: every year of every cell, in order
            values = self.history[column].to_numpy()
            if cache["_positions"] is None:  # the table is the column, folded
                table = values.reshape(shape).copy()
            else:
                rows, cols = cache["_positions"]
                table = np.zeros(shape, dtype=values.dtype) if len(self.history) == shape[0] * shape[1] \
                    else np.full(shape, np.nan)
                table[rows, cols] = values
            cache[column] = pd.DataFrame(table, index=pd.Index(self.cells["cell_id"], name="cell_id"),
                                         columns=pd.Index(self.years, name="year"), copy=False)
        return cache[column]

    @cached_property
    def spans(self) -> pd.DataFrame:
        """First and last year of each cell's history (NaN when it has none), cells order."""
        present = self.panel("local_members").notna().to_numpy()
        years = np.array(self.years)
        has = present.any(axis=1)
        first = np.where(has, years[np.argmax(present, axis=1)], np.nan)
        last = np.where(has, years[len(years) - 1 - np.argmax(present[:, ::-1], axis=1)], np.nan)
        return pd.DataFrame({"first_year": first, "last_year": last}, index=self.cells["cell_id"])

    def units_without(self, base_year: int, column: str) -> dict[str, str]:
        """Units of ``column`` none of whose cells has a row in ``base_year`` → what to
        say of each (English): a report not in yet when its rows stop the year before,
        a unit founded later when they start after it, else one whose cells ended
        earlier (dissolved, merged)."""
        if column not in self.cells:
            return {}
        codes, units = pd.factorize(self.cells[column].astype(str))
        first, last = (self.spans[c].to_numpy() for c in ("first_year", "last_year"))
        covered = np.bincount(codes[(first <= base_year) & (last >= base_year)], minlength=len(units)) > 0
        out = {}
        for j in sorted(np.flatnonzero(~covered), key=lambda j: units[j]):
            unit, mine = units[j], codes == j
            ended = int(np.nanmax(last[mine])) if np.isfinite(last[mine]).any() else None
            head = f"none of the {int(mine.sum())} cells of {column} '{unit}' has a row in {base_year}, the base year"
            if ended == base_year - 1:
                out[unit] = (f"{head}: not forecast (a report not in yet? --base-year {base_year - 1} forecasts from "
                             "the year before)")
            elif ended is not None and ended > base_year:
                out[unit] = f"{head} (its history starts in {int(np.nanmin(first[mine]))}): not forecast from {base_year}"
            else:
                out[unit] = (f"{head} (its rows end in {ended}: dissolved or merged): not forecast" if ended is not None
                             else f"{head}: no history, not forecast")
        return out

    @cached_property
    def cells_by_year(self) -> dict[int, int]:
        """The number of cells with a row in each of :attr:`years`."""
        present = self.panel("local_members").notna().to_numpy().sum(axis=0)
        return dict(zip(self.years, present.tolist()))

    def check_base_year(self, base_year: int) -> None:
        """Raise DataError unless ``base_year`` is within history and some cell has a
        row in it."""
        name = Path(self.sources.get("history", "history")).name
        if not self.first_year <= base_year <= self.last_year:
            raise DataError(Violation(name, None, "year",
                                      f"base year {base_year} is outside the history "
                                      f"({self.first_year}–{self.last_year})"))
        cells = self.cells_by_year
        if not cells[base_year]:
            raise DataError(Violation(name, None, "year", f"no cell has history in base year {base_year}"))
        earlier = [y for y in self.years if y < base_year and cells[y]]
        if earlier:  # a year begun, not complete (or a typing slip): a forecast from it covers a few cells
            last = max(earlier)  # rows, not the same cells: cells merged into one are a complete year
            before, now = int(cells[last]), int(cells[base_year])
            if now < 0.5 * before:
                raise DataError(Violation(name, None, "year", (
                    f"only {now:,} cells have a row in {base_year}, the base year, against {before:,} in {last}: "
                    f"is {base_year} not complete yet, or mistyped? Forecast from {last} (--base-year {last}) or "
                    f"add the other cells' rows of {base_year}")))

    def at_base(self, base_year: int) -> "Dataset":
        """The cells present in ``base_year`` (a row that year): what a forecast from it
        covers. The others are in ``.absent`` — dissolved (history ends before) or not
        yet in the data (history starts after, or none) — with their years; the
        history keeps only the present cells' rows. Returns ``self`` when every cell
        is present."""
        self.check_base_year(base_year)
        present = self.panel("local_members")[base_year].notna().to_numpy()
        if present.all():
            if self.absent is not None:
                return self
            same = replace(self, absent=_no_absent())
            same.__dict__["_panels"] = self.__dict__["_panels"]  # the same cells and history: the same tables
            return same
        spans = self.spans.iloc[~present]
        reason = np.where(spans["last_year"].to_numpy() < base_year, DISSOLVED, NOT_YET)
        cols = ["cell_id", "cell_name", *self.place_columns]
        absent = self.cells.loc[~present, cols].reset_index(drop=True)
        absent["reason"] = reason
        absent["first_year"] = spans["first_year"].to_numpy()
        absent["last_year"] = spans["last_year"].to_numpy()
        cells = self.cells.loc[present].reset_index(drop=True)
        keep = self.history["cell_id"].isin(cells["cell_id"]).to_numpy()
        history = self.history.loc[keep].reset_index(drop=True)
        rows = None
        if self.cell_rows is not None and len(self.cell_rows) == len(keep):
            new_position = np.cumsum(present) - 1
            rows = new_position[self.cell_rows[keep]]
        return replace(self, cells=cells, history=history, cell_rows=rows, absent=absent)

    def subset(self, mask: np.ndarray) -> "Dataset":
        """The cells of ``mask`` (cells order) with their history; ``absent`` keeps the
        absent cells of the same unit when given as ``absent=`` by the caller."""
        mask = np.asarray(mask, bool)
        cells = self.cells.loc[mask].reset_index(drop=True)
        keep = self.history["cell_id"].isin(cells["cell_id"]).to_numpy()
        rows = None
        if self.cell_rows is not None and len(self.cell_rows) == len(keep):
            rows = (np.cumsum(mask) - 1)[self.cell_rows[keep]]
        return replace(self, cells=cells, history=self.history.loc[keep].reset_index(drop=True), cell_rows=rows)

    # ---------------------------------------------------------------- totals
    def unit_totals(self, column: str, unit: str | None = None) -> pd.Series:
        """A column of the totals table by year, for one unit or the province
        (``None``: the province's own row when the table has one, else the sum of the
        unit rows of years where every unit of the default grouping reports).
        Empty when there is no totals table or no such column."""
        if self.totals is None or column not in self.totals:
            return pd.Series(dtype=float)
        cache = self.__dict__.setdefault("_totals", {})
        if column not in cache:
            table = self.totals.dropna(subset=[column])
            wide = table.pivot_table(index="year", columns="unit", values=column, aggfunc="sum").astype(float)
            own = [u for u in wide.columns if _fold(u) in PROVINCE_UNITS]
            if own:
                province = wide[own[0]].dropna()
            else:
                units = [u for u in set(self.cells[self.default_unit]) if u in wide.columns]
                complete = len(units) == self.cells[self.default_unit].nunique()
                province = wide[units].dropna().sum(axis=1) if complete and units else pd.Series(dtype=float)
            cache[column] = (wide, province.sort_index())
        wide, province = cache[column]
        if unit is None:
            return province
        return wide[unit].dropna().sort_index() if unit in wide.columns else pd.Series(dtype=float)

    def village_share(self, base_year: int, unit: str | None = None, by: str | None = None,
                      years: int = 3) -> tuple[float, tuple]:
        """φ, the village cells' share of all admissions (the totals table) over the
        last ``years`` years up to ``base_year`` that both record, for the province or
        for ``unit`` (a value of ``by``, default the data's grouping) → (φ, the years);
        NaN when the totals do not say."""
        admitted = self.unit_totals("admitted", unit)
        panel = self.panel("admitted")
        if unit is not None:
            panel = panel[(self.cells[by or self.default_unit] == unit).to_numpy()]
        village = panel.sum(axis=0)
        common = [y for y in admitted.index if self.first_year < y <= base_year and y in village.index][-years:]
        if not common or admitted[common].sum() <= 0:
            return float("nan"), ()
        return min(1.0, float(village[common].sum() / admitted[common].sum())), tuple(int(y) for y in common)

    def check_totals(self) -> list[str]:
        """Where village cells admitted more than their whole unit (or have more local
        members than it has members): a line for each of the two, naming how many
        unit-years and the first of them (a warning, not an error: real files seldom
        add up exactly)."""
        if self.totals is None:
            return []
        lines = []
        by = self.default_unit
        checks = (("admitted", "admitted", "admitted", "admissions"),
                  ("local_members", "members", "have", "members"))
        for village_col, total_col, verb, noun in checks:
            if total_col not in self.totals:
                continue
            village = self.history.assign(_unit=self.history["cell_id"].map(
                dict(zip(self.cells["cell_id"], self.cells[by])))).groupby(["_unit", "year"])[village_col].sum()
            found = []
            for unit in [PROVINCE, *sorted(set(self.cells[by]))]:
                totals = self.unit_totals(total_col, None if unit == PROVINCE else unit)
                cells_side = village.groupby(level=1).sum() if unit == PROVINCE else \
                    village.xs(unit, level=0) if unit in village.index.get_level_values(0) else pd.Series(dtype=float)
                both = pd.concat([cells_side.rename("cells"), totals.rename("unit")], axis=1).dropna()
                found += [f"{unit} {int(year)}: {int(row['cells'])} against {int(row['unit'])}"
                          for year, row in both[both["cells"] > both["unit"]].iterrows()]
            if found:
                shown = "; ".join(found[:3]) + (f"; … ({len(found) - 3} more)" if len(found) > 3 else "")
                lines.append(f"{Path(self.sources.get('totals', 'totals')).name}: village cells {verb} more {noun} "
                             f"than their unit's total in {len(found)} unit-year{'s' if len(found) > 1 else ''} "
                             f"({shown})")
        return lines


def _no_absent() -> pd.DataFrame:
    return pd.DataFrame(columns=["cell_id", "cell_name", "reason", "first_year", "last_year"])


def dataset_files(cells: str | Path | None = None, history: str | Path | None = None,
                  totals: str | Path | None | bool = None) -> dict[str, Path | None]:
    """The files :func:`load_dataset` reads for these arguments: ``cells``,
    ``history``, ``totals`` (given, else ``totals.csv`` beside the cells file whether
    or not it exists; None for ``False``) and ``marker`` (``SYNTHETIC.json`` beside
    the cells file)."""
    cells_path = Path(cells) if cells is not None else config.CELLS_FILE
    history_path = Path(history) if history is not None else config.HISTORY_FILE
    totals_path = None if totals is False else Path(totals) if totals is not None else \
        cells_path.parent / config.TOTALS_FILE.name
    return {"cells": cells_path, "history": history_path, "totals": totals_path,
            "marker": cells_path.parent / config.SYNTHETIC_MARKER}


def load_dataset(cells: str | Path | None = None, history: str | Path | None = None, *,
                 totals: str | Path | None | bool = None, sheet: str | int | None = None,
                 history_sheet: str | int | None = None, reconcile: bool = False) -> Dataset:
    """Load the tables (default: the bundled synthetic province in ``data/raw``).

    Parameters
    ----------
    cells, history : path, optional
        CSV or XLSX files; default ``data/raw/cells.csv`` and ``data/raw/history.csv``.
    totals : path or False, optional
        Yearly members and admissions of the whole party organisation per unit
        (:func:`~nq21model.model_tables.load_totals`); default ``totals.csv`` beside the cells file when there
        is one; ``False``: none.
    sheet, history_sheet : str or int, optional
        The cells' and the history's sheets of XLSX files (name or 0-based number);
        default the sheet named for the table ("Chi bộ", "Lịch sử") or the one whose
        first rows hold its headers, else the first. ``sheet`` is the history's when
        only the history is a workbook.
    reconcile : bool
        Trust ``local_members`` where a history row breaks the yearly identity (see
        :func:`~nq21model.model_tables.load_history`); the adjusted rows are in ``Dataset.adjustments``.

    Warns (:class:`~nq21model.exceptions.DataWarning`) where village cells admitted
    more than their unit's total.
    """
    files = dataset_files(cells, history, totals)
    cells_path, history_path = files["cells"], files["history"]
    workbook = {p: p.suffix.lower() in (".xlsx", ".xlsm") for p in (cells_path, history_path)}
    if sheet is not None and history_sheet is None and workbook[history_path] and not workbook[cells_path]:
        sheet, history_sheet = None, sheet  # the only workbook's sheet is the history's
    def keyed():  # the history read and keyed on the other core while the cells load; it warns after them
        with deferred_warnings() as kept:
            try:
                return keyed_history(history_path, history_sheet), kept, None
            except Exception as exc:  # noqa: BLE001 - raised when taken, after the warnings it kept
                return None, kept, exc

    def history_keyed():
        keyed_rows, kept, error = history_read.result()
        for message, category in kept:
            warnings.warn(message, category, stacklevel=2)  # in load_dataset, as the cells' warnings are
        if error is not None:
            raise error
        return keyed_rows

    with ThreadPoolExecutor(1) as pool:
        history_read = pool.submit(keyed)
        try:
            cells_df = load_cells(cells_path, sheet=sheet)
        except DataError as cells_error:  # the history's own problems in the same message: one round of fixes
            try:
                _load_history(history_path, None, cells_name=cells_path.name, reconcile=reconcile,
                              keyed=history_keyed())
            except DataError as history_error:
                raise DataError(cells_error.violations + history_error.violations) from None
            raise
        history_df, rows, adjustments = _load_history(history_path, cells_df, cells_name=cells_path.name,
                                                      reconcile=reconcile, keyed=history_keyed())
    if history_df.empty:
        raise DataError(Violation(history_path.name, None, None, "the history has no rows"))
    sources = {"cells": str(cells_path), "history": str(history_path)}
    totals_df = None
    if totals is None:  # the one beside the cells file, if there is one
        totals = files["totals"] if files["totals"].exists() else False
    if totals is not False:
        totals_df = load_totals(Path(totals))
        sources["totals"] = str(totals)
        check_totals_units(totals_df, cells_df, Path(totals).name, cells_path.name)
    marker = files["marker"]
    info = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
    dataset = Dataset(cells=cells_df, history=history_df, sources=sources,
                      synthetic=bool(info.get("synthetic", False)), synthetic_info=info, cell_rows=rows,
                      totals=totals_df, adjustments=adjustments)
    for line in dataset.check_totals():
        warnings.warn(line, DataWarning, stacklevel=2)
    return dataset


def check_totals_units(totals: pd.DataFrame, cells: pd.DataFrame, totals_name: str, cells_name: str) -> None:
    """Each unit of the totals is the province or a unit of the cells (a district, a
    commune): a name written another way than the cells write it ("Mường Tè" for
    "Huyện Mường Tè") is a DataError that names both; a unit the cells do not have
    at all, a warning (its rows are not used)."""
    known = set()
    for column in UNIT_COLUMNS:
        if column in cells:
            known.update(cells[column].dropna().astype(str).unique().tolist())
    by_key = {}
    for name in sorted(known):
        prefix, rest = unit_name_key(name)
        by_key.setdefault(tone_key(rest), []).append((prefix, name))
    problems, strangers = [], []
    for unit in totals["unit"].astype(str).unique().tolist():
        if unit in known or _fold(unit) in PROVINCE_UNITS:
            continue
        prefix, rest = unit_name_key(unit)
        close = next((name for other, name in by_key.get(tone_key(rest), []) if same_word(prefix, other)), None)
        if close is not None:
            former = "" if "district" in cells or prefix is not None else (
                f"; or, if it is the former district, {cells_name} has no districts (they ended on 1 July 2025): "
                "leave its rows out")
            problems.append(Violation(totals_name, None, "unit", f"'{unit}' is not a unit of {cells_name}: did you "
                                      f"mean '{close}'? Write each unit's name as {cells_name} writes it" + former))
        else:
            strangers.append(unit)
    if problems:
        raise DataError(problems)
    if strangers:
        shown = ", ".join(f"'{u}'" for u in strangers[:5]) + (f" and {len(strangers) - 5} more" if len(strangers) > 5 else "")
        warnings.warn(f"{totals_name}: {shown} not a district or commune of {cells_name}: "
                      f"{'its' if len(strangers) == 1 else 'their'} rows are not used", DataWarning, stacklevel=3)


def load_lai_chau() -> Dataset:
    """The bundled synthetic Lai Châu province (``data/raw``), 2015–2025.

    About 1,100 village cells in 8 district-level units, with the totals of the
    whole party organisation per district; made by :func:`nq21model.synth.write_bundle`.
    Synthetic: never real data.
    """
    return load_dataset()
