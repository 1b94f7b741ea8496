"""End to end: the explorer notebook in JupyterLab, driven by headless Chromium.

One JupyterLab server for the module (127.0.0.1, a token, temporary HOME and
JUPYTER_* folders, the news prompt disabled, root_dir a temporary copy of the
notebook whose export folder is a temporary folder). The test runs all cells
through the menu, checks that no code is shown (the cells' sources are collapsed)
and that scenario A continues the calibrated trend with its rate slider greyed out,
switches A to the programme's rate, moves the admission slider, picks the
province, exports the cell table and checks that the shown share changes and that
no error appears. Screenshots (the explorer; the page as a user first sees it) are kept in
tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make chromium)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A running JupyterLab serving a copy of explore.ipynb; yields (base_url, token, exports)."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    base = tmp_path_factory.mktemp("lab")
    root, exports = base / "root", base / "exports"
    root.mkdir()
    exports.mkdir()
    notebook = load_notebook_node(str(ROOT / "notebooks" / "explore.ipynb"))
    notebook = parameterize_notebook(notebook, {"out_dir": str(exports)}, kernel_name="nq21model")
    for cell in notebook.cells:  # papermill's own cell, collapsed as the notebook's are
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata["jupyter"] = {"source_hidden": True}
    nbformat.write(notebook, root / "explore.ipynb")

    env = dict(os.environ)
    for var, sub in {"HOME": "home", "JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
                     "JUPYTER_RUNTIME_DIR": "runtime", "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "mpl",
                     "XDG_CACHE_HOME": "cache"}.items():
        (base / sub).mkdir()
        env[var] = str(base / sub)
    env.pop("JUPYTER_PATH", None)
    (base / "config" / "labconfig").mkdir()
    (base / "config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))

    port, token = _free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    log = open(base / "jupyterlab.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True",
         "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {(base / 'jupyterlab.log').read_text(errors='replace')}")
            try:
                if _get(f"{url}/api/status?token={token}") == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not answer within 90 s")
            time.sleep(0.2)
        yield url, token, exports
    finally:
        try:
            request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            server.wait(timeout=30)
        except (urllib.error.URLError, ConnectionError, TimeoutError, subprocess.TimeoutExpired):
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.close()
        if server.returncode not in (0, None):
            shutil.copy(base / "jupyterlab.log", tmp_path_factory.getbasetemp() / "jupyterlab-failed.log")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


IDLE = re.compile(r"Python 3.*\|\s*Idle")
SHARE_4 = ".nq21-shares .nq21-share-value[data-threshold='4']"


def _wait_idle(page):
    from playwright.sync_api import expect

    expect(page.locator("#jp-main-statusbar")).to_contain_text(IDLE, timeout=60_000)


def test_explorer_in_jupyterlab(lab, browser):
    from playwright.sync_api import expect

    url, token, exports = lab
    page = browser.new_page(viewport={"width": 1500, "height": 2300})
    page_errors = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        page.goto(f"{url}/lab/tree/explore.ipynb?token={token}")
        _wait_idle(page)  # the kernel exists and is idle (not only the notebook's indicator)

        page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
        page.locator(".lm-Menu-itemLabel:text-is('Run All Cells')").click()
        share = page.locator(SHARE_4)
        expect(share).to_be_visible(timeout=90_000)
        _wait_idle(page)
        expect(page.locator(".nq21-title")).to_contain_text("Mường Tè")
        expect(page.locator(".nq21-banner")).to_contain_text("Dữ liệu mô phỏng")
        before = share.inner_text()
        figure = page.locator(".nq21-figure")
        src_before = figure.get_attribute("src")
        assert re.fullmatch(r"\d+,\d%|\d+%", before), before

        # The code is collapsed: no editor of a code cell is visible, the controls are.
        assert page.locator(".jp-CodeCell .jp-InputArea-editor:visible").count() == 0
        expect(page.locator(".nq21-rates")).to_contain_text("giữ nguyên xu hướng hiện nay")
        expect(page.locator(".nq21-rates-b")).to_contain_text("3% tổng số đảng viên ≈")
        expect(page.locator(".nq21-admission .widget-readout")).to_have_attribute("contenteditable", "false")

        # Scenario A: the programme's rate of all members instead of the trend.
        page.locator(".nq21-ctl-admissions select").select_option(label="Theo tỷ lệ kết nạp")
        expect(page.locator(".nq21-rates")).to_contain_text("3,5% tổng số đảng viên ≈", timeout=30_000)
        _wait_idle(page)
        before = share.inner_text()
        src_before = figure.get_attribute("src")

        # Move the admission slider of scenario A: 3.5 % → 4.0 % (five steps of 0.1 %).
        expect(page.locator(".nq21-admission .widget-readout")).to_have_attribute("contenteditable", "true")
        handle = page.locator(".nq21-admission .noUi-handle")
        handle.focus()
        for _ in range(5):
            handle.press("ArrowRight")
        expect(page.locator(".nq21-admission .widget-readout")).to_have_text("4.0%")
        expect(share).not_to_have_text(before, timeout=30_000)
        expect(page.locator(".nq21-rates")).to_contain_text("Kết nạp A 4%/năm")
        expect(page.locator(".nq21-rates")).to_contain_text("4% tổng số đảng viên ≈")
        _wait_idle(page)
        assert figure.get_attribute("src") != src_before
        after = share.inner_text()
        assert float(after.rstrip("%").replace(",", ".")) > float(before.rstrip("%").replace(",", "."))

        # The province: the unit list follows the level.
        page.locator(".widget-dropdown:has(label:text-is('Cấp đơn vị')) select").select_option(label="Toàn tỉnh")
        expect(page.locator(".nq21-title")).to_contain_text("Toàn tỉnh", timeout=30_000)
        _wait_idle(page)

        # Export the cell table.
        page.locator(".nq21-export").click()
        expect(page.locator(".nq21-status .nq21-saved")).to_be_visible(timeout=30_000)
        written = list(exports.glob("explorer_toan-tinh_2025-2030.xlsx"))
        assert len(written) == 1

        assert page.locator(".nq21-error").count() == 0
        assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
        assert page.locator(".jp-OutputArea-output:has(.ansi-red-fg)").count() == 0
        assert page_errors == []  # no uncaught exception in the page (widget views included)

        ARTIFACTS.mkdir(exist_ok=True)
        page.locator(".jp-OutputArea-output:has(.nq21-banner)").screenshot(path=str(ARTIFACTS / "explorer.png"))
        page.locator(".jp-Cell").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "explorer_page.png"))  # what a user sees first: the controls
    finally:
        page.close()
