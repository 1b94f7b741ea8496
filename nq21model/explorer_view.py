"""What the scenario explorer shows of one state: :class:`ExplorerView` (the
forecasts of one unit under scenarios A and B at one horizon, as tables, HTML
snippets and the XLSX cell table), :func:`export_tables` (the sheets of that
export) and :class:`ExplorerPage` (everything the notebook displays, rendered).
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, engine_groups
from .data import ABSENCE_LABELS
from .exceptions import ParameterError
from .explorer_base import (ADMISSIONS, ALLOCATION_CHOICES, AT_RISK_ROWS, LEVELS, RATE_MODELS, REPORT_DRAWS,
                            Choice, ExplorerState, all_members_rate, default_threshold, people_label,
                            rate_band_html)
from .explorer_results import UnitForecast
from .fmt import format_number, format_percent, format_probability, slugify
from .results import ForecastResults
from .styles import Sheet, chance_value

__all__ = ["ExplorerView", "EXPORT_HEADERS", "export_tables", "ExplorerPage", "TABLE_CSS"]


#: Style of the explorer's HTML tables (compact, readable inside a widget).
TABLE_CSS = ("<style>.nq21-table{border-collapse:collapse;font-size:13px;line-height:1.35;margin:4px 0}"
             ".nq21-table th,.nq21-table td{padding:2px 8px;border-bottom:1px solid #e0e0e0;text-align:left;"
             "vertical-align:top}.nq21-table th{background:#f5f5f5;font-weight:600}"
             ".nq21-table td.num{text-align:right;white-space:nowrap}</style>")


class ExplorerView:
    """Forecasts of one unit under scenarios A and B at one horizon.

    Attributes
    ----------
    state : ExplorerState
    unit : str
        Name of the unit ('Toàn tỉnh' for the province).
    base_year, horizon, threshold : int
    axis_hints : dict
        Ranges the charts keep while a rate slider moves (:meth:`Explorer.axis_hints`).
    results, compare : ForecastResults
        Scenario A and scenario B, over the unit's cells present in the base year
        (province admissions from every cell); ``results.full`` holds the unit's
        whole data (dissolved cells counted in the years they existed).
    choices : dict
        ``{"a": Choice, "b": Choice}``: each scenario and its notes.
    programme : ProgrammeBase or None
        The programme's base of admission rates (None without a totals table).
    missing : str
        Why there is no programme base (Vietnamese), when there is none.
    """

    def __init__(self, state: ExplorerState, unit: str, base_year: int, horizon: int,
                 forecast_a: UnitForecast, forecast_b: UnitForecast, *, axis_hints: dict | None = None,
                 choices: dict | None = None, programme=None, missing: str = ""):
        self.state = state
        self.axis_hints = axis_hints or {}
        self.unit = unit
        self.base_year = base_year
        self.horizon = horizon
        self._forecasts = {"a": forecast_a, "b": forecast_b}
        self.choices = choices or {w: Choice(f.results.scenario) for w, f in self._forecasts.items()}
        self.programme = programme
        self.missing = missing or "không có bảng tổng số đảng viên"
        self.threshold = int(state.threshold) if state.threshold else default_threshold(horizon)
        if self.threshold not in config.THRESHOLDS:
            raise ParameterError(f"threshold must be one of {config.THRESHOLDS}, got {self.threshold}")

    @property
    def results(self) -> ForecastResults:
        """Scenario A's forecast results (the unit's cells)."""
        return self._forecasts["a"].results

    @property
    def compare(self) -> ForecastResults:
        """Scenario B's forecast results (the unit's cells)."""
        return self._forecasts["b"].results

    def _get(self, which: str) -> UnitForecast:
        if which not in self._forecasts:
            raise ParameterError(f"which must be 'a' or 'b', got '{which}'")
        return self._forecasts[which]

    def unit_row(self, which: str = "a") -> pd.Series:
        """The unit's forecast row at the horizon (see ``ForecastResults.units``)."""
        return self._get(which).unit_row.copy()

    @cached_property
    def members_now(self) -> np.ndarray:
        """Local members of the unit's cells at the base year."""
        return self.results.n0

    @property
    def absent(self) -> pd.DataFrame:
        """The unit's cells not forecast (dissolved before the base year, or not yet
        in the data): ``cell_id, cell_name, …, reason, first_year, last_year``."""
        return self.results.absent

    def rates_label(self, which: str = "a") -> str:
        """How the scenario's rates are made, in Vietnamese."""
        res = self._get(which).results
        if res.rates.source == "calibrated":
            first = res.full.first_year
            draws = res.rates.draws
            fewer = (f"; bản tin và lệnh forecast dùng {REPORT_DRAWS}, xác suất đạt 95% có thể chênh đến ±0,05"
                     if draws < REPORT_DRAWS else "")
            return (f"Tỷ lệ hiệu chỉnh theo lịch sử {first}–{self.base_year}, có tính bất định của tham số "
                    f"({format_number(draws)} bộ tham số{fewer})")
        return (f"Tỷ lệ cố định: giảm {format_percent(res.scenario.attrition_rate)}/năm cho mọi chi bộ, "
                "không tính bất định của tham số")

    def people(self, which: str = "a") -> str:
        """What the scenario's admissions mean in people (:func:`people_label`)."""
        forecast = self._get(which)
        return people_label(forecast.results.scenario, forecast.province, self.programme, unit=self.unit,
                            unit_rates=forecast.results.rates, missing=self.missing)

    def all_members_rate(self, which: str = "a") -> tuple[float | None, bool]:
        """(the scenario's admissions as a rate of all members, whether approximate)."""
        forecast = self._get(which)
        scenario = forecast.results.scenario
        if scenario.kind == "rate":
            return (scenario.rate, False) if scenario.admission_base == "all" else (None, False)
        return all_members_rate(forecast.province, self.programme), True

    def notes(self, which: str = "a") -> tuple:
        """Where the scenario departs from what the controls ask (short history…)."""
        return self.choices[which].notes

    def shares(self, which: str = "a") -> pd.DataFrame:
        """Per threshold k = 3, 4, 5: ``threshold, share_now`` (observed at the base
        year), ``share`` (expected at the horizon), ``p_share_95`` (probability that
        the share reaches 95 %), ``cells_needed`` (cells with ≥ k for 95 %),
        ``observed`` (share seen at the horizon when history covers it)."""
        row = self.unit_row(which)
        n = self.members_now.size
        out = []
        for k in config.THRESHOLDS:
            out.append({"threshold": k, "share_now": float((self.members_now >= k).mean()),
                        "share": float(row[f"share_at_least_{k}"]),
                        "p_share_95": float(row[f"p_share_95_at_least_{k}"]),
                        "cells_needed": engine_groups.cells_needed(config.TARGET_SHARE, n),
                        "observed": float(row.get(f"observed_share_at_least_{k}", np.nan))})
        return pd.DataFrame(out)

    def comparison(self) -> pd.DataFrame:
        """Scenario A and B side by side: one row per figure, columns ``figure, a, b``."""
        rows = []
        ra, rb = self.unit_row("a"), self.unit_row("b")
        fa, fb = self._get("a"), self._get("b")
        rows.append(("scenario", self.results.scenario.label, self.compare.scenario.label))
        rows.append(("rates", self.rates_label("a"), self.rates_label("b")))
        rows.append(("admissions_first_year", float(fa.admissions[0]), float(fb.admissions[0])))
        steps = self.horizon - self.base_year
        rows.append(("admissions_total", float(fa.admissions[:steps].sum()), float(fb.admissions[:steps].sum())))
        rows.append(("expected_members", ra["expected_members"], rb["expected_members"]))
        rows.append(("members_q10", ra["members_q10"], rb["members_q10"]))
        rows.append(("members_q90", ra["members_q90"], rb["members_q90"]))
        for k in config.THRESHOLDS:
            rows.append((f"share_at_least_{k}", ra[f"share_at_least_{k}"], rb[f"share_at_least_{k}"]))
            rows.append((f"p_share_95_at_least_{k}", ra[f"p_share_95_at_least_{k}"],
                         rb[f"p_share_95_at_least_{k}"]))
        rows.append(("expected_zero_cells", ra["expected_zero_cells"], rb["expected_zero_cells"]))
        rows.append(("at_risk_cells", len(self.at_risk("a")), len(self.at_risk("b"))))
        return pd.DataFrame(rows, columns=["figure", "a", "b"])

    def at_risk(self, which: str = "a") -> pd.DataFrame:
        """Cells with P(≥ threshold at the horizon) < 0.5 or no local member now."""
        return self._get(which).at_risk(self.threshold).copy()

    def cell_table(self, which: str = "a") -> pd.DataFrame:
        """The unit's cells at the horizon: MODEL.md §3 columns (``district`` when
        the data has it), then ``members_<base year>``."""
        res = self._get(which).results
        table = res.cells[res.cells["horizon"] == self.horizon][res.cell_columns].reset_index(drop=True)
        table[f"members_{self.base_year}"] = self.members_now
        return table

    def path(self, which: str = "a") -> pd.DataFrame:
        """Yearly local members of the unit: history and forecast band."""
        return self._get(which).path.copy()

    # ------------------------------------------------------------ rendering
    @property
    def synthetic(self) -> bool:
        """Whether the data are synthetic."""
        return bool(self.results.dataset.synthetic)

    @property
    def level_label(self) -> str:
        return LEVELS.get(self.state.level, self.state.level)

    def title_html(self) -> str:
        """Heading: unit, base year, horizon, cells (and those not forecast)."""
        level = "" if self.state.level == "province" else f"{self.level_label}: "
        absent = self.absent
        gone = int((absent["reason"] == "dissolved").sum()) if len(absent) else 0
        later = len(absent) - gone
        extra = ""
        if gone:
            extra += f"; {format_number(gone)} chi bộ đã giải thể, sáp nhập trước năm gốc — không dự báo"
        if later:
            extra += f"; {format_number(later)} chi bộ chưa có số liệu đến năm gốc — không dự báo"
        notes = [n for w in ("a", "b") for n in self.notes(w) if n.startswith("Lịch sử chưa đủ")][:1]
        warning = "".join(f'<div class="nq21-note" style="background:#fff3e0;border-left:4px solid #ef6c00;'
                          f'padding:4px 8px;margin:4px 0">{html.escape(n)}</div>' for n in notes)
        return (f'<h3 style="margin:4px 0">{html.escape(level + self.unit)} — dự báo năm {self.horizon} '
                f'(năm gốc {self.base_year}, {format_number(self.members_now.size)} chi bộ{extra})</h3>{warning}')

    def rates_html(self, which: str = "a") -> str:
        """Under a scenario's controls: what its admissions mean in people, how its
        rates are made, its notes; under A, the programme's 3–4 % ruler with A and B
        as rates of all members (when the data gives that base)."""
        name = which.upper()
        lines = [f"<b>{name}</b>: {html.escape(self.people(which))}.", html.escape(self.rates_label(which)) + "."]
        lines += [html.escape(n) for n in self.notes(which) if not n.startswith("Lịch sử chưa đủ")]
        notes = [n for n in self.notes(which) if n.startswith("Lịch sử chưa đủ")]
        lines += [f'<span class="nq21-note" style="color:#e65100">{html.escape(n)}</span>' for n in notes]
        ruler = ""
        if which == "a" and self.programme is not None:
            (rate_a, approx_a), (rate_b, approx_b) = self.all_members_rate("a"), self.all_members_rate("b")
            if rate_a is not None or rate_b is not None:
                ruler = rate_band_html(rate_a, rate_b, approx_a=approx_a, approx_b=approx_b)
        body = "".join(f"<div>{line}</div>" for line in lines)
        return (f'<div class="nq21-scenario-{which}" style="font-size:12px;line-height:1.35;max-width:560px">'
                f"{body}{ruler}</div>")

    def shares_html(self) -> str:
        """Shares ≥ 3/4/5 of scenario A against 95 % with the probability of reaching it."""
        table = self.shares("a")
        head = ("<tr><th>Chỉ tiêu</th><th>Năm " + str(self.base_year) + "</th><th>Dự báo "
                + str(self.horizon) + "</th><th>Xác suất đạt 95%</th>"
                + ("<th>Thực tế " + str(self.horizon) + "</th>" if table["observed"].notna().any() else "")
                + "</tr>")
        body = []
        for r in table.itertuples():
            ok = r.share >= config.TARGET_SHARE
            colour = "#1b5e20" if ok else "#b71c1c"
            cells = (f"<td>Tỷ lệ chi bộ có ≥ {r.threshold} đảng viên tại chỗ</td>"
                     f'<td class="num">{format_percent(r.share_now)}</td>'
                     f'<td class="num nq21-share-value" data-threshold="{r.threshold}" '
                     f'style="color:{colour};font-weight:bold">{format_percent(r.share)}</td>'
                     f'<td class="num">{format_probability(r.p_share_95)}</td>')
            if table["observed"].notna().any():
                cells += f'<td class="num">{format_percent(r.observed)}</td>'
            body.append(f"<tr>{cells}</tr>")
        note = (f'<div style="font-size:90%;line-height:1.3">Kịch bản A: {html.escape(self.results.scenario.label)}. '
                f"Mục tiêu: 95% chi bộ ({format_number(table['cells_needed'].iloc[0])} / "
                f"{format_number(self.members_now.size)} chi bộ).</div>")
        return f'{TABLE_CSS}<table class="nq21-table">{head}{"".join(body)}</table>{note}'

    def comparison_html(self) -> str:
        """Scenario A and B side by side, as an HTML table."""
        table = self.comparison().set_index("figure")
        first = self.base_year + 1
        rows = [("Kịch bản", html.escape(table.loc["scenario", "a"]), html.escape(table.loc["scenario", "b"])),
                ("Cách tính tỷ lệ", RATE_MODELS["calibrated" if self.results.rates.source == "calibrated" else "fixed"],
                 RATE_MODELS["calibrated" if self.compare.rates.source == "calibrated" else "fixed"])]
        numbers = [(f"Kết nạp năm {first} (kỳ vọng)", format_number(table.loc["admissions_first_year", "a"]),
                    format_number(table.loc["admissions_first_year", "b"])),
                   (f"Tổng kết nạp {first}–{self.horizon} (kỳ vọng)", format_number(table.loc["admissions_total", "a"]),
                    format_number(table.loc["admissions_total", "b"])),
                   (f"Đảng viên tại chỗ năm {self.horizon} (kỳ vọng)",
                    format_number(table.loc["expected_members", "a"]), format_number(table.loc["expected_members", "b"])),
                   ("Khoảng 80%",
                    f"{format_number(table.loc['members_q10', 'a'])}–{format_number(table.loc['members_q90', 'a'])}",
                    f"{format_number(table.loc['members_q10', 'b'])}–{format_number(table.loc['members_q90', 'b'])}")]
        for k in config.THRESHOLDS:
            numbers.append((f"Tỷ lệ chi bộ ≥ {k} đảng viên", format_percent(table.loc[f"share_at_least_{k}", "a"]),
                            format_percent(table.loc[f"share_at_least_{k}", "b"])))
            numbers.append((f"Xác suất tỷ lệ ≥ {k} đạt 95%",
                            format_probability(table.loc[f"p_share_95_at_least_{k}", "a"]),
                            format_probability(table.loc[f"p_share_95_at_least_{k}", "b"])))
        numbers.append(("Số chi bộ không còn đảng viên (kỳ vọng)",
                        format_number(table.loc["expected_zero_cells", "a"], 1),
                        format_number(table.loc["expected_zero_cells", "b"], 1)))
        numbers.append((f"Chi bộ có nguy cơ (< {self.threshold} đảng viên)",
                        format_number(table.loc["at_risk_cells", "a"]), format_number(table.loc["at_risk_cells", "b"])))
        body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
        body += "".join(f'<tr><td>{a}</td><td class="num">{b}</td><td class="num">{c}</td></tr>' for a, b, c in numbers)
        return (f'{TABLE_CSS}<table class="nq21-table"><tr><th></th><th>Kịch bản A</th><th>Kịch bản B</th></tr>'
                f"{body}</table>")

    def at_risk_html(self, limit: int = AT_RISK_ROWS) -> str:
        """The at-risk cells of scenario A (the first ``limit``), as an HTML table."""
        table = self.at_risk("a")
        title = (f"<b>Chi bộ có nguy cơ năm {self.horizon}</b>: xác suất có ≥ {self.threshold} đảng viên "
                 f"tại chỗ dưới 0,5 hoặc hiện không có đảng viên — {format_number(len(table))} chi bộ")
        if table.empty:
            return f"<div>{title}.</div>"
        shown = table.head(limit)
        district = "district" in shown
        head = ("<tr><th>Mã chi bộ</th><th>Tên chi bộ</th><th>Xã</th>" + ("<th>Huyện</th>" if district else "")
                + f"<th>Đảng viên {self.base_year}</th><th>Kỳ vọng {self.horizon}</th>"
                f"<th>Xác suất ≥ {self.threshold}</th></tr>")
        body = "".join(
            f"<tr><td>{html.escape(str(r.cell_id))}</td><td>{html.escape(str(r.cell_name))}</td>"
            f"<td>{html.escape(str(r.commune))}</td>"
            + (f"<td>{html.escape(str(r.district))}</td>" if district else "")
            + f'<td class="num">{format_number(r.members_now)}</td>'
            f'<td class="num">{format_number(r.expected_members, 1)}</td>'
            f'<td class="num">{format_probability(r.p_at_least)}</td></tr>' for r in shown.itertuples())
        more = (f"<div>… và {format_number(len(table) - limit)} chi bộ khác (xem tệp XLSX).</div>"
                if len(table) > limit else "")
        return f'{TABLE_CSS}<div>{title}:</div><table class="nq21-table">{head}{body}</table>{more}'

    # ------------------------------------------------------------ export
    def default_path(self, directory: str | Path | None = None) -> Path:
        """``outputs/explorer_<unit>_<base>-<horizon>.xlsx`` (unit as ASCII)."""
        directory = Path(directory) if directory else config.OUTPUTS_DIR
        return directory / f"explorer_{slugify(self.unit)}_{self.base_year}-{self.horizon}.xlsx"

    def write_cell_table(self, path: str | Path | None = None) -> Path:
        """Write the current cell table (scenario A) to XLSX, atomically, with
        Vietnamese headers and rounded values (:func:`export_tables`), as an office
        workbook (:mod:`nq21model.styles`: title rows, "Dữ liệu mô phỏng" on every
        sheet when the data are synthetic, probabilities as the briefing shows them).

        Default path: :meth:`default_path`. Returns the path written.
        """
        from .files import write_table

        path = Path(path) if path is not None else self.default_path()
        if path.suffix.lower() != ".xlsx":
            raise ParameterError(f"{path}: the cell table is written as .xlsx")
        return write_table(export_tables(self), path, office=True, synthetic=self.synthetic, widths=(8, 60))

    def parameters_table(self) -> pd.DataFrame:
        """The view's parameters and key figures as ``Mục, Giá trị`` rows (Vietnamese;
        rates and shares as percentages, probabilities with 2 decimals)."""
        data = "Dữ liệu mô phỏng — không phản ánh chi bộ thực tế" if self.synthetic else "Số liệu thực tế"
        rows = [("Dữ liệu", data),
                ("Đơn vị", f"{self.level_label}: {self.unit}" if self.state.level != "province" else self.unit),
                ("Số chi bộ dự báo", int(self.members_now.size)),
                ("Chi bộ không dự báo (giải thể, sáp nhập hoặc chưa có số liệu)", int(len(self.absent))),
                ("Năm gốc", self.base_year), ("Năm dự báo", self.horizon),
                ("Ngưỡng chi bộ có nguy cơ", f"≥ {self.threshold} đảng viên tại chỗ")]
        for which in ("a", "b"):
            name = which.upper()
            f = self.choices[which].requested or self.state.scenario_fields(which)
            rows += [(f"Kịch bản {name}", self._get(which).results.scenario.label),
                     (f"Kịch bản {name}: kết nạp", ADMISSIONS.get(f["admissions"], f["admissions"])),
                     (f"Kịch bản {name}: tỷ lệ kết nạp (thanh trượt)", format_percent(f["admission_rate"])),
                     (f"Kịch bản {name}: cách tính tỷ lệ", self.rates_label(which)),
                     (f"Kịch bản {name}: phân bổ", ALLOCATION_CHOICES.get(f["allocation"], f["allocation"])),
                     (f"Kịch bản {name}: số người", self.people(which))]
            rows += [(f"Kịch bản {name}: ghi chú", note) for note in self.notes(which)]
        for r in self.shares("a").itertuples():
            rows.append((f"A: tỷ lệ chi bộ ≥ {r.threshold} đảng viên năm {self.horizon}", format_percent(r.share)))
            rows.append((f"A: xác suất tỷ lệ ≥ {r.threshold} đạt 95%", chance_value(float(r.p_share_95))))
        return pd.DataFrame(rows, columns=["Mục", "Giá trị"])


#: Vietnamese headers of the explorer's export, by column of the cell table.
EXPORT_HEADERS = {"cell_id": "Mã chi bộ", "district": "Huyện", "commune_2025": "Xã mới (sau 1/7/2025)",
                  "commune": "Xã", "cell_name": "Tên chi bộ", "horizon": "Năm dự báo",
                  "expected_members": "Đảng viên tại chỗ dự kiến (kỳ vọng)", "q10": "Phân vị 10%",
                  "q50": "Trung vị", "q90": "Phân vị 90%", "p_zero": "Xác suất không còn đảng viên",
                  **{f"p_at_least_{k}": f"Xác suất ≥ {k} đảng viên" for k in config.THRESHOLDS}}


def export_tables(view: ExplorerView) -> dict[str, Sheet]:
    """The sheets of the explorer's XLSX export (:class:`nq21model.styles.Sheet`:
    a frame and its title), Vietnamese headers, expected members to 1 decimal
    (probabilities as they are: the writer shows them with 2 decimals, or "> 0,99" /
    "< 0,01", as the briefing does):

    * "Chi bộ" — every cell of the unit at the horizon (scenario A) with the members
      at the base year (and the post-2025 commune when the data has it);
    * "Có nguy cơ" — the at-risk cells;
    * "Không dự báo" — the unit's cells dissolved before the base year or not yet in
      the data (only when there are some);
    * "Kịch bản" — both scenarios, what they mean in people, the key figures.
    """
    table = view.cell_table("a")
    cells = view.results.dataset.cells
    if "commune_2025" in cells:
        table.insert(list(table.columns).index("commune"), "commune_2025", cells["commune_2025"].to_numpy())
    members = f"members_{view.base_year}"
    table = table.assign(expected_members=table["expected_members"].round(1))
    table = table.rename(columns={**EXPORT_HEADERS, members: f"Đảng viên tại chỗ {view.base_year}"})
    risk = view.at_risk("a")
    at_risk = pd.DataFrame({"Mã chi bộ": risk["cell_id"], "Tên chi bộ": risk["cell_name"], "Xã": risk["commune"]})
    if "district" in risk:
        at_risk["Huyện"] = risk["district"]
    at_risk[f"Đảng viên tại chỗ {view.base_year}"] = risk["members_now"].astype(int)
    at_risk[f"Dự kiến {view.horizon}"] = risk["expected_members"].round(1)
    at_risk[f"Xác suất ≥ {view.threshold} ({view.horizon})"] = risk["p_at_least"]
    where = view.unit if view.state.level == "province" else f"{view.level_label}: {view.unit}"
    scenario = view.results.scenario.label
    sheets = {"Chi bộ": Sheet(table, title=f"Dự báo từng chi bộ năm {view.horizon} — {where} (kịch bản A: {scenario})"),
              "Có nguy cơ": Sheet(at_risk, title=f"Chi bộ có nguy cơ không đạt {view.threshold} đảng viên tại chỗ "
                                                 f"năm {view.horizon} — {where} (kịch bản A)")}
    absent = view.absent
    if len(absent):
        gone = pd.DataFrame({"Mã chi bộ": absent["cell_id"], "Tên chi bộ": absent["cell_name"]})
        for col in ("district", "commune_2025", "commune"):
            if col in absent:
                gone[EXPORT_HEADERS[col]] = absent[col]
        gone["Tình trạng"] = absent["reason"].map(ABSENCE_LABELS)
        gone["Năm có số liệu"] = [f"{int(a)}–{int(b)}" if pd.notna(a) else "" for a, b in
                                  zip(absent["first_year"], absent["last_year"])]
        sheets["Không dự báo"] = Sheet(gone, title=f"Chi bộ không dự báo (giải thể, sáp nhập hoặc chưa có số liệu) — "
                                                   f"{where}")
    sheets["Kịch bản"] = Sheet(view.parameters_table(), title=f"Kịch bản và các số liệu chính — {where}")
    return sheets


@dataclass
class ExplorerPage:
    """What the notebook displays for one state (HTML snippets and a PNG)."""

    view: ExplorerView | None
    error: str | None
    banner_html: str = ""
    rates_html: str = ""
    rates_b_html: str = ""
    title_html: str = ""
    shares_html: str = ""
    comparison_html: str = ""
    at_risk_html: str = ""
    figure_png: bytes = b""
    status_html: str = ""

    def widget_values(self) -> dict:
        """New value of each output widget, by name (``banner, rates, rates_b,
        title, figure, shares, comparison, at_risk, status``). On an error only the
        rates and the status change: the last good figures stay on screen."""
        values = {"rates": self.rates_html, "rates_b": self.rates_b_html, "status": self.status_html}
        if self.error is None:
            values.update(banner=self.banner_html, title=self.title_html, figure=self.figure_png,
                          shares=self.shares_html, comparison=self.comparison_html, at_risk=self.at_risk_html)
        return values

    def __repr__(self) -> str:
        what = f"error={self.error!r}" if self.error else f"unit={self.view.unit!r}, png={len(self.figure_png)} bytes"
        return f"ExplorerPage({what})"
