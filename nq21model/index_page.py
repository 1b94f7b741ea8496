"""The index page of a batch of briefings (``index.html``): the conclusion for the
province first, then the province and each unit against the membership targets
(a link to each briefing), every programme target by unit, and the files.

Units appear in one order in every table (:func:`nq21model.report.unit_order`,
after the province). The page uses the briefings' stylesheet (``page.css`` of the
offline template: screen, phone, A4 print).
"""
from __future__ import annotations

import datetime as _dt
import html
from pathlib import Path

import pandas as pd

from . import __version__, config, report
from .fmt import format_number, format_percent

#: The stylesheet the briefings' template includes (screen, phone, A4 print).
PAGE_CSS = Path(__file__).resolve().parent / "templates" / "nq21model_offline" / "page.css"
#: The briefings' script that marks a table wider than a phone's screen.
SCROLL_JS = PAGE_CSS.with_name("scroll.js")

#: Short words of the statuses in the index's table of every target (narrow columns).
SHORT_STATUS = {report.MET: "đạt", report.LIKELY_MET: "khả năng đạt", report.AT_RISK: "nguy cơ",
                report.MISSED: "không đạt", report.UNLIKELY_MET: "khó đạt", report.NO_DATA: "không có số liệu",
                report.NOT_APPLICABLE: "không áp dụng"}


#: The index's own table rules: unit names on one line; the matrix of statuses wraps.
INDEX_CSS = """.nq21-overview td:first-child {white-space: nowrap;}
.nq21 table.nq21-matrix td:first-child {min-width: 10em;}
.nq21 table.nq21-matrix .nq21-light {white-space: normal;}
@media print {
  .nq21 table.nq21-matrix {font-size: 7pt; line-height: 1.2;}
  .nq21 table.nq21-matrix td:first-child {min-width: 8em;}
}"""


def _status_short(status: str) -> str:
    if status in report.STATUS_LIGHTS:
        return report.light_html(report.STATUS_LIGHTS[status], SHORT_STATUS[status])
    return html.escape(status)


def index_parts(results, extras, *, by: str) -> dict:
    """What the index shows that depends on the forecast and the province-wide parts
    only, not on how the units' runs went: the province's conclusion (HTML) and
    :func:`nq21model.report.unit_overview`. A batch makes them while its notebooks run."""
    return {"conclusion": str(report.show_conclusion(results, extras, unit=None, by=by, index=True)),
            "overview": report.unit_overview(results, by=by)}


def overview_table(results, *, by: str, slugs: dict[str, str], run,
                   overview: pd.DataFrame | None = None) -> tuple[pd.DataFrame, tuple, tuple]:
    """The province and each unit against the membership targets, ready to show:
    (table, numeric columns, raw HTML columns). One cell per target: the share and,
    under it, the verdict (observed) or the chance of reaching 95 % (forecast).
    ``overview``: :func:`nq21model.report.unit_overview` of ``results``, if made already."""
    if overview is None:
        overview = report.unit_overview(results, by=by)
    in_run = {o["unit"]: o for o in run.outcomes}
    year_k = [(int(c.split("_")[1]), int(c.split("_")[2])) for c in overview.columns if c.startswith("share_")]
    names, notes = [], []
    for unit in overview["unit"]:
        if unit == report.PROVINCE:
            names.append(f"<strong>{html.escape(unit)}</strong>")
            notes.append("")
            continue
        href = html.escape(f"{by}/{slugs[unit]}.html")
        outcome = in_run.get(unit)
        exists = run.has_file(unit, run.out_dir / by / f"{slugs[unit]}.html")
        names.append(f'<a href="{href}">{html.escape(unit)}</a>' if exists else html.escape(unit))
        if outcome is not None and outcome["status"] != "ok":
            notes.append('<span style="color:#c62828;font-weight:600">lỗi khi lập lần này</span>'
                         + (" (đang hiện bản trước)" if exists else ""))
        elif outcome is None:
            notes.append("báo cáo của lần chạy trước" if exists else "chưa lập báo cáo")
        else:
            notes.append("")
    shown = pd.DataFrame({"Đơn vị": names})
    shown["Số chi bộ"] = [format_number(v) for v in overview["cells"]]
    members = f"Đảng viên tại chỗ {results.base_year}"
    shown[members] = [format_number(v) for v in overview["members_now"]]
    numeric = ["Số chi bộ", members]
    raw = ["Đơn vị"]
    for year, k in year_k:
        observed = year <= results.base_year
        label = f"≥ {k} ĐV năm {year} ({'thực tế' if observed else 'dự báo; xác suất đạt'})"
        cells = []
        for share, p in zip(overview[f"share_{year}_{k}"], overview[f"p_{year}_{k}"]):
            if observed:
                light = report.light_html(*report.traffic_light(p, observed=True))
            else:
                light = report.light_html(report.traffic_light(p)[0], report.format_chance(p))
            cells.append(f"{format_percent(share, 1)}<br>{light}")
        shown[label] = cells
        raw.append(label)
        numeric.append(label)
    zero = f"Chi bộ chưa có ĐV tại chỗ ({results.base_year})"
    shown[zero] = [format_number(v) for v in overview["zero_now"]]
    shown["Chi bộ nguy cơ"] = [format_number(v) for v in overview["at_risk"]]
    numeric += [zero, "Chi bộ nguy cơ"]
    if any(notes):
        shown["Ghi chú"] = notes
        raw.append("Ghi chú")
    return shown, tuple(numeric), tuple(raw)


def targets_table(run, units: list[str]) -> pd.DataFrame | None:
    """Every programme target (one row per indicator and year): the province's
    target, result and status, then each unit's status, units in ``units``' order.
    None without a tracker."""
    extras = run.extras
    if extras is None or extras.targets is None:
        return None
    from .target_views import province_table
    from .targets import INDICATORS

    table = province_table(extras.targets)
    codes = extras.targets[extras.targets["unit"] == report.PROVINCE]["indicator"].tolist()
    target = [t.replace("≥ ", "≥\u00a0").replace("> ", ">\u00a0") for t in table["Mục tiêu"]]
    province = [f"{html.escape(v)}<br>{_status_short(s)}" for v, s in zip(table[report.PROVINCE], table["Đánh giá"])]
    shown = pd.DataFrame({"Chỉ tiêu": [INDICATORS[c].short for c in codes], "Năm": table["Năm"],
                          "Mục tiêu": target, report.PROVINCE: province})
    for unit in units:
        if unit in table:
            shown[unit] = [_status_short(s) for s in table[unit]]
    return shown


#: Most units the index shows as columns of the targets table; with more (communes),
#: each unit is a row with its number of targets per status.
MATRIX_MAX_UNITS = 12


def status_counts(targets: pd.DataFrame, units: list[str], *, base_year: int) -> pd.DataFrame:
    """For each unit (in ``units``' order), how many of its programme targets of each
    year have each status: columns ``("", "Đơn vị")`` then ``(year heading, status)``
    for the statuses that occur (observed years: đạt, không đạt; forecast years:
    có khả năng đạt, nguy cơ không đạt, khó đạt; "không có dữ liệu" and "không áp dụng"
    when they occur)."""
    from .report_programme import year_heading

    order = [report.MET, report.LIKELY_MET, report.AT_RISK, report.UNLIKELY_MET, report.MISSED, report.NO_DATA,
             report.NOT_APPLICABLE]
    part = targets[targets["unit"].isin(units)]
    out = {("", "Đơn vị"): list(units)}
    for year in sorted(part["year"].unique()):
        mine = part[part["year"] == year]
        counts = mine.groupby(["unit", "status"]).size()
        for status in [s for s in order if s in set(mine["status"])]:
            out[(year_heading(int(year), base_year), status)] = [int(counts.get((u, status), 0)) for u in units]
    return pd.DataFrame(out)


def targets_section(run, units: list[str]) -> str:
    """The index's table of every programme target: the province and, as columns,
    each unit's status; with more than :data:`MATRIX_MAX_UNITS` units, the province's
    table and a table of each unit's number of targets per status."""
    shown = targets_table(run, units if len(units) <= MATRIX_MAX_UNITS else [])
    if shown is None:
        return ""
    raw = (report.PROVINCE, *[u for u in units if u in shown])
    html_out = ("<h2>Các chỉ tiêu của Chương trình hành động</h2>"
                + report.html_table(shown, numeric=("Năm", report.PROVINCE), raw=raw, cls="nq21-matrix"))
    shown_units = [report.PROVINCE] + (units if len(units) <= MATRIX_MAX_UNITS else [])
    statuses = run.extras.targets.loc[run.extras.targets["unit"].isin(shown_units), "status"]
    note = (f"Năm {run.extras.base_year} trở về trước: số liệu thực tế; sau đó: dự báo. Đèn "
            + report.light_legend(statuses))
    if len(units) <= MATRIX_MAX_UNITS:
        return html_out + (f'<p class="nq21-note">{note} Cột của từng đơn vị là đánh giá của đơn vị đó (– : chỉ tiêu '
                           "chỉ đặt cho toàn tỉnh).</p>")
    counts = status_counts(run.extras.targets, units, base_year=run.extras.base_year)
    heads = [c[0] for c in counts.columns[1:]]
    groups = [("", 1)] + [(head, heads.count(head)) for head in dict.fromkeys(heads)]
    return (html_out + f'<p class="nq21-note">{note}</p>'
            + "<h3>Số chỉ tiêu theo đánh giá, từng đơn vị</h3>"
            + report.html_table(counts, numeric=tuple(counts.columns[1:]), groups=groups, cls="nq21-counts")
            + '<p class="nq21-note">Đánh giá từng chỉ tiêu của mỗi đơn vị: xem báo cáo của đơn vị đó.</p>')


def index_html(results, *, by: str, slugs: dict[str, str], run, parts: dict | None = None) -> str:
    """The whole index page (HTML); ``parts``: :func:`index_parts` of ``results`` and
    ``run.extras``, if made already."""
    parts = parts or index_parts(results, run.extras, by=by)
    shown, numeric, raw = overview_table(results, by=by, slugs=slugs, run=run, overview=parts["overview"])
    units = report.unit_order(results.dataset.cells[by].astype(str).unique())
    at_risk_layout = ("mỗi đơn vị một trang" if len(units) <= report.MAX_UNIT_SHEETS
                      else "mọi đơn vị trên một trang, lọc theo đơn vị")
    title = f"Dự báo đảng viên tại chỗ theo {report.UNIT_LABELS.get(by, by)}"
    sub = (f"Số liệu đến hết năm {results.dataset.last_year} · Năm gốc dự báo {results.base_year} · "
           f"Kịch bản: {results.scenario.label}")
    failures = ""
    if run.failures:
        items = "".join(f"<li>{html.escape(o['unit'])}: {html.escape(str(o['error']))}</li>" for o in run.failures)
        failures = (f'<h2>Đơn vị lập báo cáo bị lỗi</h2><ul style="color:#c62828">{items}</ul>'
                    '<p class="nq21-note">Báo cáo của lần chạy trước (nếu có) được giữ nguyên; notebook lỗi '
                    f"nằm trong thư mục {html.escape(by)}/ với đuôi .failed.ipynb.</p>")
    made = _dt.datetime.now().strftime("%d/%m/%Y %H:%M")
    conclusion = parts["conclusion"]
    body = (report.banner_html(results.dataset)
            + '<div class="nq21">'
            + f"<h1>{html.escape(title)}</h1><p class=\"nq21-sub\">{html.escape(sub)}</p>"
            + f'<p class="nq21-sub">Tài liệu phục vụ Ban Thường vụ Tỉnh ủy · lập lúc {made} bằng nq21model '
              f"{html.escape(__version__)}</p></div>"
            + conclusion
            + '<div class="nq21">'
            + "<h2>Chi bộ đạt số đảng viên tại chỗ, theo đơn vị</h2>"
            + report.html_table(shown, numeric=numeric, raw=raw, cls="nq21-overview")
            + '<p class="nq21-note">Bấm tên đơn vị để mở báo cáo. Tỷ lệ chi bộ có từ k đảng viên tại chỗ trở lên '
              f"(mục tiêu {format_percent(config.TARGET_SHARE, 0)}); năm không muộn hơn năm gốc là số liệu thực tế, "
              "năm sau là dự báo (giá trị kỳ vọng) kèm xác suất để tỷ lệ đạt mục tiêu. Đèn " + report.light_legend()
              + " Chi bộ nguy cơ: " + report.at_risk_rule(results) + " (danh sách trong tệp at_risk.xlsx).</p>"
            + targets_section(run, units)
            + failures
            + "<h2>Tệp kèm theo</h2><ul>"
            + f'<li><a href="at_risk.xlsx">at_risk.xlsx</a>: danh sách {format_number(run.at_risk_cells)} chi bộ '
              f"có nguy cơ, {at_risk_layout} (Excel)</li>"
            + (f'<li><a href="chi_tieu/">chi_tieu/</a>: đề xuất chỉ tiêu kết nạp, mỗi đơn vị một tệp Excel '
               f"({format_number(len(run.quota_books))} tệp)</li>" if run.quota_books else "")
            + '<li><a href="manifest.json">manifest.json</a>: tham số, mã băm dữ liệu, phiên bản, thời gian '
              "chạy</li></ul></div>")
    css = PAGE_CSS.read_text(encoding="utf-8")
    return (f'<!DOCTYPE html>\n<html lang="vi">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
            f"<title>{html.escape(title)}</title>\n{report.CSS}\n"
            f'<style>\nbody {{margin: 0; background: #fff; font-family: "DejaVu Sans", Arial, sans-serif;}}\n'
            f"{css}\n{INDEX_CSS}\n"
            f"</style>\n</head>\n<body>\n<main class=\"nq21-page\">\n{body}\n</main>\n"
            f"<script>\n{SCROLL_JS.read_text(encoding='utf-8')}</script>\n</body>\n</html>\n")
