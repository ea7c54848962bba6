"""The demo's story as data: one service, four workloads, and what changes when.

*acme-assistant* is a support product. Over the last week it:

- summarizes support tickets (prompt ``summarize``, OpenAI ``gpt-4o-mini``). Version 2 of the
  prompt went live 72 hours ago: longer instructions with worked examples, so every call costs
  more — and an LLM judge scores its summaries lower.
- answers chat questions (prompt ``chat``, Anthropic ``claude-haiku-4-5``, streamed, with a
  cached system prompt). In the last 24 hours users started pasting whole e-mail threads:
  input lengths drifted.
- embeds help-centre articles (prompt ``index``, ``text-embedding-3-small``).
- runs a research agent (prompt ``research``, ``claude-opus-4-1``): a couple of calls an hour,
  until, right now, a runaway loop stuffs huge contexts into dozens of calls: a cost spike.

Request bodies are built here, once, for both the live calls (real SDK clients) and the
backfilled history (the same bodies answered by the fake provider's behaviour model), so the
two are alike by construction.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

SERVICE = "acme-assistant"
ENVIRONMENT = "production"
HISTORY_HOURS = 168  # one week of backfilled traffic
V2_ROLLOUT_HOURS_AGO = 72  # summarize v2 serves everything newer than this
DRIFT_HOURS_AGO = 24  # chat inputs are longer in this most recent window

SUMMARIZE, CHAT, INDEX, RESEARCH = "summarize", "chat", "index", "research"


@dataclass(frozen=True, slots=True)
class Workload:
    """One kind of call the service makes."""

    prompt: str
    provider: str  # "openai" | "anthropic"
    model: str
    path: str  # the fake provider endpoint, for the backfill's outcome model
    per_hour: float  # mean backfilled calls per hour (a daily cycle modulates it)
    live_calls: int  # calls made through the real SDK clients during the demo
    stream: bool


WORKLOADS: tuple[Workload, ...] = (
    Workload(SUMMARIZE, "openai", "gpt-4o-mini", "/v1/chat/completions", 16.0, 360, False),
    Workload(CHAT, "anthropic", "claude-haiku-4-5", "/v1/messages", 14.0, 320, True),
    Workload(INDEX, "openai", "text-embedding-3-small", "/v1/embeddings", 6.0, 40, False),
    Workload(RESEARCH, "anthropic", "claude-opus-4-1", "/v1/messages", 2.0, 64, False),
)

_SUMMARIZE_V1 = "You are a support assistant. Summarize the ticket below in three short bullet points."
_SUMMARIZE_V2 = (
    "You are a senior support analyst. Write a summary of the ticket below for the account team. "
    "Rules: start with the customer's goal; list every commitment we made with its deadline; flag "
    "risk of churn as low, medium or high with one sentence of evidence; name the owner of each "
    "next step; keep the customer's own words for complaints; never invent order numbers. "
) + " ".join(
    f"Example {i}: ticket about a late refund for an annual plan upgrade; summary: goal refund, "
    f"commitment refund within five business days, risk medium because of two prior escalations, "
    f"owner billing team, next step confirm the bank transfer and follow up with the customer."
    for i in range(1, 8)
)
_CHAT_SYSTEM = (
    "You are Acme's help-desk assistant. Answer in a friendly, concise way, cite the help-centre "
    "article you used, and hand over to a human when the customer asks for a refund above $500. "
) * 10
_SENTENCES = (
    "The customer says order {n} arrived damaged and wants a replacement.",
    "They were charged twice for the {plan} plan this month.",
    "Our agent promised a callback before Friday but nobody called.",
    "The invoice for account {n} still shows the old billing address.",
    "They ask whether the {plan} plan includes priority support.",
    "The warehouse confirmed a delay of three days on shipment {n}.",
    "The customer threatens to cancel if the refund does not arrive this week.",
    "They would like to upgrade to the {plan} plan if we waive the setup fee.",
)
_PLANS = ("starter", "team", "business", "enterprise")


def diurnal(hour_of_day: float) -> float:
    """Traffic relative to the daily mean: a peak in the afternoon, a trough at night."""
    return 1.0 + 0.5 * math.sin(2 * math.pi * (hour_of_day - 9.0) / 24.0)


def _text(rng: random.Random, median_chars: float, sigma: float = 0.45) -> str:
    target = max(40, int(median_chars * math.exp(rng.gauss(0.0, sigma))))
    parts: list[str] = []
    size = 0
    while size < target:
        sentence = rng.choice(_SENTENCES).format(n=rng.randint(1000, 99999), plan=rng.choice(_PLANS))
        parts.append(sentence)
        size += len(sentence) + 1
    return " ".join(parts)


def prompt_version(prompt: str, hours_ago: float) -> str:
    """The prompt version serving at that time (only ``summarize`` has a second version)."""
    if prompt == SUMMARIZE:
        return "2" if hours_ago < V2_ROLLOUT_HOURS_AGO else "1"
    return "1"


def request(
    workload: Workload, rng: random.Random, hours_ago: float, *, spike: bool = False
) -> dict[str, Any]:
    """The request body (SDK keyword arguments) of one call made ``hours_ago`` hours ago."""
    if workload.prompt == SUMMARIZE:
        version = prompt_version(SUMMARIZE, hours_ago)
        system = _SUMMARIZE_V2 if version == "2" else _SUMMARIZE_V1
        return {
            "model": workload.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": _text(rng, 1800)},
            ],
            "max_tokens": 1500,
        }
    if workload.prompt == CHAT:
        # Users started pasting whole e-mail threads into the chat box a day ago.
        median = 2800 if hours_ago < DRIFT_HOURS_AGO else 800
        return {
            "model": workload.model,
            "max_tokens": 1024,
            "system": [{"type": "text", "text": _CHAT_SYSTEM, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": _text(rng, median, 0.5)}],
        }
    if workload.prompt == INDEX:
        return {"model": workload.model, "input": [_text(rng, 600) for _ in range(8)], "dimensions": 256}
    # research: a couple of focused calls an hour; the runaway loop stuffs ~100k characters in.
    context = _text(rng, 100_000 if spike else 8000, 0.2 if spike else 0.45)
    return {
        "model": workload.model,
        "max_tokens": 500,
        "messages": [{"role": "user", "content": f"Research question about our churn. Context:\n{context}"}],
    }


def quality(rng: random.Random, version: str) -> float:
    """The LLM judge's score of a summary in [0, 1]: version 2 is worse on average."""
    mean, sd = (0.76, 0.13) if version == "2" else (0.83, 0.10)
    return round(min(1.0, max(0.0, rng.gauss(mean, sd))), 3)


PASS_THRESHOLD = 0.7  # a summary scoring at least this is labelled "pass"
