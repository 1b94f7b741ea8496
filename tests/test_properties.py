"""Any valid data set through every command: exit 0, or exit 2 with a message; never
a traceback, never an internal error (MODEL.md §4). Data sets drawn by hypothesis:
one to a dozen cells, with or without district, transfers and a totals table,
cells founded and dissolved, zero members, no admissions at all, short histories,
populations written the Vietnamese way ("2.000")."""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli
from nq21model.cli import main

DISTRICTS = ["Tam Đường", "Sìn Hồ", "Mường Tè"]
COMMUNES = ["Xã Bản Bo", "Xã Nà Tăm", "Phường Tân Phong", "Xã Mù Cả"]
TYPES = ["thon", "ban", "to_dan_pho", "bản", "tổ dân phố", "khu phố"]


@st.composite
def datasets(draw):
    n = draw(st.integers(1, 12))
    last = draw(st.integers(2016, 2025))
    first = draw(st.integers(2012, last - 1))
    with_district = draw(st.booleans())
    with_transfers = draw(st.booleans())
    no_admissions = draw(st.booleans())
    thousands = draw(st.booleans())
    cells, rows = [], []
    for i in range(n):
        population = draw(st.integers(1, 4000))
        cell = {"cell_id": f"C{i:02d}", "cell_name": f"Chi bộ bản Nà {i}",
                "commune": draw(st.sampled_from(COMMUNES)), "cell_type": draw(st.sampled_from(TYPES)),
                "population": f"{population:,}".replace(",", ".") if thousands else population}
        if with_district:
            cell["district"] = draw(st.sampled_from(DISTRICTS))
        cells.append(cell)
        # the first cell spans the whole history; the others may be founded and dissolved
        start = first if i == 0 else draw(st.integers(first, last))
        end = last if i == 0 else draw(st.integers(start, last))
        members = draw(st.integers(0, 25))
        for year in range(start, end + 1):
            admitted = 0 if no_admissions else draw(st.integers(0, 4))
            moved = draw(st.integers(0, 2)) if with_transfers else 0
            exited = draw(st.integers(0, members)) if year > start else 0
            if year > start:
                members = members + admitted + moved - exited
            row = {"cell_id": f"C{i:02d}", "year": year, "local_members": members, "admitted": admitted,
                   "exited": exited, "assigned_members": draw(st.integers(0, 2))}
            if with_transfers:
                row["transferred_in"] = moved
            rows.append(row)
    cells, history = pd.DataFrame(cells), pd.DataFrame(rows)
    totals = None
    if draw(st.booleans()):
        unit = "district" if with_district else "commune"
        village = history.merge(cells[["cell_id", unit]], on="cell_id").groupby([unit, "year"])[
            ["local_members", "admitted"]].sum().reset_index()
        extra = draw(st.integers(0, 300))
        totals = pd.DataFrame({"unit": village[unit], "year": village["year"],
                               "members": village["local_members"] + extra,
                               "admitted": village["admitted"] + extra // 30})
    return cells, history, totals


COMMANDS = [
    ["forecast"],
    ["forecast", "--fixed-rates", "--admission-base", "local", "--method", "monte-carlo", "--draws", "200",
     "--seed", "1"],
    ["forecast", "--admission-rate", "0.035"],
    ["forecast", "--admissions-per-year", "3", "--allocation", "population"],
    ["calibrate"],
    ["backtest"],
    ["allocate"],
    ["targets"],
]


def _run(args: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, err.getvalue()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=datasets())
def test_every_command_on_any_valid_data_exits_0_or_2(data):
    cells, history, totals = data
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cells.to_csv(folder / "cells.csv", index=False)
        history.to_csv(folder / "history.csv", index=False)
        if totals is not None:
            totals.to_csv(folder / "totals.csv", index=False)
        for command in COMMANDS:
            args = [*command, "--cells", str(folder / "cells.csv"), "--history", str(folder / "history.csv")]
            if command[0] in ("calibrate", "allocate", "forecast"):
                args += ["--out", str(folder / ("cal.json" if command[0] == "calibrate" else "out.csv"))]
            code, err = _run(args)
            assert code in (0, 2), f"{' '.join(command)} exited {code}: {err}"
            assert "Traceback" not in err and "internal error" not in err, err
            if code == 2:
                assert "error:" in err and len(err.strip().splitlines()) >= 1


def test_an_internal_error_is_one_line_and_a_report(tmp_path, monkeypatch):
    """A bug reaches the user as one line naming the command and the input, exit 1,
    and the path of a crash report with the traceback."""
    import nq21model.forecast as forecast_module

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(forecast_module, "forecast", broken)
    monkeypatch.setattr("nq21model.config.OUTPUTS_DIR", tmp_path)
    code, err = _run(["forecast"])
    assert code == 1
    line = err.strip()
    assert "\n" not in line and "internal error (ZeroDivisionError)" in line and "the bundled data" in line
    report = Path(line.rsplit("Details: ", 1)[1])
    assert report.parent == tmp_path and "Traceback" in report.read_text(encoding="utf-8")


def test_the_cli_as_a_subprocess_never_shows_a_traceback(tmp_path):
    cells = pd.DataFrame({"cell_id": ["A"], "cell_name": ["Chi bộ bản A"], "commune": ["Xã Mù Cả"],
                          "cell_type": ["bản"], "population": ["1.200"]})
    history = pd.DataFrame({"cell_id": ["A"] * 3, "year": [2023, 2024, 2025], "local_members": [0, 0, 0],
                            "admitted": [0, 0, 0], "exited": [0, 0, 0], "assigned_members": [1, 1, 1]})
    cells.to_csv(tmp_path / "cells.csv", index=False)
    history.to_csv(tmp_path / "history.csv", index=False)
    for command in (["forecast"], ["allocate"], ["backtest"]):
        proc = run_cli(*command, "--cells", tmp_path / "cells.csv", "--history", tmp_path / "history.csv")
        assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr, proc.stderr


_AWKWARD_TEXT = st.lists(st.sampled_from(
    list("ab ĐđÐ\u00a0\u2003\t\n\r\x0b\x1c\x85\x00") + ["e\u0301", "ế", "\u0301", "Nà", "  "]),
    max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_AWKWARD_TEXT, _AWKWARD_TEXT, st.none(), st.integers(0, 9)), max_size=12))
def test_text_called_clean_is_left_as_it_is(values):
    """``all_clean`` (one look at the values joined) never says clean where
    ``normalise_text`` would change a value or a value is blank."""
    from nq21model.spelling import all_clean, normalise_text

    if all_clean(values):
        assert all(type(v) is str and v and normalise_text(v) == v for v in values)
    assert all_clean(["Bản Nà Hừ", "Xã Pa Tần", "a"]) and not all_clean([])
    for blank in ([""], ["a", "", "b"], ["a", ""], ["", "a"], ["a", None], ["a", " b"], [1, "a"]):
        assert not all_clean(blank), blank


def test_the_clean_check_knows_every_whitespace_character():
    from nq21model.spelling import _OTHER_SPACE

    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace() and c != 0x20]
    assert spaces and all(_OTHER_SPACE.fullmatch(c) for c in spaces)
