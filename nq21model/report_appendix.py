"""Phụ lục kỹ thuật: how the briefing's numbers are made — assumptions and method,
how each programme indicator is forecast, how well the model scored when it
replayed the past, and a cross-check against another model (labelled as such)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import __version__, config
from .fmt import format_number, format_percent
from .report_base import (LIGHTS, HTML, _block, _esc, band_text, banner_text, data_date, html_table,
                          missing_html)
from .report_forecast import scenario_people
from .results import PROVINCE, ForecastResults


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
        f"tại chỗ trở lên và không còn chi bộ bản không có đảng viên tại chỗ; đến năm 2030, "
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
    return _block("<h3>Giả định và phương pháp</h3>", "<ul>" + "".join(items) + "</ul>", cls=APPENDIX)


#: Class of the appendix's blocks (smaller type in print).
APPENDIX = "nq21-appendix"

#: How the tracker forecasts each kind of indicator, in words (appendix).
METHOD_WORDS = {
    "exact": "mô hình dự báo của báo cáo này (số đảng viên tại chỗ của từng chi bộ: phần còn lại của số hiện có "
             "theo phân phối nhị thức cộng số kết nạp, chuyển đến theo phân phối Poisson, tính chính xác)",
    "logit_trend": "xu hướng theo năm của chính chỉ tiêu đó (hồi quy trên thang logit, có biến động ngẫu nhiên "
                   "từng năm); khoảng 80% và xác suất đạt tính cho số tổ chức, đảng viên hiện có của đơn vị",
    "poisson_glm": "hồi quy Poisson của số đếm hằng năm theo năm, có biến động ngẫu nhiên từng năm, cộng dồn từ 2021",
    "constant": "giữ nguyên mức của năm gần nhất, không ước lượng xu hướng (chỉ tiêu gần như không đổi qua các "
                "năm hoặc không dùng xu hướng); khoảng dự báo của chỉ tiêu này không phản ánh biến động có thể có",
}


def target_methods(extras, *, unit: str | None = None) -> pd.DataFrame:
    """How each forecast indicator of the unit is made: ``method`` (code),
    ``words`` (:data:`METHOD_WORDS`) and ``indicators`` (their short names, in
    the programme's order), one row per method used in a forecast year."""
    from .targets import INDICATORS

    table = extras.targets
    part = table[(table["unit"] == (unit or PROVINCE)) & table["method"].isin(list(METHOD_WORDS))]
    rows = []
    for method in METHOD_WORDS:
        codes = list(dict.fromkeys(part.loc[part["method"] == method, "indicator"]))
        if codes:
            rows.append({"method": method, "words": METHOD_WORDS[method],
                         "indicators": [INDICATORS[c].short for c in codes]})
    return pd.DataFrame(rows, columns=["method", "words", "indicators"])


def show_target_methods(extras, *, unit: str | None = None) -> HTML:
    """Cách tính các chỉ tiêu: which method forecasts which indicator."""
    if extras.targets is None:
        return HTML("")
    table = target_methods(extras, unit=unit)
    items = "".join(f"<li><strong>{_esc('; '.join(r['indicators']))}:</strong> {_esc(r['words'])}.</li>"
                    for _, r in table.iterrows())
    return _block("<h3>Cách tính các chỉ tiêu dự báo</h3>",
                  f"<p>Chỉ tiêu đến năm {extras.base_year} lấy theo số liệu thực tế. Sau năm đó:</p>",
                  f"<ul>{items}</ul>", cls=APPENDIX)


def backtest_heading(results: ForecastResults) -> str:
    """Which model the backtest scored, and whether it is this page's."""
    if results.rates.source == "calibrated":
        return ("Kiểm định mô hình của báo cáo này (tỷ lệ của từng chi bộ ước lượng từ số liệu lịch sử, như phần dự "
                "báo)")
    return ("Kiểm định mô hình hiệu chỉnh (tỷ lệ của từng chi bộ ước lượng từ số liệu lịch sử). Lưu ý: báo cáo này "
            "dùng tỷ lệ cố định, không phải mô hình được kiểm định ở đây")


def show_backtest(results: ForecastResults, extras) -> HTML:
    """How well the model of this page scored when it replayed the past (Brier
    scores against the spreadsheet rule), said of the model the page uses."""
    scores = extras.backtest_scores
    if scores is None:
        return _block("<h3>Kiểm định dự báo</h3>", str(missing_html(extras.problems, "backtest", "kiểm định dự báo")),
                      cls=APPENDIX)
    b, h = int(scores["base_year"].iloc[0]), int(scores["horizon"].iloc[0])
    mine = "Mô hình của báo cáo" if results.rates.source == "calibrated" else "Mô hình hiệu chỉnh"
    table = pd.DataFrame({
        "Ngưỡng": [f"≥ {k} đảng viên" for k in scores["k"]],
        f"Điểm Brier — {mine.lower()}": [format_number(v, 4) for v in scores["brier_calibrated"]],
        "Điểm Brier — cách tính bảng tính": [format_number(v, 4) for v in scores["brier_spreadsheet"]],
        "Sai số giảm": [format_percent(v, 0) for v in scores["improvement"]],
    })
    pit, inside = float(scores["coverage_80"].iloc[0]), float(scores["inside_80"].iloc[0])
    n_units = int(scores["units"].iloc[0]) if "units" in scores else 0
    units = (f" Tổng số đảng viên tại chỗ của từng đơn vị năm {h}: {int(scores['units_inside_80'].iloc[0])} trong "
             f"{n_units} đơn vị nằm trong khoảng 80% của mô hình (khoảng 80% các đơn vị nếu khoảng dự báo của "
             "đơn vị đúng mức; ít hơn nhiều: các chi bộ của một đơn vị cùng biến động mà mô hình chưa tính hết)."
             if n_units else "")
    return _block("<h3>Kiểm định dự báo (toàn tỉnh)</h3>",
                  f"<p><strong>{_esc(backtest_heading(results))}.</strong> Ước lượng lại mô hình chỉ với số liệu đến "
                  f"năm {b}, dự báo năm {h} cho từng chi bộ của toàn tỉnh (không riêng đơn vị của báo cáo), rồi so "
                  f"với thực tế năm {h}. Điểm Brier là sai số bình "
                  "phương trung bình của xác suất dự báo một chi bộ đạt ngưỡng (0 là hoàn hảo, càng nhỏ càng tốt); "
                  "<em>cách tính bảng tính</em> là N·(1 + r − a)^t so với ngưỡng, với tỷ lệ kết nạp r và giảm a "
                  "chung của toàn tỉnh.</p>",
                  html_table(table, numeric=tuple(table.columns[1:])),
                  f"<p>Khoảng 80% của mô hình (từ mức thấp đến mức cao của từng chi bộ, kể cả hai đầu): "
                  f"{format_percent(inside, 0)} chi bộ có số thực tế nằm trong khoảng — với số đảng viên là số "
                  f"nguyên, tỷ lệ này cao hơn 80% ngay cả khi mô hình đúng; đo theo cách không thiên lệch cho số "
                  f"nguyên (PIT ngẫu nhiên hóa): {format_percent(pit, 0)}, lý tưởng là 80%.{units}</p>", cls=APPENDIX)


def crosscheck_table(results: ForecastResults, extras) -> pd.DataFrame:
    """Province local members per forecast year: this page's model (the province path
    of the batch's forecast, which the extras carry: ``expected, q10, q90``; a unit's
    page shows the province's too) beside the exponential-smoothing model of the
    yearly totals (``ets_forecast, ets_q10, ets_q90``), and ``difference`` (ETS −
    this model). Empty when the cross-check could not be made."""
    columns = ["year", "expected", "q10", "q90", "ets_forecast", "ets_q10", "ets_q90", "difference"]
    cross = extras.crosscheck
    if cross is None:
        return pd.DataFrame(columns=columns)
    out = cross.assign(year=cross["year"].astype(int)).rename(
        columns={"cells_expected": "expected", "cells_q10": "q10", "cells_q90": "q90"})
    out = out[(out["year"] > results.base_year) & out["expected"].notna()].reset_index(drop=True)
    out["difference"] = out["ets_forecast"] - out["expected"]
    return out[columns]


def show_crosscheck(results: ForecastResults, extras) -> HTML:
    """The province total of this page's model beside another model's (ETS), labelled as such."""
    table = crosscheck_table(results, extras)
    if table.empty:
        return _block("<h3>Đối chiếu với mô hình khác</h3>",
                      str(missing_html(extras.problems, "crosscheck", "đối chiếu tổng số toàn tỉnh")), cls=APPENDIX)
    shown = pd.DataFrame({
        "Năm": table["year"].astype(str),
        "Mô hình của báo cáo (dự báo)": [format_number(v) for v in table["expected"]],
        "Khoảng 80%": [band_text(lo, hi) for lo, hi in zip(table["q10"], table["q90"])],
        "Mô hình khác: san bằng mũ (ETS)": [format_number(v) for v in table["ets_forecast"]],
        "ETS khoảng 80%": [band_text(lo, hi) for lo, hi in zip(table["ets_q10"], table["ets_q90"])],
        "Chênh lệch (ETS − báo cáo)": [("+" if v >= 0 else "−") + format_number(abs(v)) for v in table["difference"]],
    })
    widths = (table["ets_q90"] - table["ets_q10"]).to_numpy()
    flat = len(widths) > 1 and widths[-1] < 1.2 * widths[0]
    note = ("Chỉ để đối chiếu: ETS là một mô hình chuỗi thời gian khác, chạy trên tổng số toàn tỉnh hằng năm, không "
            "dùng số liệu từng chi bộ; con số của báo cáo là cột «Mô hình của báo cáo».")
    if flat:
        note += (" Khoảng 80% của ETS gần như không rộng ra theo năm vì mô hình chọn một đường xu hướng cố định "
                 "và không tính sai số của chính đường đó: khoảng thật rộng hơn.")
    return _block("<h3>Đối chiếu tổng số toàn tỉnh với một mô hình khác</h3>",
                  html_table(shown, numeric=tuple(shown.columns)), f'<p class="nq21-note">{note}</p>', cls=APPENDIX)


__all__ = ["method_items", "show_method", "METHOD_WORDS", "target_methods", "show_target_methods",
           "backtest_heading", "show_backtest", "crosscheck_table", "show_crosscheck"]
