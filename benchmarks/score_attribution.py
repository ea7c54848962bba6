"""Score queries with the score-attribution rule of issue 18 against the rule before it, same run.

    nice python benchmarks/score_attribution.py [--spans 100000] [--repeats 5] [--baseline 6ce68e9]

The baseline is ``scored_spans_sql`` as of ``--baseline`` (read with ``git show``): a trace-level
score joined the trace's first LLM call inside the window, and a score on a function span joined
that span. The new rule chooses the trace's last prompted LLM call before filtering (see
docs/analytics.md). Data: three cohorts (``v0`` 60-14 days ago, ``v1`` 14-7, ``v2`` the last 7
days) of ``--spans`` calls each, one ``quality`` score per call, half of them trace-level; the
queries read the last 14 days (regression score summaries v1 vs v2, daily score trends by prompt
version). Prints the median time of each and the new/old ratio. Not part of CI.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmtrace.store import open_store  # noqa: E402
from llmtrace.store.queries import _segment  # noqa: E402
from llmtrace.store.queries import regressions as rq  # noqa: E402
from llmtrace.store.queries import trends as tq  # noqa: E402
from tests.analytics.synth import NOW, Traffic, spans  # noqa: E402


def baseline_sql(commit: str) -> Callable[..., str]:
    source = subprocess.run(
        ["git", "show", f"{commit}:llmtrace/store/queries/_segment.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_segment.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_segment", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    old = module.scored_spans_sql

    def adapted(span_where: str, span_columns: str, *, by_name: bool = True, time_range: Any = None) -> str:
        return str(old(span_where, span_columns, by_name=by_name))

    return adapted


def main(spans_per_cohort: int = 100_000, repeats: int = 5, baseline: str = "6ce68e9") -> None:
    store = open_store(f"chdb://{tempfile.mkdtemp()}/data", "bench_scores")
    store.migrate()
    cohorts_days = (("v0", 60, 14), ("v1", 14, 7), ("v2", 7, 0))
    for seed, (version, start, end) in enumerate(cohorts_days):
        rows = spans(
            spans_per_cohort,
            NOW - timedelta(days=start),
            NOW - timedelta(days=end),
            Traffic(prompt_version=version),
            seed=seed,
        )
        for i, score in enumerate(rows[1]):
            if i % 2:
                score["span_id"] = ""  # trace-level, as POST /api/v1/scores sends them
        for k in range(0, spans_per_cohort, 50_000):
            store.insert_spans(rows[0][k : k + 50_000])
            store.insert_scores(rows[1][k : k + 50_000])
    cohorts = rq.Cohorts(
        since=NOW - timedelta(days=14), until=NOW, dimension="prompt_version", a="v1", b="v2"
    )
    variants = {"baseline": baseline_sql(baseline), "new": _segment.scored_spans_sql}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, sql in variants.items():  # interleaved, so a busy moment hits both
            rq.scored_spans_sql = sql  # type: ignore[assignment]
            tq.scored_spans_sql = sql  # type: ignore[assignment]
            t0 = time.perf_counter()
            rq.score_summaries(store, "default", cohorts, {}, True, 0.5)
            t1 = time.perf_counter()
            tq.score_trends(
                store,
                "default",
                name="quality",
                interval="1d",
                since=NOW - timedelta(days=14),
                until=NOW,
                group_by=["prompt_version"],
                filters={},
                pass_threshold=0.5,
            )
            times[name].append((t1 - t0, time.perf_counter() - t1))
    medians = {n: [statistics.median(t[i] for t in ts) for i in (0, 1)] for n, ts in times.items()}
    print(f"{3 * spans_per_cohort} spans and scores, median of {repeats}:")
    for name, (summaries, trends) in medians.items():
        print(f"  {name:8}  score_summaries {summaries:.3f} s   score_trends {trends:.3f} s")
    ratio = [medians["new"][i] / medians["baseline"][i] for i in (0, 1)]
    print(f"  new/baseline  score_summaries x{ratio[0]:.2f}   score_trends x{ratio[1]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000, help="calls per cohort (three cohorts)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", default="6ce68e9", help="commit of the baseline rule")
    args = parser.parse_args()
    main(args.spans, args.repeats, args.baseline)
