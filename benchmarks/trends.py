"""Coverage of the indicator trends' 80 % bands (nq21model.trends).

1. Rolling-origin replay on the bundled data: every share indicator of the province
   and of each district, fitted on the years up to an origin (2021 … 2024) and
   judged on every later year up to 2025 that the data hold.
2. Simulation with yearly shocks (sd 0.0, 0.1, 0.2 on the logit), 6 and 10 fitted
   years, five years ahead.

Run: ``.venv/bin/python benchmarks/trends.py``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from nq21model import targets as T
from nq21model.trends import fit_share_trend, predict_share


def replay() -> tuple[float, int]:
    data = T.load_tracker_data()
    inside = []
    for code, ind in T.INDICATORS.items():
        if ind.kind != "share" or not ind.trend:
            continue
        counts = T.share_counts(code, data, "district")
        if counts is None:
            continue
        for _, series in counts.groupby("unit"):
            series = series[series["trials"] > 0].sort_values("year")
            for origin in range(2021, 2025):
                fit = fit_share_trend(series[series["year"] <= origin])
                if fit is None or fit["method"] == "constant":
                    continue
                for _, later in series[series["year"] > origin].iterrows():
                    _, lo, hi, _ = predict_share({**fit, "n": int(later["trials"])}, int(later["year"]))
                    share = later["successes"] / later["trials"]
                    inside.append(lo - 1e-9 <= share <= hi + 1e-9)
    return float(np.mean(inside)), len(inside)


def simulate(shock: float, years: int, series: int = 300, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    inside = []
    for _ in range(series):
        n = int(rng.integers(80, 400))
        a, b = rng.normal(0.8, 0.6), rng.normal(0.1, 0.08)
        x = np.arange(years + 5) - (years - 1)
        p = 1 / (1 + np.exp(-(a + b * x + shock * rng.standard_normal(x.size))))
        frame = pd.DataFrame({"year": 2026 - years + np.arange(x.size), "successes": rng.binomial(n, p), "trials": n})
        fit = fit_share_trend(frame[frame["year"] <= 2025])
        _, lo, hi, _ = predict_share(fit, 2030)
        inside.append(lo - 1e-9 <= frame["successes"].iloc[-1] / n <= hi + 1e-9)
    return float(np.mean(inside))


def main() -> None:
    cover, count = replay()
    print(f"Rolling-origin replay on the bundled data: {count} predictions, 80 % bands hold {cover:.1%}")
    print("Simulation, five years ahead (300 series each):")
    for shock in (0.0, 0.1, 0.2):
        print(f"  yearly shock sd {shock}: " + ", ".join(f"{years} years fitted {simulate(shock, years):.1%}"
                                                       for years in (6, 10)))


if __name__ == "__main__":
    main()
