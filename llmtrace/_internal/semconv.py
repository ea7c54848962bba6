"""Every span attribute name llmtrace writes or reads, in one place.

The SDK sets these names, the direct-store exporter and the server's OTLP ingest map them to
`spans` columns (``llmtrace.store.rows``); importing the same constants keeps the three from
drifting apart.

``gen_ai.*`` names follow the OpenTelemetry GenAI semantic conventions v1.41 (the last release
inside the core semconv repository). ``llmtrace.*`` names are our extensions. The ``*_COMPAT``
tuples list names other instrumentations emit for the same fact (older semconv releases, the
newer genai-repo names, OpenLLMetry, OpenInference); ingest reads them in order after ours.
"""

from __future__ import annotations

from typing import Final

SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.41.0"
INSTRUMENTATION_SCOPE: Final = "llmtrace"

# --- Resource and general conventions -------------------------------------------------------
SERVICE_NAME: Final = "service.name"
DEPLOYMENT_ENVIRONMENT: Final = "deployment.environment.name"
DEPLOYMENT_ENVIRONMENT_COMPAT: Final = ("deployment.environment",)
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
CODE_FUNCTION_NAME: Final = "code.function.name"  # the traced function of an @llmtrace.trace span

# --- GenAI client spans (semconv v1.41) -----------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # deprecated in v1.37, still emitted by many peers
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"

GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"  # requested dimensions

GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"  # seconds

GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

# Opt-in content attributes: JSON strings on spans (structured values are allowed by the spec,
# but JSON strings are what every backend can read).
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"

# GenAI events: OTLP log records (POST /v1/logs) carrying a call's content for the span they
# reference. The current event holds every message as attributes; the older per-message events
# (semconv <= 1.36) hold one message each in the body.
GEN_AI_INFERENCE_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"
GEN_AI_INPUT_MESSAGE_EVENTS: Final = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
GEN_AI_CHOICE_EVENT: Final = "gen_ai.choice"
EVENT_NAME: Final = "event.name"  # the event's name as an attribute (older OTLP senders)

# Operation names (gen_ai.operation.name well-known values).
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_EXECUTE_TOOL: Final = "execute_tool"

# --- Compatibility names read at ingest (first match wins, after the v1.41 name) -------------
GEN_AI_PROVIDER_NAME_COMPAT: Final = (GEN_AI_SYSTEM, "llm.provider", "llm.system")
# Other names of a provider (lowercased) -> its gen_ai.provider.name, the OTel well-known value:
# frameworks' provider ids (LangChain's ``ls_provider``, LiteLLM's route prefix, a LlamaIndex LLM
# class), OpenInference's ``llm.provider`` and older instrumentations' ``gen_ai.system``. A name
# not listed is its own (``openai``, ``anthropic``, ``groq``, ...).
PROVIDER_ALIASES: Final = {
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "azureopenai": "azure.ai.openai",
    "google": "gcp.gen_ai",  # OpenInference: any Google endpoint, as semconv's gcp.gen_ai
    "google_genai": "gcp.gemini",
    "googlegenai": "gcp.gemini",
    "gemini": "gcp.gemini",
    "google_vertexai": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "vertex": "gcp.vertex_ai",
    "aws": "aws.bedrock",  # OpenInference
    "amazon_bedrock": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "bedrockconverse": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "together_ai": "together",
    "togetherllm": "together",
    "fireworks_ai": "fireworks",
    "ollama_chat": "ollama",
    "hosted_vllm": "vllm",
    "watsonx": "ibm.watsonx.ai",
}
GEN_AI_REQUEST_MODEL_COMPAT: Final = (
    "llm.request.model",  # OpenLLMetry < 0.46
    "llm.request.model_name",  # OpenInference (anthropic)
)
# OpenInference's llm.model_name is the model that answered (a dated snapshot for OpenAI); the
# requested one is in its invocation parameters (LLM_INVOCATION_PARAMETERS_NAMES).
GEN_AI_RESPONSE_MODEL_COMPAT: Final = (
    "llm.response.model",  # OpenLLMetry < 0.46
    "llm.response.model_name",  # OpenInference (anthropic)
    "llm.model_name",  # OpenInference
    "embedding.model_name",  # OpenInference embeddings
)
GEN_AI_USAGE_INPUT_TOKENS_COMPAT: Final = (
    "gen_ai.usage.prompt_tokens",  # semconv < 1.27
    "llm.usage.prompt_tokens",  # OpenLLMetry
    "llm.token_count.prompt",  # OpenInference
)
GEN_AI_USAGE_OUTPUT_TOKENS_COMPAT: Final = (
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
    "llm.token_count.completion",
)
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_COMPAT: Final = (
    "gen_ai.usage.cache_read_input_tokens",  # OpenLLMetry
    "llm.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",  # OpenInference
)
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS_COMPAT: Final = (
    "gen_ai.usage.cache_write.input_tokens",  # genai-repo dev head (#440)
    "gen_ai.usage.cache_creation_input_tokens",  # OpenLLMetry
    "llm.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",  # OpenInference
)
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS_COMPAT: Final = (
    "gen_ai.usage.reasoning_tokens",
    "llm.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",  # OpenInference
)
# A call's total tokens, as OpenLLMetry (both names) and OpenInference send it; not a column.
USAGE_TOTAL_TOKENS_NAMES: Final = (
    "gen_ai.usage.total_tokens",
    "llm.usage.total_tokens",
    "llm.token_count.total",
)
GEN_AI_RESPONSE_FINISH_REASONS_COMPAT: Final = (
    "llm.response.finish_reason",
    "llm.finish_reason",  # OpenInference
    "llm.response.stop_reason",  # OpenLLMetry < 0.46 (Anthropic)
)

# OpenLLMetry (traceloop) extras.
TRACELOOP_SPAN_KIND: Final = "traceloop.span.kind"
TRACELOOP_ENTITY_NAME: Final = "traceloop.entity.name"
TRACELOOP_ENTITY_INPUT: Final = "traceloop.entity.input"
TRACELOOP_ENTITY_OUTPUT: Final = "traceloop.entity.output"
TRACELOOP_ASSOCIATION_PROPERTIES_PREFIX: Final = "traceloop.association.properties."
LLM_REQUEST_TYPE: Final = "llm.request.type"  # OpenLLMetry: chat / completion / embedding
GEN_AI_PROMPT_PREFIX: Final = "gen_ai.prompt."  # OpenLLMetry flattened messages: gen_ai.prompt.0.content
GEN_AI_COMPLETION_PREFIX: Final = "gen_ai.completion."

# OpenInference (Arize Phoenix).
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"  # LLM, EMBEDDING, CHAIN, TOOL, ...
INPUT_VALUE: Final = "input.value"
OUTPUT_VALUE: Final = "output.value"
LLM_MODEL_NAME: Final = "llm.model_name"
LLM_COST_TOTAL: Final = "llm.cost.total"
# JSON of the request's parameters: where OpenInference keeps the requested model.
LLM_INVOCATION_PARAMETERS_NAMES: Final = ("llm.invocation_parameters", "embedding.invocation_parameters")
OPENINFERENCE_INPUT_MESSAGES_PREFIX: Final = "llm.input_messages."  # llm.input_messages.0.message.role
OPENINFERENCE_OUTPUT_MESSAGES_PREFIX: Final = "llm.output_messages."
OPENINFERENCE_PROMPTS_PREFIX: Final = "llm.prompts."  # completions API: llm.prompts.0.prompt.text
OPENINFERENCE_EMBEDDINGS_PREFIX: Final = "embedding.embeddings."  # .N.embedding.text / .vector
OPENINFERENCE_FIRST_TOKEN_EVENT: Final = "First Token Stream Event"  # span event: its time is the TTFT

# Logfire (pydantic). A stream is two spans: the request (span_type "span", no usage) and a
# zero-length span_type "log" record at the stream's end with the usage, output and `duration`
# (seconds, from the first read of the stream).
LOGFIRE_SPAN_TYPE: Final = "logfire.span_type"
LOGFIRE_DURATION: Final = "duration"
GEN_AI_USAGE_RAW: Final = "gen_ai.usage.raw"  # Logfire: the provider's usage object as JSON

# --- llmtrace extensions ----------------------------------------------------------------------
LLMTRACE_PROJECT: Final = "llmtrace.project"
LLMTRACE_SPAN_KIND: Final = "llmtrace.span.kind"  # llm, embedding, span, tool, ...
LLMTRACE_PROMPT_NAME: Final = "llmtrace.prompt.name"
LLMTRACE_PROMPT_VERSION: Final = "llmtrace.prompt.version"
LLMTRACE_TAGS: Final = "llmtrace.tags"  # string[]
LLMTRACE_METADATA_PREFIX: Final = "llmtrace.metadata."  # llmtrace.metadata.<key>
LLMTRACE_COST_USD: Final = "llmtrace.cost.usd"
LLMTRACE_USAGE_SOURCE: Final = "llmtrace.usage.source"  # reported / estimated / none
LLMTRACE_USAGE_WEB_SEARCHES: Final = "llmtrace.usage.web_searches"  # the web search tool's searches (priced)
LLMTRACE_STATUS: Final = "llmtrace.status"  # set to "cancelled" for abandoned streams
LLMTRACE_TTFT_MS: Final = "llmtrace.ttft_ms"  # first *content* chunk, milliseconds
LLMTRACE_INPUT: Final = "llmtrace.input"  # captured arguments of a traced function (JSON)
LLMTRACE_OUTPUT: Final = "llmtrace.output"  # captured result of a traced function (JSON)
LLMTRACE_OUTPUT_CHARS: Final = "llmtrace.output.chars"  # length of the completion, even with content off
LLMTRACE_TOOL_CALLS: Final = "llmtrace.tool_calls"  # JSON list of {name, arguments, id}
LLMTRACE_SCORE_EVENT: Final = "llmtrace.score"  # span event name carrying a score
LLMTRACE_SCORE_NAME: Final = "llmtrace.score.name"
LLMTRACE_SCORE_VALUE: Final = "llmtrace.score.value"
LLMTRACE_SCORE_LABEL: Final = "llmtrace.score.label"
LLMTRACE_SCORE_COMMENT: Final = "llmtrace.score.comment"
LLMTRACE_SCORE_SOURCE: Final = "llmtrace.score.source"

# Values of columns with a closed set.
KIND_LLM: Final = "llm"
KIND_EMBEDDING: Final = "embedding"
KIND_SPAN: Final = "span"
KIND_TOOL: Final = "tool"
STATUS_OK: Final = "ok"
STATUS_ERROR: Final = "error"
STATUS_CANCELLED: Final = "cancelled"
USAGE_REPORTED: Final = "reported"
USAGE_ESTIMATED: Final = "estimated"
USAGE_NONE: Final = "none"

# --- Provider-specific (semconv v1.41 openai.md / anthropic.md), set by llmtrace.integrations ----
OPENAI_API_TYPE: Final = "openai.api.type"  # chat_completions | responses | completions | embeddings
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
# The names before semconv v1.37 (other instrumentations still send them).
OPENAI_RESPONSE_SERVICE_TIER_COMPAT: Final = ("gen_ai.openai.response.service_tier",)
OPENAI_REQUEST_SERVICE_TIER_COMPAT: Final = ("gen_ai.openai.request.service_tier",)
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"
ANTHROPIC_CACHE_CREATION_5M_INPUT_TOKENS: Final = "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
ANTHROPIC_CACHE_CREATION_1H_INPUT_TOKENS: Final = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"
ANTHROPIC_REQUEST_THINKING_BUDGET: Final = "anthropic.request.thinking.budget_tokens"

# --- Framework integrations (llmtrace.integrations: langchain, ...) ---------------------------
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
OP_RETRIEVAL: Final = "retrieval"  # semconv dev-head name for a retrieval (vector store) operation
KIND_CHAIN: Final = "chain"  # a framework step: a LangChain chain, a LangGraph node or graph
KIND_RETRIEVER: Final = "retriever"
LANGCHAIN_RUN_NAME: Final = "langchain.run.name"  # the model's run name (the span is `chat <model>`)
LLAMAINDEX_COMPONENT: Final = "llama_index.component"  # the LLM class (the span is `chat <model>`)
LANGGRAPH_NODE: Final = "langgraph.node"
LANGGRAPH_STEP: Final = "langgraph.step"
LANGGRAPH_INTERRUPTED: Final = "langgraph.interrupted"  # the run stopped at an interrupt (not an error)
LLMTRACE_RETRIEVAL_COUNT: Final = "llmtrace.retrieval.count"  # documents a retriever returned
LLMTRACE_RETRIEVAL_IDS: Final = "llmtrace.retrieval.document_ids"  # string[]
LLMTRACE_RETRIEVAL_SCORES: Final = "llmtrace.retrieval.scores"  # double[], in document order
KIND_AGENT: Final = "agent"  # an agent run, or a whole agent workflow
KIND_GUARDRAIL: Final = "guardrail"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"  # a multi-agent run (an Agents SDK trace)
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
OPENAI_AGENTS_TOOLS: Final = "openai_agents.agent.tools"  # string[]: the agent's tool names
OPENAI_AGENTS_HANDOFFS: Final = "openai_agents.agent.handoffs"  # string[]: agents it may hand off to
OPENAI_AGENTS_HANDOFF_FROM: Final = "openai_agents.handoff.from_agent"
OPENAI_AGENTS_HANDOFF_TO: Final = "openai_agents.handoff.to_agent"
OPENAI_AGENTS_GUARDRAIL_TRIGGERED: Final = "openai_agents.guardrail.triggered"
OPENAI_AGENTS_TURN: Final = "openai_agents.turn"  # the turn number within a run
MCP_METHOD_NAME: Final = "mcp.method.name"  # tools/call, resources/read, prompts/get (MCP semconv)
MCP_RESOURCE_URI: Final = "mcp.resource.uri"
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
