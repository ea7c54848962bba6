"""The limits' settings (issue 13): how they are read and what they mean."""

from __future__ import annotations

import pytest

from llmtrace_server.settings import Settings


def test_the_project_share_applies_only_when_keys_map_to_several_projects() -> None:
    assert Settings().ingest_per_project is None  # keyless: one project takes the whole capacity
    one = Settings(api_keys=["key-one-123:shop", "key-two-456:shop"])
    assert one.ingest_per_project is None
    two = Settings(api_keys=["key-one-123:shop", "key-two-456:bank"], ingest_queue=16, ingest_concurrency=4)
    assert two.ingest_per_project == 10
    assert (
        Settings(api_keys=["key-one-123:a", "key-two-456:b"], ingest_project_share=1).ingest_per_project == 68
    )


def test_allowed_webhook_hosts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTRACE_ALLOW_WEBHOOK_HOSTS", " 127.0.0.1, [::1] ,Metadata.internal")
    monkeypatch.setenv("LLMTRACE_BODY_READ_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("LLMTRACE_MAX_SPAN_AGE_DAYS", "7")
    settings = Settings()
    assert settings.allow_webhook_hosts == ("127.0.0.1", "::1", "metadata.internal")
    assert (settings.body_read_timeout_seconds, settings.max_span_age_days) == (2.5, 7)


def test_unsafe_limits_are_refused() -> None:
    for bad in ({"body_read_timeout_seconds": 0}, {"ingest_project_share": 0}, {"ingest_project_share": 1.5}):
        with pytest.raises(ValueError):
            Settings(**bad)  # type: ignore[arg-type]
