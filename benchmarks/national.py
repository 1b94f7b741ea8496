"""National scale on one machine: a synthetic country of 100,000 cells.

1. ``nq21model forecast`` with calibrated rates (the default: 100 parameter draws)
   and ``nq21model allocate`` on 100,000 cells with 2018–2025 history: wall time and
   peak memory of each command (goals: ≤ 90 s and ≤ 6 GB; allocate ≤ 60 s, ≤ 4 GB).
2. Briefings by commune on the same country: ``--only`` a sample of communes with 1
   and with 2 local workers; the province-wide preparation (once per batch) and the
   time of one briefing on one worker (the median), and what a batch of all the
   country's communes would take on N workers.

Run: ``.venv/bin/python benchmarks/national.py [--communes 6]`` (a few minutes).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "national"
NQ = [sys.executable, "-m", "nq21model"]
COMMUNES = 3321


def country() -> tuple[Path, Path]:
    """The 100,000-cell country, 2018–2025 (made once, kept in benchmarks/data/)."""
    cells, history = DATA / "cells.csv", DATA / "history.csv"
    if not history.exists():
        from nq21model.synth import generate_province

        DATA.mkdir(parents=True, exist_ok=True)
        sp = generate_province(seed=1, n_cells=100_000)
        sp.cells.to_csv(cells, index=False)
        sp.history[sp.history["year"] >= 2018].to_csv(history, index=False)
        (DATA / "SYNTHETIC.json").write_text(json.dumps({"synthetic": True, "generator": "nq21model.synth"}))
    return cells, history


def timed(args: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(seconds, peak GB, process) of a command, by /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name, *args], capture_output=True,
                              text=True, cwd=ROOT)
        seconds, kb = Path(t.name).read_text().split()[-2:]
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr}")
    return float(seconds), int(kb) / 1024 ** 2, proc


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communes", type=int, default=6, help="communes briefed per run (default 6)")
    args = parser.parse_args(argv)
    cells, history = country()
    data = ["--cells", str(cells), "--history", str(history)]
    with tempfile.TemporaryDirectory() as tmp:
        s, gb, _ = timed([*NQ, "forecast", *data, "--horizon", "2030", "--out", f"{tmp}/f.csv"])
        print(f"forecast, calibrated, 100 draws, 100,000 cells: {s:.0f} s, peak {gb:.2f} GB")
        s, gb, _ = timed([*NQ, "allocate", *data, "--out", f"{tmp}/q.csv"])
        print(f"allocate, 100,000 cells: {s:.0f} s, peak {gb:.2f} GB")
        import pandas as pd

        communes = pd.read_csv(cells, usecols=["commune"])["commune"].drop_duplicates().tolist()[:args.communes]
        only = [a for c in communes for a in ("--only", c)]
        rows = []
        for jobs in (1, 2):
            out = Path(tmp) / f"b{jobs}"
            s, gb, _ = timed([*NQ, "briefings", *data, "--unit", "commune", *only, "--jobs", str(jobs),
                              "--out", str(out), "--quiet"])
            manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
            per = [u["seconds"] for u in manifest["units"] if u["seconds"]]
            batch = sum(per) / jobs
            rows.append((jobs, s, s - batch, statistics.median(per), gb))
            print(f"briefings by commune, {len(per)} communes, {jobs} worker(s): {s:.0f} s "
                  f"(province-wide preparation ≈ {s - batch:.0f} s), a briefing takes {statistics.median(per):.1f} s "
                  f"on one worker (median), peak {gb:.2f} GB")
        prep, per = rows[-1][2], rows[-1][3]
        for n in (2, 8, 32, 128):
            print(f"  all {COMMUNES:,} communes on {n} workers: ≈ {(prep + COMMUNES * per / n) / 60:.0f} min")


if __name__ == "__main__":
    main()
