"""The briefing batch as a user runs it: `nq21model briefings` on a small data set,
the notebook under papermill, the HTML in headless Chromium, the failure path."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, make_tables, run_cli
from nq21model import briefings, config, html_export
from nq21model.report_forecast import at_risk_sheets

NOTEBOOK = ROOT / "notebooks" / "briefing.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
UNITS = {"Sìn Hồ": "sin-ho", "Tam Đường": "tam-duong"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """12 cells in two districts and three communes, flagged synthetic."""
    folder = tmp_path_factory.mktemp("data")
    cells, history = make_tables()
    cells.to_csv(folder / "cells.csv", index=False)
    history.to_csv(folder / "history.csv", index=False)
    (folder / config.SYNTHETIC_MARKER).write_text(json.dumps({"synthetic": True}), encoding="utf-8")
    return folder


def data_args(data_dir):
    return ["--cells", data_dir / "cells.csv", "--history", data_dir / "history.csv"]


@pytest.fixture(scope="module")
def batch(data_dir, tmp_path_factory):
    """One successful run of both districts, in parallel."""
    out = tmp_path_factory.mktemp("run") / "outputs"
    proc = run_cli("briefings", *data_args(data_dir), "--out", out, "--jobs", "2")
    return out, proc


# ----------------------------------------------------------------- pure helpers


def test_slugs_and_sheet_names_are_distinct():
    assert briefings.slugify("Tam Đường") == "tam-duong"
    assert briefings.slugify("Thành phố Lai Châu") == "thanh-pho-lai-chau"
    slugs = briefings.unit_slugs(["Tam Đường", "Tam Duong", "Xã Bình Lư"])
    assert len(set(slugs.values())) == 3 and slugs["Xã Bình Lư"] == "xa-binh-lu"
    names = at_risk_sheets(["A" * 40, "A" * 40 + "b", "x/y"])
    assert len(set(names.values())) == 3
    assert all(len(n) <= 31 for n in names.values()) and names["x/y"] == "x-y"


def test_notebook_parameters_are_documented():
    """The parameters cell follows the title, typed, each with a help comment."""
    import papermill

    params = papermill.inspect_notebook(str(NOTEBOOK))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "parameters" in nb.cells[1].metadata.get("tags", [])
    assert params["unit"]["inferred_type_name"] == "str" and params["unit"]["default"] == '"Tam Đường"'
    assert params["unit_column"]["default"] == '""'          # the data's own grouping
    expected = {"unit", "unit_column", "cells_path", "history_path", "totals_path", "base_year", "horizons",
                "admission_rate", "admission_base", "fixed_rates", "attrition_rate", "allocation", "quotas_path",
                "max_lift", "method", "scenario_rates", "reconcile"}
    assert expected <= set(params)
    for name, info in params.items():
        assert info["inferred_type_name"] != "None", name
        assert info["help"], f"parameter {name} has no help comment"
    assert set(params) - {"unit"} == set(briefings.notebook_parameters()) | {"scenario_rates"}
    # committed without outputs, and without logic: every code cell is short
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
            if "parameters" not in cell.metadata.get("tags", []):
                assert "if " not in cell.source and "for " not in cell.source


# ------------------------------------------------------------------ the batch


@pytest.mark.slow
def test_batch_makes_every_output(batch, data_dir):
    out, proc = batch
    assert proc.returncode == 0, proc.stderr
    assert "Made 2 of 2 briefings by district" in proc.stdout
    assert proc.stdout.splitlines()[0].endswith("; SYNTHETIC DATA (Dữ liệu mô phỏng)")  # as every command says
    for slug in UNITS.values():
        assert (out / "district" / f"{slug}.html").stat().st_size > 10_000
        nb = nbformat.read(out / "district" / f"{slug}.ipynb", as_version=4)
        assert nb.metadata.papermill.parameters["unit"] in UNITS
        assert nb.metadata.papermill.parameters["cells_path"] == str((data_dir / "cells.csv").resolve())
    assert not list(out.glob(".staging-*"))
    umask = os.umask(0)
    os.umask(umask)
    for name in ("index.html", "at_risk.xlsx", "manifest.json"):  # not private like a mkstemp file
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["failures"] == [] and manifest["unit_column"] == "district"
    assert [u["status"] for u in manifest["units"]] == ["ok", "ok"]
    assert all(u["seconds"] > 0 for u in manifest["units"])
    for key in ("cells", "history"):
        digest = hashlib.sha256((data_dir / f"{key}.csv").read_bytes()).hexdigest()
        assert manifest["data"][key]["sha256"] == digest
    assert manifest["parameters"]["admission_rate"] is None and manifest["data"]["synthetic"] is True
    assert manifest["parameters"]["unit_column"] == "district"
    assert manifest["package"]["version"]

    import openpyxl

    book = openpyxl.load_workbook(out / "at_risk.xlsx", read_only=True)
    assert book.sheetnames == ["Ghi chú", "Sìn Hồ", "Tam Đường"]
    notes = [row[1] for row in book["Ghi chú"].iter_rows(values_only=True)]
    assert any("Dữ liệu mô phỏng" in str(n) for n in notes)
    rows = sum(book[name].max_row - 2 for name in ("Sìn Hồ", "Tam Đường"))  # a title row, the header
    assert rows == manifest["outputs"]["at_risk_cells"]
    # the province-wide parts: one quota list per unit, the targets on the index and in each briefing
    books = sorted(p.name for p in (out / "chi_tieu").glob("*.xlsx"))
    assert len(books) == 2 and all(b.startswith("chi_tieu_ket_nap_") for b in books)
    assert "Các chỉ tiêu của Chương trình hành động" in (out / "index.html").read_text(encoding="utf-8")
    page = (out / "district" / "sin-ho.html").read_text(encoding="utf-8")
    for heading in ("Các chỉ tiêu định lượng của Chương trình hành động", "Đề xuất chỉ tiêu kết nạp",
                    "Giả định và phương pháp"):
        assert heading in page
    assert "không đủ để kiểm định" in page  # eight years of history: no five-year replay, and it says so
    # the conclusion first, the technical appendix last
    assert page.index("Kết luận") < page.index("Các chỉ tiêu định lượng") < page.rindex("Phụ lục kỹ thuật")
    assert "Cách tính</th>" not in page  # no method column in the targets table
    # the index: its conclusion, and the units in one order in every table
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.index("Kết luận") < index.index("Chi bộ đạt số đảng viên tại chỗ, theo đơn vị")
    overview, matrix = index.split("Các chỉ tiêu của Chương trình hành động")[:2]
    assert all(f">{u}</a>" in overview for u in UNITS)
    assert sorted(UNITS, key=lambda u: overview.index(f">{u}</a>")) == \
        sorted(UNITS, key=lambda u: matrix.index(f"<th>{u}</th>"))


def _open(page, path):
    """Load a local page; return (external or failed requests, image widths)."""
    bad = []
    page.on("requestfailed", lambda r: bad.append(("failed", r.url)))
    page.on("request", lambda r: None if r.url.startswith(("data:", "file://")) else bad.append(("external", r.url)))
    page.goto(path.as_uri(), wait_until="load")
    widths = page.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
    return bad, widths


@pytest.mark.slow
def test_html_export_is_nbconvert_page(batch):
    """The briefings' exporter makes the page nbconvert's HTMLExporter makes (compared
    as parsed by BeautifulSoup), without HTMLExporter's own pass over it."""
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    out, _ = batch
    nb = nbformat.read(out / "district" / "sin-ho.ipynb", as_version=4)
    ours = briefings.html_exporter()
    plain = HTMLExporter(config=ours.config, template_name=briefings.TEMPLATE_NAME,
                         extra_template_basedirs=[str(briefings.TEMPLATES_DIR)])
    resources = {"metadata": {"name": "Sìn Hồ"}}
    mine, _ = ours.from_notebook_node(nb, resources=dict(resources))
    theirs, _ = plain.from_notebook_node(nb, resources=dict(resources))
    assert 'tabindex="0"' in mine and "<img" in mine and "Giả định và phương pháp" in mine
    assert str(BeautifulSoup(mine, features="html.parser")) == theirs
    assert "&#" not in mine.replace("&#39;", "")
    # an image without a text alternative gets nbconvert's; one with it keeps its own
    assert html_export._accessible('<img src="a.png"><img alt="x" src="b"><img alt src="c"><img data-alt="d">') == (
        '<img alt="No description has been provided for this image" src="a.png"><img alt="x" src="b">'
        '<img alt src="c"><img alt="No description has been provided for this image" data-alt="d">')
    # a div whose class is not its first attribute; a character reference as letter, not in a script
    assert html_export._accessible('<div id="o" class="jp-OutputArea-output x">&#7863;&#150;'
                                   '<script>s = "&#7863;"</script></div>') == (
        '<div id="o" class="jp-OutputArea-output x" tabindex="0">ặ&#150;<script>s = "&#7863;"</script></div>')


@pytest.mark.slow
@pytest.mark.browser
def test_html_opens_offline_in_chromium(batch):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (make chromium)")
    from playwright.sync_api import sync_playwright

    out, proc = batch
    assert proc.returncode == 0, proc.stderr
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for unit, slug in UNITS.items():
                page = browser.new_page()
                bad, widths = _open(page, out / "district" / f"{slug}.html")
                assert bad == []
                assert len(widths) >= 3 and all(w > 0 for w in widths), widths
                assert page.get_by_text("Dữ liệu mô phỏng").first.is_visible()
                assert unit in page.locator("h1").first.inner_text()
                assert page.locator("table.nq21-table").count() >= 2  # key figures, scenarios
                text = page.inner_text("body")
                assert "report.show_" not in text  # code hidden
                assert "Warning" not in text  # kernel warnings stay in the notebook
                alts = page.evaluate("Array.from(document.images).map(i => i.getAttribute('alt') || '')")
                assert all(a.startswith("Biểu đồ") for a in alts), alts
                page.close()
            page = browser.new_page()
            bad, _ = _open(page, out / "index.html")
            assert bad == []
            assert page.get_by_text("Dữ liệu mô phỏng").first.is_visible()
            links = page.locator("a[href$='.html']")
            assert links.count() == 2
            for i in range(2):
                assert (out / links.nth(i).get_attribute("href")).exists()
            page.close()
        finally:
            browser.close()


@pytest.mark.slow
def test_failed_unit_keeps_earlier_outputs(batch, data_dir, tmp_path):
    out, proc = batch
    assert proc.returncode == 0, proc.stderr
    runs = tmp_path / "outputs"
    shutil.copytree(out, runs)
    before = {p.name: p.read_bytes() for p in (runs / "district").iterdir()}
    mtime = (runs / "district" / "tam-duong.html").stat().st_mtime_ns
    broken = tmp_path / "broken.ipynb"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell(
        'if unit == "Sìn Hồ":\n    raise RuntimeError("broken on purpose")'))
    nbformat.write(nb, broken)

    proc = run_cli("briefings", *data_args(data_dir), "--out", runs, "--jobs", "2", "--notebook", broken)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Sìn Hồ: RuntimeError: broken on purpose" in proc.stderr
    assert "Made 1 of 2 briefings" in proc.stdout
    # the failed unit's earlier briefing is intact; its failed notebook shows the error
    for name in ("sin-ho.html", "sin-ho.ipynb"):
        assert (runs / "district" / name).read_bytes() == before[name]
    failed = nbformat.read(runs / "district" / "sin-ho.failed.ipynb", as_version=4)
    errors = [o for c in failed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "RuntimeError"
    # the other unit was made again
    assert (runs / "district" / "tam-duong.html").stat().st_mtime_ns > mtime
    manifest = json.loads((runs / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["failures"] == ["Sìn Hồ"]
    assert "lỗi khi lập lần này" in (runs / "index.html").read_text(encoding="utf-8")
    assert not list(runs.glob(".staging-*"))


@pytest.mark.slow
def test_a_batch_failing_while_its_workers_warm_stops_them(data_dir, tmp_path, monkeypatch):
    """The workers are spawned before the forecast: a batch that fails after that (here
    its forecast) stops them and their kernels, and leaves no file, here or in /tmp."""
    import glob
    import tempfile

    from nq21model import report, runner
    from nq21model.data import load_dataset
    from nq21model.exceptions import ParameterError

    workers = []
    real_start = runner.start_pool

    def start(*args, **kwargs):
        pool = real_start(*args, **kwargs)
        runner.launched(pool)
        workers.extend(pool._processes)  # their pids, spawned now
        return pool

    monkeypatch.setattr(runner, "start_pool", start)

    def failing(**_):
        raise ParameterError("stopped on purpose")

    monkeypatch.setattr(report, "run_forecast", failing)
    logs = set(glob.glob(os.path.join(tempfile.gettempdir(), "nq21model-workers-*")))
    dataset = load_dataset(data_dir / "cells.csv", data_dir / "history.csv")
    params = briefings.notebook_parameters(cells=data_dir / "cells.csv", history=data_dir / "history.csv")
    out = tmp_path / "outputs"
    with pytest.raises(ParameterError, match="on purpose"):
        briefings.run_briefings(params, jobs=2, out_dir=out, progress=False, dataset=dataset)
    assert len(workers) == 2
    for pid in workers:  # ended, not only told to
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    kernels = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ipykernel_launcher" in cmdline and any(f"JPY_PARENT_PID={pid}".encode() in environ
                                                    for pid in workers):
            kernels.append(entry.name)
    assert kernels == []
    assert not out.exists()
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "nq21model-workers-*"))) == logs


@pytest.mark.slow
def test_briefings_by_commune(data_dir, tmp_path):
    out = tmp_path / "outputs"
    proc = run_cli("briefings", *data_args(data_dir), "--out", out, "--unit", "commune", "--only", "Xã 1",
                   "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    html = (out / "commune" / "xa-1.html").read_text(encoding="utf-8")
    assert "Xã 1" in html and "Dữ liệu mô phỏng" in html and "xã, phường, thị trấn" in html
    assert [p.name for p in (out / "commune").glob("*.html")] == ["xa-1.html"]
    import openpyxl

    assert openpyxl.load_workbook(out / "at_risk.xlsx", read_only=True).sheetnames == \
        ["Ghi chú", "Xã 0", "Xã 1", "Xã 2"]


@pytest.mark.slow
def test_notebook_runs_under_plain_papermill(data_dir, tmp_path):
    out = tmp_path / "sin-ho.ipynb"
    proc = subprocess.run([sys.executable, "-m", "papermill", "-k", config.KERNEL_NAME, str(NOTEBOOK), str(out),
                           "-r", "unit", "Sìn Hồ", "-r", "cells_path", str(data_dir / "cells.csv"),
                           "-r", "history_path", str(data_dir / "history.csv"), "--no-progress-bar"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.read(out, as_version=4)
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    pngs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert "Sìn Hồ" in html and "Dữ liệu mô phỏng" in html
    assert len(pngs) >= 3


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize("args, message", [
    (["--only", "Nowhere"], "no district named 'Nowhere'"),
    (["--only", "huyện sìn hồ"], "no district named 'huyện sìn hồ' (did you mean 'Sìn Hồ'?)"),
    (["--unit", "ward"], "no column 'ward'"),
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--horizon", "2020"], "at or before the base year"),
    (["--admission-rate", "2"], "admission rate must be in [0, 1]"),
])
def test_bad_input_exits_2_and_writes_nothing(data_dir, tmp_path, args, message):
    out = tmp_path / "outputs"
    proc = run_cli("briefings", *data_args(data_dir), "--out", out, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert not out.exists()


def test_bad_data_file_exits_2(data_dir, tmp_path):
    bad = tmp_path / "cells.csv"
    text = (data_dir / "cells.csv").read_text(encoding="utf-8").replace(",ban,", ",castle,", 1)
    bad.write_text(text, encoding="utf-8")
    out = tmp_path / "outputs"
    proc = run_cli("briefings", "--cells", bad, "--history", data_dir / "history.csv", "--out", out)
    assert proc.returncode == 2
    assert "cells.csv" in proc.stderr and "row" in proc.stderr
    assert not out.exists()


@pytest.mark.slow
def test_a_district_without_its_base_year_report_has_no_briefing_and_stops_nothing(batch, data_dir, tmp_path):
    """A district whose last year's report is not in yet: its cells read as dissolved,
    so it has no briefing — said in a warning (asked for by name: an error naming the
    way out) — and the others are made (it stopped the batch with "no district named"
    once their pages were already in place)."""
    import pandas as pd

    out, proc = batch
    assert proc.returncode == 0, proc.stderr
    runs = tmp_path / "outputs"
    shutil.copytree(out, runs)
    before = (runs / "district" / "sin-ho.html").read_bytes()
    late = tmp_path / "late"
    late.mkdir()
    cells = pd.read_csv(data_dir / "cells.csv")
    history = pd.read_csv(data_dir / "history.csv")
    sin_ho = set(cells.loc[cells["district"] == "Sìn Hồ", "cell_id"])
    history[~(history["cell_id"].isin(sin_ho) & (history["year"] == 2025))].to_csv(late / "history.csv", index=False)
    cells.to_csv(late / "cells.csv", index=False)
    args = ["--cells", late / "cells.csv", "--history", late / "history.csv", "--out", runs]
    proc = run_cli("briefings", *args, "--only", "Sìn Hồ")
    assert proc.returncode == 2 and proc.stderr.count("has a row in 2025") == 1, proc.stderr
    assert "--base-year 2024" in proc.stderr
    proc = run_cli("briefings", *args, "--jobs", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"none of the {len(sin_ho)} cells of district 'Sìn Hồ' has a row in 2025" in proc.stderr
    assert "Made 1 of 1 briefing" in proc.stdout
    assert (runs / "district" / "sin-ho.html").read_bytes() == before  # the earlier page, untouched


@pytest.mark.slow
def test_a_batch_failing_after_its_pages_leaves_the_earlier_ones(batch, data_dir, tmp_path, monkeypatch):
    """The pages of a batch go in place with its index, Excel list and manifest: a batch
    that fails after its notebooks ran (here writing its index) changes nothing."""
    out, proc = batch
    assert proc.returncode == 0, proc.stderr
    runs = tmp_path / "outputs"
    shutil.copytree(out, runs)
    before = {p.relative_to(runs): p.read_bytes() for p in runs.rglob("*") if p.is_file()}

    def failing(*_, **__):
        raise OSError("disk full on purpose")

    monkeypatch.setattr(briefings, "write_index", failing)
    params = briefings.notebook_parameters(cells=data_dir / "cells.csv", history=data_dir / "history.csv")
    with pytest.raises(OSError, match="on purpose"):
        briefings.run_briefings(params, jobs=2, out_dir=runs, progress=False)
    after = {p.relative_to(runs): p.read_bytes() for p in runs.rglob("*") if p.is_file()}
    assert after == before
