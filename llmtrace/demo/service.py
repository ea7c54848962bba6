"""The simulated service: real ``openai`` and ``anthropic`` clients, instrumented by llmtrace.

This is what a user's code looks like: handlers that call the provider SDKs, ``@llmtrace.trace``
on the ones worth a span of their own, ``llmtrace.context`` for who and which prompt version,
and ``llmtrace.score`` for an LLM judge's verdict. Only the provider is fake.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import llmtrace
from llmtrace.demo import scenario
from llmtrace.demo.overhead import Overhead


@dataclass(slots=True)
class LiveResult:
    calls: Counter[str] = field(default_factory=Counter)  # per prompt
    errors: Counter[str] = field(default_factory=Counter)  # per error class
    # per prompt: what the live calls took on the wall clock beyond the provider's planned times
    # (HTTP, SDK, threads); the backfill adds these so history and live calls are measured alike.
    overheads: dict[str, list[Overhead]] = field(default_factory=dict)


# The provider's planned (TTFT ms, latency ms) for a request, or None when it fails.
Planned = Callable[[scenario.Workload, dict[str, Any]], "tuple[float, float] | None"]


class Service:
    """acme-assistant's handlers, talking to ``openai_base_url`` / ``anthropic_base_url``."""

    def __init__(self, openai_base_url: str, anthropic_base_url: str, *, max_connections: int = 64) -> None:
        import anthropic
        import openai

        # The demo service does not retry, so every provider error shows up in the traces.
        self.openai = openai.OpenAI(base_url=openai_base_url, api_key="demo-key", max_retries=0)
        self.anthropic = anthropic.Anthropic(base_url=anthropic_base_url, api_key="demo-key", max_retries=0)
        self.api_errors: tuple[type[BaseException], ...] = (openai.APIError, anthropic.APIError)

    @llmtrace.trace(name="summarize_ticket")
    def summarize(self, body: dict[str, Any], version: str, judge: random.Random) -> str:
        result = self.openai.chat.completions.create(**body)
        summary = result.choices[0].message.content or ""
        # An LLM judge grades the summary; here its verdict is simulated, its recording is real.
        value = scenario.quality(judge, version)
        label = "pass" if value >= scenario.PASS_THRESHOLD else "fail"
        llmtrace.score("quality", value, label=label, source="llm_judge")
        return summary

    def chat(self, body: dict[str, Any], first_text_ns: list[int] | None = None) -> str:
        with self.anthropic.messages.stream(**body) as stream:
            parts = []
            for text in stream.text_stream:
                if first_text_ns is not None and not first_text_ns and text:
                    first_text_ns.append(time.perf_counter_ns())
                parts.append(text)
            return "".join(parts)

    def index(self, body: dict[str, Any]) -> int:
        return len(self.openai.embeddings.create(**body).data)

    def research(self, body: dict[str, Any]) -> str:
        message = self.anthropic.messages.create(**body)
        return "".join(getattr(block, "text", "") for block in message.content)

    def close(self) -> None:
        self.openai.close()
        self.anthropic.close()


def run(
    service: Service,
    *,
    seed: int,
    workers: int = 48,
    progress: Callable[[int, int], None] | None = None,
    planned: Planned | None = None,
) -> LiveResult:
    """Make every workload's live calls now, concurrently, like a busy service would.

    With ``planned``, each successful call's wall-clock time beyond the provider's planned
    TTFT and latency is kept in ``LiveResult.overheads``.
    """
    rng = random.Random(seed)
    jobs: list[tuple[scenario.Workload, dict[str, Any], random.Random]] = []
    for workload in scenario.WORKLOADS:
        for _ in range(workload.live_calls):
            body = scenario.request(workload, rng, 0.0, spike=workload.prompt == scenario.RESEARCH)
            jobs.append((workload, body, random.Random(rng.random())))
    rng.shuffle(jobs)
    result = LiveResult()
    lock = threading.Lock()

    def call(workload: scenario.Workload, body: dict[str, Any], own: random.Random) -> None:
        version = scenario.prompt_version(workload.prompt, 0.0)
        with llmtrace.context(
            user_id=f"user-{own.randrange(400)}",
            session_id=f"session-{own.randrange(10**9):09d}",
            prompt=workload.prompt,
            prompt_version=version,
        ):
            first_text_ns: list[int] = []
            started_ns = time.perf_counter_ns()
            try:
                if workload.prompt == scenario.SUMMARIZE:
                    service.summarize(body, version, own)
                elif workload.prompt == scenario.CHAT:
                    service.chat(body, first_text_ns)
                elif workload.prompt == scenario.INDEX:
                    service.index(body)
                else:
                    service.research(body)
            except service.api_errors as exc:  # recorded on the span by llmtrace; the service carries on
                with lock:
                    result.errors[type(exc).__name__] += 1
            else:
                took_ms = (time.perf_counter_ns() - started_ns) / 1e6
                plan = planned(workload, body) if planned is not None else None
                if plan is not None:
                    ttft = (first_text_ns[0] - started_ns) / 1e6 - plan[0] if first_text_ns else None
                    overhead = Overhead(plan[0], plan[1], ttft, took_ms - plan[1])
                    with lock:
                        result.overheads.setdefault(workload.prompt, []).append(overhead)
        with lock:
            result.calls[workload.prompt] += 1

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acme-worker") as pool:
        futures = [pool.submit(call, *job) for job in jobs]
        for done, future in enumerate(as_completed(futures), 1):
            future.result()
            if progress is not None:
                progress(done, len(jobs))
    return result
