"""The drift report's score names (:func:`llmtrace.store.queries.drift.score_names`): the names of
the scores in a window by score timestamp, each score counted at its latest value. A guard for a
cheaper rewrite of its FINAL read: a re-score outside the window, in another month's partition,
must still replace the value it follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from llmtrace.store import Store
from llmtrace.store.queries.drift import score_names
from tests.store.test_scored_calls import _score

MAY = datetime(2026, 5, 20, tzinfo=UTC)


def _at(trace: int, name: str, when: datetime, value: float = 0.5) -> dict[str, object]:
    return {**_score(trace, None, value, name=name), "timestamp": when}


def test_a_score_re_sent_after_the_window_in_a_later_month_is_not_counted(store: Store) -> None:
    store.insert_scores(
        [
            _at(1, "helpful", MAY),
            _at(2, "helpful", MAY + timedelta(hours=1)),
            _at(3, "toxic", MAY + timedelta(hours=2)),
            _at(4, "toxic", MAY - timedelta(days=30)),  # before the window
        ]
    )
    assert score_names(store, "default", MAY - timedelta(days=1), MAY + timedelta(days=1)) == [
        "helpful",
        "toxic",
    ]
    # Both "helpful" scores re-sent in June (another partition): in May's window their latest
    # values lie outside it, so only "toxic" had a score there.
    store.insert_scores(
        [_at(1, "helpful", MAY + timedelta(days=20), 0.9), _at(2, "helpful", MAY + timedelta(days=21))]
    )
    assert score_names(store, "default", MAY - timedelta(days=1), MAY + timedelta(days=1)) == ["toxic"]
    assert score_names(store, "default", MAY - timedelta(days=1), MAY + timedelta(days=30)) == [
        "helpful",
        "toxic",
    ]
