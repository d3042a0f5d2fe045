"""The retry table, the backoff and the retry loop, on real SDK exception objects."""

from __future__ import annotations

import json
import random
from types import ModuleType
from typing import Any, cast

import anthropic
import httpx2
import openai
import pytest
from structlog.testing import capture_logs

from agentd.intake.api import render_metrics
from agentd.kernel.errors import ModelHTTPError
from agentd.models import retry
from agentd.models.retry import (
    RULES,
    Backoff,
    ModelUnavailableError,
    call_with_retries,
    exported_errors,
    retry_after_s,
    retry_table,
    rule_for,
    sdk_modules,
)

EMPTY_STATS: dict[str, Any] = {
    "jobs": {},
    "tasks": {},
    "tool_calls": {},
    "input_tokens": 0,
    "output_tokens": 0,
    "model_calls": 0,
}


def status_error(sdk: str, status: int, headers: dict[str, str] | None = None, message: str = "boom") -> Exception:
    """A real SDK status error, built by the SDK's own status → class mapping."""
    request = httpx2.Request("POST", "http://127.0.0.1/v1")
    response = httpx2.Response(status, headers=headers or {}, request=request)
    client_class = openai.OpenAI if sdk == "openai" else anthropic.Anthropic
    client = client_class(api_key="k", base_url="http://127.0.0.1/v1")
    try:
        return client._make_status_error(message, body=None, response=response)
    finally:
        client.close()


@pytest.mark.parametrize("module", sdk_modules(), ids=lambda m: m.__name__)
def test_every_exported_sdk_exception_is_in_the_table(module: object) -> None:
    """Fails when an installed SDK exports an exception class the retry table does not name."""
    missing = sorted(set(exported_errors(module)) - set(RULES))
    assert not missing, f"add these to agentd.models.retry.RULES: {missing}"
    assert all(cls in retry_table() for cls in exported_errors(module).values())


def test_the_table_names_nothing_the_sdks_lack() -> None:
    """Every name in the table is exported by at least one installed SDK (no stale entries)."""
    exported = set().union(*(exported_errors(module) for module in sdk_modules()))
    assert sorted(set(RULES) - exported) == []


@pytest.mark.parametrize(
    ("sdk", "status", "action"),
    [
        ("openai", 429, "retry"),
        ("openai", 500, "retry"),
        ("openai", 401, "fail"),
        ("openai", 400, "fail"),
        ("openai", 404, "fail"),
        ("openai", 402, "fallback"),
        ("anthropic", 529, "retry"),
        ("anthropic", 503, "retry"),
        ("anthropic", 401, "fail"),
        ("anthropic", 413, "fallback"),
        ("anthropic", 402, "fallback"),
    ],
)
def test_status_errors_map_to_actions(sdk: str, status: int, action: str) -> None:
    """The SDKs' own status errors resolve to the intended action."""
    assert rule_for(status_error(sdk, status)).action == action


def test_unlisted_subclasses_resolve_through_their_base() -> None:
    """A subclass the table does not name, with no HTTP status, takes its nearest listed base's rule."""

    class NewClientError(openai.OpenAIError):
        pass

    assert rule_for(NewClientError("bad config")) == RULES["OpenAIError"]
    assert rule_for(ValueError("x")).action == "fail"


def _planted(sdk: ModuleType, base: str, name: str) -> type[Exception]:
    """A class a newer SDK might export, planted under the SDK's own module so agentd sees it as the SDK's."""
    planted = type(name, (getattr(sdk, base),), {"__module__": f"{sdk.__name__}._exceptions"})
    return cast(type[Exception], planted)


def _request() -> httpx2.Request:
    return httpx2.Request("POST", "http://127.0.0.1/v1")


@pytest.mark.parametrize(
    ("sdk", "status", "action"),
    [
        (openai, 429, "retry"),
        (openai, 408, "retry"),
        (anthropic, 503, "retry"),
        (anthropic, 529, "retry"),
        (openai, 418, "fail"),
        (anthropic, 402, "fail"),
    ],
)
def test_an_unknown_status_error_is_classified_by_its_status(sdk: ModuleType, status: int, action: str) -> None:
    """A status error class the table does not name: 429, 408 and 5xx retry, any other 4xx fails."""
    cls = _planted(sdk, "APIStatusError", f"Planted{status}Error")
    response = httpx2.Response(status, request=_request())
    assert rule_for(cls("new", response=response, body=None)).action == action


@pytest.mark.parametrize("sdk", [openai, anthropic], ids=lambda m: m.__name__)
def test_unknown_transport_errors_retry_on_timeout_and_fall_back_on_connection(sdk: ModuleType) -> None:
    """An unnamed timeout class retries; an unnamed connection-error class falls back to the next model."""
    timeout = _planted(sdk, "APITimeoutError", "PlantedTimeoutError")
    connection = _planted(sdk, "APIConnectionError", "PlantedConnectionError")
    assert rule_for(timeout(request=_request())).action == "retry"
    assert rule_for(connection(request=_request())).action == "fallback"


def test_an_unknown_error_is_logged_once_and_counted() -> None:
    """Each unnamed SDK class is logged the first time only, and counted every time (for /metrics)."""
    cls = _planted(openai, "APIStatusError", "PlantedOnceError")
    error = cls("new", response=httpx2.Response(500, request=_request()), body=None)
    with capture_logs() as logs:
        for _ in range(3):
            rule_for(error)
    said = [e for e in logs if e["event"] == "model_error_unclassified"]
    assert len(said) == 1
    assert said[0]["error"] == "openai.PlantedOnceError"
    assert said[0]["action"] == "retry"
    assert retry.unclassified["openai.PlantedOnceError"] == 3
    assert 'agentd_model_errors_unclassified_total{error="openai.PlantedOnceError"} 3' in render_metrics(
        {**EMPTY_STATS, "unclassified_model_errors": dict(retry.unclassified)}
    )


def test_the_retry_loop_retries_then_falls_back_on_an_unknown_class() -> None:
    """A newer SDK's 503 class retries up to max_retries, then the model is given up for the fallback chain."""
    cls = _planted(anthropic, "APIStatusError", "PlantedOverloadError")
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        raise cls("busy", response=httpx2.Response(503, request=_request()), body=None)

    with pytest.raises(ModelUnavailableError, match="unclassified"):
        call_with_retries(call, label="models.x", max_retries=2, backoff=Backoff(0.0, 0.0), sleep=lambda _: None)
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({}, None),
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after_is_read_from_headers(headers: dict[str, str], expected: float | None) -> None:
    """Retry-After is read as seconds, milliseconds or a date (past dates mean now)."""
    assert retry_after_s(status_error("openai", 429, headers)) == expected


def test_backoff_is_full_jitter_and_capped() -> None:
    """Delays are uniform in [0, min(cap, base·2^n)]; a Retry-After wins but is capped too."""
    backoff = Backoff(base_s=1.0, cap_s=5.0)
    rng = random.Random(7)  # noqa: S311 - seeded, for a repeatable test
    for attempt in range(8):
        assert 0 <= backoff.delay(attempt, rng=rng) <= min(5.0, 2.0**attempt)
    assert backoff.delay(0, retry_after=3.0) == 3.0
    assert backoff.delay(0, retry_after=60.0) == 5.0


def test_retries_stop_at_max_and_say_fallback() -> None:
    """A retryable error that outlasts max_retries becomes ModelUnavailableError."""
    calls: list[int] = []
    sleeps: list[float] = []

    def call() -> str:
        calls.append(1)
        raise status_error("anthropic", 529)

    with pytest.raises(ModelUnavailableError, match=r"models\.x: .*3 attempt") as caught:
        call_with_retries(call, label="models.x", max_retries=2, backoff=Backoff(0.01, 0.01), sleep=sleeps.append)
    assert len(calls) == 3
    assert len(sleeps) == 2
    assert caught.value.status == 529


def test_fatal_errors_are_not_retried_and_hide_the_key() -> None:
    """A 401 raises ModelHTTPError at once, with the key redacted and no SDK error chained."""
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        raise status_error("openai", 401, message="Incorrect API key provided: sk-live-123456")

    with pytest.raises(ModelHTTPError) as caught:
        call_with_retries(
            call, label="models.x", max_retries=5, backoff=Backoff(), secrets=["sk-live-123456"], sleep=lambda _: None
        )
    assert not isinstance(caught.value, ModelUnavailableError)
    assert "sk-live-123456" not in str(caught.value)
    assert caught.value.__context__ is None
    assert len(calls) == 1


def test_non_sdk_exceptions_pass_through() -> None:
    """Bugs in agentd's own code are not mistaken for provider failures."""

    def call() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        call_with_retries(call, label="m", max_retries=3, backoff=Backoff(), sleep=lambda _: None)


def test_a_body_that_is_not_json_is_retried_then_falls_back() -> None:
    """The SDKs let json's error out when a 200's body is not JSON: agentd retries it, then says fall back."""
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        raise json.JSONDecodeError("Unterminated string", '{"id": "x', 7)

    with pytest.raises(ModelUnavailableError, match="not JSON"):
        call_with_retries(call, label="m", max_retries=2, backoff=Backoff(), sleep=lambda _: None)
    assert len(calls) == 3
