"""Webhook delivery: a JSON POST (Slack-compatible ``text`` included), retried with backoff."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

TIMEOUT_S = 5.0


def post_webhook(
    url: str, payload: Mapping[str, Any], *, attempts: int = 3, backoff_s: float = 0.5
) -> tuple[bool, int, str]:
    """POST ``payload``; retry on errors and 5xx/429 after backoff_s, 2*backoff_s, ...

    Returns (delivered, attempts made, last error). A 4xx other than 429 is not retried: the
    receiver rejected the payload and will again.
    """
    body = json.dumps(payload, default=str).encode()
    error = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "llmtrace-alerts"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
            return True, attempt, ""
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code != 429:
                return False, attempt, error
        except (urllib.error.URLError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))[:300]
        if attempt < attempts:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    return False, attempts, error
