"""The action programme in a briefing: every quantitative target of the unit (the
tracker, one row per indicator with its target years side by side), their small
multiples, and the proposal of admission quotas."""
from __future__ import annotations

import pandas as pd

from .fmt import UNIT_LABELS, format_number, format_percent, format_point_change
from .report_base import (HTML, _block, _esc, _figure_class, format_p, html_table, missing_html, status_html,
                          unit_name)
from .results import PROVINCE, ForecastResults


def briefing_extras(results: ForecastResults, *, by: str = "district", context_dir: str = ""):
    """The tracker, quota proposal and backtest for this briefing (see :mod:`nq21model.extras`)."""
    from .extras import briefing_extras as _extras

    return _extras(results, by=by, context_dir=context_dir)


def _missing(extras, part: str, what: str) -> HTML:
    return missing_html(extras.problems, part, what)


# ------------------------------------------------------------------ targets table


def year_heading(year: int, base_year: int) -> str:
    """A target year's column group: 'Năm 2025 — số liệu thực tế' or 'Năm 2030 — dự báo'."""
    return f"Năm {year} — " + ("số liệu thực tế" if year <= base_year else "dự báo")


def targets_by_year(table: pd.DataFrame, *, base_year: int) -> pd.DataFrame:
    """The rows of :func:`nq21model.target_views.unit_table` with each indicator on one
    row and its target years side by side.

    Columns: ``("", "Chỉ tiêu")`` then, for each year Y, ``(heading, "Mục tiêu")``,
    ``(heading, "Kết quả")`` (observed years) or ``"Dự báo"`` and ``"Khoảng 80%"``
    (forecast years), and ``(heading, "Đánh giá")`` — the heading from
    :func:`year_heading`. An indicator without a target in a year has "" there.
    The method column is left out (the appendix says how each indicator is
    forecast).
    """
    years = sorted({int(y) for y in table["Năm"]})
    names = list(dict.fromkeys(table["Chỉ tiêu"]))
    out = {("", "Chỉ tiêu"): names}
    for year in years:
        head = year_heading(year, base_year)
        part = table[table["Năm"].astype(int) == year].set_index("Chỉ tiêu")
        cols = ["Mục tiêu", "Kết quả"] + (["Khoảng 80%"] if year > base_year else []) + ["Đánh giá"]
        for col in cols:
            label = "Dự báo" if col == "Kết quả" and year > base_year else col
            values = [part.at[n, col] if n in part.index else "" for n in names]
            if col == "Mục tiêu":  # "≥ 95%" stays on one line
                values = [v.replace("≥ ", "≥\u00a0").replace("> ", ">\u00a0") for v in values]
            if col == "Khoảng 80%":  # so does a band
                values = [v.replace(" – ", "\u2060–\u2060") for v in values]
            out[(head, label)] = values
    return pd.DataFrame(out)


def show_targets(extras, *, unit: str | None = None) -> HTML:
    """Every quantitative target of the action programme for the unit: target,
    result (observed up to the base year, forecast after it), 80 % band, status;
    one row per indicator, the target years side by side."""
    from .target_views import unit_table

    if extras.targets is None:
        return _missing(extras, "targets", "các chỉ tiêu của Chương trình hành động")
    table = unit_table(extras.targets, unit or PROVINCE)
    wide = targets_by_year(table, base_year=extras.base_year)
    heads = [c[0] for c in wide.columns[1:]]
    groups = [("", 1)] + [(head, heads.count(head)) for head in dict.fromkeys(heads)]
    status_cols = [c for c in wide.columns if c[1] == "Đánh giá"]
    for col in status_cols:
        wide[col] = [status_html(s) if s else "" for s in wide[col]]
    numeric = tuple(c for c in wide.columns if c[1] in ("Kết quả", "Dự báo", "Khoảng 80%"))
    note = (f"Đến năm {extras.base_year}: số liệu thực tế; sau đó: dự báo, kèm khoảng 80% (kết quả thực tế rơi vào "
            "khoảng này với xác suất 80%). Cách tính từng chỉ tiêu: xem Phụ lục kỹ thuật.")
    return _block(html_table(wide, numeric=numeric, raw=tuple(status_cols), groups=groups, cls="nq21-targets nq21-lead"),
                  f'<p class="nq21-note">{note}</p>')


def targets_chart_alt(paths: pd.DataFrame, *, unit: str) -> str:
    """The small multiples in words: which indicators, which years, and how many
    are below their last target in their last year shown."""
    from .targets import INDICATORS

    codes = [c for c in INDICATORS if c in set(paths["indicator"])]
    seen = paths.dropna(subset=["observed"])
    first, last = (int(seen["year"].min()), int(seen["year"].max())) if len(seen) else (None, None)
    end = int(paths["year"].max())
    text = (f"Biểu đồ nhỏ nhiều ô: diễn biến {f'từ {first} đến {last} ' if first else ''}và dự báo đến {end} "
            f"của {format_number(len(codes))} chỉ tiêu của {unit}, mỗi ô một chỉ tiêu, đường chấm đỏ là mục tiêu: "
            + "; ".join(INDICATORS[c].short for c in codes) + ". Số liệu từng chỉ tiêu có trong bảng phía trên.")
    return text


#: In a batch's warm kernel (:func:`nq21model.report.warm_up` sets it): the small
#: multiples' last figure, by size, drawn into again by the next unit (its panels
#: kept: :func:`plot_targets`). The unit before has shown its image by then.
_REUSED: dict | None = None


def show_targets_chart(extras, results: ForecastResults, *, unit: str | None = None, by: str = "district"):
    """Small multiples: each indicator's history and projection against its target line."""
    from .extras import indicator_paths_for
    from .plots_targets import plot_targets, targets_figsize

    if extras.tracker is None:
        return _missing(extras, "targets", "biểu đồ các chỉ tiêu")
    paths = extras.paths.get(unit)
    if paths is None:
        paths = indicator_paths_for(extras.tracker, results, unit=unit, by=by)
    size = targets_figsize(paths["indicator"].nunique())
    fig = _REUSED.get(size) if _REUSED is not None else None
    if fig is None:
        fig = _figure_class()(figsize=size)
        if _REUSED is not None:
            _REUSED.clear()
            _REUSED[size] = fig
    plot_targets(paths, fig=fig, keep_panels=_REUSED is not None)
    fig.alt = targets_chart_alt(paths, unit=unit or PROVINCE)
    return fig


# ------------------------------------------------------------------------ quotas


def quota_intro(a, unit: str | None, by: str | None) -> str:
    """The quota section's first paragraph: budget, rules and what the plan is
    expected to achieve (each number from the allocation)."""
    from .quota_tables import budget_words, floor_words

    mask = a.unit_mask(by, unit)
    years = a.years
    own = int(a.quotas[mask].sum())
    sens = a.sensitivity(mask).set_index("lift")
    at = sens.loc[a.lift]
    where = "toàn tỉnh" if unit in (None, PROVINCE) else _esc(unit)
    text = (f"Chỉ tiêu kết nạp giao cho các chi bộ thôn, bản, tổ dân phố của {where} trong {years[0]}–{years[-1]}: "
            f"{format_number(own)} đảng viên ({_esc(budget_words(a, by))}). Chỉ tiêu của mỗi chi bộ không vượt quá "
            f"khả năng kết nạp của chi bộ ({format_number(a.lift, 1)} lần mức kết nạp bình quân các năm gần đây đã ước lượng), trừ "
            f"mức tối thiểu, ưu tiên các chi bộ có thể đạt từ {a.threshold} đảng viên tại chỗ vào năm {a.horizon}; "
            f"{_esc(floor_words(a, mask))}; chỉ tiêu của mỗi chi bộ thay đổi không quá 1 đảng viên giữa "
            "hai năm liền nhau. "
            f"Nếu các chi bộ kết nạp được đến mức giả định, tỷ lệ chi bộ đạt dự kiến là "
            f"{format_percent(at['share_optimised'], 1)}, so với {format_percent(at['share_proportional'], 1)} khi chia "
            f"theo dân số, với khoảng {format_number(at['realised_optimised'])} đảng viên được kết nạp thực tế.")
    pop = int(a.proportional[mask].sum())
    if by not in (None, a.unit_column) and unit not in (None, PROVINCE) and pop != own:
        # a commune of its district's plan: the plan moves quotas between the district's communes
        parent = ", ".join(sorted(set(a.dataset.cells.loc[mask, a.unit_column].astype(str))))
        parent += f" ({UNIT_LABELS.get(a.unit_column, a.unit_column)})"
        text += (f" Chia theo dân số, {where} được {format_number(pop)} người; kế hoạch chung của {_esc(parent)} giao "
                 f"{format_number(own)} ({'thêm' if own > pop else 'bớt'} {format_number(abs(own - pop))}, "
                 f"{'từ' if own > pop else 'cho'} các chi bộ ở nơi khác), nên chênh lệch ở bảng dưới có cả phần "
                 "chỉ tiêu chuyển giữa các đơn vị.")
    transfers = [(a.unit_names[u], int(-a.plan.unit_transfer[u])) for u in a.plan.losing_units]
    if transfers:
        text += " Đơn vị nhường bớt chỉ tiêu cho đơn vị khác: " + "; ".join(
            f"{_esc(name)} ({format_number(n)})" for name, n in transfers) + "."
    return text


#: Cells listed in the briefing whose quota differs most from the population split.
QUOTA_CHANGES_SHOWN = 8


def show_quotas(extras, *, unit: str | None = None, by: str | None = None) -> HTML:
    """Đề xuất chỉ tiêu kết nạp: the rules, the gain over the population split at
    lifts 1, 2, 3 with the admissions actually expected, and the cells whose quota
    changes most."""
    from .quota_tables import chance_words, quota_changes, quota_gain_table

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
    shown["Chênh lệch"] = [format_point_change(plan, pop) for plan, pop in  # as the two shares read
                           zip(gain["Tỷ lệ chi bộ đạt - chỉ tiêu đề xuất"], gain["Tỷ lệ chi bộ đạt - chia theo dân số"])]
    changes = quota_changes(a, unit, n=QUOTA_CHANGES_SHOWN, by=by)
    ch = changes.copy()
    for col in ch.columns:
        if col.startswith("Khả năng"):
            ch[col] = [format_p(v) for v in changes[col]]
        elif col not in ("Mã chi bộ", "Chi bộ", "Xã"):
            ch[col] = [format_number(v) for v in changes[col]]
    return _block(f"<p>{quota_intro(a, unit, by)}</p>",
                  "<p><strong>Độ nhạy:</strong> khả năng kết nạp thật của các chi bộ chưa biết chắc; bảng so sánh "
                  "chỉ tiêu đề xuất với cách chia theo dân số khi chi bộ kết nạp được bằng, gấp 2 hoặc gấp 3 lần "
                  "mức bình quân các năm gần đây.</p>",
                  html_table(shown, numeric=tuple(c for c in shown.columns if c != "Khả năng kết nạp của chi bộ")),
                  f"<p><strong>{format_number(len(changes))} chi bộ có chỉ tiêu khác nhiều nhất so với chia theo dân "
                  f"số</strong> (tổng cả giai đoạn) ở {_esc(unit_name(unit))}</p>",
                  html_table(ch, numeric=tuple(c for c in ch.columns if c not in ("Mã chi bộ", "Chi bộ", "Xã")),
                             cls="nq21-compact"),
                  f'<p class="nq21-note"><em>Xác suất đạt</em>: {_esc(chance_words(a))}. Danh sách chỉ tiêu từng chi '
                  "bộ, từng năm có trong tệp Excel của đơn vị (thư mục chi_tieu).</p>")


__all__ = ["briefing_extras", "year_heading", "targets_by_year", "show_targets", "targets_chart_alt",
           "show_targets_chart", "quota_intro", "QUOTA_CHANGES_SHOWN", "show_quotas"]
