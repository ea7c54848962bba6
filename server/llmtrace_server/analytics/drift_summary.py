"""One summary per segment leading the drift report, so that one change reads as one change.

A planted change (chat users pasting longer inputs) drifts its consequences too (output tokens,
latency, cost follow input length). The summary takes the drifted feature with the largest effect
(Jensen-Shannon distance, comparable between numeric and categorical features) as the change, and
lists the other drifted features that *move with it*: their Spearman rank correlation over the
current window's calls, with it or with a feature already moving with it (single linkage), is at
least :data:`MOVES_TOGETHER_RHO` in size. Drifted features left over start their own change,
largest effect first. Correlation is not causation: the summary says
which drifts go together, not which one caused the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmtrace_server.analytics.verdicts import DRIFT, INSUFFICIENT, NO_DRIFT

MOVES_TOGETHER_RHO = 0.5
METHOD = (
    "changes ordered by Jensen-Shannon distance; a drifted numeric span feature moves with a change "
    f"when |Spearman rho| >= {MOVES_TOGETHER_RHO} over the current window's calls with the change's "
    "feature or with a feature already moving with it"
)

# (lead feature, other features) -> {feature: (rho or None, calls with both values)}
Correlate = Callable[[str, tuple[str, ...]], Mapping[str, tuple[float | None, int]]]


def summarize_segment(
    segment: Mapping[str, str], features: Sequence[Mapping[str, Any]], correlate: Correlate
) -> dict[str, Any]:
    """The segment's changes, largest effect first, each with the drifted features moving with it."""
    drifted = sorted(
        (f for f in features if f["verdict"] == DRIFT), key=lambda f: (-(f["js"] or 0.0), f["feature"])
    )
    changes: list[dict[str, Any]] = []
    remaining = list(drifted)
    while remaining:
        lead, rest = remaining[0], remaining[1:]
        together: list[dict[str, Any]] = []
        # Single linkage: what moves with the lead, or with something that moves with it (cost
        # follows input length, output length follows cost...), belongs to the same change.
        frontier = [lead["feature"]]
        while frontier and rest:
            member = frontier.pop(0)
            rhos = correlate(member, tuple(f["feature"] for f in rest))
            joined = []
            for other in rest:
                rho, n = rhos.get(other["feature"], (None, 0))
                if rho is not None and abs(rho) >= MOVES_TOGETHER_RHO:
                    joined.append(other)
                    together.append(
                        {
                            "feature": other["feature"],
                            "js": other["js"],
                            "correlated_with": member,
                            "rank_correlation": rho,
                            "n": n,
                        }
                    )
            frontier += [f["feature"] for f in joined]
            rest = [f for f in rest if f not in joined]
        changes.append({**_effect(lead), "moves_with": together})
        remaining = rest
    verdicts = {f["verdict"] for f in features}
    verdict = DRIFT if changes else (NO_DRIFT if NO_DRIFT in verdicts else INSUFFICIENT)
    return {
        "segment": dict(segment),
        "verdict": verdict,
        "drifted_features": len(drifted),
        "changes": changes,
        "text": _text(segment, verdict, changes),
    }


def _effect(feature: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "feature": feature["feature"],
        "kind": feature["kind"],
        "js": feature["js"],
        "psi": feature["psi"],
        "l_inf": feature["l_inf"],
        "n_reference": feature["n_reference"],
        "n_current": feature["n_current"],
    }


def _text(segment: Mapping[str, str], verdict: str, changes: Sequence[Mapping[str, Any]]) -> str:
    where = ", ".join(f"{k}={v}" for k, v in segment.items()) or "all traffic"
    if verdict == INSUFFICIENT:
        return f"{where}: not enough calls to tell"
    if not changes:
        return f"{where}: no drift"
    parts = []
    for change in changes:
        effect = f"JS {change['js']:.2f}"
        if change["psi"] is not None and change["kind"] == "numeric":
            effect += f", PSI {change['psi']:.2f}"
        line = f"{change['feature']} drifted ({effect})"
        if change["moves_with"]:
            moving = ", ".join(
                f"{m['feature']} (rho {m['rank_correlation']:+.2f} with {m['correlated_with']})"
                for m in change["moves_with"]
            )
            line += f"; moving with it: {moving}"
        parts.append(line)
    return f"{where}: " + "; separately, ".join(parts)
