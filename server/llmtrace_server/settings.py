"""Server settings: one ``BaseSettings`` read from arguments and ``LLMTRACE_*`` variables.

Unsafe combinations are refused when the settings are built, before anything binds a port: a
server reachable from other machines must either check API keys or be started with
``insecure=True`` (``--insecure``) on purpose.

Example::

    Settings(store="chdb:///var/lib/llmtrace", api_keys=["s3cret:shop"], host="0.0.0.0")
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_PROJECT = "default"
MAX_DEFAULT_DECODE_WORKERS = 4


def default_decode_workers() -> int:
    """One decode process per two usable CPUs, at most 4; none (decode in threads) on a single CPU.

    Decoding spans holds the GIL, so in the server process it would cap ingest at one core. Out
    of it, one worker is enough for two cores: the C reader decodes the common body in ~9 µs a
    span (one worker: ~110k spans/s) while the store takes ~60 µs a content-carrying span on the
    other threads. Each worker is a Python process of ~110 MB of its own (issue 14's memory
    budget: docs/scaling.md, "The writer's memory and one decode worker per two CPUs").
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(max(cpus // 2, 1), MAX_DEFAULT_DECODE_WORKERS) if cpus >= 2 else 0


class Settings(BaseSettings):
    """Everything ``llmtrace serve`` can be told; each field also reads ``LLMTRACE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="LLMTRACE_", extra="ignore", frozen=True)

    store: str | None = Field(
        default=None,
        description="Store DSN (chdb://PATH or clickhouse://...); None: $LLMTRACE_STORE or ~/.llmtrace/data.",
    )
    database: str | None = Field(default=None, description="Database name; None: the DSN's or 'llmtrace'.")
    host: str = "127.0.0.1"
    port: int = Field(default=7878, ge=0, le=65535)
    # KEY -> project. Given as "KEY[:PROJECT]" items (repeatable --api-key) or one
    # comma-separated LLMTRACE_API_KEYS string; a key without a project maps to "default".
    api_keys: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    insecure: bool = False
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0, description="Larger bodies get 413.")
    # Two per decode worker on a 2-core machine: a worker never waits while a result travels back.
    ingest_concurrency: int = Field(default=4, gt=0, description="Ingest requests decoding at once.")
    ingest_queue: int = Field(
        default=64, ge=0, description="Further ingest requests in flight; more get 503."
    )
    ingest_project_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Most of the ingest capacity (ingest_concurrency + ingest_queue) one project may "
        "hold when API keys map to several projects; its further requests get 503.",
    )
    read_concurrency: int = Field(
        default=4,
        gt=0,
        description="Query API and UI reads running at once; the callers take turns for more.",
    )
    body_read_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A request body not received within this time gets 408."
    )
    decode_workers: int = Field(
        default_factory=default_decode_workers,
        ge=0,
        description="Processes decoding OTLP bodies; 0 = threads of the server process. "
        "Default: one per two CPUs (at most 4) when there are two or more, else 0.",
    )
    insert_max_rows: int = Field(default=32_768, gt=0, description="Most spans one INSERT carries.")
    dedup_window_s: int = Field(default=900, ge=0, description="How long re-sent spans are recognised.")
    ingest_spool: bool = Field(
        default=True,
        description="Under load, acknowledge spans once they are in the spool directory and insert "
        "them within ingest_spool_delay_seconds as larger blocks (off: acknowledged means inserted).",
    )
    ingest_spool_dir: Path | None = Field(
        default=None,
        description="The spool directory; None: next to an embedded store's directory "
        "('<path>-ingest-spool/<database>'); a ClickHouse server's store has none unless one is named.",
    )
    ingest_spool_delay_seconds: float = Field(
        default=1.0, gt=0, le=4.0, description="Longest a spooled span waits for its INSERT."
    )
    evaluate_alerts: bool = Field(
        default=True,
        description="Evaluate alert rules in this process (turn off on all replicas but one; docs/scaling.md).",
    )
    alerts_interval_seconds: float = Field(
        default=60.0, gt=0, description="Seconds between alert evaluations."
    )
    # Hosts alert webhooks may reach although they resolve to loopback, private, link-local or
    # multicast addresses (refused by default: a rule's URL must not reach the server's network).
    # Repeatable --allow-webhook-host, or one comma-separated LLMTRACE_ALLOW_WEBHOOK_HOSTS string.
    allow_webhook_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    # None keeps the tables' TTLs (90 and 400 days on a fresh store); 0 keeps data forever.
    span_ttl_days: int | None = Field(default=None, ge=0)
    rollup_ttl_days: int | None = Field(default=None, ge=0)
    max_span_age_days: int | None = Field(
        default=None,
        ge=0,
        description="Spans that started longer ago are rejected (partial success). "
        "None: the spans table's retention (TTL); 0: no limit.",
    )
    max_future_skew_seconds: int = Field(
        default=86_400, ge=0, description="Spans that start further in the future are rejected."
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, value: Any) -> dict[str, str]:
        if value is None or isinstance(value, dict):
            return dict(value or {})
        items = value.split(",") if isinstance(value, str) else list(value)
        keys: dict[str, str] = {}
        for item in items:
            key, _, project = str(item).strip().partition(":")
            if not key:
                continue
            if len(key) < 8:
                raise ValueError("an API key must be at least 8 characters")
            keys[key] = project.strip() or DEFAULT_PROJECT
        return keys

    @field_validator("allow_webhook_hosts", mode="before")
    @classmethod
    def _parse_hosts(cls, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value or ())
        return tuple(h for h in (str(item).strip().strip("[]").lower() for item in items) if h)

    @model_validator(mode="after")
    def _refuse_open_bind(self) -> Settings:
        if not self.api_keys and not self.insecure and not is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on {self.host} without API keys: anyone who can reach it could "
                "read and write traces. Pass --api-key KEY[:PROJECT] (or LLMTRACE_API_KEYS), "
                "or --insecure if that is really what you want."
            )
        return self

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @property
    def ingest_per_project(self) -> int | None:
        """Ingest requests one project may have in flight; None (no cap) when there is one project."""
        if len(set(self.api_keys.values())) < 2:
            return None
        return max(1, int((self.ingest_concurrency + self.ingest_queue) * self.ingest_project_share))


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
