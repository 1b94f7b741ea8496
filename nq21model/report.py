"""The content of a briefing, as package functions (Vietnamese text).

A briefing notebook only calls these. Each section is one function:

- data functions return a DataFrame of numbers (tested): :func:`key_figures`,
  :func:`compare_scenarios`, :func:`at_risk_cells`, :func:`unit_overview`,
  :func:`admissions`;
- ``show_*`` functions return something a notebook displays: an :class:`HTML`
  block (banner, title, styled tables, method text) or a :class:`BriefingFigure`
  (a matplotlib Figure that displays itself as PNG, without pyplot).

To add a section to the briefing: write ``show_<section>(results, *, unit, by)``
here (and its data function if it shows numbers), then add one markdown heading
cell and one code cell calling it to ``notebooks/briefing.ipynb``.
"""
from __future__ import annotations

import datetime as _dt
import html as _html
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, config
from .fmt import format_number, format_percent
from .results import (AT_RISK, LIKELY_MET, MET, MISSED, NO_DATA, PROVINCE, ForecastResults, risk_threshold,
                      target_status, target_thresholds)

#: Admission rates compared side by side (the programme asks 3–4 % a year).
SCENARIO_RATES = (0.03, 0.035, 0.04)

#: Lower end of the programme's yearly admissions target (3–4 % of members).
ADMISSION_TARGET_RATE = 0.03


#: Colour and Vietnamese words of each light.
LIGHTS = {
    "green": "#2e7d32",
    "amber": "#e69500",
    "red": "#c62828",
    "grey": "#616161",
}

#: Vietnamese names of the grouping columns.
UNIT_LABELS = {"district": "huyện, thành phố", "commune": "xã, phường, thị trấn"}

_CSS = """<style>
.nq21 {font-family: "DejaVu Sans", Arial, sans-serif; color: #1d1d1d;}
.nq21 table.nq21-table {border-collapse: collapse; margin: 0.4em 0 1em; font-size: 13px; min-width: 60%;}
.nq21 table.nq21-table th {background: #1f4e79; color: #fff; padding: 6px 10px; text-align: left;
  font-weight: 600; border: 1px solid #1f4e79;}
.nq21 table.nq21-table td {padding: 5px 10px; border: 1px solid #d0d7de; vertical-align: top; text-align: left;}
.nq21 table.nq21-table tr:nth-child(even) td {background: #f6f8fa;}
.nq21 table.nq21-table td.num {text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums;}
.nq21 .nq21-light {white-space: nowrap; font-weight: 600;}
.nq21 .nq21-dot {display: inline-block; width: 0.9em; height: 0.9em; border-radius: 50%;
  margin-right: 0.4em; vertical-align: -0.1em;}
.nq21 .nq21-note {color: #555; font-size: 12.5px; margin: 0.2em 0 0.8em;}
.nq21-banner {background: #c62828; color: #fff; padding: 10px 16px; border-radius: 4px;
  font-family: "DejaVu Sans", Arial, sans-serif; font-size: 15px; margin: 0 0 1em;}
.nq21-banner strong {font-size: 18px; letter-spacing: 0.02em; margin-right: 0.3em;}
.nq21 h1 {font-size: 1.7em; margin: 0.2em 0 0.3em; color: #1f4e79;}
.nq21 .nq21-sub {font-size: 14px; color: #333; margin: 0.1em 0;}
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


def _figure_class():
    from matplotlib.figure import Figure

    class BriefingFigure(Figure):
        """A matplotlib Figure that displays itself as PNG (no pyplot, no global state)."""

        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=110, facecolor="white")
            return buffer.getvalue()

    return BriefingFigure


def new_figure(width: float = 8.0, height: float = 4.2):
    """A :class:`BriefingFigure` with one Axes; returns ``(figure, ax)``."""
    fig = _figure_class()(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _esc(value) -> str:
    return _html.escape(str(value))


def _block(*parts: str) -> HTML:
    return HTML(_CSS + '<div class="nq21">' + "".join(parts) + "</div>")


def html_table(frame: pd.DataFrame, *, numeric: tuple[str, ...] = (), raw: tuple[str, ...] = ()) -> str:
    """A small styled HTML table of already formatted text; ``numeric`` columns right
    aligned, ``raw`` columns inserted as HTML (others escaped)."""
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for col in frame.columns:
            text = row[col] if col in raw else _esc(row[col])
            cls = ' class="num"' if col in numeric else ""
            cells.append(f"<td{cls}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="nq21-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


# ----------------------------------------------------------------------- the run


def run_forecast(*, cells_path: str = "", history_path: str = "", totals_path: str = "", sheet: str = "",
                 base_year: int | None = None, horizons: list[int] | None = None,
                 admission_rate: float | None = None, admissions_per_year: float | None = None,
                 admission_base: str = "all", fixed_rates: bool = False,
                 attrition_rate: float = config.ATTRITION_RATE, allocation: str | None = None,
                 quotas_path: str = "", max_lift: float = 2.0, method: str = "exact", draws: int = 10_000,
                 seed: int | None = None, unit: str | None = None, unit_column: str = "",
                 reconcile: bool = False, dataset=None, context_dir: str = "") -> ForecastResults:
    """Load the data, build the scenario and forecast: the briefing's one model run.

    Paths given as ``""`` mean the bundled data (totals: ``totals.csv`` beside the
    cells file, if any). ``unit`` (a value of ``unit_column``, default the data's
    grouping) is checked to exist; ParameterError names the choices. ``dataset``,
    when given, is used instead of loading the paths. The calibration is the batch's
    (from ``context_dir``) when it has one for these data and base year, else fitted
    here.
    """
    from .data import load_dataset, load_quotas
    from .exceptions import ParameterError
    from .forecast import forecast
    from .scenario import Scenario

    sheet_arg = None if sheet in ("", None) else (int(sheet) if str(sheet).isdigit() else sheet)
    if dataset is None:
        dataset = load_dataset(cells_path or None, history_path or None, totals=totals_path or None,
                               sheet=sheet_arg, reconcile=reconcile)
    unit_column = unit_column or dataset.default_unit
    if unit_column not in dataset.cells:
        raise ParameterError(f"no column '{unit_column}' in the cells table "
                             f"(columns: {', '.join(dataset.cells.columns)})")
    if unit is not None:
        names = set(dataset.cells[unit_column].astype(str))
        if unit not in names:
            raise ParameterError(f"no {unit_column} named '{unit}' (choose from: {', '.join(sorted(names))})")
    quotas = load_quotas(quotas_path, dataset.cells) if quotas_path else None
    scenario = Scenario(admission_rate=admission_rate, admissions_per_year=admissions_per_year,
                        admission_base=admission_base, fixed_rates=fixed_rates, attrition_rate=attrition_rate,
                        allocation=allocation, quotas=quotas, max_lift=max_lift)
    base = dataset.last_year if base_year is None else int(base_year)
    dataset.check_base_year(base)
    calibration = None if fixed_rates else briefing_calibration(dataset, base, context_dir)
    results = forecast(dataset, scenario, base_year=base, horizons=horizons or None, calibration=calibration,
                       method=method, draws=draws, seed=seed)
    return results if unit is None else results.subset(unit_column, unit)


def briefing_calibration(dataset, base_year: int, context_dir: str = ""):
    """The calibration of a briefing: the batch's (saved in ``context_dir`` for the
    same data and base year), else one fitted here; None when history is too short."""
    from .calibrate import Calibration, can_calibrate

    if not can_calibrate(dataset, base_year):
        return None
    if context_dir:
        from .extras import load_calibration_json

        saved = load_calibration_json(context_dir, dataset, base_year)
        if saved is not None:
            from .exceptions import ParameterError

            try:
                return Calibration.from_json(saved)
            except ParameterError:  # made by another version: fit again
                pass
    return Calibration().fit(dataset, base_year)


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


# --------------------------------------------------------------- traffic lights


#: Colour of each status (one scale for the whole package: results.target_status).
STATUS_LIGHTS = {MET: "green", LIKELY_MET: "green", AT_RISK: "amber", MISSED: "red", NO_DATA: "amber"}


def traffic_light(probability: float, *, observed: bool = False) -> tuple[str, str]:
    """``(colour key, Vietnamese verdict)`` for the probability that a target is met.

    Observed (probability 0 or 1): "đạt" (green) / "không đạt" (red). Forecast:
    from ``config.STATUS_LIKELY`` "có khả năng đạt" (green), from
    ``config.STATUS_UNLIKELY`` "nguy cơ không đạt" (amber), below "không đạt" (red).
    """
    status = target_status(probability, observed=observed)
    return STATUS_LIGHTS[status], status


def light_legend() -> str:
    """The legend of the lights, in words."""
    return (f"{light_html('green', 'xanh')}: đạt, hoặc xác suất đạt từ {format_percent(config.STATUS_LIKELY, 0)} "
            f"(có khả năng đạt); {light_html('amber', 'vàng')}: xác suất từ "
            f"{format_percent(config.STATUS_UNLIKELY, 0)} đến dưới {format_percent(config.STATUS_LIKELY, 0)} "
            f"(nguy cơ không đạt); {light_html('red', 'đỏ')}: không đạt, hoặc xác suất dưới "
            f"{format_percent(config.STATUS_UNLIKELY, 0)}.")


def light_html(colour: str, text: str) -> str:
    """A coloured dot and the verdict, as HTML."""
    return (f'<span class="nq21-light" style="color:{LIGHTS[colour]}">'
            f'<span class="nq21-dot" style="background:{LIGHTS[colour]}"></span>{_esc(text)}</span>')


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


# ------------------------------------------------------------------- key figures


def _unit_table(results: ForecastResults, unit: str | None, by: str) -> pd.DataFrame:
    if unit is None or unit == PROVINCE:
        return results.province
    table = results.units(by)
    return table[table["unit"] == unit].reset_index(drop=True)


def admissions(results: ForecastResults, *, unit: str | None = None, by: str | None = None) -> dict:
    """Admissions of a unit against the programme's 3 % a year of all party members.

    Returns ``observed`` (village cells' admissions in the base year),
    ``observed_rate`` (the unit's whole admissions over its members at the end of
    the year before, from the totals table; without one, the village cells' over
    their local members — ``base`` says which: "all" or "local"), ``expected``
    (village cells' expected admissions in base year + 1), ``expected_rate`` (the
    same on the same base, the village cells' share φ of admissions standing for the
    rest), ``needed`` (village admissions that make 3 %) and ``p_target`` (P(village
    admissions ≥ needed) from the model's own uncertainty; NaN when the scenario
    fixes admissions, since then it would only restate the assumption).
    """
    from .engine import binomial_poisson_pmf

    by = by or results.unit_column
    idx = results._unit_index(by, unit)
    base_year = results.base_year
    full = results.full
    mask = np.ones(len(full.cells), bool) if unit in (None, PROVINCE) else full.cells[by].eq(unit).to_numpy()
    village = full.panel("admitted").to_numpy()[mask]
    local = full.panel("local_members").to_numpy()[mask]
    years = list(full.years)
    j = years.index(base_year)
    observed = float(np.nansum(village[:, j]))
    lam = results.rates.admissions[:, idx, 0].sum(axis=1)  # (D,) expected village admissions in base + 1
    who = None if unit in (None, PROVINCE) else unit
    members = full.unit_totals("members", who) if by == full.default_unit or who is None else pd.Series(dtype=float)
    admitted = full.unit_totals("admitted", who) if by == full.default_unit or who is None else pd.Series(dtype=float)
    if (base_year - 1) in members.index and base_year in members.index and base_year in admitted.index:
        basis = "all"
        observed_rate = float(admitted[base_year] / members[base_year - 1])
        recent = [y for y in admitted.index if y <= base_year and y in years][-3:]
        phi = float(np.nansum(village[:, [years.index(y) for y in recent]]) / admitted[recent].sum())
        members_base = float(members[base_year])
    else:
        basis = "local"
        before = np.nansum(local[:, j - 1]) if j > 0 else float("nan")
        observed_rate = observed / before if before > 0 else float("nan")
        phi, members_base = 1.0, float(results.n0[idx].sum())
    expected = float(lam.mean())
    needed = math.ceil(ADMISSION_TARGET_RATE * members_base * phi - 1e-9)
    p_target = float("nan")
    if results.scenario.kind == "continue":
        pmf = binomial_poisson_pmf(np.zeros(1, dtype=np.int64), np.zeros((lam.size, 1)), lam[:, None])[0]
        p_target = float(min(1.0, pmf[needed:].sum())) if needed > 0 else 1.0
    return {"observed": observed, "observed_rate": observed_rate, "base": basis, "phi": phi,
            "members_base": members_base, "expected": expected,
            "expected_rate": expected / phi / members_base if members_base > 0 and phi > 0 else float("nan"),
            "needed": needed, "p_target": p_target}


def scenario_people(results: ForecastResults) -> dict:
    """What the scenario's admissions mean in people in the first forecast year:
    ``year``, ``village`` (the village cells' expected admissions, every cell of the
    province), ``unit`` (those of the results' own cells when they are one unit's,
    else None), and with a programme rate on all members ``rate``, ``members`` (all
    members at the end of the base year) and ``province`` (admissions of the whole
    province)."""
    info = results.rates.info
    year = results.base_year + 1
    own = float(results.rates.admissions[:, :, 0].sum(axis=1).mean())
    village = float(info["village_admissions"][0]) if "village_admissions" in info else own
    out = {"year": year, "village": village, "unit": own if results.subset_of is not None else None,
           "province": None, "rate": None, "members": None}
    base = info.get("programme_base")
    if base is not None and results.scenario.rate is not None:
        out.update(rate=results.scenario.rate, members=base.members_at(results.base_year),
                   province=float(info["province_admissions"][0]))
    return out


def key_figures(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> pd.DataFrame:
    """The unit's figures against the programme's targets, one row per indicator.

    Columns: ``indicator`` (Vietnamese), ``year``, ``threshold`` (k of a share
    row, else NaN), ``target`` (text), ``status``
    (``observed`` or ``forecast``), ``value`` (share, count or admissions), ``kind``
    (``share``, ``count`` or ``admissions``), ``observed_value`` (what history
    shows for a forecast year, else NaN), ``probability`` (that the target is met:
    0/1 when observed), ``light`` (green/amber/red) and ``verdict``.

    Rows: share of cells with ≥ k local members for each target year and threshold
    (2025: 3; 2030: 4 and 5) and each other horizon (:func:`target_thresholds`) —
    observed when the year is at or before the base year, forecast when it is a
    horizon; cells with no local member for the same years; admissions in the base
    year (observed) and the year after (forecast).
    """
    table = _unit_table(results, unit, by)
    share_txt = format_percent(config.TARGET_SHARE, 0)
    shares, zeros = [], []  # shown in this order: every share row, then the zero-cell rows
    idx = results._unit_index(by, unit)
    for year in sorted(set(config.TARGETS) | set(results.horizons)):
        found = table[table["horizon"] == year]
        if found.empty:
            continue
        r = found.iloc[0]
        observed = r["status"] == "observed"
        for k in target_thresholds(year):
            prob = float(r[f"p_share_95_at_least_{k}"])
            light, verdict = traffic_light(prob, observed=observed)
            shares.append({"indicator": f"Tỷ lệ chi bộ có từ {k} đảng viên tại chỗ trở lên",
                           "year": year, "threshold": k, "target": f"≥ {share_txt}", "status": r["status"],
                           "value": float(r[f"share_at_least_{k}"]), "kind": "share",
                           "observed_value": float("nan") if observed else float(r[f"observed_share_at_least_{k}"]),
                           "probability": prob, "light": light, "verdict": verdict})
        prob = float(r["p_no_zero_cell"])
        light, verdict = traffic_light(prob, observed=observed)
        seen = float("nan")
        if not observed and year in results.full.years:
            seen = float((results.dataset.members_at(year).to_numpy()[idx] == 0).sum())
        zeros.append({"indicator": "Chi bộ không có đảng viên tại chỗ", "year": year, "target": "0 chi bộ",
                      "status": r["status"], "value": float(r["expected_zero_cells"]), "kind": "count",
                      "observed_value": seen, "probability": prob, "light": light, "verdict": verdict})
    rows = shares + zeros
    adm = admissions(results, unit=unit, by=by)
    target = f"≥ {format_percent(ADMISSION_TARGET_RATE, 0)} " + (
        "tổng số đảng viên" if adm["base"] == "all" else "số đảng viên tại chỗ")
    if not math.isnan(adm["observed_rate"]):
        met = float(adm["observed_rate"] >= ADMISSION_TARGET_RATE - 1e-12)
        light, verdict = traffic_light(met, observed=True)
        rows.append({"indicator": "Kết nạp đảng viên mới trong năm", "year": results.base_year,
                     "target": target, "status": "observed", "value": adm["observed"], "kind": "admissions",
                     "rate": adm["observed_rate"], "observed_value": float("nan"), "probability": met,
                     "light": light, "verdict": verdict})
    if math.isnan(adm["p_target"]):  # admissions fixed by the scenario: an assumption, not a forecast
        light, verdict = "grey", "theo giả định"
    else:
        light, verdict = traffic_light(adm["p_target"])
    next_year = results.base_year + 1
    seen = float("nan")
    if next_year in results.full.years:
        seen = float(results.dataset.panel("admitted")[next_year].to_numpy()[idx].sum())
    rows.append({"indicator": "Kết nạp đảng viên mới trong năm", "year": next_year, "target": target,
                 "status": "forecast", "value": adm["expected"], "kind": "admissions",
                 "rate": adm["expected_rate"], "observed_value": seen, "probability": adm["p_target"],
                 "light": light, "verdict": verdict})
    frame = pd.DataFrame(rows)
    if "rate" not in frame:
        frame["rate"] = np.nan
    return frame[["indicator", "year", "threshold", "target", "status", "value", "kind", "rate", "observed_value",
                  "probability", "light", "verdict"]]


def _value_text(kind: str, value: float, rate: float, status: str) -> str:
    if math.isnan(value):
        return "–"
    if kind == "share":
        return format_percent(value, 1)
    if kind == "count":
        return format_number(value, 0 if status == "observed" else 1)
    text = format_number(value, 0 if status == "observed" else 1)
    return text + (f" ({format_percent(rate, 1)})" if not math.isnan(rate) else "")


def show_key_figures(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> HTML:
    """The key figures as a styled table with traffic lights."""
    table = key_figures(results, unit=unit, by=by)
    shown = pd.DataFrame({
        "Chỉ tiêu": table["indicator"],
        "Năm": table["year"].astype(str),
        "Mục tiêu": table["target"],
        "Số liệu": ["thực tế" if s == "observed" else "dự báo" for s in table["status"]],
        "Kết quả": [_value_text(k, v, r, s) for k, v, r, s in
                    zip(table["kind"], table["value"], table["rate"], table["status"])],
        "Xác suất đạt": ["–" if s == "observed" else format_chance(p)
                         for s, p in zip(table["status"], table["probability"])],
        "Đánh giá": [light_html(c, t) for c, t in zip(table["light"], table["verdict"])],
    })
    if table["observed_value"].notna().any():
        shown.insert(5, "Thực tế đã xảy ra", [
            "–" if math.isnan(v) else _value_text(k, v, float("nan"), "observed")
            for k, v in zip(table["kind"], table["observed_value"])])
    note = ("Tỷ lệ dự báo là giá trị kỳ vọng; <em>xác suất đạt</em> là xác suất để chỉ tiêu được hoàn thành "
            f"(tỷ lệ chi bộ đạt ≥ {format_percent(config.TARGET_SHARE, 0)}, không còn chi bộ nào không có "
            "đảng viên tại chỗ, hoặc số kết nạp trong năm đạt "
            f"{format_percent(ADMISSION_TARGET_RATE, 0)} số đảng viên tại chỗ). Đèn: " + light_legend())
    return _block(html_table(shown, numeric=("Năm", "Kết quả", "Thực tế đã xảy ra", "Xác suất đạt"),
                             raw=("Đánh giá",)),
                  f'<p class="nq21-note">{note}</p>')


# ------------------------------------------------------------- banner and title


def banner_text(dataset) -> str:
    """The synthetic-data warning (empty for real data)."""
    if not dataset.synthetic:
        return ""
    return ("Dữ liệu mô phỏng — không phải số liệu thật. Mọi con số trong tài liệu này được tính trên "
            "một tỉnh giả lập (nq21model.synth); không mô tả chi bộ, thôn, bản hay đảng viên có thật.")


def show_banner(results: ForecastResults) -> HTML:
    """A red banner "Dữ liệu mô phỏng" when the data are synthetic; nothing otherwise."""
    text = banner_text(results.dataset)
    if not text:
        return HTML("")
    head, _, rest = text.partition(" — ")
    return HTML(_CSS + f'<div class="nq21-banner" role="alert"><strong>{_esc(head)}</strong> — {_esc(rest)}</div>')


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


# ------------------------------------------------------------------------ charts


def show_fan_chart(results: ForecastResults, *, unit: str | None = None, by: str = "district"):
    """Figure: local members of the unit, history then the 80 % band."""
    fig, ax = new_figure()
    results.plot_fan_chart(by=by, unit=unit, ax=ax)
    return fig


def show_probability_classes(results: ForecastResults, *, unit: str | None = None, by: str = "district"):
    """Figure: cells by class of P(≥ target) at the briefing's focus horizon."""
    from .plots import plot_probability_classes

    horizon, threshold = focus(results)
    classes = results.probability_classes(horizon, threshold, by=by, unit=unit)
    fig, ax = new_figure(8.0, 3.8)
    plot_probability_classes(classes, horizon=horizon, threshold=threshold, title_unit=unit or PROVINCE, ax=ax)
    return fig


def commune_shares(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> pd.DataFrame:
    """Expected share of cells reaching the focus threshold, per commune of the unit.

    Columns ``unit`` (commune), ``cells``, ``share``, ``p_share_95`` at the focus
    horizon; lowest share first.
    """
    horizon, threshold = focus(results)
    idx = results._unit_index(by, unit)
    communes = set(results.dataset.cells["commune"].iloc[idx])
    table = results.units("commune")
    table = table[(table["horizon"] == horizon) & (table["status"] == "forecast") & table["unit"].isin(communes)]
    out = pd.DataFrame({"unit": table["unit"], "cells": table["cells"],
                        "share": table[f"share_at_least_{threshold}"],
                        "p_share_95": table[f"p_share_95_at_least_{threshold}"]})
    return out.sort_values(["share", "unit"]).reset_index(drop=True)


def show_commune_shares(results: ForecastResults, *, unit: str | None = None, by: str = "district"):
    """Figure: the communes of the unit by expected share reaching the target (none
    when the briefing's unit is a commune)."""
    from .plots import plot_unit_shares

    if by == "commune":
        return HTML("")
    horizon, threshold = focus(results)
    table = commune_shares(results, unit=unit, by=by)
    fig, ax = new_figure(8.0, max(2.6, 0.3 * len(table) + 1.3))
    plot_unit_shares(table, threshold=threshold, horizon=horizon, title_unit=unit or PROVINCE, ax=ax)
    return fig


# --------------------------------------------------------------------- scenarios


def scenario_label(results: ForecastResults) -> str:
    """A scenario in words and people, e.g. 'Kết nạp 3,5% tổng số đảng viên toàn tỉnh
    ≈ 1.040 người/năm, trong đó chi bộ thôn, bản ≈ 660' (the first forecast year)."""
    people = scenario_people(results)
    village = format_number(round(people["village"], -1) if people["village"] >= 100 else people["village"])
    unit = "" if people["unit"] is None else \
        f"; {results.subset_of[1]} ≈ {format_number(people['unit'], 0 if people['unit'] >= 10 else 1)}"
    sc = results.scenario
    if sc.kind == "continue":
        return f"Giữ nguyên xu hướng hiện nay: chi bộ thôn, bản toàn tỉnh kết nạp ≈ {village} người/năm{unit}"
    if people["province"] is not None:
        province = format_number(round(people["province"], -1))
        return (f"Kết nạp {format_percent(people['rate'], 1)} tổng số đảng viên toàn tỉnh ≈ {province} người/năm, "
                f"trong đó chi bộ thôn, bản ≈ {village}{unit}")
    return f"{sc.label[0].upper()}{sc.label[1:]} (chi bộ thôn, bản ≈ {village} người/năm{unit})"


def compare_scenarios(results: ForecastResults, *, unit: str | None = None, by: str | None = None,
                      rates=SCENARIO_RATES) -> pd.DataFrame:
    """The unit under the programme's admission rates beside "continue as now".

    Scenarios: continue (calibrated rates carried forward) and each rate of
    ``rates`` on the programme's base (all party members; without a totals table, the
    village cells' local members), plus the briefing's own scenario when it is
    another. Every other setting is the briefing's, and the calibration is the same.
    One row per scenario and horizon: ``scenario`` (in words and people),
    ``admission_rate`` (NaN for continue), ``current``, ``horizon``,
    ``expected_members, members_q10, members_q90, share_at_least_k,
    p_share_95_at_least_k, expected_zero_cells, p_no_zero_cell, admissions``
    (expected village admissions of the unit in base year + 1).
    """
    from .forecast import forecast
    from .scenario import Scenario, scenario_rates

    own = results.scenario
    natural = results.rates.info.get("natural")
    if results.rates.source == "calibrated" and natural is None and own.kind == "continue":
        natural = results.rates
    basis = "all" if results.full.totals is not None else "local"
    wanted = [] if natural is None else [Scenario()]
    wanted += [Scenario(admission_rate=float(r), admission_base=basis, fixed_rates=own.fixed_rates,
                        attrition_rate=own.attrition_rate) for r in rates]
    frames = []
    matched = False
    for scenario in wanted:
        current = scenario.kind == own.kind and scenario.rate == own.rate and \
            scenario.admission_base == own.admission_base and scenario.split == own.split
        matched |= current
        frames.append(_scenario_frame(results if current else _rerun(results, scenario, natural), unit, by, current))
    if not matched:
        frames.append(_scenario_frame(results, unit, by, True))
    return pd.concat(frames, ignore_index=True)


def _rerun(results: ForecastResults, scenario, natural) -> ForecastResults:
    from .forecast import forecast
    from .scenario import scenario_rates

    rates = scenario_rates(results.full, scenario, results.base_year, max(results.horizons), natural=natural)
    res = forecast(results.full, scenario, base_year=results.base_year, horizons=results.horizons, rates=rates,
                   method=results.method, draws=results.draws or 10_000, seed=results.seed)
    return res if results.subset_of is None else res.subset(*results.subset_of)


def _scenario_frame(res: ForecastResults, unit, by, current: bool) -> pd.DataFrame:
    table = _unit_table(res, unit, by)
    table = table[table["status"] == "forecast"].copy()
    table.insert(0, "scenario", scenario_label(res))
    table.insert(1, "admission_rate", res.scenario.rate if res.scenario.rate is not None else np.nan)
    table.insert(2, "current", current)
    table["admissions"] = admissions(res, unit=unit, by=by)["expected"]
    return table.drop(columns=["unit", "status"])


def scenario_shares(table: pd.DataFrame) -> pd.DataFrame:
    """Long form of :func:`compare_scenarios` for the chart: ``scenario, horizon,
    threshold, share, p_share_95`` for the programme's thresholds of each horizon
    (:func:`~nq21model.results.target_thresholds`)."""
    rows = []
    for _, r in table.iterrows():
        for k in target_thresholds(int(r["horizon"])):
            rows.append({"scenario": r["scenario"], "horizon": int(r["horizon"]), "threshold": k,
                         "share": r[f"share_at_least_{k}"], "p_share_95": r[f"p_share_95_at_least_{k}"]})
    return pd.DataFrame(rows, columns=["scenario", "horizon", "threshold", "share", "p_share_95"])


def show_scenarios(table: pd.DataFrame) -> HTML:
    """The scenarios side by side: members, shares and P(target) at each target year."""
    cols = {}
    for _, r in table.iterrows():
        name = r["scenario"] + (" (kịch bản của báo cáo)" if r["current"] else "")
        col = cols.setdefault(name, {})
        h = int(r["horizon"])
        col["Chi bộ thôn, bản kết nạp năm đầu (kỳ vọng)"] = format_number(r["admissions"], 0)
        col[f"Đảng viên tại chỗ năm {h} (khoảng 80%)"] = (
            f"{format_number(r['expected_members'])} ({format_number(r['members_q10'])}–"
            f"{format_number(r['members_q90'])})")
        for k in target_thresholds(h):
            col[f"Tỷ lệ chi bộ ≥ {k} ĐV năm {h}"] = format_percent(r[f"share_at_least_{k}"], 1)
            col[f"Xác suất đạt {format_percent(config.TARGET_SHARE, 0)} (≥ {k} ĐV, {h})"] = \
                format_chance(r[f"p_share_95_at_least_{k}"])
        col[f"Chi bộ không có ĐV tại chỗ năm {h} (kỳ vọng)"] = format_number(r["expected_zero_cells"], 1)
    shown = pd.DataFrame(cols)
    shown.insert(0, "Chỉ số", shown.index)
    return _block(html_table(shown.reset_index(drop=True), numeric=tuple(cols)),
                  '<p class="nq21-note">Các kịch bản chỉ khác nhau ở số kết nạp đảng viên mới hằng năm: giữ nguyên '
                  "xu hướng hiện nay của từng chi bộ, hoặc toàn tỉnh kết nạp 3%, 3,5%, 4% tổng số đảng viên/năm "
                  "(Chương trình hành động: 3–4%/năm), chi bộ thôn, bản nhận phần kết nạp như mấy năm gần đây; "
                  "các giả định khác giữ nguyên.</p>")


def show_scenarios_chart(table: pd.DataFrame, *, unit: str | None = None):
    """Figure: expected share of cells reaching each target, per scenario."""
    from .plots import plot_scenarios

    fig, ax = new_figure(8.0, 4.2)
    plot_scenarios(scenario_shares(table), title_unit=unit or PROVINCE, ax=ax)
    return fig


# ----------------------------------------------------------------------- at risk


def at_risk_cells(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> pd.DataFrame:
    """The unit's cells at risk, with Vietnamese headers (for the briefing and Excel).

    A cell is at risk when P(≥ threshold local members at the focus horizon) < 0.5
    or it has no local member at the base year (``ForecastResults.at_risk``).
    Columns: Mã chi bộ, Chi bộ, Xã, Huyện, Đảng viên tại chỗ <base>, Dự kiến <h>
    (expected, 1 decimal), Xác suất ≥ k (<h>) (2 decimals), Lý do.
    """
    horizon, threshold = focus(results)
    table = results.at_risk(horizon, threshold, by=by, unit=unit)
    reasons = ["chưa có đảng viên tại chỗ" if n == 0 else f"xác suất có ≥ {threshold} ĐV dưới 0,5"
               for n in table["members_now"]]
    return pd.DataFrame({
        "Mã chi bộ": table["cell_id"],
        "Chi bộ": table["cell_name"],
        "Xã": table["commune"],
        **({"Huyện": table["district"]} if "district" in table else {}),
        f"Đảng viên tại chỗ {results.base_year}": table["members_now"].astype(int),
        f"Dự kiến {horizon}": table["expected_members"].round(1),
        f"Xác suất ≥ {threshold} ({horizon})": table["p_at_least"].round(2),
        "Lý do": reasons,
    })


def show_at_risk(results: ForecastResults, *, unit: str | None = None, by: str = "district") -> HTML:
    """The at-risk cells as a table, with the rule that picked them."""
    horizon, threshold = focus(results)
    table = at_risk_cells(results, unit=unit, by=by)
    rule = (f"Chi bộ có xác suất đạt từ {threshold} đảng viên tại chỗ trở lên vào năm {horizon} dưới 0,5, "
            f"hoặc chưa có đảng viên tại chỗ (năm {results.base_year}). Cột <em>Dự kiến</em> là số đảng viên "
            "tại chỗ kỳ vọng. Danh sách đầy đủ của mọi đơn vị có trong tệp Excel kèm theo.")
    if table.empty:
        return _block(f'<p><strong>Không có chi bộ nào thuộc diện nguy cơ.</strong></p><p class="nq21-note">{rule}</p>')
    if by == "district" and "Huyện" in table:
        table = table.drop(columns="Huyện")
    shown = table.copy()
    num_cols = [c for c in shown.columns if c.startswith(("Đảng viên", "Dự kiến", "Xác suất"))]
    for col in num_cols:
        digits = 0 if col.startswith("Đảng viên") else (1 if col.startswith("Dự kiến") else 2)
        shown[col] = [format_number(v, digits) if digits < 2 else format_decimal2(v) for v in shown[col]]
    return _block(f"<p><strong>{format_number(len(table))} chi bộ</strong> cần được quan tâm, rà soát và có kế "
                  "hoạch tạo nguồn, kết nạp đảng viên.</p>",
                  html_table(shown, numeric=tuple(num_cols)), f'<p class="nq21-note">{rule}</p>')


def format_decimal2(value: float) -> str:
    """0.1323 → '0,13' (babel ``vi``)."""
    from .fmt import format_probability

    return format_probability(value, 2)


# ----------------------------------------------------------------------- method


def method_items(results: ForecastResults) -> list[str]:
    """The assumptions and method of a forecast as sentences (plain Vietnamese)."""
    sc = results.scenario
    items = []
    if results.rates.source == "calibrated":
        draws = results.rates.draws
        items.append(
            "<strong>Tỷ lệ:</strong> tỷ lệ giảm (từ trần, chuyển đi, miễn sinh hoạt, xóa tên…), kết nạp và chuyển "
            f"đến của từng chi bộ được ước lượng từ số liệu lịch sử đến năm gốc {results.base_year} (không dùng số "
            "liệu sau năm gốc): mô hình Poisson theo loại chi bộ và dân số, có hiệu ứng ngẫu nhiên của từng năm, "
            "từng đơn vị và từng chi bộ (chi bộ ít số liệu được kéo về mức chung). Năm tới có thể tốt hay xấu hơn "
            "mấy năm gần đây như lịch sử cho thấy; độ bất định của tham số được tính bằng "
            f"{format_number(draws)} bộ tham số.")
    else:
        items.append(f"<strong>Tỷ lệ:</strong> cố định cho mọi chi bộ: mỗi đảng viên tại chỗ còn sinh hoạt tại chi bộ "
                     f"đến cuối năm sau với xác suất {format_percent(1 - sc.attrition_rate, 1)} "
                     f"(giảm {format_percent(sc.attrition_rate, 1)}/năm); không tính đảng viên chuyển đến.")
    admit = {"continue": "mỗi chi bộ tiếp tục kết nạp như mức đã ước lượng (giữ nguyên xu hướng hiện nay).",
             "quota": "mỗi chi bộ kết nạp theo chỉ tiêu được giao, nhưng không vượt quá khả năng của chi bộ "
                      f"({format_number(sc.max_lift, 1)} lần mức kết nạp đã ước lượng).",
             "number": f"chi bộ thôn, bản kết nạp tổng cộng {format_number(sc.admissions_per_year or 0)} "
                       "đảng viên/năm.",
             "rate": ""}[sc.kind]
    if sc.kind == "rate":
        people = scenario_people(results)
        if sc.admission_base == "all" and people["province"] is not None:
            base = results.rates.info["programme_base"]
            admit = (f"toàn tỉnh kết nạp {format_percent(sc.rate, 1)} tổng số đảng viên (toàn Đảng bộ, "
                     f"≈ {format_number(round(people['members'], -1))} người) mỗi năm ≈ "
                     f"{format_number(round(people['province'], -1))} người năm {people['year']}; chi bộ thôn, bản "
                     f"nhận {format_percent(base.phi, 0)} số đó như các năm {base.years[0]}–{base.years[-1]}.")
        else:
            admit = (f"toàn tỉnh kết nạp {format_percent(sc.rate, 1)} số đảng viên tại chỗ (kỳ vọng) cuối năm trước "
                     "của các chi bộ thôn, bản.")
        if sc.split != "calibrated":
            from .scenario import ALLOCATION_LABELS

            admit += f" Số này được chia cho các chi bộ {ALLOCATION_LABELS[sc.split]}."
        else:
            admit += " Số này được chia cho các chi bộ theo khả năng kết nạp đã ước lượng của từng chi bộ."
    items.append(f"<strong>Kết nạp:</strong> {admit} Số kết nạp thực tế dao động ngẫu nhiên quanh mức đó "
                 "(phân phối Poisson).")
    method = ("tính chính xác bằng công thức (không mô phỏng)" if results.method == "exact"
              else f"mô phỏng Monte Carlo ({format_number(results.draws)} lần, seed {results.seed})")
    items.append(f"<strong>Cách tính:</strong> phân phối số đảng viên tại chỗ của từng chi bộ được {method}; "
                 "xác suất đạt chỉ tiêu của đơn vị coi các chi bộ là độc lập khi đã biết tham số, rồi lấy trung bình "
                 "theo các bộ tham số. Khoảng 80% là khoảng mà số thực tế rơi vào với xác suất 80%.")
    items += [f"<strong>Lưu ý:</strong> {_esc(note)}" for note in results.notes]
    return items


def show_method(results: ForecastResults) -> HTML:
    """Assumptions and method in plain words, with the package version and data date."""
    sources = ", ".join(Path(p).name for p in results.full.sources.values())
    items = [f"<li>{item}</li>" for item in method_items(results)]
    items += [
        "<li><strong>Đối tượng:</strong> đảng viên tại chỗ của từng chi bộ thôn, bản, tổ dân phố; không tính "
        "đảng viên là cán bộ, công chức cấp xã được cử đến sinh hoạt.</li>",
        "<li><strong>Chỉ tiêu</strong> (Chương trình hành động của Tỉnh ủy thực hiện Nghị quyết 21-NQ/TW): "
        f"đến năm 2025, {format_percent(config.TARGET_SHARE, 0)} chi bộ thôn, bản, tổ dân phố có từ 3 đảng viên "
        f"tại chỗ trở lên và không còn chi bộ không có đảng viên tại chỗ; đến năm 2030, "
        f"{format_percent(config.TARGET_SHARE, 0)} chi bộ có từ 4–5 đảng viên tại chỗ trở lên; kết nạp đảng "
        "viên mới hằng năm đạt 3–4% tổng số đảng viên. Năm chỉ tiêu không muộn hơn năm gốc được báo cáo theo "
        "số liệu thực tế.</li>",
        f"<li><strong>Số liệu:</strong> {_esc(sources)}, từ năm {results.full.first_year} đến hết năm "
        f"{results.full.last_year} ({format_number(len(results.dataset.cells))} chi bộ có số liệu năm gốc"
        + (f"; {format_number(len(results.absent))} chi bộ khác không dự báo" if len(results.absent) else "")
        + f"); tệp cập nhật ngày {data_date(results)}. Năm gốc dự báo: {results.base_year}.</li>",
        f"<li><strong>Công cụ:</strong> nq21model phiên bản {_esc(__version__)}.</li>",
    ]
    if results.dataset.synthetic:
        items.append(f'<li><strong style="color:{LIGHTS["red"]}">{_esc(banner_text(results.dataset))}</strong></li>')
    return _block("<ul>" + "".join(items) + "</ul>")


def absent_cells(results: ForecastResults, *, unit: str | None = None, by: str | None = None) -> pd.DataFrame:
    """The unit's cells that are not forecast, with Vietnamese headers: dissolved or
    merged before the base year, or with no history up to it."""
    from .data import ABSENCE_LABELS

    table = results.absent
    by = by or results.unit_column
    if len(table) and unit not in (None, PROVINCE) and by in table:
        table = table[table[by] == unit]
    if not len(table):
        return pd.DataFrame(columns=["Mã chi bộ", "Chi bộ", "Xã", "Tình trạng", "Năm có số liệu"])
    years = [f"{int(a)}–{int(b)}" if not (math.isnan(a) or math.isnan(b)) else "chưa có"
             for a, b in zip(table["first_year"], table["last_year"])]
    return pd.DataFrame({"Mã chi bộ": table["cell_id"], "Chi bộ": table["cell_name"], "Xã": table["commune"],
                         "Tình trạng": [ABSENCE_LABELS[r] for r in table["reason"]], "Năm có số liệu": years})


def show_absent(results: ForecastResults, *, unit: str | None = None, by: str | None = None) -> HTML:
    """Chi bộ đã giải thể, sáp nhập (and cells with no history yet): listed, not forecast."""
    table = absent_cells(results, unit=unit, by=by)
    if table.empty:
        return HTML("")
    return _block("<h2>Chi bộ đã giải thể, sáp nhập hoặc chưa có số liệu</h2>",
                  f"<p>{format_number(len(table))} chi bộ trong danh sách không được dự báo vì không có số liệu "
                  f"năm gốc {results.base_year}: đã giải thể, sáp nhập vào chi bộ khác, hoặc chưa có số liệu.</p>",
                  html_table(table))


# ------------------------------------------------------------------ index page


def unit_overview(results: ForecastResults, *, by: str = "district") -> pd.DataFrame:
    """Province and each unit in one table for the index page.

    Columns: ``unit, cells, members_now`` (local members at the base year),
    for each target year Y and threshold k ``share_Y_k`` and ``p_Y_k`` (P(target
    met); observed 0/1), ``zero_now`` (cells with no local member at the base
    year) and ``at_risk`` (cells in :func:`at_risk_cells`). Units in
    :func:`unit_order`, after the province.
    """
    units = [None] + unit_order(results.dataset.cells[by].astype(str).unique())
    tables = pd.concat([results.province, results.units(by)], ignore_index=True)
    horizon, threshold = focus(results)
    cells = results.cells[results.cells["horizon"] == horizon]
    risky = (cells[f"p_at_least_{threshold}"].to_numpy() < 0.5) | (results.n0 == 0)
    rows = []
    for unit in units:
        name = unit or PROVINCE
        idx = results._unit_index(by, unit)
        row = {"unit": name, "cells": int(idx.size), "members_now": int(results.n0[idx].sum()),
               "zero_now": int((results.n0[idx] == 0).sum()), "at_risk": int(risky[idx].sum())}
        mine = tables[tables["unit"] == name]
        for year in sorted(config.TARGETS):
            found = mine[mine["horizon"] == year]
            if found.empty:
                continue
            for k in config.TARGETS[year]:
                row[f"share_{year}_{k}"] = float(found.iloc[0][f"share_at_least_{k}"])
                row[f"p_{year}_{k}"] = float(found.iloc[0][f"p_share_95_at_least_{k}"])
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------- province-wide sections (extras)


def briefing_extras(results: ForecastResults, *, by: str = "district", context_dir: str = ""):
    """The tracker, quota proposal and backtest for this briefing (see :mod:`nq21model.extras`)."""
    from .extras import briefing_extras as _extras

    return _extras(results, by=by, context_dir=context_dir)


def _missing(extras, part: str, what: str) -> HTML:
    reason = extras.problems.get(part, "")
    return _block(f'<p class="nq21-note"><strong>Không có dữ liệu</strong> cho {_esc(what)}'
                  + (f": {_esc(reason)}" if reason else ".") + "</p>")


def show_targets(extras, *, unit: str | None = None) -> HTML:
    """Every quantitative target of the action programme for the unit: target,
    result (observed up to the base year, forecast after it), 80 % band, status."""
    from .targets import unit_table

    if extras.targets is None:
        return _missing(extras, "targets", "các chỉ tiêu của Chương trình hành động")
    table = unit_table(extras.targets, unit or PROVINCE)
    shown = table.copy()
    shown["Đánh giá"] = [light_html(STATUS_LIGHTS[s], s) if s in STATUS_LIGHTS else _esc(s)
                         for s in table["Đánh giá"]]
    note = (f"Kết quả đến năm {extras.base_year} là số liệu thực tế; sau đó là dự báo (cột <em>Cách tính</em>). "
            "Chỉ tiêu về số đảng viên tại chỗ tính bằng mô hình chính xác; các tỷ lệ khác được ngoại suy từ "
            "chuỗi số liệu hằng năm (hồi quy nhị thức theo năm) với khoảng 80%.")
    return _block(html_table(shown, numeric=("Năm", "Mục tiêu", "Kết quả", "Khoảng 80%"), raw=("Đánh giá",)),
                  f'<p class="nq21-note">{note}</p>')


def show_targets_chart(extras, results: ForecastResults, *, unit: str | None = None, by: str = "district"):
    """Small multiples: each indicator's history and projection against its target line."""
    from .extras import indicator_paths_for
    from .plots_targets import plot_targets

    if extras.tracker is None:
        return _missing(extras, "targets", "biểu đồ các chỉ tiêu")
    paths = extras.paths.get(unit)
    if paths is None:
        paths = indicator_paths_for(extras.tracker, results, unit=unit, by=by)
    rows = math.ceil(paths["indicator"].nunique() / 4)
    fig = _figure_class()(figsize=(12, 2.5 * rows + 0.7))
    plot_targets(paths, fig=fig)
    fig.subplots_adjust(left=0.06, right=0.985, bottom=0.035, top=1 - 0.75 / (2.5 * rows + 0.7),
                        hspace=0.75, wspace=0.3)
    return fig


def format_p(value: float) -> str:
    """A cell's probability with two decimals, never a false certainty: 0.9995 → '> 0,99',
    0.003 → '< 0,01'."""
    if value > 0.99:
        return "> " + format_decimal2(0.99)
    if 0 < value < 0.01:
        return "< " + format_decimal2(0.01)
    return format_decimal2(value)


def quota_intro(a, unit: str | None, by: str | None) -> str:
    """The quota section's first paragraph: budget, rules and what the plan is
    expected to achieve (each number from the allocation)."""
    mask = a.unit_mask(by, unit)
    years = a.years
    own = int(a.quotas[mask].sum())
    sens = a.sensitivity(mask).set_index("lift")
    at = sens.loc[a.lift]
    floor_cells = int(a.plan.floors[mask].sum())
    where = "toàn tỉnh" if unit in (None, PROVINCE) else _esc(unit)
    text = (f"Chỉ tiêu kết nạp giao cho các chi bộ thôn, bản, tổ dân phố của {where} trong {years[0]}–{years[-1]}: "
            f"{format_number(own)} đảng viên ({_esc(a.budget_note)}). Chỉ tiêu của mỗi chi bộ không vượt quá khả năng "
            f"kết nạp của chi bộ ({format_number(a.lift, 1)} lần mức kết nạp mấy năm qua đã ước lượng), ưu tiên các chi "
            f"bộ có thể đạt từ {a.threshold} đảng viên tại chỗ vào năm {a.horizon}; {format_number(floor_cells)} chi bộ "
            "có phần chia theo dân số từ 2 đảng viên trở lên trong cả giai đoạn được giao ít nhất 1; chỉ tiêu của mỗi "
            "chi bộ thay đổi không quá 1 đảng viên giữa hai năm liền nhau. "
            f"Nếu các chi bộ kết nạp được đến mức giả định, tỷ lệ chi bộ đạt dự kiến là "
            f"{format_percent(at['share_optimised'], 1)}, so với {format_percent(at['share_proportional'], 1)} khi chia "
            f"theo dân số, với khoảng {format_number(at['realised_optimised'])} đảng viên được kết nạp thực tế.")
    transfers = [(a.unit_names[u], int(-a.plan.unit_transfer[u])) for u in a.plan.losing_units]
    if transfers:
        text += " Đơn vị nhường bớt chỉ tiêu cho đơn vị khác: " + "; ".join(
            f"{_esc(name)} ({format_number(n)})" for name, n in transfers) + "."
    return text


def show_quotas(extras, *, unit: str | None = None, by: str | None = None) -> HTML:
    """Đề xuất chỉ tiêu kết nạp: the rules, the gain over the population split at
    lifts 1, 2, 3 with the admissions actually expected, and the cells whose quota
    changes most."""
    from .allocate import quota_changes, quota_gain_table

    if extras.allocation is None:
        return _missing(extras, "quotas", "đề xuất chỉ tiêu kết nạp")
    a = extras.allocation
    gain = quota_gain_table(a, by=by, unit=unit)
    shown = gain.copy()
    for col in shown.columns:
        if col.startswith("Tỷ lệ"):
            shown[col] = [format_percent(v, 1) for v in gain[col]]
        elif col.startswith("Kết nạp"):
            shown[col] = [format_number(v) for v in gain[col]]
    shown["Chênh lệch"] = [f"{'+' if v >= 0 else ''}{format_number(100 * v, 1)} điểm %" for v in gain["Chênh lệch"]]
    changes = quota_changes(a, unit, n=15, by=by)
    ch = changes.copy()
    for col in ch.columns:
        if col.startswith("Khả năng"):
            ch[col] = [format_p(v) for v in changes[col]]
        elif col not in ("Mã chi bộ", "Chi bộ", "Xã"):
            ch[col] = [format_number(v) for v in changes[col]]
    return _block(f"<p>{quota_intro(a, unit, by)}</p>",
                  "<p><strong>Độ nhạy:</strong> khả năng kết nạp thật của các chi bộ chưa biết chắc; bảng so sánh "
                  "chỉ tiêu đề xuất với cách chia theo dân số khi chi bộ kết nạp được bằng, gấp 2 hoặc gấp 3 lần "
                  "mức mấy năm qua.</p>",
                  html_table(shown, numeric=tuple(c for c in shown.columns if c != "Khả năng kết nạp của chi bộ")),
                  "<p><strong>Các chi bộ có chỉ tiêu khác nhiều nhất so với chia theo dân số</strong> (tổng cả giai "
                  "đoạn)</p>",
                  html_table(ch, numeric=tuple(c for c in ch.columns if c not in ("Mã chi bộ", "Chi bộ", "Xã"))),
                  '<p class="nq21-note">Danh sách chỉ tiêu từng chi bộ, từng năm có trong tệp Excel của đơn vị '
                  "(thư mục chi_tieu).</p>")


def show_backtest(results: ForecastResults, extras) -> HTML:
    """Which rates the forecast uses, how well the method scored when replaying the
    past, and the province cross-check against an exponential-smoothing model."""
    parts = []
    scores = extras.backtest_scores
    if scores is None:
        parts.append(str(_missing(extras, "backtest", "kiểm định dự báo")))
    else:
        b, h = int(scores["base_year"].iloc[0]), int(scores["horizon"].iloc[0])
        table = pd.DataFrame({
            "Ngưỡng": [f"≥ {k} đảng viên" for k in scores["k"]],
            "Điểm Brier - mô hình hiệu chỉnh": [format_number(v, 4) for v in scores["brier_calibrated"]],
            "Điểm Brier - cách tính bảng tính": [format_number(v, 4) for v in scores["brier_spreadsheet"]],
            "Cải thiện": [format_percent(v, 0) for v in scores["improvement"]],
            "Độ phủ khoảng 80%": [format_percent(v, 0) for v in scores["coverage_80"]],
        })
        parts.append(f"<p><strong>Kiểm định:</strong> dự báo lại năm {h} từ số liệu đến năm {b} rồi so với thực tế. "
                     "Điểm Brier càng nhỏ càng tốt; <em>cách tính bảng tính</em> là N·(1+r−a)^t so với ngưỡng.</p>")
        parts.append(html_table(table, numeric=tuple(table.columns[1:])))
    cross = extras.crosscheck
    if cross is None:
        parts.append(str(_missing(extras, "crosscheck", "đối chiếu tổng số toàn tỉnh")))
    else:
        table = pd.DataFrame({
            "Năm": cross["year"].astype(int).astype(str),
            "Mô hình san bằng mũ (ETS)": [format_number(v) for v in cross["ets_forecast"]],
            "ETS khoảng 80%": [f"{format_number(lo)}–{format_number(hi)}"
                               for lo, hi in zip(cross["ets_q10"], cross["ets_q90"])],
            "Tổng các chi bộ": [format_number(v) for v in cross["cells_expected"]],
            "Khoảng 80%": [f"{format_number(lo)}–{format_number(hi)}"
                           for lo, hi in zip(cross["cells_q10"], cross["cells_q90"])],
        })
        parts.append("<p><strong>Đối chiếu toàn tỉnh:</strong> tổng số đảng viên tại chỗ dự báo bằng mô hình "
                     "chuỗi thời gian (ETS) trên số liệu tổng hằng năm, bên cạnh tổng dự báo của các chi bộ.</p>")
        parts.append(html_table(table, numeric=tuple(table.columns)))
    return _block(*parts)
