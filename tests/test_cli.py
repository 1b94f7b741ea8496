"""The command line as a user runs it: a subprocess, real files."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, make_tables, run_cli
from nq21model.results import CELL_COLUMNS


def test_forecast_with_no_arguments_runs_on_bundled_data():
    proc = run_cli("forecast", check=True)
    out = proc.stdout
    assert "Toàn tỉnh" in out and "Sìn Hồ" in out and "Dữ liệu mô phỏng" in out
    assert "2025 observed" in out and "2030 forecast" in out


def test_forecast_prints_the_units_least_likely_to_reach_the_target_when_there_are_many(tmp_path):
    """106 communes: the printed table keeps the province and the 30 communes least
    likely to reach the 2030 target (as the units table ranks them) and says where
    every one is."""
    units = tmp_path / "units.xlsx"
    out = run_cli("forecast", "--unit", "commune", "--out", units, check=True).stdout
    assert "30 of 106 units (commune) shown" in out and "--out-units" in out
    table = pd.read_excel(units, sheet_name="units")
    last = table[table["horizon"] == 2030].sort_values(["p_share_95_at_least_4", "share_at_least_4"], kind="stable")
    printed = {u for u in table["unit"].unique() if f"\n{u} " in out}
    assert printed == set(last["unit"].iloc[:30]) and "\nToàn tỉnh " in out


def test_forecast_writes_csv_and_xlsx(tmp_path, small_files):
    cp, hp = small_files
    csv = tmp_path / "out" / "cells.csv"
    run_cli("forecast", "--cells", cp, "--history", hp, "--out", csv, check=True)
    table = pd.read_csv(csv)
    assert list(table.columns) == CELL_COLUMNS
    assert len(table) == 12 and set(table["horizon"]) == {2030}
    xlsx = tmp_path / "cells.xlsx"
    run_cli("forecast", "--cells", cp, "--history", hp, "--base-year", "2022", "--out", xlsx, check=True)
    sheets = pd.read_excel(xlsx, sheet_name=None)
    assert set(sheets) == {"cells", "units", "province"}
    assert set(sheets["cells"]["horizon"]) == {2025, 2030}
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_scenario_flags(tmp_path, small_files):
    cp, hp = small_files
    low = tmp_path / "low.csv"
    high = tmp_path / "high.csv"
    run_cli("forecast", "--cells", cp, "--history", hp, "--admission-rate", "0.02", "--admission-base", "local",
            "--out", low, check=True)
    run_cli("forecast", "--cells", cp, "--history", hp, "--admission-rate", "0.06", "--admission-base", "local",
            "--allocation", "members", "--fixed-rates", "--attrition-rate", "0.01", "--out", high, check=True)
    assert pd.read_csv(high)["expected_members"].sum() > pd.read_csv(low)["expected_members"].sum()
    mc = run_cli("forecast", "--cells", cp, "--history", hp, "--method", "monte-carlo",
                 "--draws", "2000", "--seed", "3", "--horizon", "2027", check=True)
    assert "monte-carlo" in mc.stdout


def test_quotas_file(tmp_path, small_files):
    cp, hp = small_files
    cells, _ = make_tables()
    quotas = pd.DataFrame([(c, y, 1) for c in cells["cell_id"] for y in range(2026, 2031)],
                          columns=["cell_id", "year", "quota"])
    qp = tmp_path / "quotas.csv"
    quotas.to_csv(qp, index=False)
    out = tmp_path / "f.csv"
    run_cli("forecast", "--cells", cp, "--history", hp, "--quotas", qp, "--fixed-rates", "--attrition-rate", "0",
            "--out", out, check=True)
    table = pd.read_csv(out)
    history = pd.read_csv(hp)
    n0 = history[history["year"] == 2025].set_index("cell_id")["local_members"]
    assert (table.set_index("cell_id")["expected_members"] - (n0 + 5)).abs().max() < 1e-9


@pytest.mark.parametrize("args,message", [
    (["--horizon", "2024"], "horizon 2024 is at or before the base year 2025"),
    (["--base-year", "2031"], "base year 2031 is outside the history (2018–2025)"),
    (["--admission-rate", "1.5"], "admission rate must be in [0, 1]"),
    (["--fixed-rates", "--attrition-rate", "-0.1"], "attrition rate must be in [0, 1)"),
    (["--attrition-rate", "0.02"], "--attrition-rate goes with --fixed-rates"),
    (["--out", "result.txt"], "must end in .csv or .xlsx"),
    (["--allocation", "quota"], "allocation 'quota' needs a quotas table"),
])
def test_bad_parameters_exit_2(tmp_path, small_files, args, message):
    cp, hp = small_files
    proc = run_cli("forecast", "--cells", cp, "--history", hp, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert proc.stdout == ""
    assert not (tmp_path / "result.txt").exists()


def test_bad_data_exit_2_and_nothing_written(tmp_path, small_files):
    cp, hp = small_files
    history = pd.read_csv(hp)
    history.loc[3, "local_members"] += 1
    history.to_csv(hp, index=False)
    out = tmp_path / "result.csv"
    out.write_text("what the user had\n")
    proc = run_cli("forecast", "--cells", cp, "--history", hp, "--out", out)
    assert proc.returncode == 2
    assert "history.csv, row 5, column 'local_members': cell 'C000' 2021: local_members" in proc.stderr
    assert proc.stderr.count("error:") == 1  # one message, listing both broken years
    assert "cell 'C000' 2022: local_members" in proc.stderr
    assert out.read_text() == "what the user had\n"


def test_template_command_writes_a_loadable_workbook(tmp_path):
    out = tmp_path / "mau.xlsx"
    run_cli("template", "--out", out, check=True)
    sheets = pd.read_excel(out, sheet_name=None)
    assert list(sheets) == ["Chi bộ", "Lịch sử", "Hướng dẫn"]
    assert list(sheets["Chi bộ"].columns) == ["Mã chi bộ", "Tên chi bộ", "Xã", "Huyện", "Loại", "Dân số"]
    proc = run_cli("forecast", "--cells", out, "--history", out, "--horizon", "2026", check=True)
    assert "Tam Đường" in proc.stdout


def test_bundled_template_matches_the_schema_and_is_what_the_command_writes(tmp_path):
    """data/template.xlsx is the template of `nq21model template` (data/README.md):
    the same sheets and cells, not an older copy."""
    import openpyxl

    from nq21model import config
    from nq21model.data import load_dataset

    path = config.DATA_DIR / "template.xlsx"
    ds = load_dataset(path, path)
    assert len(ds.cells) == 1 and len(ds.history) == 1
    run_cli("template", "--out", tmp_path / "t.xlsx", check=True)
    bundled, made = (openpyxl.load_workbook(p) for p in (path, tmp_path / "t.xlsx"))
    assert bundled.sheetnames == made.sheetnames
    for name in made.sheetnames:
        assert list(bundled[name].iter_rows(values_only=True)) == list(made[name].iter_rows(values_only=True)), name
        assert bundled[name].freeze_panes == made[name].freeze_panes


def test_version_and_help():
    assert run_cli("--version", check=True).stdout.startswith("nq21model ")
    help_text = run_cli("forecast", "--help", check=True).stdout
    for flag in ("--cells", "--history", "--base-year", "--horizon", "--admission-rate", "--attrition-rate",
                 "--allocation", "--quotas", "--method", "--draws", "--seed", "--out"):
        assert flag in help_text


def test_outputs_are_ordinary_files(tmp_path, small_files):
    import os
    import stat

    cp, hp = small_files
    out = tmp_path / "f.csv"
    run_cli("forecast", "--cells", cp, "--history", hp, "--out", out, check=True)
    mode = stat.S_IMODE(out.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_out_units_writes_the_yearly_path_of_every_unit(tmp_path, small_files):
    cp, hp = small_files
    out = tmp_path / "units.csv"
    run_cli("forecast", "--cells", cp, "--history", hp, "--out-units", out, check=True)
    table = pd.read_csv(out)
    assert list(table.columns) == ["unit", "year", "expected_members", "members_q10", "members_q90",
                                   "expected_admissions", "share_at_least_3", "share_at_least_4",
                                   "share_at_least_5", "p_share_95_3", "p_share_95_4", "p_share_95_5"]
    assert set(table["unit"]) == {"Toàn tỉnh", "Tam Đường", "Sìn Hồ"}
    assert sorted(set(table["year"])) == list(range(2026, 2031))
    prov = table[table["unit"] == "Toàn tỉnh"].set_index("year")
    units = table[table["unit"] != "Toàn tỉnh"].groupby("year")
    np.testing.assert_allclose(units["expected_members"].sum(), prov["expected_members"])
    np.testing.assert_allclose(units["expected_admissions"].sum(), prov["expected_admissions"])
    assert (table["members_q10"] <= table["expected_members"]).all()
    assert (table["expected_members"] <= table["members_q90"]).all()


def test_a_file_without_district_runs_by_commune(tmp_path, small_files):
    cp, hp = small_files
    cells = pd.read_csv(cp).drop(columns="district")
    cells.to_csv(tmp_path / "cells.csv", index=False)
    proc = run_cli("forecast", "--cells", tmp_path / "cells.csv", "--history", hp, "--out", tmp_path / "f.csv",
                   check=True)
    assert "Xã 0" in proc.stdout and "district" not in pd.read_csv(tmp_path / "f.csv").columns
    proc = run_cli("allocate", "--cells", tmp_path / "cells.csv", "--history", hp, check=True)
    assert "handed down by commune" in proc.stdout


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error():
    """`nq21model forecast | head -1`: the reader goes away before the table is
    printed; that is no bad input (it said "error: Broken pipe", exit 2)."""
    proc = subprocess.Popen([sys.executable, "-m", "nq21model", "forecast", "--fixed-rates"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command prints anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0 and err == ""


def test_a_replay_prints_what_happened_under_the_forecast_of_a_year_the_history_covers():
    """`forecast --base-year 2022` (README: "the 2025 forecast beside what happened"):
    under each 2025 forecast row, the history's own 2025 figures — those a forecast
    from 2025 shows as observed."""
    replay = run_cli("forecast", "--base-year", "2022", "--fixed-rates", check=True).stdout.splitlines()
    now = run_cli("forecast", "--fixed-rates", check=True).stdout.splitlines()
    happened = [line.split() for line in replay if " 2025 happened " in line]
    observed = [line.split() for line in now if " 2025 observed " in line]
    assert len(happened) == 9 and "'happened'" in replay[1]
    for h, o in zip(happened, observed):  # unit …, year, status, cells, members, shares (P95 blank)
        assert h[:h.index("2025")] == o[:o.index("2025")]
        seen = o[o.index("observed") + 1:]  # cells, members, then each share with its P95
        assert h[h.index("happened") + 1:] == seen[:2] + seen[2::2]
    assert not any(" 2030 happened " in line for line in replay)


def test_a_replay_says_how_many_cells_what_happened_counts(tmp_path):
    """Cells dissolved between the base year and the year replayed: the forecast is of
    the cells present in the base year, what happened of those with a count that year
    — the happened row says how many (it printed a blank, under the forecast's 20)."""
    cells, history = make_tables(n_cells=20, years=range(2015, 2026), seed=1)
    gone = cells.loc[cells["district"] == "Sìn Hồ", "cell_id"]
    history = history[~(history["cell_id"].isin(gone) & (history["year"] > 2023))]
    cells.to_csv(tmp_path / "cells.csv", index=False)
    history.to_csv(tmp_path / "history.csv", index=False)
    out = run_cli("forecast", "--cells", tmp_path / "cells.csv", "--history", tmp_path / "history.csv",
                  "--base-year", "2022", "--fixed-rates", "--admission-base", "local", check=True).stdout.splitlines()
    rows = {tuple(line.split()[:4]): line.split() for line in out if line.startswith(("Toàn tỉnh", "Sìn Hồ"))}
    assert rows[("Toàn", "tỉnh", "2025", "forecast")][4] == "20"
    assert rows[("Toàn", "tỉnh", "2025", "happened")][4] == str(20 - len(gone))
    assert rows[("Sìn", "Hồ", "2025", "happened")][4:6] == ["0", "0"]


def test_a_broken_pipe_that_is_not_the_reader_is_still_an_error():
    """Only the standard output's reader going away is quiet: a pipe the command
    writes to otherwise (here a socket whose peer closed) is said, exit 2."""
    code = ("import socket, sys\n"
            "from nq21model import cli\n"
            "def broken(args):\n"
            "    a, b = socket.socketpair(); b.close(); a.sendall(b'x' * 1_000_000)\n"
            "cli.COMMANDS['template'] = broken\n"
            "sys.exit(cli.main(['template']))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "error: Broken pipe" in proc.stderr
