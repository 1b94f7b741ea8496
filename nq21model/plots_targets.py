"""Charts of the programme's indicators (Vietnamese labels; matplotlib imported lazily).

* :func:`plot_targets` — small multiples: each indicator's history and projection
  against its target line, for one unit (a briefing opens with it);
* :func:`plot_status_matrix` — the status of every indicator in every unit, for the
  index page.

Both draw from tables made by :mod:`nq21model.targets` and return the Figure; the
package never calls ``plt.show()`` nor sets a backend.
"""
from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd

from .fmt import format_number
from .plots import percent_axis, share_limits
from .results import PROVINCE
from .targets import AT_RISK, INDICATORS, LIKELY_MET, MET, MISSED, NO_DATA, NOT_APPLICABLE, UNLIKELY_MET

#: Colours of the statuses (green, light green, orange, red, orange-red, grey; pale
#: blue where a target does not apply).
STATUS_COLOURS = {MET: "#1a9641", LIKELY_MET: "#a6d96a", AT_RISK: "#fdae61", MISSED: "#d7191c",
                  UNLIKELY_MET: "#f46d43", NO_DATA: "#d9d9d9", NOT_APPLICABLE: "#c6dbef"}
SYNTHETIC_LABEL = "Dữ liệu mô phỏng"

#: The small multiples' grid, in inches: a panel's title wrapped to two lines of
#: at most TITLE_WIDTH characters, the margins and gaps sized to the tick labels and
#: titles (a fixed grid: matplotlib's constrained layout measured every text twice
#: and took half of a briefing's chart time).
TITLE_WIDTH = 26
PANEL_HEIGHT, LEFT, RIGHT, TOP, BOTTOM, WGAP, HGAP = 1.3, 0.55, 0.12, 1.0, 0.3, 0.6, 0.72
#: Years between the ticks of a panel's year axis.
YEAR_STEP = 5


def _number_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: format_number(v, 1))


def plot_targets(paths: pd.DataFrame, *, ncols: int = 4, fig=None, title: str | None = None,
                 keep_panels: bool = False):
    """Small multiples of the indicators of one unit.

    Parameters
    ----------
    paths : DataFrame
        From :func:`nq21model.target_views.indicator_paths` (``indicator, year,
        observed, expected, low, high, target``).
    ncols : int
        Panels per row.
    fig : matplotlib Figure, optional
        Drawn into (cleared first); default a new Figure sized to the panels.
    title : str, optional
        Default "Các chỉ tiêu của Chương trình hành động – <unit>".
    keep_panels : bool
        When ``fig`` is one this function drew the same indicators into, keep its
        panels (Axes, ticks, titles, legend) and draw only the data again: the same
        image in two thirds of the time (a batch's warm kernel, unit after unit;
        anything else drawn on the figure would stay).

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per indicator with data (``fig.axes``, in the programme's order).
    """
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    codes = [c for c in INDICATORS if c in set(paths["indicator"])]
    if not codes:
        raise ValueError("no indicator has data to draw")
    nrows = math.ceil(len(codes) / ncols)
    if fig is None:
        fig = Figure(figsize=targets_figsize(len(codes), ncols))
    width, height = fig.get_size_inches()
    drawn = getattr(fig, "_nq21_panels", None)
    if keep_panels and drawn == (tuple(codes), ncols, (width, height)) and len(fig.axes) == len(codes):
        axes = fig.axes
        for ax in axes:  # the data drawn before; panels, ticks and titles stay
            for artist in [*ax.lines, *ax.collections]:
                artist.remove()
            ax.relim()
            ax.set_autoscaley_on(True)
    else:
        fig.clear()
        fig.set_layout_engine("none")
        grid = fig.add_gridspec(nrows, ncols, left=LEFT / width, right=1 - RIGHT / width, top=1 - TOP / height,
                                bottom=BOTTOM / height,
                                wspace=WGAP / ((width - LEFT - RIGHT - (ncols - 1) * WGAP) / ncols),
                                hspace=HGAP / max(0.1, (height - TOP - BOTTOM - (nrows - 1) * HGAP) / nrows))
        # the panels only (no Axes made to be deleted), their ticks made with their size and
        # grid (set afterwards, every tick of every panel was changed again: a sixth of the chart)
        with rc_context({"xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3}):
            axes = [fig.add_subplot(grid[i // ncols, i % ncols]) for i in range(len(codes))]
        _legend(fig, width, height)
        fig._nq21_panels = (tuple(codes), ncols, (width, height))
    # each indicator's rows as arrays (pandas per panel was a fifth of the drawing's set-up)
    order = paths.sort_values(["indicator", "year"], kind="stable")
    columns = {c: order[c].to_numpy(dtype=float) for c in ("year", "observed", "expected", "low", "high", "target")}
    names, starts, counts = np.unique(order["indicator"].to_numpy(dtype=object), return_index=True,
                                      return_counts=True)
    rows = {name: slice(start, start + count) for name, start, count in zip(names, starts, counts)}
    for ax, code in zip(axes, codes):
        _panel(ax, {c: v[rows[code]] for c, v in columns.items()}, code)
    unit = paths.attrs.get("unit", PROVINCE)
    heading = title or f"Các chỉ tiêu của Chương trình hành động – {unit}"
    if paths.attrs.get("synthetic"):
        heading += f"  ({SYNTHETIC_LABEL})"
    fig.suptitle(heading, fontsize=12, color="#b30000" if paths.attrs.get("synthetic") else "black",
                 y=1 - 0.12 / height, va="top")
    return fig


def _legend(fig, width: float, height: float) -> None:
    """What the panels' marks mean, in one row under the title (a copied chart keeps it)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], marker="o", color="#08519c", ms=3, lw=1.5, label="Thực tế"),
               Line2D([], [], ls="--", color="#08519c", lw=1.5, label="Dự báo (kỳ vọng)"),
               Patch(color="#6baed6", alpha=0.3, lw=0, label="Khoảng 80%"),
               Line2D([], [], ls=":", marker="D", color="#d7191c", ms=4, lw=1.4, label="Mục tiêu của Chương trình")]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.36 / height), ncol=4,
               fontsize=8, frameon=False, handlelength=2.2, columnspacing=1.6, borderaxespad=0)


def targets_figsize(count: int, ncols: int = 4, width: float = 10.0) -> tuple[float, float]:
    """(width, height) in inches of the small multiples of ``count`` indicators."""
    nrows = math.ceil(count / ncols)
    return width, TOP + BOTTOM + nrows * PANEL_HEIGHT + (nrows - 1) * HGAP


def _panel(ax, part: dict, code: str) -> None:
    """One indicator's panel; ``part`` its columns as arrays, by year."""
    ind = INDICATORS[code]
    year, observed, expected = part["year"], part["observed"], part["expected"]
    seen = ~np.isnan(observed)
    ahead = ~np.isnan(expected)
    ax.plot(year[seen], observed[seen], "o-", color="#08519c", ms=3, lw=1.5, label="Thực tế")
    if ahead.any():
        start = np.flatnonzero(seen)[-1:]  # the last observed year, where the projection starts
        xs = np.r_[year[start], year[ahead]]
        ys = np.r_[observed[start], expected[ahead]]
        lo = np.r_[observed[start], part["low"][ahead]]
        hi = np.r_[observed[start], part["high"][ahead]]
        ax.fill_between(xs, lo, hi, color="#6baed6", alpha=0.3, lw=0, label="Khoảng 80%")
        ax.plot(xs, ys, "--", color="#08519c", lw=1.5, label="Dự báo")
    given = ~np.isnan(part["target"])
    targets = sorted(zip(year[given], part["target"][given])) if given.any() else sorted(ind.targets.items())
    first = int(year.min())
    previous = first
    for when, target in targets:
        ax.hlines(target, previous, when, colors="#d7191c", linestyles=":", lw=1.4)
        ax.plot([when], [target], "D", color="#d7191c", ms=4)
        previous = when
    # y given: no search for ticks above the panel (there are none), a tenth of the chart's time
    ax.set_title("\n".join(textwrap.wrap(ind.short, TITLE_WIDTH)), fontsize=9.5, y=1.0)
    from matplotlib.ticker import MaxNLocator, MultipleLocator

    if ind.percent:
        values = np.concatenate([part[c] for c in ("observed", "expected", "low", "high")])
        low, high = share_limits(values, include=[t for _, t in targets], margin=0.01)
        pad = 0.04 * (high - low)
        ax.set_ylim(low - pad, high + pad)
        percent_axis(ax.yaxis, low, high, nbins=5)
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.yaxis.set_major_formatter(_number_formatter())
    ax.set_xlim(first - 0.5, int(year.max()) + 0.5)
    # years ending in 0 or 5: the programme's 2025 and 2030 are ticks (MaxNLocator gave
    # 2017, 2020, … 2029), and three or four ticks a panel draw faster than six; a
    # panel of a few years has every year
    ax.xaxis.set_major_locator(MultipleLocator(YEAR_STEP if year.max() - first > YEAR_STEP else 1))


def plot_status_matrix(table: pd.DataFrame, *, year: int | None = None, ax=None):
    """The status of every indicator (rows) in each unit (columns), coloured.

    Parameters
    ----------
    table : DataFrame
        From :func:`nq21model.targets.track_targets` (with ``by`` for the units).
    year : int, optional
        Only this target year; default every (indicator, year) pair as a row.
    ax : Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    part = table if year is None else table[table["year"] == year]
    if part.empty:
        raise ValueError(f"no row for year {year}")
    keys = list(dict.fromkeys(zip(part["indicator"], part["year"])))
    units = list(dict.fromkeys(part["unit"]))
    status = part.set_index(["indicator", "year", "unit"])["status"]
    colours = {s: i for i, s in enumerate(STATUS_COLOURS)}
    grid = np.full((len(keys), len(units)), np.nan)
    for i, (code, y) in enumerate(keys):
        for j, unit in enumerate(units):
            s = status.get((code, y, unit))
            if s is not None:
                grid[i, j] = colours[s]
    if ax is None:
        fig = Figure(figsize=(1.1 * len(units) + 4.5, 0.32 * len(keys) + 1.6), layout="constrained")
        ax = fig.add_subplot()
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(list(STATUS_COLOURS.values())).with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-0.5, vmax=len(STATUS_COLOURS) - 0.5, aspect="auto")
    ax.set_xticks(range(len(units)), units, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(keys)), [f"{INDICATORS[c].short} ({y})" for c, y in keys], fontsize=8)
    ax.set_xticks(np.arange(len(units) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(keys) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    shown = [s for s in STATUS_COLOURS if s != NOT_APPLICABLE or s in set(part["status"])]
    ax.legend(handles=[Patch(color=STATUS_COLOURS[s], label=s) for s in shown], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), fontsize=8, title="Đánh giá", title_fontsize=8)
    title = "Đánh giá các chỉ tiêu" + (f" năm {year}" if year else "")
    if table.attrs.get("synthetic"):
        title += f" ({SYNTHETIC_LABEL})"
    ax.set_title(title, fontsize=10)
    return ax
