"""What every provider integration shares: patching, the per-call span, usage, cost and errors.

A provider module only knows its SDK's shapes: it turns request kwargs into start attributes and a
response (or a stream's chunks) into an `Outcome`. Everything that must behave the same for every
provider — when the span starts and ends, how usage is estimated when it is missing, how cost and
errors are recorded — lives here, so it is written (and tested) once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache, partial
from types import FunctionType
from typing import Any

import wrapt
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import _Span as SdkSpan
from opentelemetry.trace import Span, Status, StatusCode

from llmtrace._internal import active
from llmtrace._internal import semconv as sc
from llmtrace._internal.config import Settings, settings
from llmtrace._internal.content import capture_json, capture_text
from llmtrace._internal.finished_span import RecordingSpan, stored_as_is
from llmtrace._internal.guard import internal_error
from llmtrace._internal.pricing import PriceBook, provider_from_url

# Set while an llmtrace LLM span is current, so a helper that calls another patched method
# (openai `responses.stream` -> `create`, a framework calling the SDK) yields one span, not two.
_IN_CALL: ContextVar[bool] = ContextVar("llmtrace_in_llm_call", default=False)

# LLM calls a framework (LangChain, ...) started and offers to the provider call it is about to make:
# that provider call records onto the framework's span instead of starting a second one, so one
# model call is one span carrying both the framework's context and the provider's exact usage.
_OFFERED: ContextVar[list[LLMCall] | None] = ContextVar("llmtrace_offered_llm_calls", default=None)
_CLAIM_LOCK = threading.Lock()


def framework_provider(name: str) -> str:
    """gen_ai.provider.name for a framework's provider id (LangChain's ``ls_provider``, LiteLLM's
    route prefix, a LlamaIndex LLM class): ``semconv.PROVIDER_ALIASES``, as ingest maps names."""
    return sc.PROVIDER_ALIASES.get(name, name)


# A captured request text written later: (attribute key, encode to JSON text, the text).
LaterText = tuple[str, Callable[[str], str], str]

# Characters per token for estimates: the usual rule of thumb for English text with BPE tokenizers.
CHARS_PER_TOKEN = 4


class _State:
    """Whether wrappers record. Wrappers stay reachable after `uninstrument()` (a cached
    `with_raw_response` binding holds one), so each checks this flag and otherwise just calls through."""

    active = False


STATE = _State()


class LlmtraceWrapper(wrapt.FunctionWrapper):  # type: ignore[misc]
    """Our wrapper type: finding it on a method means "already instrumented, do not wrap again"."""


_patched: list[tuple[type, str, Any]] = []


def _our_wrapper(obj: Any) -> Any:
    """Our wrapper if ``obj`` is it (a `LlmtraceWrapper` or a `patch_function` replacement), or
    the bound form of it a foreign ``unwrap`` may leave behind."""
    if isinstance(obj, LlmtraceWrapper):
        return obj
    if type(obj) is FunctionType and obj.__dict__.get(_PLAIN_MARK):  # (a foreign proxy is no function)
        return obj
    parent = getattr(obj, "_self_parent", None)
    return parent if isinstance(parent, LlmtraceWrapper) else None


def _is_ours(obj: Any) -> bool:
    """True if `obj` is our wrapper or a foreign wrapper (e.g. official OTel) around ours."""
    for _ in range(8):
        if _our_wrapper(obj) is not None:
            return True
        obj = getattr(obj, "__wrapped__", None)
        if obj is None:
            return False
    return False


def _ours_inside(obj: Any) -> Any:
    """Our wrapper inside a chain of wrappers (``_is_ours(obj)`` is true)."""
    while True:
        ours = _our_wrapper(obj)
        if ours is not None:
            return ours
        obj = obj.__wrapped__


def patch(owner: type, name: str, wrapper: Callable[..., Any]) -> None:
    """Replace `owner.name` with our wrapper, once, remembering the original for `unpatch_all`."""
    _install(owner, name, lambda original: LlmtraceWrapper(original, wrapper))


_PLAIN_MARK = "_llmtrace_patch"


def patch_function(owner: type, name: str, make: Callable[[Any], Callable[..., Any]]) -> None:
    """`patch` with a plain function, ``make(original)``, instead of a wrapt wrapper: for a method
    called per streamed token, where binding a wrapper object on every call costs more than the
    work. Recognised as ours (idempotent, undone by `unpatch_all`) like a wrapper."""

    def replacement(original: Any) -> Callable[..., Any]:
        function = make(original)
        setattr(function, _PLAIN_MARK, True)
        setattr(function, "__wrapped__", original)  # noqa: B010  # what wrapt and functools set
        return function

    _install(owner, name, replacement)


def _install(owner: type, name: str, build: Callable[[Any], Any]) -> None:
    restore_buried()
    original = owner.__dict__.get(name)
    if original is None or _our_wrapper(original) is original:
        return  # absent, or patched by us already
    ours = _our_wrapper(original)
    if ours is not None:  # a bound form of ours that a foreign unwrap left: patch its function afresh
        original = ours.__wrapped__
    elif _is_ours(original):  # ours under a foreign wrapper: not again; restore once it is removed
        if not any(e[:2] == (owner, name) for e in _buried):
            _buried.append((owner, name, _ours_inside(original).__wrapped__))
        return
    setattr(owner, name, build(original))
    _patched.append((owner, name, original))


# Patches under a foreign wrapper at unpatch time: once that wrapper is removed (it puts ours back),
# ours is replaced by the original too, so it cannot come alive with another integration's enable().
_buried: list[tuple[type, str, Any]] = []


def unpatch_all() -> None:
    """Put every original back. A foreign wrapper stacked on ours stays; ours inside it is inert."""
    while _patched:
        owner, name, original = _patched.pop()
        current = owner.__dict__.get(name)
        if _our_wrapper(current) is not None:
            setattr(owner, name, original)
        elif _is_ours(current):
            _buried.append((owner, name, original))
    restore_buried()


def restore_buried() -> None:
    """Originals back where a foreign wrapper that sat on ours has since been removed."""
    for entry in list(_buried):
        owner, name, original = entry
        current = owner.__dict__.get(name)
        if _our_wrapper(current) is not None:
            setattr(owner, name, original)
        if not _is_ours(owner.__dict__.get(name)):
            _buried.remove(entry)


@dataclass(slots=True)
class TokenUsage:
    """Token counts with OTel semantics: cached and cache-write are subsets of input, reasoning of output."""

    input: int = 0
    output: int = 0
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0
    cache_write_1h: int = 0  # of cache_write, kept an hour (Anthropic's 1-hour TTL, priced higher)
    web_searches: int = 0  # searches of the provider's web search tool, priced per search


@dataclass(slots=True)
class Outcome:
    """What a response (or an accumulated stream) says, in provider-neutral form."""

    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    usage: TokenUsage | None = None
    output_chars: int = 0
    output_messages: list[dict[str, Any]] | None = None  # only built when content is captured
    # ``output_messages`` already encoded as JSON (a hot path's common shape); wins when set.
    output_json: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)  # provider-specific extras
    service_tier: str | None = None  # the tier that served the call (OpenAI's flex, priority): its price


class LLMCall:
    """One traced provider call: owns its span and ends it exactly once."""

    __slots__ = (
        "adopted",
        "capture",
        "claimed",
        "config",
        "ended",
        "estimate_input",
        "first_chunk_ns",
        "first_content_ns",
        "framework",
        "injected_usage",
        "later",
        "pending",
        "price_book",
        "provider",
        "provider_facts",
        "records_answer",
        "request_model",
        "span",
        "start_ns",
        "texts",
    )

    def __init__(
        self,
        span: Span,
        provider: str,
        request_model: str,
        capture: bool,
        estimate_input: Callable[[], int],
    ) -> None:
        self.span = span
        self.start_ns = time.perf_counter_ns()
        self.provider = provider
        self.request_model = request_model
        self.capture = capture
        self.estimate_input = estimate_input  # chars/4 of the request, computed only when needed
        self.ended = False
        self.first_chunk_ns = 0
        self.first_content_ns = 0
        self.injected_usage = False  # openai: we asked the stream for usage, so its usage chunk is ours
        self.price_book: PriceBook | None = None
        self.config: Settings | None = None  # the settings the call started under (content capture)
        # Request attributes not yet on the span: stored together with the outcome's, in one go.
        self.pending: dict[str, Any] | None = None
        # Captured request texts that cannot change (strings), each (key, encode, text): stored as
        # ``capture_text(encode(text))`` with the pending attributes (`_store_texts`), so on the
        # export thread when the outcome is read there (`finish_later`).
        self.texts: list[LaterText] | None = None
        self.adopted = False  # a provider call recording onto a framework's span (which ends it)
        self.claimed = False  # a framework call whose span a provider call took over
        self.framework: LLMCall | None = None  # an adopted call's framework call
        # A claimed framework call's attributes still to build, left by the provider call that
        # took it over (`finish_later`): built on the export thread once the framework ends the span.
        self.later: Callable[[], dict[str, Any] | None] | None = None
        # A framework call that records the answer it delivered itself (LangChain: its result),
        # so a provider stream it adopts need not rebuild it chunk by chunk (`leave_answer`) ...
        self.records_answer = False
        # ... and what that provider call then left it, recorded with its answer.
        self.provider_facts: Outcome | None = None

    def finish(self, outcome: Outcome, *, cancelled: bool = False) -> None:
        """Record `outcome` and end the span (no-op if it already ended)."""
        if self.ended:
            return
        self.ended = True
        try:
            _record_outcome(self, outcome, cancelled)
        finally:
            self._end()

    def finish_later(self, read: Callable[[LLMCall, Any], Outcome], result: Any, where: str) -> None:
        """`finish` with ``read(self, result)``, which reads the response into an `Outcome`.

        On llmtrace's own span (`finished_span.RecordingSpan`: nothing else reads it before
        export), the span ends now (a framework's span: when the framework ends it,
        `close_offered`) and the response is read and recorded on the export thread: the
        caller's thread keeps only what must happen during the call. ``read`` must then need
        nothing but the response and ``self`` (no request value that may have changed since).
        Otherwise (another processor, a framework's span) as `finish`. ``where``: names the
        place in internal-error logs.
        """
        if self.ended:
            return
        if type(self.span) is RecordingSpan:
            later = partial(_read_later, self, read, result, where)
            if not self.adopted:
                self.ended = True
                self.span.end_with(later)
                return
            framework = self.framework
            if framework is not None and not framework.ended:  # ended when its framework does
                self.ended = True
                framework.later = later
                return
        self.finish(read(self, result))

    def end_claimed(self) -> None:
        """End a framework call a provider call claimed (it recorded onto this span), building
        on the export thread what that call left for later (`finish_later`)."""
        self.ended = True
        later, self.later = self.later, None
        if later is not None:  # (set only on a `RecordingSpan`)
            self.span.end_with(later)  # type: ignore[attr-defined]
        else:
            self.span.end()

    def leave_answer(self, facts: Outcome, *, cancelled: bool = False) -> None:
        """End an adopted call whose framework records the answer it delivered (`records_answer`),
        leaving the framework what only the provider knows: ``facts`` (exact usage, response id
        and model, service tier), the request's attributes, the provider's name and first-chunk
        times. The framework records them with its answer (`_outcome_attributes`), its span's one
        outcome; its error or cancellation, if the stream did not end, is the one the framework
        is handed (the provider's exception, or the caller's stopping). ``cancelled`` matters only
        when no framework call is left to record them.
        """
        if self.ended:
            return
        framework = self.framework
        if framework is None or framework.ended:  # nothing left to record them: record them here
            self.finish(facts, cancelled=cancelled)
            return
        self.ended = True
        framework.provider_facts = facts
        pending, self.pending = self.pending, None
        if pending:
            framework.pending = pending if not framework.pending else {**framework.pending, **pending}
        if self.texts:
            framework.texts = (framework.texts or []) + self.texts
            self.texts = None
        # The provider's names price the call (a compatible server under LangChain's "openai").
        framework.provider = self.provider
        framework.request_model = self.request_model or framework.request_model
        framework.first_chunk_ns = self.first_chunk_ns or framework.first_chunk_ns
        framework.first_content_ns = self.first_content_ns or framework.first_content_ns

    def fail(self, exc: BaseException, outcome: Outcome | None = None) -> None:
        """Record a provider error (and whatever partial output there was) and end the span."""
        if self.ended:
            return
        self.ended = True
        try:
            span = self.span
            if outcome is not None and (outcome.output_chars or outcome.usage is not None):
                _record_outcome(self, outcome, False)
            span.set_attribute(sc.ERROR_TYPE, type(exc).__name__)
            status = getattr(exc, "status_code", None)
            if status is None:  # google-genai's APIError names it ``code``
                status = getattr(exc, "code", None)
            if isinstance(status, int) and 100 <= status <= 599:
                span.set_attribute(sc.HTTP_RESPONSE_STATUS_CODE, status)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:2048]))
        finally:
            self._end()

    def end_quietly(self) -> None:
        """End the span after an internal error, so no span is ever left open."""
        if not self.ended:
            self.ended = True
            self._end()

    def _end(self) -> None:
        """End the span, first storing request attributes still pending (the outcome's recording
        stores them with its own; they are left over only when it did not run or failed)."""
        try:
            pending = _leftover_attributes(self, "call.end")
            if pending:
                set_attributes(self.span, pending)
        finally:
            if not self.adopted:
                self.span.end()


@lru_cache(maxsize=64)
def endpoint_facts(base_url: str, default_provider: str) -> tuple[str, dict[str, Any]]:
    """(provider, server.address/port attributes) of a client's base URL; cached per URL."""
    provider = provider_from_url(base_url, default_provider)
    scheme, _, rest = base_url.partition("://")
    host, _, port = rest.split("/", 1)[0].partition(":")
    attrs: dict[str, Any] = {sc.SERVER_ADDRESS: host}
    attrs[sc.SERVER_PORT] = int(port) if port.isdigit() else (443 if scheme == "https" else 80)
    return provider, attrs


# id(base URL object) -> (that object, default provider, facts). ``str(httpx.URL)`` costs
# microseconds, so a client's facts are looked up by the identity of its URL object (a new
# ``base_url`` is a new object); holding the object keeps its id from being reused.
_CLIENT_FACTS: dict[int, tuple[Any, str, tuple[str, dict[str, Any]]]] = {}


def client_facts(client: Any, default_provider: str) -> tuple[str, dict[str, Any]]:
    """`endpoint_facts` of an SDK client's ``base_url``, cached per URL object. Copy the dict."""
    # The attribute behind the ``base_url`` property (openai's property imports a module per call).
    url = getattr(client, "_base_url", None)
    if url is None:
        url = client.base_url
    entry = _CLIENT_FACTS.get(id(url))
    if entry is None or entry[0] is not url or entry[1] != default_provider:
        if len(_CLIENT_FACTS) >= 256:
            _CLIENT_FACTS.clear()
        entry = _CLIENT_FACTS[id(url)] = (url, default_provider, endpoint_facts(str(url), default_provider))
    return entry[2]


# Attributes the OTel GenAI conventions list as sampling-relevant (given to a foreign sampler).
_SAMPLING_KEYS = (
    sc.GEN_AI_OPERATION_NAME,
    sc.GEN_AI_PROVIDER_NAME,
    sc.LLMTRACE_SPAN_KIND,
    sc.GEN_AI_REQUEST_MODEL,
    sc.SERVER_ADDRESS,
    sc.SERVER_PORT,
)


def offer(call: LLMCall) -> None:
    """Let the next provider call in this context record onto framework call ``call``'s span.

    The list is replaced, never changed in place: a context copied earlier (a thread of a
    ``batch``) keeps its own, so a provider call only ever claims a call offered in its context.
    """
    offered = _OFFERED.get() or []
    _OFFERED.set([c for c in offered if not c.ended and not c.claimed] + [call])


def withdraw(call: LLMCall) -> None:
    """``call`` (offered) ends: no provider call may take it over any more."""
    offered = _OFFERED.get()
    if offered and call in offered:
        _OFFERED.set([c for c in offered if c is not call])


def close_offered(call: LLMCall) -> bool:
    """Framework call ``call`` (offered) ends: withdraw it, and if a provider call claimed it (so
    recorded its usage, response or error onto the span), end the span and return True; False
    leaves the framework to record its own outcome (with the facts a provider call left it,
    `LLMCall.leave_answer`)."""
    offered = _OFFERED.get()
    if offered and call in offered:  # (`withdraw`, written out: this runs at every model call's end)
        _OFFERED.set([c for c in offered if c is not call])
    if not call.claimed or call.provider_facts is not None:
        return False
    call.end_claimed()
    return True


def capture_request_messages(call: LLMCall, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A framework call's request, as OTel GenAI messages, onto its pending attributes (content
    capture): system parts as ``gen_ai.system_instructions``, the rest as ``gen_ai.input.messages``.
    Returns the pending attributes, for the caller to add to."""
    config = call.config or settings()
    attrs = call.pending if call.pending is not None else {}
    system = [p for m in messages if m["role"] == "system" for p in m["parts"]]
    if system:
        attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_json(system, config)
    attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json([m for m in messages if m["role"] != "system"], config)
    call.pending = attrs
    return attrs


def _claim() -> LLMCall | None:
    """The first call offered in this context that is still open, now claimed (at most once)."""
    offered = _OFFERED.get()
    if not offered:
        return None
    with _CLAIM_LOCK:
        for call in offered:
            if not call.ended and not call.claimed:
                call.claimed = True
                return call
    return None


def start_call(
    *,
    operation: str,
    provider: str,
    request_model: str,
    kind: str,
    attributes: dict[str, Any],
    capture: bool,
    estimate_input: Callable[[], int],
    config: Settings | None = None,
    context: Context | None = None,
    offerable: bool = False,
    texts: list[LaterText] | None = None,
) -> LLMCall:
    """Start the CLIENT span `{operation} {model}` with the sampling-relevant attributes set up front.

    The other request attributes wait in ``call.pending`` and reach the span together with the
    outcome's when the call ends (one store instead of two on the hot path); nothing reads a live
    LLM span's attributes before then, and every way of ending stores them.
    """
    attributes[sc.GEN_AI_OPERATION_NAME] = operation
    attributes[sc.GEN_AI_PROVIDER_NAME] = provider
    attributes[sc.LLMTRACE_SPAN_KIND] = kind
    if request_model:
        attributes[sc.GEN_AI_REQUEST_MODEL] = request_model
    if config is None:
        config = settings()
    name = f"{operation} {request_model}" if request_model else operation
    framework = None if offerable or not _OFFERED.get() else _claim()
    if framework is not None:
        call = _adopt(
            framework, name, provider, request_model, kind, attributes, capture, estimate_input, config
        )
        call.texts = texts
        return call
    span = active.start_client_span(name, context, attributes, _SAMPLING_KEYS)
    call = LLMCall(span, provider, request_model, capture, estimate_input)
    call.pending = attributes
    call.texts = texts
    call.price_book = config.price_book
    call.config = config
    return call


def _adopt(
    framework: LLMCall,
    name: str,
    provider: str,
    request_model: str,
    kind: str,
    attributes: dict[str, Any],
    capture: bool,
    estimate_input: Callable[[], int],
    config: Settings,
) -> LLMCall:
    """A provider call on the framework's span: the framework's attributes first, the provider's
    (exact usage, cost, response) over them when it ends; the framework still ends the span."""
    span = framework.span
    pending, framework.pending = framework.pending, None
    if pending:
        set_attributes(span, pending)
    span.update_name(name)
    call = LLMCall(span, provider, request_model, capture, estimate_input)
    call.adopted = True
    call.framework = framework
    call.pending = attributes
    call.price_book = config.price_book
    call.config = config
    return call


def _record_outcome(call: LLMCall, outcome: Outcome, cancelled: bool) -> None:
    set_attributes(call.span, _outcome_attributes(call, outcome, cancelled))


def _outcome_attributes(call: LLMCall, outcome: Outcome, cancelled: bool) -> dict[str, Any]:
    """The attributes still to store when ``call`` ends with ``outcome``: the request's pending
    ones and the outcome's, in one dict (``call.pending`` is then cleared)."""
    # One dict: the request's pending attributes, filled in place with the outcome's (which win on
    # a shared key, as they are written after); without pending ones, the outcome's own (this call's
    # and recorded once). ``call.pending`` is cleared only once it is complete: an error half-way
    # leaves `_end` to store what there is.
    if call.provider_facts is not None:
        outcome = _with_provider_facts(outcome, call.provider_facts)
    attrs = call.pending
    if attrs is None:
        attrs = outcome.attributes
    elif outcome.attributes:
        attrs.update(outcome.attributes)
    if outcome.response_id:
        attrs[sc.GEN_AI_RESPONSE_ID] = outcome.response_id
    if outcome.response_model:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = outcome.response_model
    if outcome.finish_reasons:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(outcome.finish_reasons)  # as the SDK stores it
    usage = outcome.usage
    if usage is None:
        # Never a silent 0: estimate from the text we saw and say so.
        usage = TokenUsage(
            input=_tokens_from_chars(call.estimate_input()),
            output=_tokens_from_chars(outcome.output_chars),
        )
        attrs[sc.LLMTRACE_USAGE_SOURCE] = sc.USAGE_ESTIMATED
    else:
        attrs[sc.LLMTRACE_USAGE_SOURCE] = sc.USAGE_REPORTED
    attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input
    attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output
    if usage.cached:
        attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cached
    if usage.cache_write:
        attrs[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_write
    if usage.reasoning:
        attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning
    if usage.web_searches:
        attrs[sc.LLMTRACE_USAGE_WEB_SEARCHES] = usage.web_searches
    attrs[sc.LLMTRACE_OUTPUT_CHARS] = outcome.output_chars
    if call.first_chunk_ns:
        attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (call.first_chunk_ns - call.start_ns) / 1e9
    if call.first_content_ns:
        attrs[sc.LLMTRACE_TTFT_MS] = (call.first_content_ns - call.start_ns) / 1e6
    book = call.price_book
    if book is not None:
        model = outcome.response_model or call.request_model
        cost = _book_cost(book, call.provider, model, usage, outcome.service_tier)
        if cost is None and model != call.request_model and call.request_model:
            # a snapshot the data lacks
            cost = _book_cost(book, call.provider, call.request_model, usage, outcome.service_tier)
        if cost is not None:
            attrs[sc.LLMTRACE_COST_USD] = cost
    if cancelled:
        attrs[sc.LLMTRACE_STATUS] = sc.STATUS_CANCELLED
    # The texts last: a redactor that fails costs the texts it did not write, nothing else.
    if outcome.tool_calls:
        attrs[sc.LLMTRACE_TOOL_CALLS] = _tool_calls_json(call, outcome.tool_calls)
    if call.capture:
        if outcome.output_json is not None:
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = capture_text(outcome.output_json, call.config)
        elif outcome.output_messages is not None:
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = capture_json(outcome.output_messages, call.config)
    if call.texts:
        _store_texts(call, attrs)
    call.pending = None
    return attrs


def _with_provider_facts(answer: Outcome, facts: Outcome) -> Outcome:
    """A framework's ``answer`` with what its provider call knew better (`LLMCall.leave_answer`)."""
    answer.response_id = facts.response_id or answer.response_id
    answer.response_model = facts.response_model or answer.response_model
    if facts.usage is not None:
        answer.usage = facts.usage
    if facts.service_tier:
        answer.service_tier = facts.service_tier
    if facts.attributes:
        answer.attributes = {**answer.attributes, **facts.attributes}
    return answer


def _store_texts(call: LLMCall, attrs: dict[str, Any]) -> dict[str, Any]:
    """``call.texts`` encoded and captured into ``attrs`` (then cleared); returns ``attrs``."""
    texts, call.texts = call.texts, None
    for key, encode, text in texts or ():
        attrs[key] = capture_text(encode(text), call.config)
    return attrs


def _read_later(
    call: LLMCall, read: Callable[[LLMCall, Any], Outcome], result: Any, where: str
) -> dict[str, Any] | None:
    """`LLMCall.finish_later`'s work on the export thread: the response read and its attributes
    (with the request's); after an internal error, what is pending, as `LLMCall.end_quietly` stores."""
    try:
        return _outcome_attributes(call, read(call, result), False)
    except Exception as exc:
        internal_error(where, exc)
    return _leftover_attributes(call, where)


def _leftover_attributes(call: LLMCall, where: str) -> dict[str, Any] | None:
    """The request's attributes still pending when a call ends without its outcome recorded (an
    error, an internal failure), its texts included; then none are pending."""
    pending, call.pending = call.pending, None
    if call.texts:
        try:
            pending = _store_texts(call, {} if pending is None else pending)
        except Exception as exc:  # the redactor's: the rest is still stored
            internal_error(where, exc)
    return pending


def set_attributes(span: Span, attrs: dict[str, Any]) -> None:
    """``span.set_attributes(attrs)`` without the SDK's per-value cleaning when it would change nothing.

    The OpenTelemetry SDK re-validates every value (four ``isinstance`` checks and a lock per
    attribute, a third of a call's overhead). Values llmtrace builds are already valid: strings,
    numbers, booleans, lists of strings. For a plain SDK span with no attribute-length limit and
    room under its count limit, the values are checked here in one cheap pass and stored exactly as
    the SDK would store them (lists as tuples); anything else takes the public API.
    """
    if type(span) is SdkSpan:
        try:
            if _store_unchecked(span, attrs):
                return
        except AttributeError:  # the SDK renamed its internals: the public path still works
            pass
    span.set_attributes(attrs)  # public path (also warns about an ended span)


def _store_unchecked(span: Any, attrs: dict[str, Any]) -> bool:
    bounded = span._attributes
    if type(bounded) is not BoundedAttributes or bounded.max_value_len is not None or bounded._immutable:
        return False
    maxlen = bounded.maxlen
    if maxlen is not None and len(bounded._dict) + len(attrs) > maxlen:
        return False
    if not stored_as_is(attrs):
        return False
    with span._lock:
        if span._end_time is not None:
            return False
        with bounded._lock:
            bounded._dict.update(attrs)
    return True


def _tool_calls_json(call: LLMCall, tool_calls: list[dict[str, Any]]) -> str:
    # Tool names always; arguments are user content, so they follow capture_content.
    if call.capture:
        return capture_json(tool_calls, call.config)
    return json.dumps([{k: v for k, v in t.items() if k != "arguments"} for t in tool_calls])


def _tokens_from_chars(chars: int) -> int:
    return (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _book_cost(
    book: PriceBook, provider: str, model: str, usage: TokenUsage, service_tier: str | None
) -> float | None:
    return book.cost_now(
        provider,
        model,
        usage.input,
        usage.output,
        usage.cached,
        usage.cache_write,
        usage.reasoning,
        usage.cache_write_1h,
        service_tier,
        usage.web_searches,
    )


def should_trace() -> bool:
    """False when uninstrumented or nested inside another llmtrace LLM call."""
    return STATE.active and not _IN_CALL.get()


def text_chars(value: Any) -> int:
    """Characters of text in a request value (messages, prompt, input), for usage estimates."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(text_chars(v) for k, v in value.items() if k in _TEXT_KEYS)
    if isinstance(value, list | tuple):
        return sum(text_chars(v) for v in value)
    return 0


# Keys of request dicts whose values hold the text a model reads.
_TEXT_KEYS = frozenset({"content", "text", "input", "arguments", "output", "thinking"})


def snapshot(kwargs: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``kwargs`` as they are now, for an input estimate made after the call, maybe on the export
    thread (`LLMCall.finish_later`): an app appends its next turns to the very list of messages it
    sent. The lists under ``keys`` are copied (their items are not)."""
    copy = dict(kwargs)
    for key in keys:
        value = copy.get(key)
        if type(value) is list:
            copy[key] = list(value)
    return copy


def materialize(kwargs: dict[str, Any], key: str) -> None:
    """Turn a one-shot iterator argument into a list so reading it for telemetry cannot consume it."""
    value = kwargs.get(key)
    if type(value) is not list and isinstance(value, Iterator):  # (a list, the usual case, never is)
        kwargs[key] = list(value)
