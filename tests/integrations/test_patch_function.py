"""`patch_function`: a plain-function patch is ours like a wrapt wrapper — once, undone, and
recognised under a foreign wrapper (the contract `patch` keeps, for the per-token hot path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import wrapt

from llmtrace.integrations import _common


class Target:
    def method(self, value: int) -> int:
        return value + 1


ORIGINAL = Target.__dict__["method"]


def _doubling(original: Callable[..., int]) -> Callable[..., int]:
    def method(self: Target, value: int) -> int:
        return 2 * original(self, value)

    return method


@pytest.fixture
def clean() -> Iterator[None]:
    assert not _common._patched, "another test left patches behind"
    yield
    _common.unpatch_all()
    Target.method = ORIGINAL  # type: ignore[method-assign]
    _common._buried.clear()


@pytest.mark.usefixtures("clean")
def test_patch_function_once_and_undone() -> None:
    _common.patch_function(Target, "method", _doubling)
    _common.patch_function(Target, "method", _doubling)  # already ours: not a second layer
    assert Target().method(1) == 4
    assert Target.__dict__["method"].__wrapped__ is ORIGINAL
    _common.unpatch_all()
    assert Target.__dict__["method"] is ORIGINAL
    assert Target().method(1) == 2


@pytest.mark.usefixtures("clean")
def test_patch_function_under_a_foreign_wrapper() -> None:
    _common.patch_function(Target, "method", _doubling)
    wrapt.wrap_function_wrapper(
        Target, "method", lambda wrapped, instance, args, kwargs: wrapped(*args) + 100
    )
    assert Target().method(1) == 104
    _common.patch_function(Target, "method", _doubling)  # ours is inside: not patched again
    assert Target().method(1) == 104
    _common.unpatch_all()  # the foreign wrapper stays, over ours (inert once removed)
    foreign: Any = Target.__dict__["method"]
    assert isinstance(foreign, wrapt.FunctionWrapper)
    Target.method = foreign.__wrapped__  # type: ignore[method-assign]  # the foreign wrapper goes
    _common.restore_buried()
    assert Target.__dict__["method"] is ORIGINAL
