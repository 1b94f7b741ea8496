"""Refresh tests/fixtures/replay.json, the key figures of the replay test (`make replay-fixture`).

The replay: regenerate the bundled synthetic data with ``write_bundle`` (seed 21)
in a temporary folder, forecast on it with the defaults (``forecast(dataset)``)
and keep, for the province and each forecast horizon, the expected local members,
the shares of cells with ≥ 3/4/5 members and P(share ≥ 95 %), rounded to 10
decimals. tests/test_provenance.py asserts that a replay gives exactly these
numbers. Run this after a deliberate change of the model's numbers and commit
the fixture with the change.

    .venv/bin/python tools/refresh_replay.py          # rewrite the fixture
    .venv/bin/python tools/refresh_replay.py --check  # exit 1 when it is out of date
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "replay.json"
DECIMALS = 10
REFRESH = "make replay-fixture (tools/refresh_replay.py)"


def replay(directory: str | Path) -> dict:
    """Regenerate the bundle in ``directory`` and return its data hash and key figures."""
    from nq21model import config
    from nq21model.data import load_dataset
    from nq21model.forecast import forecast
    from nq21model.provenance import data_hash
    from nq21model.synth import DEFAULT_SEED, write_bundle

    paths = write_bundle(directory, seed=DEFAULT_SEED)
    sources = {"cells": paths["cells"], "history": paths["history"]}
    results = forecast(load_dataset(**sources))
    columns = ["expected_members",
               *(f"share_at_least_{k}" for k in config.THRESHOLDS),
               *(f"p_share_95_at_least_{k}" for k in config.THRESHOLDS)]
    rows = results.province[results.province["status"] == "forecast"]
    figures = {str(int(row["horizon"])): {c: round(float(row[c]), DECIMALS) for c in columns}
               for _, row in rows.iterrows()}
    return {"seed": DEFAULT_SEED, "data_sha256": data_hash(sources), "base_year": results.base_year,
            "horizons": list(results.horizons), "scenario": results.scenario.label, "method": results.method,
            "province": figures}


def current() -> dict:
    """The replay's figures now, in the fixture's layout (with what made them)."""
    from nq21model.provenance import lock_hash, package_version

    with tempfile.TemporaryDirectory(prefix="nq21-replay-") as tmp:
        figures = replay(tmp)
    return {"_about": "Key figures of the replay test (tests/test_provenance.py); refresh with " + REFRESH,
            **figures, "made_with": {"nq21model": package_version(), "uv_lock_sha256": lock_hash()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether the fixture is up to date")
    args = parser.parse_args(argv)
    fresh = current()
    keys = [k for k in fresh if k not in ("_about", "made_with")]
    old = json.loads(FIXTURE.read_text(encoding="utf-8")) if FIXTURE.exists() else {}
    same = all(old.get(k) == fresh[k] for k in keys)
    if args.check:
        print(f"{FIXTURE.relative_to(ROOT)} is {'up to date' if same else 'out of date: run ' + REFRESH}")
        return 0 if same else 1
    if same:
        print(f"{FIXTURE.relative_to(ROOT)} unchanged")
        return 0
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(fresh, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"rewrote {FIXTURE.relative_to(ROOT)}: commit it with the change of the model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
