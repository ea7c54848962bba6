"""The API's answers to a request that failed validation (422) and to a store that failed (503).

FastAPI's own handler echoes each error's ``input`` back through ``jsonable_encoder`` and a strict
JSON encoder, so the inputs a client most needs told off broke it into a 500: a body that is not
UTF-8 (``bytes.decode`` fails), a number JSON cannot carry (``NaN`` and ``Infinity``, which
Python's parser accepts, fail the response's ``allow_nan=False``). Here those inputs are echoed as
text, and long ones cut, so the client learns what was wrong instead of getting an error of ours.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from llmtrace.store import StoreError
from llmtrace_server.routes._otlp_http import RETRY_AFTER_S  # as the OTLP endpoints answer an outage

log = logging.getLogger(__name__)

# "Code: 60. DB::Exception: ... (UNKNOWN_TABLE)", over HTTP followed by "(version 24.8.1.1)"
_CLICKHOUSE_CODE = re.compile(r"\(([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{3,})\)")

# What a request may fail with when the store (not the request) is at fault: answered 503.
STORE_FAILURES: tuple[type[Exception], ...] = (StoreError, ClickHouseError)

# An input echoed back is cut to this many characters: a rejected 10 MB body is not sent back.
ECHO_CHARS = 1_000


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """422 with ``{"detail": [...]}`` as FastAPI gives it, every value JSON can carry."""
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(_encodable(exc.errors()))})


def _encodable(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + "…"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf"
    if isinstance(value, dict):
        return {key: _encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(item) for item in value]
    return value


def store_unavailable_response(exc: Exception) -> JSONResponse:
    """503 with ``Retry-After``: the store refused or could not take a write (nothing of the
    request was written by then, or a retry is deduplicated), or could not answer a read;
    FastAPI would answer 500."""
    return JSONResponse(
        status_code=503,
        content={"detail": store_unavailable_text(exc)},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def store_unavailable_text(exc: Exception) -> str:
    """What a client is told of a store failure.

    A :class:`StoreError` says it for users already. A ClickHouse error (a read the store could
    not answer: unreachable, out of memory, a table gone) quotes the query; the client gets its
    code (``UNKNOWN_TABLE``, ``MEMORY_LIMIT_EXCEEDED``) and the log the rest with the traceback,
    as it may also be a defect of ours.
    """
    if not isinstance(exc, ClickHouseError):
        return f"store unavailable: {exc}"
    log.error("the store failed a request: %s", exc, exc_info=exc)
    codes = _CLICKHOUSE_CODE.findall(str(exc))
    return f"store unavailable: {codes[-1] if codes else type(exc).__name__}; see the server log"
