"""`python -m conformance.differential`: replay the corpus against two servers and print the report."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

from conformance.differential.client import Target
from conformance.differential.report import render, scenario_line, summary
from conformance.differential.runner import Outcome, run_corpus
from conformance.differential.scenario import CORPUS, load_corpus
from conformance.differential.servers import etcd_available, kube_apiserver, our_server


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m conformance.differential", description=__doc__)
    parser.add_argument("--ours", metavar="URL", help="our server (default: start one on the embedded store)")
    parser.add_argument("--ours-token", metavar="T", default="", help="bearer token for --ours")
    parser.add_argument("--theirs", metavar="URL", help="the server to compare with (e.g. a kube-apiserver)")
    parser.add_argument("--theirs-token", metavar="T", default="", help="bearer token for --theirs")
    parser.add_argument("--start-both", action="store_true",
                        help="start our server and the real kube-apiserver (through conformance.kube_apiserver)")
    parser.add_argument("--self-check", action="store_true",
                        help="compare our server on the embedded store with ours on etcd (memory twice without etcd)")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="directory of scenario files")
    parser.add_argument("--report", type=Path, help="also write the report to this file")
    parser.add_argument("--dump", type=Path, help="write every normalised answer pair to this file (JSON lines)")
    parser.add_argument("-k", dest="pattern", default="", help="only scenarios whose name contains PATTERN")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")
    return parser.parse_args(argv)


def target(name: str, url: str, token: str) -> Target:
    return Target(name, url.rstrip("/"), {"Authorization": f"Bearer {token}"} if token else {})


def dump(outcomes: list[Outcome], path: Path) -> None:
    with path.open("w") as out:
        for outcome in outcomes:
            for (ours, theirs), diff in zip(outcome.records, outcome.diffs):
                out.write(json.dumps({"scenario": outcome.scenario.name, "step": ours.step, "request": ours.label,
                                      "same": not diff, "ours": asdict(ours), "theirs": asdict(theirs)}) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    scenarios = load_corpus(args.corpus, args.pattern)
    with ExitStack() as stack:
        ours = (target("ours", args.ours, args.ours_token) if args.ours
                else stack.enter_context(our_server("memory")))
        if args.theirs:
            theirs = target("theirs", args.theirs, args.theirs_token)
        elif args.start_both:
            theirs = stack.enter_context(kube_apiserver())
        elif args.self_check:
            theirs = stack.enter_context(our_server("etcd" if etcd_available() else "memory"))
        else:
            print("nothing to compare with: give --theirs URL, --start-both or --self-check", file=sys.stderr)
            return 2

        def progress(outcome: Outcome) -> None:
            if not args.quiet:
                print(scenario_line(outcome), flush=True)

        outcomes = asyncio.run(run_corpus(scenarios, ours, theirs, progress))
        report = render(outcomes, ours.name, theirs.name)
    if args.report:
        args.report.write_text(report)
    if args.dump:
        dump(outcomes, args.dump)
    if not args.quiet:
        print(report.split("\n", len(outcomes) + 2)[-1], end="")
    else:
        print(summary(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
