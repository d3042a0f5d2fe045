"""The retry table, the backoff and the retry loop, on real SDK exception objects."""

from __future__ import annotations

import random

import anthropic
import httpx2
import openai
import pytest

from agentd.errors import ModelHTTPError
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
    """A subclass the table does not name takes its nearest listed base's rule."""

    class NewRateLimit(openai.RateLimitError):
        pass

    response = httpx2.Response(429, request=httpx2.Request("POST", "http://127.0.0.1/v1"))
    assert rule_for(NewRateLimit("slow down", response=response, body=None)) == RULES["RateLimitError"]
    assert rule_for(ValueError("x")).action == "fail"


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
