"""Fixtures shared by every test: the `host` fixture runs a test once per host."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.live import LiveHost


@pytest.fixture(params=["deterministic", "live"])
def host(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The same behaviour test, on the deterministic host and on the live host.

    Both offer spawn/tell/ask/stop/settle/advance/actors; `advance(s)` lets s seconds pass
    (virtual on one, real on the other), so timings in these tests are kept short."""
    if request.param == "deterministic":
        yield DeterministicHost(seed=7)
    else:
        live = LiveHost(seed=7).start()
        try:
            yield live
        finally:
            live.close(timeout=2.0)


@pytest.fixture
def deterministic() -> DeterministicHost:
    return DeterministicHost(seed=7)


@pytest.fixture
def live() -> Iterator[LiveHost]:
    host = LiveHost(seed=7).start()
    try:
        yield host
    finally:
        host.close(timeout=2.0)
