"""A batch of briefings' own files, beside the units' notebooks and pages
(:func:`nq21model.briefings.run_briefings` stages them and puts them in place):
``at_risk.xlsx``, ``index.html`` and ``manifest.json``."""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import sys
from pathlib import Path

from . import __version__
from .provenance import sha256


def write_at_risk_xlsx(results, path: Path, *, by: str, units) -> int:
    """At-risk cells of every unit, a sheet each after a notes sheet, as an office
    workbook (:mod:`nq21model.styles`: a title row naming the unit and the count,
    header frozen, columns sized, "Dữ liệu mô phỏng" on every sheet when the data
    are synthetic); returns the number of at-risk cells."""
    import numpy as np
    import pandas as pd

    from . import report
    from .files import write_table
    from .fmt import format_number
    from .report_forecast import ALL_UNITS_SHEET, at_risk_sheets
    from .styles import Sheet

    horizon, threshold = report.focus(results)
    names = at_risk_sheets(units)
    one_sheet = len(set(names.values())) == 1 and len(units) > 1
    label = report.UNIT_LABELS.get(by, by)
    layout = (f"mọi đơn vị trên trang «{ALL_UNITS_SHEET}» (lọc theo cột «{label}»)" if one_sheet
              else "mỗi đơn vị một trang")
    notes = [("Nội dung", f"Danh sách chi bộ có nguy cơ không đạt chỉ tiêu đảng viên tại chỗ, {layout}."),
             ("Tiêu chí", f"Xác suất có từ {threshold} đảng viên tại chỗ trở lên năm {horizon} dưới 0,5, "
                          f"hoặc chưa có đảng viên tại chỗ năm {results.base_year}."),
             ("Đơn vị", report.UNIT_LABELS[by] if by in report.UNIT_LABELS else f"{by} (cột của tệp chi bộ)"),
             ("Kịch bản", results.scenario.label),
             ("Số liệu", f"đến hết năm {results.dataset.last_year}; năm gốc {results.base_year}"),
             ("Lập lúc", _dt.datetime.now().strftime("%d/%m/%Y %H:%M") + f" bằng nq21model {__version__}")]
    if results.dataset.synthetic:
        notes.insert(0, ("CẢNH BÁO", report.banner_text(results.dataset)))
    sheets = {"Ghi chú": Sheet(pd.DataFrame(notes, columns=["Mục", "Nội dung"]),
                               title=f"Chi bộ có nguy cơ không đạt chỉ tiêu năm {horizon} — ghi chú")}
    total = 0
    if one_sheet:  # many units: one list with the unit's column, in the units' order
        table = report.at_risk_cells(results, by=by)
        unit_of = results.full.cells.set_index("cell_id")[by].astype(str)
        table.insert(0, label, table["Mã chi bộ"].map(unit_of).to_numpy())
        order = {u: i for i, u in enumerate(units)}
        table = table.iloc[np.argsort(table[label].map(order).to_numpy(), kind="stable")].reset_index(drop=True)
        table = table[table[label].isin(order)].reset_index(drop=True)
        sheets[ALL_UNITS_SHEET] = Sheet(table, title=f"{format_number(len(table))} chi bộ có nguy cơ "
                                                     f"(năm {horizon}, ngưỡng {threshold} đảng viên)")
        total = len(table)
    else:
        for unit in units:
            table = report.at_risk_cells(results, unit=unit, by=by)
            total += len(table)
            count = (f"{format_number(len(table))} chi bộ có nguy cơ" if len(table)
                     else "không có chi bộ nào thuộc diện nguy cơ")
            sheets[names[unit]] = Sheet(table, title=f"{unit}: {count} (năm {horizon}, ngưỡng {threshold} "
                                                     "đảng viên)")
    write_table(sheets, path, office=True, synthetic=bool(results.dataset.synthetic), widths=(6, 90))
    return total


def write_index(results, path: Path, *, by: str, slugs: dict[str, str], run, parts: dict | None = None) -> Path:
    """The index page (:mod:`nq21model.index_page`): banner, the conclusion for the
    province, the province and each unit against the targets with a link to each
    briefing, every programme target by unit, the Excel lists and the manifest;
    failures named. ``parts``: :func:`nq21model.index_page.index_parts`, if made already."""
    from .files import atomic_path
    from .index_page import index_html

    page = index_html(results, by=by, slugs=slugs, run=run, parts=parts)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def write_manifest(path: Path, *, results, params: dict, run, units, slugs, notebook: Path,
                   kernel: str, command, names=None) -> Path:
    """The run's record: parameters, data hashes, versions, durations, failures, and
    the files of every unit of ``names`` (default ``units``): briefing, notebook,
    quota workbook, sheet of at_risk.xlsx."""
    from importlib.metadata import version

    from .files import atomic_path
    from .provenance import provenance

    def rel(p):
        if p is None:
            return None
        with contextlib.suppress(ValueError):
            return str(Path(p).relative_to(run.out_dir))
        return str(p)

    data = {}
    for key, source in results.dataset.sources.items():
        data[key] = {"path": str(Path(source).resolve()), "sha256": sha256(source),
                     "bytes": Path(source).stat().st_size}
    if params.get("quotas_path"):
        data["quotas"] = {"path": params["quotas_path"], "sha256": sha256(params["quotas_path"])}
    manifest = {
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
        "package": {"name": "nq21model", "version": __version__},
        "versions": {"python": sys.version.split()[0],
                     **{name: version(name) for name in ("papermill", "nbconvert", "pandas", "matplotlib")}},
        "notebook": {"path": str(notebook), "sha256": sha256(notebook), "kernel": kernel},
        "parameters": params,
        "scenario": results.scenario.label,
        "base_year": results.base_year,
        "horizons": results.horizons,
        "data": {**data, "synthetic": results.dataset.synthetic, "first_year": results.dataset.first_year,
                 "last_year": results.dataset.last_year, "n_cells": len(results.dataset.cells)},
        "unit_column": run.unit_column,
        "jobs": None if run.scheduler else run.jobs,  # on a cluster: its workers, named by each unit
        "seconds": run.seconds,
        "scheduler": run.scheduler,
        "units": [{"unit": o["unit"], "slug": slugs[o["unit"]], "status": o["status"], "seconds": o["seconds"],
                   "html": rel(o["html"]), "notebook": rel(o["notebook"]),
                   "failed_notebook": rel(o.get("kept_notebook")), "error": o["error"],
                   "worker": o.get("worker")} for o in run.outcomes],
        "failures": [o["unit"] for o in run.failures],
        "files": _unit_files(run, names if names is not None else units, slugs, rel),
        "outputs": {"index": rel(run.index), "at_risk_xlsx": rel(run.xlsx), "at_risk_cells": run.at_risk_cells},
        "provenance": provenance({key: entry["path"] for key, entry in data.items()}),
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def _unit_files(run, names, slugs, rel) -> dict:
    """Each unit's files (those that exist after the run; ``None`` for one that does not)."""
    from .report_forecast import at_risk_sheets

    sheets = at_risk_sheets(names)
    folder = run.out_dir / run.unit_column
    out = {}
    for unit in names:
        html, notebook = folder / f"{slugs[unit]}.html", folder / f"{slugs[unit]}.ipynb"
        book = run.quota_books.get(unit)
        out[unit] = {"slug": slugs[unit], "html": rel(html) if run.has_file(unit, html) else None,
                     "notebook": rel(notebook) if run.has_file(unit, notebook) else None,
                     "quota_workbook": rel(book) if book is not None else None,
                     "at_risk_sheet": sheets[unit]}
    return out
