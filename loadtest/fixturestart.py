"""Start-up of the pytest fixture's server: every built-in kind, then with three CustomResourceDefinitions loaded.

    python -m loadtest.fixturestart [--runs 20]

Prints the median and the worst of `--runs` in-process starts (`apiserver.testing.run_server`, as the `apiserver`
fixture starts it: until it answers, its CRDs established and served), each beside envtest's 3-15 s (a real
kube-apiserver and etcd). The first start of the process is left out (imports).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from apiserver.config import Config
from apiserver.testing import load_crds, run_server

CRDS = sorted((Path(__file__).resolve().parent.parent / "tests" / "manifests" / "crds").glob("*.yaml"))
ENVTEST_SECONDS = (3.0, 15.0)


def starts(runs: int, crds: list[Path]) -> list[float]:
    loaded = load_crds(crds)
    seconds = []
    for _ in range(runs + 1):
        with run_server(Config(compaction_interval=0), crds=loaded) as server:
            seconds.append(server.start_seconds)  # type: ignore[attr-defined]
    return seconds[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(f"{'fixture start':56} {'median ms':>10} {'worst ms':>9} {'envtest 3 s / ours':>19}")
    for label, crds in (("built-in kinds", []), (f"built-in kinds + {len(CRDS)} CRDs ({', '.join(p.stem for p in CRDS)})",
                                                  CRDS)):
        seconds = starts(args.runs, crds)
        median = statistics.median(seconds)
        print(f"{label:56} {median * 1000:10.1f} {max(seconds) * 1000:9.1f} {ENVTEST_SECONDS[0] / median:18.0f}×")


if __name__ == "__main__":
    main()
