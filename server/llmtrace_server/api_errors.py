"""The API's answers to a request that failed validation (422) and to a store that failed (503).

FastAPI's own handler echoes each error's ``input`` back through ``jsonable_encoder`` and a strict
JSON encoder, so the inputs a client most needs told off broke it into a 500: a body that is not
UTF-8 (``bytes.decode`` fails), a number JSON cannot carry (``NaN`` and ``Infinity``, which
Python's parser accepts, fail the response's ``allow_nan=False``). Here those inputs are echoed as
text, and long ones cut, so the client learns what was wrong instead of getting an error of ours.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from llmtrace.store import StoreError
from llmtrace_server.routes._otlp_http import RETRY_AFTER_S  # as the OTLP endpoints answer an outage

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


def store_unavailable_response(exc: StoreError) -> JSONResponse:
    """503 with ``Retry-After``: the store refused or could not take a write (nothing of the
    request was written by then, or a retry is deduplicated); FastAPI would answer 500."""
    return JSONResponse(
        status_code=503,
        content={"detail": f"store unavailable: {exc}"},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )
