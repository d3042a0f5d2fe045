"""The retry policy as data: every exception the OpenAI and Anthropic SDKs export → what to do.

`retry` tries the same model again after a backoff; `fallback` gives up on this model at once so a
`FallbackModel` can try the next; `fail` stops the job with a message for the user. A retryable
error that outlasts its retries is treated like `fallback`. The table is keyed by class name, the
same in both SDKs. A class the table does not name (a newer SDK's) is classified by its HTTP status
and base class, logged once and counted (`unclassified`), so an SDK release never breaks the daemon.
"""

from __future__ import annotations

import importlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import Literal, TypeVar

import structlog

from agentd.kernel.errors import ModelHTTPError
from agentd.kernel.redact import Redactor

Action = Literal["retry", "fallback", "fail"]
SDK_NAMES = ("openai", "anthropic")  # imported only when needed: each SDK costs tens of MB of memory
T = TypeVar("T")
log = structlog.get_logger("agentd.models")


@dataclass(frozen=True)
class Rule:
    """What to do about one kind of provider error, and what to tell the user."""

    action: Action
    message: str


def _r(action: Action, message: str) -> Rule:
    return Rule(action, message)


_NET = "cannot reach the model endpoint; check base_url and the network"
_BUSY = "the provider is overloaded or failing; retrying"
_SPEND = "the account's spending limit is reached; raise it or use another model"
_AUTH = "the API key was refused; check the key in the variable named by api_key_env"
_DENIED = "the API key may not use this model or endpoint; check the account's permissions"
_BAD = "the provider rejected the request as invalid; likely an agentd bug, please report it"
_CLIENT = "the SDK failed before any request was sent; check the model configuration"
_LARGE = "the request is too large for this model"
_UNUSED = "raised only by SDK features agentd does not use"

RULES: Mapping[str, Rule] = {
    # base classes: reached only by errors no more specific entry names
    "OpenAIError": _r("fail", _CLIENT),
    "AnthropicError": _r("fail", _CLIENT),
    "APIError": _r("fallback", "the provider failed in an unexpected way"),
    "APIStatusError": _r("fallback", "the provider answered with an unexpected error status"),
    # transport
    "APIConnectionError": _r("retry", _NET),
    "APITimeoutError": _r("retry", "the model did not answer within timeout_s; retrying"),
    "APIResponseValidationError": _r("fallback", "the SDK cannot read the response"),
    # 4xx
    "BadRequestError": _r("fail", _BAD),
    "AuthenticationError": _r("fail", _AUTH),
    "OAuthError": _r("fail", _AUTH),
    "PermissionDeniedError": _r("fail", _DENIED),
    "SandboxEgressRestrictedError": _r("fail", _DENIED),
    "NotFoundError": _r("fail", "no such model or endpoint; check model and base_url"),
    "ConflictError": _r("retry", "the provider reported a conflicting request; retrying"),
    "UnprocessableEntityError": _r("fail", _BAD),
    "RequestTimeoutError": _r("retry", "the provider timed out reading the request; retrying"),
    "PreconditionFailedError": _r("fail", _BAD),
    "ContentTooLargeError": _r("fallback", _LARGE),
    "RequestTooLargeError": _r("fallback", _LARGE),
    "RequestBodyTooLargeAfterDecodingError": _r("fallback", _LARGE),
    "RequestHeaderFieldsTooLargeError": _r("fail", _BAD),
    "RequestBodyEncodingInvalidError": _r("fail", _BAD),
    "RequestBodyEncodingUnsupportedError": _r("fail", _BAD),
    "ClientClosedRequestError": _r("retry", "the request was closed before the answer; retrying"),
    "RateLimitError": _r("retry", "rate limited by the provider; waiting as it asks"),
    "RampLimitExceededError": _r("retry", "the account's usage ramp limit is reached; waiting"),
    "ContractSpendLimitReachedError": _r("fallback", _SPEND),
    "EnforcedSpendLimitReachedError": _r("fallback", _SPEND),
    "PaymentRequiredError": _r("fallback", "the provider wants payment; check billing"),
    "LinkedOrganizationBillingUnavailableError": _r("fallback", "billing is unavailable; check it"),
    "LinkedOrganizationSpendLimitReachedError": _r("fallback", _SPEND),
    "OrganizationOnHoldError": _r("fallback", "the provider account is on hold"),
    "OrganizationTypeNotSupportedError": _r("fail", _DENIED),
    "ParentOrganizationRequiredError": _r("fail", _DENIED),
    "ClaudeCodeKeyCreatorNotMemberError": _r("fail", _AUTH),
    "ClaudeCodeVersionTooOldError": _r("fail", "the SDK is too old for this account; upgrade it"),
    "CMEKKeyDisabledError": _r("fallback", "the account's encryption key is disabled"),
    "CMEKKeyNetworkBlockedError": _r("fallback", "the account's encryption key is unreachable"),
    "WorkspaceHumanReviewDisabledError": _r("fail", "the workspace has Human Review off; use one that has it on"),
    # 5xx
    "InternalServerError": _r("retry", _BUSY),
    "ServiceUnavailableError": _r("retry", _BUSY),
    "OverloadedError": _r("retry", _BUSY),
    "GatewayTimeoutError": _r("retry", _BUSY),
    "DeadlineExceededError": _r("retry", _BUSY),
    "CMEKContextUnavailableError": _r("retry", _BUSY),
    "CMEKKeyUnreachableError": _r("fallback", "the account's encryption key is unreachable"),
    "HTTPNotImplementedError": _r("fallback", "the endpoint does not implement this request"),
    # raised by the SDKs outside a plain request
    "CredentialsError": _r("fail", _AUTH),
    "IdentityTokenFileError": _r("fail", _AUTH),
    "WorkloadIdentityError": _r("fail", _AUTH),
    "RetryableError": _r("retry", "the SDK marked the attempt as retryable"),
    "LengthFinishReasonError": _r("fallback", "the answer was cut off at max_tokens"),
    "ContentFilterFinishReasonError": _r("fallback", "a content filter stopped the answer"),
    "APIWebhookValidationError": _r("fail", _UNUSED),
    "InvalidWebhookSignatureError": _r("fail", _UNUSED),
    "WebSocketConnectionClosedError": _r("fail", _UNUSED),
    "WebSocketQueueFullError": _r("fail", _UNUSED),
}
UNKNOWN = Rule("fail", "an unexpected error came from the model client")
# Not an SDK class: the SDKs let json's error out when a 200's body is not JSON (a broken proxy or endpoint).
BODY_NOT_JSON = Rule("retry", "the endpoint answered with a body that is not JSON; retrying")


def is_unreadable_answer(exc: BaseException) -> bool:
    """Whether `exc` is an SDK failing to decode an answer's body (the retried call is only the SDK's request)."""
    return isinstance(exc, json.JSONDecodeError)


def exported_errors(module: object) -> dict[str, type[BaseException]]:
    """Public exception classes a module exports at top level, by name."""
    found: dict[str, type[BaseException]] = {}
    for name in dir(module):
        value = getattr(module, name)
        is_error = isinstance(value, type) and issubclass(value, BaseException)
        if is_error and not name.startswith("_"):
            found[name] = value
    return found


def sdk_modules() -> tuple[ModuleType, ...]:
    """The installed SDK modules (imports them)."""
    return tuple(importlib.import_module(name) for name in SDK_NAMES)


def retry_table() -> dict[type[BaseException], Rule]:
    """Every exception class the installed SDKs export, mapped to its rule."""
    return {
        cls: RULES[name] for module in sdk_modules() for name, cls in exported_errors(module).items() if name in RULES
    }


def is_sdk_error(exc: BaseException) -> bool:
    """Whether an exception comes from one of the model SDKs (by module, without importing them)."""
    return any(cls.__module__.split(".")[0] in SDK_NAMES for cls in type(exc).__mro__)


def rule_for(exc: BaseException) -> Rule:
    """The rule for an exception: its own class's, else the classification of an unnamed class."""
    if is_unreadable_answer(exc):
        return BODY_NOT_JSON
    if type(exc).__name__ in RULES and is_sdk_error(exc):
        return RULES[type(exc).__name__]
    rule = classify_unnamed(exc)
    if is_sdk_error(exc):
        _note_unclassified(type(exc), rule)
    return rule


def classify_unnamed(exc: BaseException) -> Rule:
    """An exception class the table does not name: by HTTP status, then by base class.

    429, 408 and 5xx retry; any other 4xx fails; a timeout retries; a connection error falls back
    to the next model; otherwise the nearest base class the table names decides.
    """
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        if status in {408, 429} or status >= 500:
            return Rule("retry", f"the provider answered HTTP {status} (unclassified error); retrying")
        if 400 <= status < 500:
            return Rule("fail", f"the provider refused the request with HTTP {status} (unclassified error)")
    bases = [cls for cls in type(exc).__mro__ if cls.__module__.split(".")[0] in SDK_NAMES]
    names = {cls.__name__ for cls in bases}
    if "APITimeoutError" in names:
        return Rule("retry", "the model did not answer in time (unclassified error); retrying")
    if "APIConnectionError" in names:
        return Rule("fallback", f"{_NET} (unclassified error)")
    for cls in bases:
        if cls.__name__ in RULES:
            return RULES[cls.__name__]
    return UNKNOWN


unclassified: Counter[str] = Counter()  # class name → times seen, for /metrics
_unclassified_lock = threading.Lock()


def _note_unclassified(cls: type[BaseException], rule: Rule) -> None:
    """Count an exception class the table does not name; log it the first time only."""
    name = f"{cls.__module__.split('.')[0]}.{cls.__name__}"
    with _unclassified_lock:
        first = name not in unclassified
        unclassified[name] += 1
    if first:
        log.warning("model_error_unclassified", error=name, action=rule.action, hint="name it in retry.RULES")


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (`retry-after-ms` or `retry-after`), if it did."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) * scale)
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            continue
    return None


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter; a provider's Retry-After wins, both capped."""

    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0 for the first retry)."""
        if retry_after is not None:
            return min(retry_after, self.cap_s)
        ceiling = min(self.cap_s, self.base_s * 2**attempt)
        return (rng or _JITTER).uniform(0.0, ceiling)


_JITTER = random.Random()  # noqa: S311 - jitter spreads retries; it protects no secret


class ModelUnavailableError(ModelHTTPError):
    """This model cannot answer now (retries exhausted, or the table says `fallback`);
    a `FallbackModel` tries its next model."""


def error_for(exc: BaseException, rule: Rule, label: str, attempts: int, secrets: Sequence[str] = ()) -> ModelHTTPError:
    """The agentd error to raise for a provider exception; never carries a secret."""
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    detail = Redactor(secrets).text(str(exc))[:300]
    where = type(exc).__name__ + (f", HTTP {status}" if status else "")
    message = f"{label}: {rule.message} [{where}; {attempts} attempt(s)]: {detail}"
    if rule.action == "fail":
        return ModelHTTPError(message, status)
    return ModelUnavailableError(message, status)


def call_with_retries(
    call: Callable[[], T],
    *,
    label: str,
    max_retries: int,
    backoff: Backoff,
    secrets: Sequence[str] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`, retrying SDK errors the table says to retry, at most `max_retries` times.

    Raises ModelHTTPError for `fail`, ModelUnavailableError for `fallback` or exhausted retries.
    The SDK exception is not chained: its text may echo the key, so only the redacted copy goes on.
    """
    attempt = 0
    while True:
        failure: ModelHTTPError | None = None
        try:
            return call()
        except Exception as exc:
            if not (is_sdk_error(exc) or is_unreadable_answer(exc)):
                raise
            rule = rule_for(exc)
            if rule.action != "retry" or attempt >= max_retries:
                failure = error_for(exc, rule, label, attempt + 1, secrets)
            else:
                wait = backoff.delay(attempt, retry_after_s(exc))
                log.warning(
                    "model_retry",
                    model=label,
                    error=type(exc).__name__,
                    status=getattr(exc, "status_code", None),
                    attempt=attempt + 1,
                    delay_s=round(wait, 3),
                )
        # raised outside `except`, so not even __context__ keeps the SDK error (it may echo the key)
        if failure is not None:
            raise failure
        sleep(wait)
        attempt += 1
