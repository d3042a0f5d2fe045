"""Fixtures for the engine's tests: one scripted model server per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine.fakes import Stage, stage


@pytest.fixture(scope="module")
def scripted() -> Iterator[Stage]:
    """The scripted server and a model on it, shared by the tests of one module (each sets its script)."""
    with stage() as running:
        yield running
