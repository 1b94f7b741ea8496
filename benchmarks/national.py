"""National scale on one machine: a synthetic country of 100,000 cells in ≈ 3,300
communes (those since 1 July 2025: the cells' column ``commune_2025``; about 9,800
before, in ≈ 750 districts).

1. ``nq21model forecast`` with calibrated rates (the default: 100 parameter draws)
   and ``nq21model allocate`` on 100,000 cells with 2018–2025 history: wall time and
   peak memory of each command (issue 14's goals: ≤ 90 s and ≤ 6 GB each).
2. Briefings by commune (``--unit commune_2025``) on the same country: ``--only`` a
   sample of communes with 1 and with 2 local workers, and a larger sample with 2: the
   time of one briefing on one worker (the median), the batch's fixed preparation and
   its own work per unit (quota workbook, the unit's saved part, index row: fitted on
   the two samples), and what a batch of all the country's 3,321 communes would take on
   N workers.

Peak memory: of the whole process tree (the command, its forked parts, the workers
and their kernels: the largest sum of their proportional set sizes — shared pages
split between the processes sharing them — sampled every 0.2 s, so a briefer peak
is missed), and the largest resident set of one process (``/usr/bin/time``'s
maximum, shared pages counted whole: it may exceed the tree's sampled sum).

Run: ``.venv/bin/python benchmarks/national.py [--communes 6] [--more 30]`` (about
ten minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "national"
NQ = [sys.executable, "-m", "nq21model"]
COMMUNES = 3321
UNIT = "commune_2025"


def country() -> tuple[Path, Path]:
    """The 100,000-cell country, 2018–2025 (made once, kept in benchmarks/data/; made
    again when it predates the column commune_2025)."""
    cells, history = DATA / "cells.csv", DATA / "history.csv"
    fresh = False
    if history.exists() and cells.exists():
        with cells.open(encoding="utf-8") as fh:
            fresh = UNIT in fh.readline().rstrip().split(",")
    if not fresh:
        from nq21model.synth import generate_province

        DATA.mkdir(parents=True, exist_ok=True)
        sp = generate_province(seed=1, n_cells=100_000)
        sp.cells.to_csv(cells, index=False)
        sp.history[sp.history["year"] >= 2018].to_csv(history, index=False)
        (DATA / "SYNTHETIC.json").write_text(json.dumps({"synthetic": True, "generator": "nq21model.synth"}))
    return cells, history


def _tree(root: int) -> list[int]:
    """``root`` and every process descended from it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rfind(")") + 2:].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def timed(args: list[str]) -> tuple[float, float, float]:
    """(seconds, peak GB of the process tree, peak GB of its largest process) of a command."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        start = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%e %M", "-o", t.name, *args], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak = [0]

        def sample():
            while proc.poll() is None:
                peak[0] = max(peak[0], sum(_pss_kb(pid) for pid in _tree(proc.pid)))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, stderr = proc.communicate()
        seconds = time.perf_counter() - start
        sampler.join()
        largest_kb = int(Path(t.name).read_text().split()[-1])
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{stderr}")
    return seconds, peak[0] / 1024 ** 2, largest_kb / 1024 ** 2


def briefings(data: list[str], communes: list[str], jobs: int, out: Path) -> dict:
    only = [a for c in communes for a in ("--only", c)]
    s, tree, largest = timed([*NQ, "briefings", *data, "--unit", UNIT, *only, "--jobs", str(jobs), "--out", str(out),
                              "--quiet"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    per = [u["seconds"] for u in manifest["units"] if u["seconds"]]
    if len(per) != len(communes):
        raise SystemExit(f"{len(communes) - len(per)} of {len(communes)} briefings failed: see {out}")
    return {"n": len(per), "jobs": jobs, "wall": s, "work": sum(per) / jobs, "median": statistics.median(per),
            "tree": tree, "largest": largest}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communes", type=int, default=6, help="communes briefed with 1 and 2 workers (default 6)")
    parser.add_argument("--more", type=int, default=30, help="communes of the larger sample, 2 workers (default 30)")
    args = parser.parse_args(argv)
    if args.more <= args.communes:
        parser.error("--more must be larger than --communes")
    cells, history = country()
    data = ["--cells", str(cells), "--history", str(history)]
    import pandas as pd

    layout = pd.read_csv(cells, usecols=["commune", UNIT, "district"])
    print(f"A synthetic country: 100,000 cells, {layout[UNIT].nunique():,} communes since 1 July 2025 "
          f"({layout['commune'].nunique():,} before, in {layout['district'].nunique():,} districts)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, command in (("forecast, calibrated, 100 draws", ["forecast", "--horizon", "2030",
                                                                    "--out", f"{tmp}/f.csv"]),
                              ("allocate", ["allocate", "--out", f"{tmp}/q.csv"])):
            s, tree, largest = timed([*NQ, command[0], *data, *command[1:]])
            print(f"{name}, 100,000 cells: {s:.0f} s, peak {tree:.2f} GB (sampled PSS of the process tree; "
                  f"largest process's max RSS {largest:.2f} GB); goal ≤ 90 s, ≤ 6 GB")
        # spread over the country: the communes of every n-th district
        names = layout.drop_duplicates(UNIT)[UNIT].tolist()
        sample = names[::max(1, len(names) // args.more)][:args.more]
        runs = []
        for jobs, communes in ((1, sample[:args.communes]), (2, sample[:args.communes]), (2, sample)):
            run = briefings(data, communes, jobs, Path(tmp) / f"b{len(runs)}")
            runs.append(run)
            print(f"briefings by commune, {run['n']} communes, {jobs} worker{'s' * (jobs > 1)}: {run['wall']:.0f} s; "
                  f"a briefing takes {run['median']:.1f} s on one worker (median); peak {run['tree']:.2f} GB "
                  f"(sampled PSS of the process tree; largest process's max RSS {run['largest']:.2f} GB)")
    small, large = runs[1], runs[2]
    # wall = fixed + own·n + work on the workers: the batch's own work per unit from the two samples
    own = max(0.0, ((large["wall"] - large["work"]) - (small["wall"] - small["work"])) / (large["n"] - small["n"]))
    fixed = small["wall"] - small["work"] - own * small["n"]
    per = statistics.median([small["median"], large["median"]])
    print(f"the batch's fixed preparation ≈ {fixed:.0f} s; its own work ≈ {own:.2f} s a unit; "
          f"a briefing ≈ {per:.1f} s on one worker")
    for n in (2, 8, 32, 128):
        print(f"  all {COMMUNES:,} communes on {n} workers: ≈ {(fixed + COMMUNES * (own + per / n)) / 60:.0f} min "
              "(the batch's own work is not shared by the workers)")


if __name__ == "__main__":
    main()
