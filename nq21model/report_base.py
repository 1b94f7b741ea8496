"""What every section of a briefing shares: displayables, HTML helpers, the traffic
lights, number words, the banner and the title.

Section modules (``report_*``, :mod:`nq21model.summary`) build on this one and
:mod:`nq21model.report` re-exports them all; nothing here imports a section.
"""
from __future__ import annotations

import base64
import datetime as _dt
import functools
import html as _html
import io
import math
from pathlib import Path

import pandas as pd

from . import __version__, config
from .fmt import UNIT_LABELS, format_number, format_percent
from .results import PROVINCE, ForecastResults
from .statuses import (AT_RISK, LIKELY_MET, MET, MISSED, NO_DATA, NOT_APPLICABLE, UNLIKELY_MET, risk_threshold,
                       target_status)

#: Admission rates compared side by side (the programme asks 3–4 % a year).
SCENARIO_RATES = (0.03, 0.035, 0.04)

#: Lower end of the programme's yearly admissions target (3–4 % of members).
ADMISSION_TARGET_RATE = 0.03

#: Colour of each light.
LIGHTS = {
    "green": "#2e7d32",
    "amber": "#b26a00",
    "red": "#c62828",
    "grey": "#616161",
}


#: Colour of each status (one scale for the whole package: statuses.target_status).
STATUS_LIGHTS = {MET: "green", LIKELY_MET: "green", AT_RISK: "amber", MISSED: "red", UNLIKELY_MET: "red",
                 NO_DATA: "grey", NOT_APPLICABLE: "grey"}

#: Resolution of the charts' PNG (8 inches → 880 pixels: sharp on screen and on A4).
FIGURE_DPI = 110
#: zlib level of the charts' PNG: the fastest, as small as the default on these charts
#: (few colours: 431 KB against 431 KB for a district's five), 5 % less of their time.
PNG_OPTIONS = {"compress_level": 1}

#: Styles of the blocks a briefing shows (in every block, so a notebook shows them
#: styled too); the page's layout, phone and print rules are in the HTML template.
CSS = """<style>
.nq21 {font-family: "DejaVu Sans", Arial, sans-serif; color: #1d1d1d; line-height: 1.45;}
.nq21-scroll {overflow-x: auto; max-width: 100%;}
.nq21 table.nq21-table {border-collapse: collapse; margin: 0.4em 0 0.6em; font-size: 13px; table-layout: auto;
  border: none;}
.nq21 table.nq21-table th {background: #1f4e79; color: #fff; padding: 5px 8px; text-align: left;
  font-weight: 600; border: 1px solid #1f4e79; vertical-align: bottom;}
.nq21 table.nq21-table th.group {text-align: center; border-bottom: 1px solid #9fb8d0;}
.nq21 table.nq21-table td {padding: 4px 8px; border: 1px solid #d0d7de; vertical-align: top; text-align: left;}
.nq21 table.nq21-table tr:nth-child(even) td {background: #f6f8fa;}
.nq21 table.nq21-table td.num, .nq21 table.nq21-table th.num {text-align: right; font-variant-numeric: tabular-nums;}
.nq21 table.nq21-table td.num {white-space: nowrap;}
.nq21 table.nq21-lead td:first-child {min-width: 12em;}
.nq21 .nq21-light {font-weight: 600; white-space: nowrap;}
.nq21 .nq21-dot {font-size: 1.1em; line-height: 1;}
.nq21 .nq21-note {color: #444; font-size: 12.5px; margin: 0.2em 0 0.8em;}
.nq21-banner {background: #c62828; color: #fff; padding: 8px 14px; border-radius: 4px; line-height: 1.45;
  font-family: "DejaVu Sans", Arial, sans-serif; font-size: 14px; margin: 0 0 0.8em;
  -webkit-print-color-adjust: exact; print-color-adjust: exact;}
.nq21-banner strong {font-size: 17px; letter-spacing: 0.02em; margin-right: 0.3em;}
.nq21 h1 {font-size: 1.6em; margin: 0.2em 0 0.3em; color: #1f4e79; line-height: 1.25; font-weight: 600;}
.nq21 h3 {font-size: 1.05em; color: #1f4e79; margin: 1em 0 0.3em;}
.nq21 .nq21-sub {font-size: 13.5px; color: #333; margin: 0.1em 0;}
.nq21-summary {border: 2px solid #1f4e79; border-radius: 6px; background: #f4f8fc; padding: 10px 16px 8px;
  margin: 0.8em 0 1.2em;}
.nq21-summary h2 {margin: 0 0 0.4em; font-size: 1.3em; color: #1f4e79; border: none; padding: 0; font-weight: 600;}
.nq21-summary h3 {margin: 0.6em 0 0.2em;}
.nq21-summary ul {margin: 0.2em 0 0.4em; padding-left: 1.3em;}
.nq21-summary li {margin: 0.15em 0;}
.nq21-summary ul.nq21-verdicts {list-style: none; padding-left: 0;}
.nq21-summary .nq21-verdicts li {padding-left: 1.2em; text-indent: -1.2em;}
.nq21-summary .nq21-year {font-weight: 600; margin-top: 0.4em;}
</style>"""


# --------------------------------------------------------------------- displayables


class HTML:
    """A block of HTML that notebooks display (``_repr_html_``)."""

    def __init__(self, html: str):
        self.html = html

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"HTML({len(self.html)} characters)"


@functools.cache
def _figure_class():
    """The class of the briefings' figures, made once (matplotlib's Artist sets up each
    subclass's ``set``: 20 ms a class)."""
    from matplotlib.figure import Figure

    class BriefingFigure(Figure):
        """A matplotlib Figure that displays itself as PNG with a Vietnamese text
        alternative (``alt``), without pyplot or global state.

        The notebook output carries the PNG and, in its metadata, ``alt``; the
        briefing's HTML template writes it into the ``<img alt="…">``.
        """

        alt: str = ""

        def to_png(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=FIGURE_DPI, facecolor="white", pil_kwargs=PNG_OPTIONS)
            return buffer.getvalue()

        def _repr_png_(self) -> bytes:
            return self.to_png()

        def _repr_mimebundle_(self, include=None, exclude=None):
            return {"image/png": self.to_png()}, {"image/png": {"alt": self.alt or "Biểu đồ"}}

        def img_html(self) -> str:
            """The figure as an HTML ``<img>`` (base64 PNG) with its ``alt`` text."""
            data = base64.b64encode(self.to_png()).decode("ascii")
            return f'<img class="nq21-img" alt="{_esc(self.alt or "Biểu đồ")}" src="data:image/png;base64,{data}">'

    return BriefingFigure


def new_figure(width: float = 8.0, height: float = 4.2):
    """A :class:`BriefingFigure` with one Axes; returns ``(figure, ax)``."""
    fig = _figure_class()(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _esc(value) -> str:
    return _html.escape(str(value))


def _block(*parts: str, cls: str = "") -> HTML:
    return HTML(CSS + f'<div class="nq21{" " + cls if cls else ""}">' + "".join(parts) + "</div>")


def html_table(frame: pd.DataFrame, *, numeric: tuple[str, ...] = (), raw: tuple[str, ...] = (),
               groups: list[tuple[str, int]] | None = None, cls: str = "") -> str:
    """A small styled HTML table of already formatted text, in a box that scrolls
    sideways on its own when the screen is narrower than the table (a phone).

    ``numeric`` columns are right aligned, ``raw`` columns inserted as HTML (others
    escaped); ``groups`` (label, number of columns) adds a header row above the
    column names; ``cls`` extra classes of the table."""
    head = "".join(f'<th{" class=num" if c in numeric else ""}>{_esc(_label(c))}</th>' for c in frame.columns)
    top = ""
    if groups:
        top = "<tr>" + "".join(f'<th colspan="{n}"{" class=group" if label else ""}>{_esc(label)}</th>'
                               for label, n in groups) + "</tr>"
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for col in frame.columns:
            text = row[col] if col in raw else _esc(row[col])
            css = ' class="num"' if col in numeric else ""
            cells.append(f"<td{css}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    classes = "nq21-table" + (f" {cls}" if cls else "")
    return (f'<div class="nq21-scroll"><table class="{classes}"><thead>{top}<tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _label(column) -> str:
    """A column label; a (group, name) pair shows its name (the group row shows the group)."""
    return column[1] if isinstance(column, tuple) else str(column)


# ----------------------------------------------------------------- units and focus


def unit_order(names) -> list[str]:
    """Unit names in alphabetical order, accents aside ('Tân Uyên' before 'Thành phố …')."""
    import unicodedata

    def key(name: str):
        text = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
        return ("".join(c for c in text if not unicodedata.combining(c)).casefold(), name)

    return sorted(names, key=key)


def focus(results: ForecastResults) -> tuple[int, int]:
    """The (horizon, threshold) a briefing's at-risk list and classes refer to: the
    first horizon and its lowest programme threshold (as ``ForecastResults.at_risk``)."""
    horizon = results.horizons[0]
    return horizon, risk_threshold(horizon)


def unit_name(unit: str | None) -> str:
    """The unit's name in a sentence ('Toàn tỉnh' → 'toàn tỉnh')."""
    return "toàn tỉnh" if unit in (None, PROVINCE) else str(unit)


# --------------------------------------------------------------- traffic lights


def traffic_light(probability: float, *, observed: bool = False) -> tuple[str, str]:
    """``(colour key, Vietnamese verdict)`` for the probability that a target is met.

    Observed (probability 0 or 1): "đạt" (green) / "không đạt" (red). Forecast:
    from ``config.STATUS_LIKELY`` "có khả năng đạt" (green), from
    ``config.STATUS_UNLIKELY`` "nguy cơ không đạt" (amber), below "khó đạt" (red).
    """
    status = target_status(probability, observed=observed)
    return STATUS_LIGHTS[status], status


def light_legend(statuses=()) -> str:
    """The legend of the lights, in words; the grey one too when ``statuses`` (those
    shown) hold "không có dữ liệu" or "không áp dụng"."""
    grey = [s for s in (NO_DATA, NOT_APPLICABLE) if s in set(statuses)]
    return (f"{light_html('green', 'xanh')}: đạt, hoặc xác suất đạt từ {format_percent(config.STATUS_LIKELY, 0)} "
            f"(có khả năng đạt); {light_html('amber', 'vàng')}: xác suất từ "
            f"{format_percent(config.STATUS_UNLIKELY, 0)} đến dưới {format_percent(config.STATUS_LIKELY, 0)} "
            f"(nguy cơ không đạt); {light_html('red', 'đỏ')}: không đạt, hoặc xác suất dưới "
            f"{format_percent(config.STATUS_UNLIKELY, 0)} (khó đạt)"
            + (f"; {light_html('grey', 'xám')}: " + " hoặc ".join(_GREY_WORDS[s] for s in grey) if grey else "")
            + ".")


#: What a grey light says (:func:`light_legend`).
_GREY_WORDS = {NO_DATA: "không có số liệu để đánh giá",
               NOT_APPLICABLE: "chỉ tiêu không áp dụng cho đơn vị (đơn vị không có chi bộ bản)"}


def light_html(colour: str, text: str) -> str:
    """A coloured dot and the verdict, as HTML (the dot a character, so that it prints
    in colour and never stands alone on a line)."""
    return (f'<span class="nq21-light" style="color:{LIGHTS[colour]}">'
            f'<span class="nq21-dot" aria-hidden="true">●</span>\u00a0{_esc(text)}</span>')


def status_html(status: str) -> str:
    """A status of the tracker ("đạt", "nguy cơ không đạt"…) with its light; other text escaped."""
    return light_html(STATUS_LIGHTS[status], status) if status in STATUS_LIGHTS else _esc(status)


def format_chance(probability: float) -> str:
    """A probability as a percentage the Vietnamese way, never a false 0 % or 100 %:
    0.823 → '82%'; 0.9996 → '> 99%'; 0.001 → '< 1%'; NaN → '–'."""
    if probability is None or (isinstance(probability, float) and math.isnan(probability)):
        return "–"
    if probability > 0.995:
        return "> " + format_percent(0.99, 0) if probability < 1.0 else format_percent(1.0, 0)
    if probability < 0.005:
        return "< " + format_percent(0.01, 0) if probability > 0.0 else format_percent(0.0, 0)
    return format_percent(probability, 0)


def format_decimal2(value: float) -> str:
    """0.1323 → '0,13' (babel ``vi``)."""
    from .fmt import format_probability

    return format_probability(value, 2)


def format_p(value: float) -> str:
    """A cell's probability with two decimals, never a false certainty: 0.9995 → '> 0,99',
    0.003 → '< 0,01'."""
    if value > 0.99:
        return "> " + format_decimal2(0.99)
    if 0 < value < 0.01:
        return "< " + format_decimal2(0.01)
    return format_decimal2(value)


def band_text(low: float, high: float, digits: int = 0) -> str:
    """An 80 % band as a table shows it, never broken over two lines: '1.609–1.771'."""
    return f"{format_number(low, digits)}\u2060–\u2060{format_number(high, digits)}"


def format_people(value: float) -> str:
    """A number of people in a sentence: rounded to tens from 100 on ('≈ 1.040'), else whole."""
    if value is None or math.isnan(value):
        return "–"
    return format_number(round(value, -1) if abs(value) >= 100 else round(value))


# ------------------------------------------------------------- banner and title


def banner_text(dataset) -> str:
    """The synthetic-data warning (empty for real data)."""
    if not dataset.synthetic:
        return ""
    generator = str((getattr(dataset, "synthetic_info", None) or {}).get("generator") or "").strip()[:60]
    made_by = f" ({generator})" if generator else ""
    return ("Dữ liệu mô phỏng — không phải số liệu thật. Mọi con số trong tài liệu này được tính trên "
            f"một tỉnh giả lập{made_by}; không mô tả chi bộ, thôn, bản hay đảng viên có thật.")


#: Printed at the top of every A4 page of a document on synthetic data.
PRINT_MARK = "DỮ LIỆU MÔ PHỎNG — không phải số liệu thật"


def banner_html(dataset) -> str:
    """The banner's HTML (empty for real data): the red box, and the mark printed at
    the top of every page (CSS ``@page`` margin box)."""
    text = banner_text(dataset)
    if not text:
        return ""
    head, _, rest = text.partition(" — ")
    page_mark = ('<style>@page {@top-center {content: "' + PRINT_MARK + '"; color: #c62828; '
                 'font: 700 9pt "DejaVu Sans", Arial, sans-serif;}}</style>')
    return (page_mark + f'<div class="nq21-banner" role="note"><strong>{_esc(head)}</strong> — '
            f"{_esc(rest)}</div>")


def show_banner(results: ForecastResults) -> HTML:
    """A red banner "Dữ liệu mô phỏng" when the data are synthetic; nothing otherwise."""
    text = banner_html(results.dataset)
    return HTML(CSS + text) if text else HTML("")


def data_date(results: ForecastResults) -> str:
    """When the data files were last changed (dd/mm/yyyy of the newer of the two)."""
    stamps = [Path(p).stat().st_mtime for p in results.dataset.sources.values() if Path(p).exists()]
    if not stamps:
        return "–"
    return _dt.datetime.fromtimestamp(max(stamps)).strftime("%d/%m/%Y")


def title_text(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> tuple[str, str]:
    """``(title, subtitle)`` of a briefing."""
    name = unit or PROVINCE
    title = f"Dự báo đảng viên tại chỗ của các chi bộ thôn, bản, tổ dân phố — {name}"
    level = UNIT_LABELS.get(by, by)
    n_cells = len(results._unit_index(by, unit))
    sub = (f"Đơn vị: {name} ({level}), {format_number(n_cells)} chi bộ · Số liệu đến hết năm "
           f"{results.dataset.last_year} · Năm gốc dự báo {results.base_year} · "
           f"Kịch bản: {results.scenario.label}")
    return title, sub


def show_title(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> HTML:
    """Title and subtitle: the unit, the data's last year and the scenario."""
    title, sub = title_text(results, unit=unit, by=by)
    made = _dt.datetime.now().strftime("%d/%m/%Y")
    return _block(f"<h1>{_esc(title)}</h1>", f'<p class="nq21-sub">{_esc(sub)}</p>',
                  f'<p class="nq21-sub">Tài liệu phục vụ Ban Thường vụ Tỉnh ủy · Ban Tổ chức Tỉnh ủy lập ngày '
                  f"{made} bằng nq21model {_esc(__version__)}</p>")


def missing_html(problems: dict, part: str, what: str) -> HTML:
    """A note that a part could not be computed, with the reason."""
    reason = problems.get(part, "")
    return _block(f'<p class="nq21-note"><strong>Không có dữ liệu</strong> cho {_esc(what)}'
                  + (f": {_esc(reason)}" if reason else ".") + "</p>")


__all__ = ["SCENARIO_RATES", "ADMISSION_TARGET_RATE", "LIGHTS", "UNIT_LABELS", "STATUS_LIGHTS", "CSS",
           "HTML", "new_figure", "html_table", "unit_order", "focus", "unit_name", "traffic_light",
           "light_legend", "light_html", "status_html", "format_chance", "format_decimal2", "format_p",
           "format_people", "banner_text", "banner_html", "PRINT_MARK", "show_banner", "data_date",
           "title_text", "show_title", "missing_html", "band_text", "PROVINCE", "MET", "LIKELY_MET", "AT_RISK", "MISSED", "UNLIKELY_MET",
           "NO_DATA", "NOT_APPLICABLE", "ForecastResults"]
