"""The one redactor: secret values, DSNs in URL and key=value form, and their passwords are masked everywhere."""

from __future__ import annotations

import pytest

from agentd.kernel.redact import MASK, Redactor, dsn_secrets


@pytest.mark.parametrize(
    ("dsn", "password"),
    [
        ("postgresql://u:p%40ss@h/db", "p@ss"),
        ("postgres://agentd:s3cr3t-pw@db.internal:5432/agentd?sslmode=require", "s3cr3t-pw"),
        ("host=db user=agentd password=plain-secret dbname=app", "plain-secret"),
        ("host=db password='with \\' quote and space' dbname=app", "with ' quote and space"),
    ],
)
def test_a_dsn_and_its_password_are_hidden_in_every_form(dsn: str, password: str) -> None:
    """for_dsn hides the DSN itself, its password, and the password's URL-encoded form."""
    encoded = password.replace("@", "%40").replace(" ", "%20").replace("'", "%27")
    message = f"connect to {dsn} failed: bad password {password!r} (encoded {encoded})"
    shown = Redactor.for_dsn(dsn).text(message)
    assert password not in shown
    assert encoded not in shown
    assert dsn not in shown
    assert MASK in shown


def test_dsn_secrets_lists_the_dsn_then_its_password() -> None:
    """dsn_secrets names the DSN and its decoded password, so a caller can add them to any redactor."""
    assert dsn_secrets("postgresql://u:p%40ss@h/db")[:2] == ["postgresql://u:p%40ss@h/db", "p@ss"]


def test_passwords_in_any_text_are_masked_without_being_named() -> None:
    """A password inside a URL or a key=value DSN is masked even when nobody named it as a secret."""
    text = "tried postgresql://app:hunter22@db/app and host=db password=hunter33 dbname=x"
    shown = Redactor().text(text)
    assert "hunter22" not in shown
    assert "hunter33" not in shown


def test_named_secrets_of_four_or_more_characters_are_masked_in_nested_values() -> None:
    """Known secret values are masked inside nested JSON-like values; very short values are left alone."""
    redactor = Redactor(["sk-live-1234", "abc"])
    value = redactor.value({"a": ["key sk-live-1234"], "b": ("abc",), "n": 3})
    assert value == {"a": [f"key {MASK}"], "b": ["abc"], "n": 3}
