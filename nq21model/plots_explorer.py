"""Charts of the scenario explorer (Vietnamese labels), drawn on given Axes.

matplotlib is imported inside the functions; nothing here picks a backend or
calls ``plt.show()``. Each chart is an object that builds its artists once on an
Axes and then only updates their data (:meth:`update`): no axes clearing, no new
tick objects, which is what makes a redraw after a slider move cheap.
:class:`ExplorerRenderer` keeps one Agg figure with both charts and renders it
to PNG for the notebook.
"""
from __future__ import annotations

import io

import numpy as np

from . import config
from .fmt import format_number, format_percent, format_probability

COLOUR_A = "#1565c0"
COLOUR_B = "#ef6c00"
COLOUR_HISTORY = "#263238"
COLOUR_OBSERVED = "#2e7d32"
COLOUR_TARGET = "#b71c1c"
NICE_STEPS = [1, 2, 2.5, 5, 10]


class FanChart:
    """Local members of the unit: history, scenario A's expectation and 80 % band,
    scenario B's expectation, a dotted line at the base year."""

    def __init__(self, ax):
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        self.ax = ax
        empty = np.array([0.0, 1.0])
        (self.history,) = ax.plot(empty, empty, color=COLOUR_HISTORY, marker="o", ms=3, lw=1.6, label="Thực tế")
        self.band = ax.fill_between(empty, empty, empty, color=COLOUR_A, alpha=0.18, lw=0,
                                    label="A: khoảng 80%")
        (self.line_a,) = ax.plot(empty, empty, color=COLOUR_A, lw=2, label="A: kỳ vọng")
        (self.line_b,) = ax.plot(empty, empty, color=COLOUR_B, lw=1.6, ls="--", label="B: kỳ vọng")
        self.base = ax.axvline(0, color="#90a4ae", lw=0.8, ls=":")
        ax.set_xlabel("Năm", fontsize=9)
        ax.set_ylabel("Số đảng viên tại chỗ", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=NICE_STEPS))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_number(v)))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, lw=0.5)
        ax.legend(handles=[self.history, self.band, self.line_a, self.line_b], fontsize=7.5, ncol=4,
                  loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)

    def update(self, view):
        """Show ``view`` (an :class:`nq21model.explorer.ExplorerView`); returns the Axes."""
        path_a, path_b = view.path("a"), view.path("b")
        hist = path_a.dropna(subset=["observed"])
        ahead = path_a[(path_a["year"] >= view.base_year) & path_a["expected"].notna()]
        ahead_b = path_b[(path_b["year"] >= view.base_year) & path_b["expected"].notna()]
        self.history.set_data(hist["year"], hist["observed"])
        self.band.set_data(ahead["year"].to_numpy(), ahead["q10"].to_numpy(), ahead["q90"].to_numpy())
        self.line_a.set_data(ahead["year"], ahead["expected"])
        self.line_b.set_data(ahead_b["year"], ahead_b["expected"])
        self.base.set_xdata([view.base_year, view.base_year])
        values = np.concatenate([hist["observed"], ahead["q10"], ahead["q90"], ahead_b["expected"],
                                 view.axis_hints.get("members", ())])
        self.ax.set_ylim(*_nice_limits(float(np.nanmin(values)), float(np.nanmax(values))))
        self.ax.set_xlim(float(path_a["year"].min()) - 0.5, float(path_a["year"].max()) + 0.5)
        self.ax.set_title(f"Đảng viên tại chỗ — {view.unit}", fontsize=10)
        return self.ax

    @property
    def dynamic(self) -> list:
        """Artists that change with the scenario (redrawn over a cached background)."""
        return [self.band, self.history, self.line_a, self.line_b]

    def layout_key(self) -> tuple:
        """What the cached background depends on."""
        return (self.ax.get_title(), self.ax.get_xlim(), self.ax.get_ylim(), tuple(self.base.get_xdata()))


class SharesChart:
    """Share of cells with ≥ 3 / ≥ 4 / ≥ 5 local members at the horizon under
    scenarios A and B, against the 95 % line; each bar labelled with its share and
    the probability P that the share reaches 95 %; the base year's share as a
    black tick, the observed share at the horizon (when history covers it) as a
    green diamond."""

    width = 0.36

    def __init__(self, ax):
        from matplotlib.ticker import FuncFormatter

        self.ax = ax
        k = len(config.THRESHOLDS)
        self.x = np.arange(k)
        self.bars_a = ax.bar(self.x - self.width / 2, np.zeros(k), self.width, color=COLOUR_A, alpha=0.85,
                             label="Kịch bản A")
        self.bars_b = ax.bar(self.x + self.width / 2, np.zeros(k), self.width, color=COLOUR_B, alpha=0.85,
                             label="Kịch bản B")
        self.labels = [ax.text(xi, 0, "", ha="center", va="bottom", fontsize=7)
                       for xi in np.concatenate([self.x - self.width / 2, self.x + self.width / 2])]
        self.now = ax.scatter(self.x, np.zeros(k), marker="_", s=600, linewidths=2, color=COLOUR_HISTORY,
                              zorder=3, label="Năm gốc")
        self.observed = ax.scatter(self.x, np.zeros(k), marker="D", s=20, color=COLOUR_OBSERVED, zorder=4,
                                   label="Thực tế")
        self.target = ax.axhline(config.TARGET_SHARE, color=COLOUR_TARGET, lw=1.2, ls="--", label="Mục tiêu 95%")
        ax.set_xticks(self.x, [f"≥ {t} đảng viên" for t in config.THRESHOLDS], fontsize=8)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_percent(v, 0)))
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3, lw=0.5)
        from matplotlib.lines import Line2D

        self._now_handle = Line2D([], [], color=COLOUR_HISTORY, lw=2)
        self._legend_key = None

    def update(self, view):
        """Show ``view``; returns the Axes."""
        shares_a, shares_b = view.shares("a"), view.shares("b")
        for bars, table, offset in ((self.bars_a, shares_a, 0), (self.bars_b, shares_b, len(self.x))):
            for j, (share, prob) in enumerate(zip(table["share"], table["p_share_95"])):
                label = self.labels[offset + j]
                label.set_y(share + 0.003)
                label.set_text(f"{format_percent(share)}\nP={format_probability(prob)}")
        self.now.set_offsets(np.column_stack([self.x, shares_a["share_now"]]))
        observed = shares_a["observed"]
        has_observed = bool(observed.notna().any())
        self.observed.set_visible(has_observed)
        if has_observed:
            self.observed.set_offsets(np.column_stack([self.x, observed.fillna(0)]))
        lowest = float(np.nanmin(np.concatenate([shares_a["share"], shares_b["share"], shares_a["share_now"],
                                                 observed.to_numpy(dtype=float),
                                                 [view.axis_hints.get("share_floor", np.nan)]])))
        bottom = max(0.0, min(0.85, np.floor((lowest - 0.03) * 20) / 20))
        self.ax.set_ylim(bottom, 1.0 + 0.16 * (1.0 - bottom))
        self._set_bar_bottoms(bottom, shares_a["share"], shares_b["share"])
        self.ax.set_title(f"Tỷ lệ chi bộ đạt ngưỡng năm {view.horizon} (P: xác suất đạt 95%)", fontsize=10)
        self._legend(view, has_observed)
        return self.ax

    @property
    def dynamic(self) -> list:
        """Artists that change with the scenario (redrawn over a cached background)."""
        return [*self.bars_a.patches, *self.bars_b.patches, *self.labels, self.now, self.observed]

    def layout_key(self) -> tuple:
        """What the cached background depends on."""
        return (self.ax.get_title(), self.ax.get_ylim(), self._legend_key)

    def _set_bar_bottoms(self, bottom, shares_a, shares_b):
        for bars, shares in ((self.bars_a, shares_a), (self.bars_b, shares_b)):
            for patch, share in zip(bars.patches, shares):
                patch.set_y(bottom)
                patch.set_height(max(0.0, share - bottom))

    def _legend(self, view, has_observed: bool):
        key = (view.base_year, view.horizon, has_observed)
        if key == self._legend_key:
            return
        self._now_handle.set_label(f"Năm {view.base_year}")
        self.observed.set_label(f"Thực tế {view.horizon}")
        handles = [self.bars_a, self.bars_b, self.target, self._now_handle] + ([self.observed] if has_observed else [])
        self.ax.legend(handles=handles, fontsize=7.5, ncol=3, loc="upper center",
                       bbox_to_anchor=(0.5, -0.08), frameon=False, columnspacing=1.2, handletextpad=0.4)
        self._legend_key = key


def _nice_limits(low: float, high: float) -> tuple[float, float]:
    """Axis limits around [low, high] on tick boundaries, so that small changes of
    the data keep the same limits (and the same cached background)."""
    from matplotlib.ticker import MaxNLocator

    pad = max(1.0, 0.04 * (high - low))
    ticks = MaxNLocator(nbins=6, steps=NICE_STEPS).tick_values(max(0.0, low - pad), high + pad)
    step = ticks[1] - ticks[0]
    return max(0.0, float(np.floor((low - pad) / step) * step)), float(np.ceil((high + pad) / step) * step)


def plot_unit_fan_chart(view, ax):
    """Fan chart of the unit's local members for ``view`` on ``ax``; returns the Axes."""
    return FanChart(ax).update(view)


def plot_target_shares(view, ax):
    """Shares ≥ 3/4/5 of scenarios A and B against 95 % on ``ax``; returns the Axes."""
    return SharesChart(ax).update(view)


class ExplorerRenderer:
    """One reusable figure (fan chart | shares) rendered to PNG bytes.

    Blitting: the figure without its data (axes, ticks, titles, legends) is drawn
    once and kept as a background; a view with the same layout (same unit, years
    and axis limits) restores it and draws only the data artists over it.

    Parameters
    ----------
    size : (float, float)
        Figure size in inches.
    dpi : int
    """

    def __init__(self, size=(11.0, 4.2), dpi: int = 90):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=size, dpi=dpi)
        FigureCanvasAgg(self.figure)
        fan_ax, share_ax = self.figure.subplots(1, 2, width_ratios=[1.3, 1])
        self.figure.subplots_adjust(left=0.065, right=0.99, bottom=0.22, top=0.92, wspace=0.16)
        self.fan = FanChart(fan_ax)
        self.shares = SharesChart(share_ax)
        for artist in self._dynamic():
            artist.set_animated(True)
        self._background = None
        self._background_key = None
        self.full_draws = 0

    def _dynamic(self) -> list:
        return [*self.fan.dynamic, *self.shares.dynamic]

    def draw(self, view):
        """Update both charts for ``view``; returns the Figure."""
        self.fan.update(view)
        self.shares.update(view)
        return self.figure

    def render_rgba(self, view) -> np.ndarray:
        """The figure for ``view`` as an RGBA array (height, width, 4)."""
        self.draw(view)
        canvas = self.figure.canvas
        key = (self.fan.layout_key(), self.shares.layout_key())
        if key != self._background_key:
            canvas.draw()  # everything but the animated data artists
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            self._background_key = key
            self.full_draws += 1
        else:
            canvas.restore_region(self._background)
        for artist in self._dynamic():
            if artist.get_visible():
                artist.axes.draw_artist(artist)
        return np.asarray(canvas.buffer_rgba())

    def render_png(self, view) -> bytes:
        """The figure for ``view`` as PNG bytes (RGB, fast zlib level: it is redrawn
        often; Pillow directly, a third faster than ``matplotlib.image.imsave``)."""
        from PIL import Image

        rgba = np.ascontiguousarray(self.render_rgba(view))
        image = Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "RGBA", 0, 1).convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="png", compress_level=1)
        return buffer.getvalue()
