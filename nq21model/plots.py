"""Charts with Vietnamese titles and labels (matplotlib, imported inside functions).

Every function draws on ``ax`` (a new figure when ``ax`` is None) and returns the
Axes. The package never calls ``plt.show()`` nor sets a backend. Numbers on the
charts are formatted by :mod:`nq21model.fmt` (babel's ``vi`` locale).
"""
from __future__ import annotations

from . import config
from .fmt import format_number, format_percent

#: Colours shared by charts and tables: on track, uncertain, at risk.
GREEN, AMBER, RED = "#2e7d32", "#e69500", "#c62828"
BLUE, GREY = "#1f5fa8", "#555555"

#: Colours of the probability classes of ``ForecastResults.probability_classes``
#: (lowest class first).
CLASS_COLOURS = (RED, AMBER, "#8bc34a", GREEN)


#: Smallest span of a share axis, in shares (10 percentage points): a fraction of a
#: point is not drawn as a collapse.
MIN_SHARE_SPAN = 0.10

#: Tick steps of a share axis (times a power of ten): 1, 2, 5 or 10 points, never 2,5.
SHARE_STEPS = (1, 2, 5, 10)


def _axes(ax, figsize=(8.0, 4.2)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _number_axis(axis, digits: int = 0, integer: bool = True) -> None:
    """Numbers the Vietnamese way (1.000); with ``integer``, ticks on whole numbers only
    (so that no label rounds a tick at 2,5 to '2')."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if integer:
        axis.set_major_locator(MaxNLocator(integer=True, steps=list(SHARE_STEPS)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: format_number(v, digits)))


def percent_label(value: float) -> str:
    """A tick's true value as a Vietnamese percentage, with as many decimals as it
    has: 0.9 → '90%', 0.925 → '92,5%', 0.0125 → '1,25%' (never 82,5 % shown as '83%')."""
    for digits in (0, 1, 2):
        if abs(100 * value - round(100 * value, digits)) < 1e-7:
            return format_percent(value, digits)
    return format_percent(value, 3)


def share_limits(values, *, include=(), min_span: float = MIN_SHARE_SPAN, margin: float = 0.0,
                 upper: float = 1.0) -> tuple[float, float]:
    """``(low, high)`` of a share axis: the finite ``values`` and ``include`` (a target
    line), ``margin`` more below and above, at least ``min_span`` wide, within
    [0, ``upper``] (so 99,3–100 % is drawn on 90–100 %, not as a collapse)."""
    import math

    data = [float(v) for v in [*values, *include] if v is not None and math.isfinite(float(v))]
    if not data:
        return 0.0, upper
    low, high = max(0.0, min(data) - margin), min(upper, max(data) + margin)
    if high - low < min_span:
        high = min(upper, max(high, low + min_span))
        low = max(0.0, high - min_span)
    return low, high


def percent_axis(axis, low: float, high: float, *, nbins: int = 6) -> None:
    """Ticks of a share axis on round percents (steps of 1, 2, 5, 10… points) between
    ``low`` and ``high`` and within 0–100 %, labelled with their true value."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    ticks = MaxNLocator(nbins=nbins, steps=list(SHARE_STEPS)).tick_values(low, high)
    ticks = [float(t) for t in ticks if low - 1e-9 <= t <= high + 1e-9 and -1e-9 <= t <= 1.0 + 1e-9]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: percent_label(v)))


def _year_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{int(round(v))}"))


def _wrap(label: str, width: int = 48) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(str(label), width)) or str(label)


def plot_fan_chart(path_frame, *, base_year: int, title_unit: str, ax=None):
    """Local members of a unit: history, then the forecast's expectation and 80 % band.

    Parameters
    ----------
    path_frame : DataFrame
        ``year, observed, expected, q10, q90`` as made by
        :meth:`nq21model.results.ForecastResults.path` (history rows have
        ``observed``; forecast rows ``expected, q10, q90``; the base year both).
    base_year : int
        Last observed year; a dotted line marks it.
    title_unit : str
        Name of the unit for the title.
    ax : matplotlib Axes, optional
    """
    ax = _axes(ax)
    frame = path_frame.sort_values("year")
    seen = frame.dropna(subset=["observed"])
    ahead = frame[frame["year"] >= base_year].dropna(subset=["expected"])
    if len(ahead):
        ax.fill_between(ahead["year"], ahead["q10"], ahead["q90"], color=BLUE, alpha=0.2, lw=0,
                        label="Khoảng dự báo 80%")
        ax.plot(ahead["year"], ahead["expected"], color=BLUE, lw=2, ls="--", marker="o", ms=3,
                label="Dự báo (giá trị kỳ vọng)")
        last = ahead.iloc[-1]
        ax.annotate(format_number(last["expected"]), (last["year"], last["expected"]),
                    xytext=(6, 0), textcoords="offset points", va="center", color=BLUE, fontsize=9)
    ax.plot(seen["year"], seen["observed"], color="black", lw=2, marker="o", ms=3, label="Thực tế")
    ax.axvline(base_year, color=GREY, ls=":", lw=1)
    ax.annotate(f"Năm gốc {base_year}", (base_year, 0.02), xycoords=("data", "axes fraction"),
                xytext=(-4, 0), textcoords="offset points", ha="right", fontsize=8, color=GREY)
    ax.set_title(f"Đảng viên tại chỗ — {title_unit}", y=1.0)
    ax.set_xlabel("Năm")
    ax.set_ylabel("Số đảng viên tại chỗ")
    _year_axis(ax.xaxis)
    _number_axis(ax.yaxis)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=9, frameon=False)
    ax.margins(x=0.06)
    return ax


def plot_probability_classes(classes, *, horizon: int, threshold: int, title_unit: str, ax=None):
    """Bars: number of cells in each class of P(≥ ``threshold`` local members at ``horizon``).

    Parameters
    ----------
    classes : Series
        Counts indexed by class label, lowest probability first, as made by
        :meth:`nq21model.results.ForecastResults.probability_classes`.
    """
    ax = _axes(ax)
    labels = [str(label) for label in classes.index]
    counts = [int(v) for v in classes.to_numpy()]
    colours = list(CLASS_COLOURS[-len(labels):]) if len(labels) <= len(CLASS_COLOURS) else [BLUE] * len(labels)
    bars = ax.bar(labels, counts, color=colours, edgecolor="white")
    for bar, count in zip(bars, counts):
        ax.annotate(format_number(count), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)
    ax.set_title(f"Chi bộ theo xác suất có ≥ {threshold} đảng viên tại chỗ năm {horizon} — {title_unit}",
                 fontsize=11, y=1.0)
    ax.set_xlabel(f"Xác suất chi bộ có ≥ {threshold} đảng viên tại chỗ năm {horizon}")
    ax.set_ylabel("Số chi bộ")
    _number_axis(ax.yaxis)
    ax.set_ylim(0, max(counts + [1]) * 1.15)
    ax.grid(True, axis="y", alpha=0.3)
    return ax


def plot_scenarios(table, *, title_unit: str, target_share: float = config.TARGET_SHARE, ax=None):
    """Grouped bars: expected share of cells with ≥ k local members, per scenario.

    Parameters
    ----------
    table : DataFrame
        One row per scenario and threshold: ``scenario`` (label), ``threshold``,
        ``horizon``, ``share`` as made by :func:`nq21model.report.compare_scenarios`
        (its long form, ``scenario_shares``).
    """
    import numpy as np

    ax = _axes(ax)
    scenarios = list(dict.fromkeys(table["scenario"]))
    keys = list(dict.fromkeys(zip(table["horizon"], table["threshold"])))
    width = 0.8 / max(len(scenarios), 1)
    x = np.arange(len(keys))
    palette = ["#9ecae1", "#4292c6", "#08519c", "#08306b", "#6baed6"]
    for i, name in enumerate(scenarios):
        rows = table[table["scenario"] == name].set_index(["horizon", "threshold"])
        values = [float(rows.loc[key, "share"]) for key in keys]
        bars = ax.bar(x + (i - (len(scenarios) - 1) / 2) * width, values, width * 0.95,
                      color=palette[i % len(palette)], label=name)
        for bar, value in zip(bars, values):
            ax.annotate(format_percent(value, 1), (bar.get_x() + bar.get_width() / 2, value),
                        xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7)
    ax.axhline(target_share, color=RED, ls="--", lw=1.2, label=f"Mục tiêu {format_percent(target_share, 0)}")
    ax.set_xticks(x, [f"≥ {k} ĐV, năm {h}" for h, k in keys])
    low, high = share_limits(table["share"], include=(target_share,), margin=0.04)
    ax.set_ylim(low, high + 0.04 * (high - low))
    percent_axis(ax.yaxis, low, high)
    ax.set_title(f"Tỷ lệ chi bộ đạt số đảng viên tại chỗ theo kịch bản kết nạp — {title_unit}", fontsize=11, y=1.0)
    ax.set_xlabel("Chỉ tiêu (số đảng viên tại chỗ của chi bộ, năm)")
    ax.set_ylabel("Tỷ lệ chi bộ (kỳ vọng)")
    ax.grid(True, axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [_wrap(label) for label in labels], fontsize=8, loc="upper center",
              bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    return ax


def plot_unit_shares(table, *, threshold: int, horizon: int, title_unit: str,
                     target_share: float = config.TARGET_SHARE, ax=None):
    """Horizontal bars: expected share of cells with ≥ ``threshold`` local members by sub-unit.

    Parameters
    ----------
    table : DataFrame
        ``unit, share`` (one row per commune, say), drawn in the given order.
    """
    ax = _axes(ax, figsize=(8.0, max(2.4, 0.2 * len(table) + 1.2)))
    values = table["share"].to_numpy(dtype=float)
    colours = [GREEN if v >= target_share else (AMBER if v >= target_share - 0.05 else RED) for v in values]
    ax.barh(table["unit"].astype(str), values, color=colours)
    for y, value in enumerate(values):
        ax.annotate(format_percent(value, 1), (value, y), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.axvline(target_share, color=RED, ls="--", lw=1.2)
    ax.invert_yaxis()
    low, high = share_limits(values, include=(target_share,), margin=0.03)
    ax.set_xlim(low, high + 0.12 * (high - low))  # room for the labels at the bars' ends
    percent_axis(ax.xaxis, low, high)
    ax.set_title(f"Tỷ lệ chi bộ có ≥ {threshold} đảng viên tại chỗ năm {horizon} theo xã — {title_unit}",
                 fontsize=11, y=1.0)
    ax.set_xlabel(f"Tỷ lệ chi bộ có ≥ {threshold} đảng viên tại chỗ (kỳ vọng); "
                  f"vạch đỏ: mục tiêu {format_percent(target_share, 0)}")
    ax.set_ylabel("")
    ax.grid(True, axis="x", alpha=0.3)
    return ax
