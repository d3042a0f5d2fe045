"""SQL names inside EXPLAIN output: the columns a filter expression refers to, and how to quote an identifier.

EXPLAIN prints filters as SQL text (`((status)::text = 'open'::text)`); an index suggestion needs
the column names in it, without literals, casts, function names or SQL words.
"""

from __future__ import annotations

import re

_STRING = re.compile(r"'(?:[^']|'')*'")
_CAST = re.compile(
    r"::(?:(?:timestamp|time)(?:\(\d+\))? with(?:out)? time zone|character varying(?:\(\d+\))?|double precision"
    r'|bit varying(?:\(\d+\))?|"[^"]+"|[A-Za-z_][\w.]*(?:\(\d+(?:,\s*\d+)?\))?)(?:\[\])*'
)
_REFERENCE = re.compile(r'(?:("(?:[^"]|"")+"|[A-Za-z_][\w$]*)\.)?("(?:[^"]|"")+"|[A-Za-z_][\w$]*)(\s*\()?')
_NOT_COLUMNS = {
    "and", "or", "not", "is", "null", "true", "false", "any", "all", "some", "array", "like", "ilike", "in",
    "between", "distinct", "from", "subplan", "initplan", "hashed", "case", "when", "then", "else", "end",
    "collate", "similar", "to", "escape", "unknown", "row", "exists", "interval", "current_date", "localtime",
    "current_timestamp", "localtimestamp", "current_user", "session_user",
}  # fmt: skip
_RESERVED = {"all", "and", "any", "array", "as", "asc", "case", "check", "column", "default", "desc", "do", "end",
             "from", "group", "in", "limit", "not", "null", "on", "or", "order", "select", "table", "to", "user",
             "where", "with", "window"}  # fmt: skip


def quote_ident(name: str) -> str:
    """An SQL identifier, double-quoted unless it is plain lowercase and not reserved."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def filter_columns(expression: str, alias: str | None = None) -> list[str]:
    """The column names an EXPLAIN Filter / Join Filter refers to, equality comparisons first.

    Columns qualified with another alias than `alias` belong to another relation and are left
    out. String literals, casts, function names and SQL words are not columns.
    """
    text = _CAST.sub("", _STRING.sub("''", expression))
    equality: list[str] = []
    others: list[str] = []
    for match in _REFERENCE.finditer(text):
        qualifier, name, call = match.group(1), match.group(2), match.group(3)
        if call or (qualifier is None and name.lower() in _NOT_COLUMNS):
            continue
        if match.start() > 0 and text[match.start() - 1] in "$0123456789.":
            continue  # $1 parameters, the tail of numbers
        if qualifier is not None and alias is not None and _unquote(qualifier) != alias:
            continue
        column = _unquote(name)
        rest = text[match.end() :].lstrip()
        is_equality = rest.startswith("=") and not rest.startswith("=>")
        target = equality if is_equality else others
        if column not in equality and column not in others:
            target.append(column)
        elif is_equality and column in others:
            others.remove(column)
            equality.append(column)
    return equality + others


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def calls_function(expression: str) -> bool:
    """Whether a filter calls a function (then an index on the bare column may not serve it)."""
    text = _CAST.sub("", _STRING.sub("''", expression))
    names = re.findall(r"([A-Za-z_]\w*)\s*\(", text)
    return any(name.lower() not in _NOT_COLUMNS for name in names)
