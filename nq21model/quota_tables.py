"""What an allocation (:mod:`nq21model.allocate`) gives its readers: the briefing's
tables (the gain over the population split, the cells whose quota changes most) and
each unit's quota workbook for its office (the list, a totals row, the notes)."""
from __future__ import annotations

import datetime
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .allocate import Allocation
from .exceptions import ParameterError
from .fmt import UNIT_LABELS, format_number

__all__ = ["quota_gain_table", "quota_changes", "quota_sheet", "quota_notes", "write_quota_workbooks",
           "remove_earlier_workbooks", "chance_words", "budget_label", "budget_words", "floor_words"]

#: How a unit's quota workbook is named: the prefix, then the unit's file name.
WORKBOOK_PREFIX = "chi_tieu_ket_nap_"


def quota_gain_table(allocation: Allocation, by: str | None = None, unit: str | None = None) -> pd.DataFrame:
    """The plan's gain over the population split for the briefing, one row per lift
    (Vietnamese, ready to show): ``Khả năng kết nạp`` (the lift in words), ``Tỷ lệ
    chi bộ đạt - chia theo dân số``, ``Tỷ lệ chi bộ đạt - chỉ tiêu đề xuất``,
    ``Chênh lệch`` (shares in [0, 1]), ``Kết nạp thực tế dự kiến - theo dân số``,
    ``Kết nạp thực tế dự kiến - đề xuất`` (admissions actually made, period)."""
    a = allocation
    sens = a.sensitivity(a.unit_mask(by, unit))
    words = {1.0: "bằng mức bình quân các năm gần đây", 2.0: "gấp 2 lần mức bình quân các năm gần đây", 3.0: "gấp 3 lần mức bình quân các năm gần đây"}
    return pd.DataFrame({
        "Khả năng kết nạp của chi bộ": [words.get(v, f"gấp {v:g} lần") + (" (giả định của đề xuất)"
                                                                          if v == a.lift else "")
                                        for v in sens["lift"]],
        "Tỷ lệ chi bộ đạt - chia theo dân số": sens["share_proportional"],
        "Tỷ lệ chi bộ đạt - chỉ tiêu đề xuất": sens["share_optimised"],
        "Chênh lệch": sens["gain"],
        "Kết nạp thực tế dự kiến - theo dân số": sens["realised_proportional"],
        "Kết nạp thực tế dự kiến - đề xuất": sens["realised_optimised"],
    })


def quota_changes(allocation: Allocation, unit: str | None = None, n: int = 15, *,
                  by: str | None = None) -> pd.DataFrame:
    """The ``n`` cells of ``unit`` whose quota differs most from the population split
    (period totals, by absolute change; ties by cell id). Vietnamese columns."""
    if n < 0:
        raise ParameterError(f"n must be ≥ 0, got {n}")
    a = allocation
    mask = a.unit_mask(by, unit)
    k = a.threshold
    cells = a.dataset.cells.reset_index(drop=True)
    prop, opt = a.proportional.sum(axis=1), a.quotas.sum(axis=1)
    frame = pd.DataFrame({
        "Mã chi bộ": cells["cell_id"], "Chi bộ": cells["cell_name"], "Xã": cells["commune"],
        f"Đảng viên tại chỗ {a.base_year}": a.n0, "Theo dân số": prop, "Chỉ tiêu đề xuất": opt,
        "Thay đổi": opt - prop,
        f"Xác suất đạt ≥ {k} - theo dân số": a.p_proportional[k],
        f"Xác suất đạt ≥ {k} - đề xuất": a.p_optimised[k],
    }).loc[mask]
    order = np.lexsort((frame["Mã chi bộ"].to_numpy(), -np.abs(frame["Thay đổi"].to_numpy())))
    return frame.iloc[order[:n]].reset_index(drop=True)


def quota_sheet(allocation: Allocation, mask: np.ndarray) -> pd.DataFrame:
    """The quota list to hand out: one row per cell, one column per year, the
    admissions the cell is expected to make of its quotas (at the assumed lift, over
    the parameter draws: a small cell's quota of 1 a year may be above what it can
    admit) and its chance (Vietnamese; the chance unrounded: the writer shows it as the
    briefing does, "> 0,99")."""
    a = allocation
    cells = a.dataset.cells.reset_index(drop=True)
    frame = pd.DataFrame({"Mã chi bộ": cells["cell_id"], "Chi bộ": cells["cell_name"], "Xã": cells["commune"]})
    if "district" in cells:
        frame["Huyện"] = cells["district"]
    if "commune_2025" in cells:  # the commune since July 2025, beside the old one of its history
        frame["Xã mới"] = cells["commune_2025"]
    frame[f"Đảng viên tại chỗ {a.base_year}"] = a.n0
    for j, y in enumerate(a.years):
        frame[f"Chỉ tiêu {y}"] = a.quotas[:, j]
    frame[f"Tổng {a.years[0]}–{a.years[-1]}"] = a.quotas.sum(axis=1)
    frame[f"Dự kiến kết nạp được {a.years[0]}–{a.years[-1]}"] = a.realised_optimised
    frame[f"Xác suất đạt ≥ {a.threshold} ĐV năm {a.horizon}"] = a.p_optimised[a.threshold]
    return frame.loc[mask].sort_values(["Xã", "Mã chi bộ"]).reset_index(drop=True)



def budget_label(a: Allocation) -> str:
    """The scenario that sets the quota budget, in words ("kết nạp 3,5% tổng số đảng
    viên/năm"): the allocation's note up to its first clause."""
    return str(a.budget_note).split(";")[0].strip()


def budget_words(a: Allocation, by: str | None = None) -> str:
    """The quota budget in words (Vietnamese): the scenario that sets it and how it
    is shared between units (from the allocation's note), then cells."""
    label = budget_label(a)
    how = a.info.get("shared", "")
    nested = by not in (None, a.unit_column)  # a commune of a district's plan
    return label + (f"; chia cho các {UNIT_LABELS.get(a.unit_column, 'đơn vị')} {how}"
                    + (", rồi cho từng chi bộ" if nested else "") if how else "")


def floor_words(a: Allocation, mask: np.ndarray) -> str:
    """The plan's least quotas in words, with the cells they reach in ``mask`` (the
    briefing's quota section and the workbook's notes say them alike)."""
    empty = a.plan.empty[mask]
    written = int(((a.plan.floors[mask] > 0) & ~empty).sum())
    text = (f"{format_number(written)} chi bộ có phần chia theo dân số (trước khi làm tròn) từ 2 đảng viên trở lên "
            "trong cả giai đoạn được giao ít nhất 1")
    if empty.any():
        text += (f"; {format_number(int(empty.sum()))} chi bộ chưa có đảng viên tại chỗ năm {a.base_year} được giao 1 "
                 "đảng viên mỗi năm (mục tiêu không còn thôn, bản chưa có đảng viên)")
    return text


#: What "mức bình quân các năm gần đây" of a cell is, for the reader of a quota list.
RATE_WORDS = ("mức kết nạp bình quân một năm của chi bộ, ước lượng từ số kết nạp các năm gần đây của chi bộ và của "
              "các chi bộ cùng xã, huyện (nên chi bộ không kết nạp ai trong các năm qua vẫn có mức lớn hơn 0, và "
              "có thể được giao 1 đảng viên một năm)")


def chance_words(a: Allocation) -> str:
    """What a quota list's "Xác suất đạt" is, in words (the workbook's notes and the
    briefing's quota section say it alike)."""
    return (f"xác suất chi bộ có từ {a.threshold} đảng viên tại chỗ trở lên năm {a.horizon} với chỉ tiêu này, khi "
            f"chi bộ kết nạp đến mức khả năng của mình ({a.lift:g} lần mức bình quân các năm gần đây): phần chỉ tiêu vượt khả "
            "năng (mức tối thiểu ở chi bộ nhỏ) không tính là kết nạp được")


def quota_notes(allocation: Allocation, unit: str, mask: np.ndarray, by: str) -> pd.DataFrame:
    """The "Ghi chú" sheet of a unit's quota workbook: ``Mục, Giá trị`` rows — the
    unit, years, threshold, the unit's own quotas (a year and the period; never the
    province's), how they were handed down, the rules, the data."""
    a = allocation
    quotas = a.quotas[mask].sum(axis=0)
    rows = [("Đơn vị", f"{unit} ({UNIT_LABELS.get(by, by)})"), ("Năm gốc", str(a.base_year)),
            ("Năm mục tiêu", str(a.horizon)), ("Ngưỡng", f"≥ {a.threshold} đảng viên"),
            ("Chỉ tiêu của đơn vị theo năm", ", ".join(f"{y}: {int(q)}" for y, q in zip(a.years, quotas))),
            (f"Tổng chỉ tiêu của đơn vị {a.years[0]}–{a.years[-1]}", f"{int(quotas.sum())} đảng viên, "
             f"{int(mask.sum())} chi bộ")]
    if by == a.unit_column:
        u = a.unit_names.index(unit)
        rows.append(("Cách giao cho đơn vị", "số kết nạp của toàn tỉnh chia cho các đơn vị "
                     + (a.info.get("shared") or "theo dân số")))
        transfer = int(a.plan.unit_transfer[u])
        if transfer:
            rows.append(("Điều chỉnh giữa các đơn vị", (f"nhận thêm {transfer}" if transfer > 0 else
                                                        f"nhường cho đơn vị khác {-transfer}") + " trong cả giai đoạn"))
        unplaced = int(a.plan.unit_unplaced[u])
        if unplaced > 0:
            rows.append(("Chưa giao được", f"{unplaced} đảng viên của phần đơn vị được chia không giao được cho chi bộ "
                                           f"nào: vượt khả năng kết nạp của các chi bộ ({a.lift:g} lần mức mấy năm "
                                           "qua); kiểm tra số liệu (dân số) hoặc chia lại cho đơn vị khác"))
    else:  # a unit inside the budget's units (a commune of a district's plan)
        rows.append(("Cách giao cho đơn vị", f"số kết nạp của toàn tỉnh chia cho các "
                     f"{UNIT_LABELS.get(a.unit_column, a.unit_column)} " + (a.info.get("shared") or "theo dân số")
                     + ", rồi cho từng chi bộ; chỉ tiêu của đơn vị là tổng chỉ tiêu các chi bộ của đơn vị"))
    province = a.budgets.sum(axis=0)
    rows += [("Số kết nạp của toàn tỉnh", f"{budget_label(a)}: {format_number(int(province.sum()))} đảng viên trong "
                                          f"{a.years[0]}–{a.years[-1]} ("
                                          + ", ".join(f"{y}: {format_number(int(q))}" for y, q in zip(a.years, province))
                                          + ")"),
             ("Ưu tiên", f"các chi bộ có thể đạt từ {a.threshold} đảng viên tại chỗ trở lên vào năm {a.horizon} nhờ "
                         "chỉ tiêu được giao"),
             ("Nguyên tắc", "chỉ tiêu mỗi năm không vượt quá khả năng kết nạp của chi bộ "
                            f"({a.lift:g} lần mức bình quân các năm gần đây) làm tròn lên, trừ mức tối thiểu: "
                            + floor_words(a, mask) + "; chỉ tiêu mỗi năm thay đổi không quá 1"),
             ("Mức bình quân các năm gần đây", RATE_WORDS),
             ("Dự kiến kết nạp được", "số đảng viên chi bộ dự kiến kết nạp được trong giai đoạn với chỉ tiêu này, "
                                      f"khi kết nạp đến mức khả năng của mình ({a.lift:g} lần mức bình quân các năm gần đây); ở "
                                      "chi bộ kết nạp được ít, chỉ tiêu (số nguyên) có thể lớn hơn số này: phần lớn "
                                      "hơn là mức phấn đấu"),
             ("Xác suất đạt", chance_words(a) + "; \"> 0,99\": gần như chắc chắn, không phải chắc chắn"),
             ("Dữ liệu", "Dữ liệu mô phỏng" if a.dataset.synthetic else "Dữ liệu thật"),
             ("Lập lúc", datetime.datetime.now().strftime("%d/%m/%Y %H:%M") + f" bằng nq21model {__version__}")]
    return pd.DataFrame(rows, columns=["Mục", "Giá trị"])


def write_quota_workbooks(allocation: Allocation, out_dir: str | Path, by: str | None = None,
                          units=None) -> dict[str, Path]:
    """One XLSX per unit of ``by`` with its quota list, all written or none.

    Sheets "Chỉ tiêu" (a title row, one row per cell, a column per year, a bold
    "Tổng cộng" row under the members and the quotas) and "Ghi chú"
    (:func:`quota_notes`: the unit's own budget, the rules); "Dữ liệu mô phỏng" on
    every sheet when the data are synthetic (styles: :mod:`nq21model.styles`).
    ``units``: only these units' lists (default every unit). Returns {unit: path};
    names from :func:`fmt.unit_file_names`, e.g. ``chi_tieu_ket_nap_tam-duong.xlsx``
    (:func:`remove_earlier_workbooks` clears the lists of an earlier run).
    """
    from .files import write_tables
    from .fmt import unit_file_names
    from .styles import Sheet

    a = allocation
    by = by or a.unit_column
    cells = a.dataset.cells
    if by not in cells.columns:
        raise ParameterError(f"no column '{by}' in the cells table")
    out_dir = Path(out_dir)
    names = unit_file_names(cells[by].unique())
    wanted = sorted(names) if units is None else [u for u in sorted(names) if u in set(units)]
    paths = {unit: out_dir / f"{WORKBOOK_PREFIX}{names[unit]}.xlsx" for unit in wanted}
    period = f"{a.years[0]}–{a.years[-1]}"
    books = {}
    for unit, path in paths.items():
        mask = (cells[by] == unit).to_numpy()
        sheet = quota_sheet(a, mask)
        added = [f"Đảng viên tại chỗ {a.base_year}", *(f"Chỉ tiêu {y}" for y in a.years), f"Tổng {period}",
                 f"Dự kiến kết nạp được {period}"]
        books[path] = {
            "Chỉ tiêu": Sheet(sheet, title=f"Đề xuất chỉ tiêu kết nạp đảng viên {period} — {unit}", totals=added),
            "Ghi chú": Sheet(quota_notes(a, unit, mask, by), title=f"Ghi chú — {unit}")}
    write_tables(books, office=True, synthetic=bool(a.dataset.synthetic))
    return paths


#: A name :func:`write_quota_workbooks` gives: the prefix, a unit's slug, ".xlsx".
_WORKBOOK_NAME = re.compile(re.escape(WORKBOOK_PREFIX) + r"[a-z0-9]+(?:-[a-z0-9]+)*\.xlsx")


def remove_earlier_workbooks(out_dir: str | Path, keep) -> list[Path]:
    """Remove from ``out_dir`` the quota lists of an earlier run that this one did
    not make (``keep``: its paths) — a unit renamed, or written two ways — so that
    the folder holds one plan; only names the tool gives (an office's "… (bản đã
    duyệt).xlsx" copy stays). Returns what was removed."""
    keep = {Path(p) for p in keep}
    stale = sorted(p for p in Path(out_dir).glob(f"{WORKBOOK_PREFIX}*.xlsx")
                   if p not in keep and _WORKBOOK_NAME.fullmatch(p.name))
    for path in stale:
        path.unlink()
    return stale
