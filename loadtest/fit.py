"""The rolling update at the seed's scale, extrapolated: measured points fitted to the seed's complexity.

    python -m loadtest.fit results/rolling/evaluate.json [more evaluate.json ...] [--out docs] [--name rolling-update-fit]

A rolling update at P=20,000 and N=5,000 moves about 200 TB with the Endpoints API (the talk's estimate),
beyond any one machine; so `loadtest.evaluate` measures it at several smaller P and N, and this fits,
per API and metric, the one constant c of the seed's complexity, y = c·f(P, N, B) (total bytes:
f = P²N for Endpoints, P·N·B for slices of B, P·N for one endpoint per slice; total events: P·N), by
least squares on log y (every point weighs the same whatever its size, so the constant is the
geometric mean of y / f). It prints c, the worst point's deviation from the fit, and c·f at the seed's
sizes beside the seed's figure; writes `<name>.csv`, `<name>.json` and `<name>.png` (per metric, the
measured points against f, the fitted line and the extrapolated value, log-log).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadtest.report import API_TITLES, ROLLING_UPDATE, SEED_N, SEED_P, encoding, human, order_value, seed_api

METRICS = ("total_bytes", "total_watch_events")
# total bytes per API: the seed's order is per API (P^2N, NPB, NP); events are O(NP) for all three
ORDERS = {"total_bytes": {"endpoints": "O(P^2N)", "slices": "O(NPB)", "slices_b1": "O(NP)"},
          "total_watch_events": {"endpoints": "O(NP)", "slices": "O(NP)", "slices_b1": "O(NP)"}}


@dataclass
class Fit:
    """One API and metric: the points, the fitted constant and the value it gives at the seed's sizes."""

    api: str
    slice_size: int
    metric: str
    order: str
    points: list[tuple[int, int, float, float]]  # (P, N, f(P, N, B), measured)
    constant: float
    worst_deviation: float  # max |measured / fitted - 1| over the points
    extrapolated: float  # c·f at P=20,000, N=5,000
    seed_value: float  # the talk's figure
    encoding: str = "json"  # the node watchers'

    @property
    def title(self) -> str:
        api = API_TITLES.get(self.api, f"{self.slice_size} endpoints/slice")
        return api if self.encoding == "json" else f"{api}, {self.encoding}"


def order_for(api: str, slice_size: int, metric: str) -> str:
    return ORDERS[metric]["endpoints" if api == "endpoints" else "slices_b1" if slice_size == 1 else "slices"]


def fit(results: list[dict[str, Any]], scenario: str = "rolling-update") -> list[Fit]:
    """A fit per API, encoding and metric over the successful results of `scenario`."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for result in results:
        if result["scenario"] == scenario and result["status"] == "ok":
            groups.setdefault((result["api"], result["slice_size"] or 1, encoding(result)), []).append(result)
    fits = []
    for (api, b, enc), group in sorted(groups.items()):
        column, _ = seed_api(group[0])
        for metric in METRICS:
            order = order_for(api, b, metric)
            points = sorted((r["pods"], r["nodes"], order_value(order, r["pods"], r["nodes"], b), float(r[metric]))
                            for r in group)
            logs = [math.log(y / x) for _, _, x, y in points if x > 0 and y > 0]
            if not logs:
                continue
            constant = math.exp(sum(logs) / len(logs))
            worst = max(abs(y / (constant * x) - 1) for _, _, x, y in points)
            fits.append(Fit(api, b, metric, order, points, constant, worst,
                            constant * order_value(order, SEED_P, SEED_N, b), ROLLING_UPDATE[metric][column][1], enc))
    return fits


def print_fits(fits: list[Fit]) -> None:
    print(f"{'API':32}{'metric':20}{'order':10}{'points':>8}{'constant':>12}{'worst dev':>11}"
          f"{'at P=20k, N=5k':>16}{'seed':>10}")
    for f in fits:
        print(f"{f.title:32}{f.metric:20}{f.order:10}{len(f.points):>8}{f.constant:>12.4g}{f.worst_deviation:>10.1%}"
              f"{human(f.extrapolated):>16}{human(f.seed_value):>10}")


def write(fits: list[Fit], out: str, name: str, plots: bool = True) -> list[str]:
    """<name>.csv (one row per point and fit), <name>.json and <name>.png."""
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{name}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("api", "slice_size", "encoding", "metric", "order", "pods", "nodes", "order_value", "measured",
                         "fitted", "constant", "extrapolated_p20000_n5000", "seed_value"))
        for fit_ in fits:
            for p, n, x, y in fit_.points:
                writer.writerow((fit_.api, fit_.slice_size, fit_.encoding, fit_.metric, fit_.order, p, n, x, y, fit_.constant * x,
                                 fit_.constant, fit_.extrapolated, fit_.seed_value))
    with open(directory / f"{name}.json", "w") as f:
        json.dump([asdict(fit_) for fit_ in fits], f, indent=2)
    written = [str(directory / f"{name}.csv"), str(directory / f"{name}.json")]
    if plots and fits:
        written.append(plot(fits, directory / f"{name}.png"))
    return written


def plot(fits: list[Fit], path: Path) -> str:
    """Per metric: measured points against f(P, N, B), the fitted line up to the seed's sizes, the extrapolated
    value (star) and the seed's figure (cross)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(METRICS), figsize=(11, 4.5))
    for ax, metric in zip(axes, METRICS, strict=True):
        for fit_ in (f for f in fits if f.metric == metric):
            xs = [x for _, _, x, _ in fit_.points]
            seed_x = order_value(fit_.order, SEED_P, SEED_N, fit_.slice_size)
            line = ax.plot(xs, [y for *_, y in fit_.points], "o", label=f"{fit_.title}: c·{fit_.order[2:-1]}, "
                           f"c={fit_.constant:.3g}")[0]
            color = line.get_color()
            ax.plot([min(xs), seed_x], [fit_.constant * min(xs), fit_.extrapolated], "-", color=color, alpha=0.5)
            ax.plot([seed_x], [fit_.extrapolated], "*", color=color, markersize=12)
            ax.plot([seed_x], [fit_.seed_value], "x", color=color, markersize=9)
            ax.annotate(human(fit_.extrapolated), (seed_x, fit_.extrapolated), textcoords="offset points",
                        xytext=(-30, 6), fontsize=7, color=color)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("the seed's complexity f(P, N, B)")
        ax.set_ylabel("bytes to watchers" if metric == "total_bytes" else "watch events")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle("rolling-update: measured (dots), least-squares fit (line), P=20,000 N=5,000 (star; x: seed)",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=72)
    plt.close(figure)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="evaluate.json files of `loadtest.evaluate` runs")
    parser.add_argument("--scenario", default="rolling-update")
    parser.add_argument("--out", default="results/fit")
    parser.add_argument("--name", default="rolling-update-fit", help="file name stem of the outputs")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for name in args.results:
        results += json.loads(Path(name).read_text())["results"]
    fits = fit(results, args.scenario)
    print_fits(fits)
    print("\nwritten: " + ", ".join(write(fits, args.out, args.name, plots=not args.no_plots)))


if __name__ == "__main__":
    main()
