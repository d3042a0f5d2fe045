"""Signed GitHub-style webhook deliveries, sent to agentd's endpoint the way a forge sends them."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.request
from collections.abc import Mapping
from typing import Any


def signature(body: bytes, secret: bytes) -> str:
    """GitHub's X-Hub-Signature-256 value for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def post_delivery(
    url: str, secret: bytes, event: str, delivery: str, payload: Mapping[str, Any]
) -> tuple[int, dict[str, Any]]:
    """POST one signed delivery of `event` with id `delivery`; the status and the JSON answer."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature(body, secret),
    }
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status), json.loads(answer.read())
