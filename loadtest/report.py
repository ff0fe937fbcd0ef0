"""The seed talk's tables beside the measured values: text tables, CSV, JSON and log-scale plots.

The seed's figures are for P=20,000 endpoints, N=5,000 nodes and B=100 (or 1) endpoints per slice
(`../shared/seed/evaluation-tables.csv`). "seed@run" scales each figure by its complexity evaluated at
the run's P, N and B over the same at the seed's sizes, so the talk's constants (about 100 bytes an
endpoint, 1 KB a small object) carry over. Results carry the node watchers' encoding (json, or protobuf as
kube-proxy asks for it; results without one are JSON): sizes and bytes are per encoding, counts are not.
`markdown` writes the README's table: per scenario and API the counts, then bytes per endpoint, per event
and in total, each as the seed's figure, JSON and protobuf.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

SEED_P, SEED_N = 20_000, 5_000
APIS = ("endpoints", "slices_b100", "slices_b1")
API_TITLES = {"endpoints": "Endpoints", "slices_b100": "100 endpoints/slice", "slices_b1": "1 endpoint/slice"}
SHORT_TITLES = {"endpoints": "Endpoints", "slices_b100": "100/slice", "slices_b1": "1/slice"}
# metric: the seed's (order, figure) for endpoints, 100 per slice, 1 per slice (evaluation-tables.csv)
SINGLE_ENDPOINT_UPDATE = {
    "writes": (("O(1)", 1), ("O(1)", 1), ("O(1)", 1)),
    "events_per_watcher": (("O(1)", 1), ("O(1)", 1), ("O(1)", 1)),
    "object_size_bytes": (("O(P)", 2_000_000), ("O(B)", 10_000), ("O(1)", 1_000)),
    "watchers_per_object": (("O(N)", 5_000), ("O(N)", 5_000), ("O(N)", 5_000)),
    "total_watch_events": (("O(N)", 5_000), ("O(N)", 5_000), ("O(N)", 5_000)),
    "total_bytes": (("O(PN)", 10_000_000_000), ("O(BN)", 50_000_000), ("O(N)", 5_000_000)),
}
ROLLING_UPDATE = {
    "writes": (("O(P)", 20_000), ("O(P)", 20_000), ("O(P)", 20_000)),
    "events_per_watcher": (("O(P)", 20_000), ("O(P)", 20_000), ("O(P)", 20_000)),
    "object_size_bytes": (("O(P)", 2_000_000), ("O(B)", 10_000), ("O(1)", 1_000)),
    "watchers_per_object": (("O(N)", 5_000), ("O(N)", 5_000), ("O(N)", 5_000)),
    "total_watch_events": (("O(NP)", 100_000_000), ("O(NP)", 100_000_000), ("O(NP)", 100_000_000)),
    "total_bytes": (("O(P^2N)", 200_000_000_000_000), ("O(NPB)", 1_000_000_000_000), ("O(NP)", 100_000_000_000)),
}
SERVICE_CREATION = {  # the talk's table is "Service creation/deletion": deletion shares it
    "writes": (("O(1)", 1), ("O(P/B)", 200), ("O(P)", 20_000)),
    "events_per_watcher": (("O(1)", 1), ("O(P/B)", 200), ("O(P)", 20_000)),
    "object_size_bytes": (("O(P)", 2_000_000), ("O(B)", 10_000), ("O(1)", 1_000)),
    "watchers_per_object": (("O(N)", 5_000), ("O(N)", 5_000), ("O(N)", 5_000)),
    "total_watch_events": (("O(N)", 5_000), ("O(NP/B)", 1_000_000), ("O(NP)", 100_000_000)),
    "total_bytes": (("O(PN)", 10_000_000_000), ("O(PN)", 10_000_000_000), ("O(PN)", 10_000_000_000)),
}
SEED = {"single-endpoint-update": SINGLE_ENDPOINT_UPDATE, "rolling-update": ROLLING_UPDATE,
        "service-creation": SERVICE_CREATION, "service-deletion": SERVICE_CREATION}
MEASURED = {"writes": "writes", "events_per_watcher": "events_per_watcher", "object_size_bytes": "object_size_max",
            "watchers_per_object": "watchers_per_object", "total_watch_events": "total_watch_events",
            "total_bytes": "total_bytes"}
METRIC_TITLES = {"writes": "# of writes", "events_per_watcher": "# of watch events per watcher",
                 "object_size_bytes": "size of API object (max B)", "watchers_per_object": "# of watchers per object",
                 "total_watch_events": "# of total watch events", "total_bytes": "total bytes transmitted"}
EXTRA = (("object size mean (B)", "object_size_mean"), ("wall time (s)", "wall_seconds"),
         ("bytes metered / counted", "bytes_check"))
CSV_FIELDS = ("scenario", "api", "slice_size", "encoding", "pods", "nodes", "metric", "seed_order", "seed_value",
              "seed_at_run", "measured", "status")
ORDER = re.compile(r"O\(([PNB0-9^/]+)\)")


def order_value(order: str, p: float, n: float, b: float) -> float:
    """A complexity like `O(P^2N)` or `O(NP/B)` evaluated at P, N, B."""
    match = ORDER.fullmatch(order)
    if match is None:
        raise ValueError(f"not a complexity: {order}")
    value, divide = 1.0, False
    for token in re.findall(r"[PNB](?:\^\d+)?|\d+|/", match.group(1)):
        if token == "/":
            divide = True
            continue
        base, _, power = token.partition("^")
        factor = {"P": p, "N": n, "B": b}.get(base, float(base) if base.isdigit() else 1.0) ** int(power or 1)
        value = value / factor if divide else value * factor
        divide = False
    return value


def encoding(result: dict[str, Any]) -> str:
    """The node watchers' encoding of a result (evaluations before protobuf measured JSON only)."""
    return str(result.get("encoding", "json"))


def title(result: dict[str, Any]) -> str:
    """The API's title, with the encoding when it is not JSON."""
    api = API_TITLES.get(result["api"], f"{result['slice_size']} endpoints/slice")
    return api if encoding(result) == "json" else f"{api}, {encoding(result)}"


def seed_api(result: dict[str, Any]) -> tuple[int, int]:
    """Which seed column fits a result (0 endpoints, 1 slices of B, 2 one per slice) and the seed's B."""
    if result["api"] == "endpoints":
        return 0, 1
    return (2, 1) if result["slice_size"] == 1 else (1, 100)


def rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per result and seed metric: order, seed figure, seed figure at the run's sizes, measured."""
    table = []
    for result in results:
        column, seed_b = seed_api(result)
        for metric, columns in SEED[result["scenario"]].items():
            order, figure = columns[column]
            p, n, b = result["pods"], result["nodes"], result["slice_size"] or 1
            ok = result["status"] == "ok"
            table.append({"scenario": result["scenario"], "api": result["api"], "slice_size": result["slice_size"],
                          "encoding": encoding(result), "pods": p, "nodes": n, "metric": metric, "seed_order": order, "seed_value": figure,
                          "seed_at_run": figure * order_value(order, p, n, b) / order_value(order, SEED_P, SEED_N, seed_b),
                          "measured": result.get(MEASURED[metric]) if ok else None, "status": result["status"]})
    return table


def human(value: float | None) -> str:
    """1234567 → 1.23M; small values as they are."""
    if value is None:
        return "-"
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}" if isinstance(value, float) and value != int(value) else str(int(value))


def print_tables(results: list[dict[str, Any]]) -> None:
    """The seed's tables, one per scenario and size, each cell as order | seed | seed@run | measured."""
    table = rows(results)
    groups: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault((result["scenario"], result["pods"], result["nodes"]), []).append(result)
    for (scenario, p, n), group in groups.items():
        labels = [(r["api"], encoding(r), title(r)) for r in group]
        print(f"\n{scenario}  P={p} N={n}   (each cell: order | seed | seed at this P, N | measured)")
        print(f"{'':32}" + "".join(f"{heading:>38}" for *_, heading in labels))
        for metric, heading in METRIC_TITLES.items():
            cells = []
            for api, enc, _ in labels:
                row = next(r for r in table if (r["scenario"], r["pods"], r["nodes"], r["api"], r["encoding"],
                                                r["metric"]) == (scenario, p, n, api, enc, metric))
                cells.append(f"{row['seed_order']} | {human(row['seed_value'])} | {human(row['seed_at_run'])} | "
                             f"{human(row['measured'])}")
            print(f"{heading:32}" + "".join(f"{cell:>38}" for cell in cells))
        for heading, key in EXTRA:
            cells = [extra_cell(r, key) for r in group]
            print(f"{heading:32}" + "".join(f"{cell:>38}" for cell in cells))
        for r in group:
            if r["status"] != "ok":
                print(f"  {title(r)}: {r['status']}")


def extra_cell(result: dict[str, Any], key: str) -> str:
    if result["status"].startswith("skipped"):
        return "-"
    if key == "bytes_check":
        mark = "=" if result["bytes_agree"] else "!="
        return f"{human(result['bytes_metered'])} {mark} {human(result['bytes_counted'])}"
    value = result.get(key)
    return f"{value:.2f}" if key == "wall_seconds" and value is not None else human(value)


def seed_per_endpoint(result: dict[str, Any]) -> float:
    """The talk's bytes an endpoint: its object size over the endpoints in that object (P, B or 1)."""
    column, seed_b = seed_api(result)
    return SINGLE_ENDPOINT_UPDATE["object_size_bytes"][column][1] / (SEED_P if column == 0 else seed_b)


MARKDOWN_HEAD = ("| scenario | API | P | N | writes | events/watcher | total events | bytes/endpoint: seed / JSON / "
                 "protobuf | bytes/event: seed / JSON / protobuf | total bytes: seed at P, N / JSON / protobuf | wall s |\n"
                 "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def per_event(result: dict[str, Any]) -> float | None:
    return result["total_bytes"] / result["total_watch_events"] if result["total_watch_events"] else None


def seed_and_measured(seed: float, by_encoding: dict[str, dict[str, Any]], key: Any) -> str:
    """`seed / JSON / protobuf`, "-" for an encoding not measured."""
    measured = [human(key(by_encoding[e])) if e in by_encoding else "-" for e in ("json", "protobuf")]
    return " / ".join([human(seed), *measured])


def markdown(results: list[dict[str, Any]]) -> str:
    """The README's table: one row per scenario, API and size, counts once, then each byte figure as
    the seed's (an event's is its object size; both it and the total scaled to the run's P and N) / JSON / protobuf."""
    seed = {(r["scenario"], r["api"], r["pods"], r["nodes"], r["metric"]): r["seed_at_run"] for r in rows(results)}
    groups: dict[tuple[str, str, int, int], dict[str, dict[str, Any]]] = {}
    for result in results:
        groups.setdefault((result["scenario"], result["api"], result["pods"], result["nodes"]), {})[
            encoding(result)] = result
    lines = [MARKDOWN_HEAD]
    for key, by_encoding in groups.items():
        scenario, api, p, n = key
        first = next(iter(by_encoding.values()))
        head = f"| {scenario} | {SHORT_TITLES.get(api, api)} | {p:,} | {n:,} |"
        if first["status"] != "ok":
            lines.append(f"{head} {first['status']} | | | | | | |")
            continue
        lines.append(
            f"{head} {first['writes']:,} | {human(first['events_per_watcher'])} | {first['total_watch_events']:,} "
            f"| {seed_and_measured(seed_per_endpoint(first), by_encoding, lambda r: r.get('bytes_per_endpoint'))} "
            f"| {seed_and_measured(seed[(*key, 'object_size_bytes')], by_encoding, per_event)} "
            f"| {seed_and_measured(seed[(*key, 'total_bytes')], by_encoding, lambda r: r['total_bytes'])} "
            f"| {first['wall_seconds']:.2f} |")
    return "\n".join(lines) + "\n"


def write(results: list[dict[str, Any]], out: str, meta: dict[str, Any], plots: bool = True) -> list[str]:
    """evaluate.csv (one row per metric), evaluate.json (everything), evaluate.md (the README's table) and,
    if asked, one PNG per scenario."""
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    table = rows(results)
    with open(directory / "evaluate.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_FIELDS)
        writer.writeheader()
        writer.writerows(table)
    with open(directory / "evaluate.json", "w") as f:
        json.dump({"meta": meta, "results": results, "rows": table}, f, indent=2)
    (directory / "evaluate.md").write_text(markdown(results))
    written = [str(directory / "evaluate.csv"), str(directory / "evaluate.json"), str(directory / "evaluate.md")]
    if plots:
        written += plot(table, directory)
    return written


MARKERS = {"json": "o-", "protobuf": "^:"}  # measured JSON: dots, solid; protobuf: triangles, dotted


def plot(table: list[dict[str, Any]], directory: Path) -> list[str]:
    """Per scenario: total bytes and total events against P and against N, measured (JSON solid, protobuf
    dotted, in the colour of their API and size) and seed (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for scenario in dict.fromkeys(r["scenario"] for r in table):
        figure, axes = plt.subplots(2, 2, figsize=(13, 8))
        for row_index, metric in enumerate(("total_bytes", "total_watch_events")):
            for col_index, (x, other) in enumerate((("pods", "nodes"), ("nodes", "pods"))):
                ax = axes[row_index][col_index]
                series: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = {}
                for r in table:
                    if r["scenario"] == scenario and r["metric"] == metric:
                        series.setdefault((r["api"], r[other]), {}).setdefault(r["encoding"], []).append(r)
                for (api, fixed), by_encoding in sorted(series.items()):
                    seed = sorted(next(iter(by_encoding.values())), key=lambda r: r[x])
                    line = ax.plot([r[x] for r in seed], [r["seed_at_run"] for r in seed], "--", alpha=0.6)[0]
                    label: str | None = f"{api} {'N' if other == 'nodes' else 'P'}={fixed}"
                    for enc, points in sorted(by_encoding.items()):
                        measured = sorted((r[x], r["measured"]) for r in points if r["measured"])
                        if measured:
                            ax.plot(*zip(*measured), MARKERS.get(enc, "x-"), color=line.get_color(), label=label)
                            label = None
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel("P (endpoints)" if x == "pods" else "N (node watchers)")
                ax.set_ylabel("bytes to watchers" if metric == "total_bytes" else "watch events")
                ax.grid(True, which="both", alpha=0.3)
                if series:
                    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        figure.suptitle(f"{scenario}: measured (JSON: dots, solid; protobuf: triangles, dotted) "
                        "and the seed's complexity (dashed)")
        figure.tight_layout()
        path = directory / f"{scenario}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(str(path))
    return written


def main() -> None:
    """Tables, CSV, JSON and plots again from evaluate.json files (several runs' results merged)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", nargs="+", help="evaluate.json files")
    parser.add_argument("--out", default="results/report")
    parser.add_argument("--scenarios", default="", help="only these scenarios, comma-separated")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args()
    wanted = {s for s in args.scenarios.split(",") if s}
    results = [r for name in args.results for r in json.loads(Path(name).read_text())["results"]
               if not wanted or r["scenario"] in wanted]
    print_tables(results)
    written = write(results, args.out, {"merged": args.results}, plots=not args.no_plots)
    print("\nwritten: " + ", ".join(written))


if __name__ == "__main__":
    main()
