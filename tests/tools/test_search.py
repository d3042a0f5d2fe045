"""The code tool's search engine over plain text: RE2 per line, the same lines Python's re finds per line."""

from __future__ import annotations

import re

import pytest

from tools.search import compile_pattern

TEXTS = [
    "package cart\n\nfunc Total() int {\n\treturn 1\n}\n",
    "a\nb ab\nxx\n\nab\r\nfoo bar\nFOO\n",
    "no newline at the end",
    "\n\n\n",
    "a b\na  b\nab\n",
    "import os\nimport sys\n  import os\nimports os\n",
    "ünïcode line\nplain\n",
]
PATTERNS = [
    r"func \w+\(",
    r"a[^x]*b",  # can run across a line break in the whole text
    r"a\s+b",
    r"^$",
    r"^",
    r"$",
    r"x*",
    r"\bfoo\b",
    r"(?i)FOO",
    r"^\s*import (os|sys)$",
    r"a\nb",  # never inside one line
    r"\Aa",
    r"b\z",
    r"ab$",
    r"\d+",
    r"n.c",
    r"(?-m:^a)",  # multi-line mode turned off inside the pattern
    r"(?i-m:^FOO$)",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_lines_are_those_python_finds_line_by_line(pattern: str) -> None:
    """For every text, the matching lines (numbers and content) equal Python re's, searched one line at a time."""
    compiled = compile_pattern(pattern)
    reference = pattern.replace(r"\z", r"\Z")  # Python 3.11 spells RE2's end of text \Z
    for text in TEXTS:
        lines = text.removesuffix("\n").split("\n")
        expected = [(number, line) for number, line in enumerate(lines, 1) if re.search(reference, line)]
        found = [(number, line.decode()) for number, line in compiled.lines(text.encode())]
        assert found == expected, (pattern, text)


def test_an_unsupported_pattern_is_a_value_error_naming_the_engine() -> None:
    """Lookahead is refused at compile time with RE2 named; an invalid pattern is called invalid."""
    with pytest.raises(ValueError, match="RE2"):
        compile_pattern("a(?=b)")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        compile_pattern("a(")
