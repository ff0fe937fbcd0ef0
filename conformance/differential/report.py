"""The report: per scenario same or different, a diff for each differing request, and the identical share."""

from __future__ import annotations

from conformance.differential.runner import Outcome

DIFF_LINES = 25


def totals(outcomes: list[Outcome], pending: bool = False) -> tuple[int, int]:
    """(identical requests, compared requests) of the scenarios not pending (`pending`: of those pending); a
    scenario that failed to run counts all its requests as differing."""
    chosen = [o for o in outcomes if bool(o.scenario.pending) == pending]
    identical = sum(o.identical for o in chosen if not o.error)
    total = sum(o.scenario.requests if o.error else len(o.diffs) for o in chosen)
    return identical, total


def summary(outcomes: list[Outcome]) -> str:
    identical, total = totals(outcomes)
    share = 100.0 * identical / total if total else 100.0
    line = f"{identical}/{total} requests identical ({share:.1f} %)"
    waiting, pending = totals(outcomes, pending=True)
    return line + (f"; pending scenarios, not counted: {waiting}/{pending} identical" if pending else "")


def share(outcomes: list[Outcome]) -> float:
    identical, total = totals(outcomes)
    return 100.0 * identical / total if total else 100.0


def scenario_line(outcome: Outcome) -> str:
    name = f"{outcome.scenario.source}:{outcome.scenario.name}"
    if outcome.scenario.pending:
        name += f" [pending: {outcome.scenario.pending}]"
    if outcome.error:
        return f"ERROR      {name}: {outcome.error}"
    if outcome.same:
        return f"same       {name} ({len(outcome.diffs)} requests)"
    return f"different  {name} ({len(outcome.diffs) - outcome.identical}/{len(outcome.diffs)} requests differ)"


def render(outcomes: list[Outcome], ours: str = "ours", theirs: str = "theirs") -> str:
    """The whole report as text (Markdown-friendly: diffs in indented blocks)."""
    lines = [f"# Differential conformance: {ours} vs {theirs}", ""]
    lines += [scenario_line(o) for o in outcomes]
    for outcome in outcomes:
        if outcome.same or outcome.error:
            continue
        lines += ["", f"## {outcome.scenario.name}"]
        for index, (label, diff) in enumerate(zip(outcome.labels, outcome.diffs)):
            if not diff:
                continue
            lines.append(f"- request {index + 1}: {label}")
            shown = diff[:DIFF_LINES]
            lines += [f"      {line}" for line in shown]
            if len(diff) > len(shown):
                lines.append(f"      … {len(diff) - len(shown)} more")
    lines += ["", summary(outcomes)]
    return "\n".join(lines) + "\n"
