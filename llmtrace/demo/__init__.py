"""The `llmtrace demo` kit: a local fake LLM provider and a simulated service telling one story.

Nothing here is needed to use llmtrace; it exists so a newcomer can see every feature on their
own machine in about a minute, with the real ``openai`` and ``anthropic`` SDK clients and no
network beyond 127.0.0.1.
"""
