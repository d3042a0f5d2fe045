"""Looking through wrapper commands (`env`, `timeout`, `nice`, …) to the command they run.

Each wrapper's options are parsed the way GNU getopt_long parses them in the sandbox (coreutils 9
and util-linux): short clusters (`-iu NAME`), values glued or apart (`-uNAME`, `--unset NAME`),
long options abbreviated to any unique prefix (`--u` is `--unset`), `--` ending the options. An
option that is unknown, ambiguous or missing its value is refused rather than guessed at, since a
wrong guess judges the wrong program (`env --u ls sh -c id` runs `sh`, not `ls`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class WrapperError(ValueError):
    """A wrapper's arguments that agentd cannot parse with certainty, or an option it does not allow."""


@dataclass(frozen=True)
class Grammar:
    """The command line of one wrapper: its options, then its operands, then the command."""

    short_values: str = ""  # short options taking a value: -u NAME or -uNAME
    short_flags: str = ""
    long_values: tuple[str, ...] = ()  # --unset NAME or --unset=NAME
    long_optional: tuple[str, ...] = ()  # a value only after '=': --block-signal[=SIG]
    long_flags: tuple[str, ...] = ("help", "version")
    splits: frozenset[str] = frozenset()  # options building the command from one string (env -S): nothing to judge
    refused: dict[str, str] = field(default_factory=dict)  # option -> why agentd does not allow it
    operands: int = 0  # operands before the command (timeout's DURATION)
    assignments: bool = False  # NAME=VALUE operands before the command (env)
    numeric: bool = False  # nice's old-style adjustment: -5, --5, -+5
    lone_dash: bool = False  # env's `-`, the same as -i

    def long_option(self, given: str) -> str:
        """The long option `given` names, exactly or as a unique prefix; WrapperError otherwise."""
        names = (*self.long_values, *self.long_optional, *self.long_flags)
        if given in names:
            return given
        matches = [name for name in names if name.startswith(given)] if given else []
        if len(matches) != 1:
            problem = "is ambiguous" if matches else "is not an option agentd knows for this wrapper"
            raise WrapperError(f"--{given} {problem}; spell the option out")
        return matches[0]


_CHDIR = "changes the directory the command runs in; use execute_command's working_dir instead"
GRAMMARS: dict[str, Grammar] = {
    "env": Grammar(
        short_values="uCS",
        short_flags="i0v",
        long_values=("unset", "chdir", "split-string"),
        long_optional=("block-signal", "default-signal", "ignore-signal"),
        long_flags=("ignore-environment", "null", "list-signal-handling", "debug", "help", "version"),
        splits=frozenset({"S", "split-string"}),
        refused={"C": _CHDIR, "chdir": _CHDIR},
        assignments=True,
        lone_dash=True,
    ),
    "timeout": Grammar(
        short_values="ks",
        short_flags="v",
        long_values=("kill-after", "signal"),
        long_flags=("foreground", "preserve-status", "verbose", "help", "version"),
        operands=1,
    ),
    "nice": Grammar(short_values="n", long_values=("adjustment",), numeric=True),
    "nohup": Grammar(),
    "stdbuf": Grammar(short_values="ioe", long_values=("input", "output", "error")),
    "time": Grammar(
        short_values="fo",
        short_flags="apqvV",
        long_values=("format", "output"),
        long_flags=("append", "portability", "quiet", "verbose", "help", "version"),
    ),
    "ionice": Grammar(
        short_values="cnpPu",
        short_flags="thV",
        long_values=("class", "classdata", "pid", "pgid", "uid"),
        long_flags=("ignore", "help", "version"),
    ),
}
_NUMERIC = re.compile(r"^-[-+]?\d")


@dataclass(frozen=True)
class Unwrapped:
    """The command a wrapper chain runs, and the NAME=VALUE assignments the chain makes on the way."""

    command: list[str]
    assignments: list[str]


def _options(grammar: Grammar, argv: list[str]) -> tuple[int, bool]:
    """(how many arguments the wrapper's options take, False); (the splitting option's index, True) when an
    option builds the command from a string."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return i + 1, False
        if grammar.numeric and _NUMERIC.match(arg):
            i += 1
        elif arg.startswith("--"):
            name, has_value, _ = arg[2:].partition("=")
            option = grammar.long_option(name)
            if option in grammar.splits:
                return i, True
            i += 1 + _value_apart(grammar, option, option in grammar.long_values and not has_value, argv, i)
        elif arg.startswith("-") and arg != "-":
            taken = _cluster(grammar, arg, argv, i)
            if taken < 0:
                return i, True
            i += 1 + taken
        else:
            return i, False
    return i, False


def _cluster(grammar: Grammar, arg: str, argv: list[str], i: int) -> int:
    """How many arguments after a short-option cluster (`-iu`) it takes as a value; -1 for a splitting option."""
    for position, letter in enumerate(arg[1:], 1):
        if letter in grammar.refused:
            raise WrapperError(f"-{letter} {grammar.refused[letter]}")
        if letter in grammar.splits:
            return -1
        if letter in grammar.short_values:
            return _value_apart(grammar, letter, position == len(arg) - 1, argv, i)
        if letter not in grammar.short_flags:
            raise WrapperError(f"-{letter} is not an option agentd knows for this wrapper")
    return 0


def _value_apart(grammar: Grammar, option: str, apart: bool, argv: list[str], i: int) -> int:
    """1 when the option's value is the next argument (which must exist), else 0."""
    if option in grammar.refused:
        raise WrapperError(f"--{option} {grammar.refused[option]}")
    if apart and i + 1 >= len(argv):
        raise WrapperError(f"{argv[i]} needs a value")
    return 1 if apart else 0


def unwrap(argv: list[str], wrappers: list[str]) -> Unwrapped:
    """Strip wrapper commands (`env A=1`, `timeout 5`, `nice -n 5`) to find the command they run.

    An option that builds the command from a string (`env -S`) ends the look-through there, so the
    option itself is judged as the command, and refused. WrapperError for what cannot be parsed.
    """
    assignments: list[str] = []
    while argv and argv[0] in wrappers:
        grammar = GRAMMARS[argv[0]]
        rest = argv[1:]
        taken, splits = _options(grammar, rest)
        rest = rest[taken:]
        if splits:
            return Unwrapped(rest, assignments)
        if grammar.lone_dash and rest[:1] == ["-"]:
            rest = rest[1:]
        while grammar.assignments and rest and "=" in rest[0]:
            assignments.append(rest[0])
            rest = rest[1:]
        if len(rest) < grammar.operands:
            raise WrapperError(f"{argv[0]} needs {grammar.operands} operand(s) before the command")
        argv = rest[grammar.operands :]
    return Unwrapped(argv, assignments)
