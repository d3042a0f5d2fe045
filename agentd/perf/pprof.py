"""Parse `go tool pprof` text reports (-top, -top -cum, -list) into hot spots and source lines.

Pure functions over the text pprof prints. Quantities are converted to base units: seconds for
CPU profiles, bytes for space profiles, plain numbers for object counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# pprof's own unit table (internal/measurement): the canonical names it prints and their factors.
_TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "μs": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "hrs": 3600.0}
_SPACE_UNITS = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}
_QUANTITY = re.compile(r"^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)([^\d\s]*)$")
_TOP_ROW = re.compile(r"^\s*(\S+)\s+(\S+)%\s+(\S+)%\s+(\S+)\s+(\S+)%\s+(.+?)\s*$")
_TOTAL = re.compile(r"of (\S+) total")
_ROUTINE = re.compile(r"^ROUTINE =+ (.+?) in (.+)$")
_ROUTINE_TOTALS = re.compile(r"^\s*(\S+)\s+(\S+) \(flat, cum\)")
_LIST_ROW = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\d+):(.*)$")
_INLINE = " (inline)"


@dataclass(frozen=True)
class HotSpot:
    """One function in a -top report: its own (flat) and inclusive (cum) share of the samples."""

    function: str
    flat: float
    flat_pct: float
    cum: float
    cum_pct: float
    inline: bool = False

    def to_dict(self, unit: str) -> dict[str, Any]:
        """A JSON-ready view, quantities formatted in the profile's unit."""
        return {
            "function": self.function,
            "flat": format_quantity(self.flat, unit),
            "flat_pct": self.flat_pct,
            "cum": format_quantity(self.cum, unit),
            "cum_pct": self.cum_pct,
        }


@dataclass(frozen=True)
class TopReport:
    """A parsed -top report: the sample type, its unit, the total and the rows in pprof's order."""

    sample_type: str
    unit: str
    total: float
    hot_spots: tuple[HotSpot, ...]

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """A JSON-ready view of the report, at most `limit` rows."""
        rows = self.hot_spots if limit is None else self.hot_spots[:limit]
        return {
            "sample_type": self.sample_type,
            "total": format_quantity(self.total, self.unit),
            "hot_spots": [spot.to_dict(self.unit) for spot in rows],
        }


@dataclass(frozen=True)
class SourceLine:
    """One line of a -list report that carries samples."""

    file: str
    line: int
    flat: float
    cum: float
    source: str


@dataclass(frozen=True)
class Listing:
    """One ROUTINE block of a -list report: a function, its file and its sampled lines."""

    function: str
    file: str
    flat: float
    cum: float
    lines: tuple[SourceLine, ...]

    def hottest(self) -> SourceLine | None:
        """The line with the most flat samples (cum breaks ties), or None when none carries any."""
        if not self.lines:
            return None
        return max(self.lines, key=lambda line: (line.flat, line.cum))

    def relative_to(self, root: str) -> Listing:
        """The same listing with file paths made relative to `root` (the workspace in the sandbox)."""
        prefix = root.rstrip("/") + "/"

        def strip(path: str) -> str:
            return path[len(prefix) :] if path.startswith(prefix) else path

        lines = tuple(SourceLine(strip(line.file), line.line, line.flat, line.cum, line.source) for line in self.lines)
        return Listing(self.function, strip(self.file), self.flat, self.cum, lines)

    def to_dict(self, unit: str, limit: int = 10) -> dict[str, Any]:
        """A JSON-ready view: the function, its file and its hottest lines as file:line."""
        ranked = sorted(self.lines, key=lambda line: (line.flat, line.cum), reverse=True)[:limit]
        return {
            "function": self.function,
            "file": self.file,
            "flat": format_quantity(self.flat, unit),
            "cum": format_quantity(self.cum, unit),
            "lines": [
                {
                    "at": f"{line.file}:{line.line}",
                    "flat": format_quantity(line.flat, unit),
                    "cum": format_quantity(line.cum, unit),
                    "source": line.source.strip(),
                }
                for line in ranked
            ],
        }


def parse_quantity(text: str) -> tuple[float, str]:
    """A pprof quantity ('1.05s', '20ms', '23334.53kB', '.', '0', '12') as (value in base unit, base unit)."""
    text = text.strip()
    if text in (".", "0", ""):
        return 0.0, ""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"not a pprof quantity: {text!r}")
    value, suffix = float(match.group(1)), match.group(2)
    if suffix in _TIME_UNITS:
        return value * _TIME_UNITS[suffix], "s"
    if suffix in _SPACE_UNITS:
        return value * _SPACE_UNITS[suffix], "B"
    if suffix == "":
        return value, ""
    raise ValueError(f"unknown pprof unit {suffix!r} in {text!r}")


def format_quantity(value: float, unit: str) -> str:
    """A quantity in a readable unit, the way pprof would print it ('1.05s', '22.79MB')."""
    if value == 0:
        return "0"
    table: dict[str, float] = {}
    if unit == "s":
        table = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "hrs": 3600.0}
    elif unit == "B":
        table = {name: float(factor) for name, factor in _SPACE_UNITS.items()}
    if not table:
        return f"{value:.6g}"
    name, factor = next(iter(table.items()))
    for candidate, candidate_factor in table.items():
        if abs(value) / candidate_factor >= 1.0:
            name, factor = candidate, candidate_factor
    return f"{value / factor:.2f}".removesuffix(".00") + name


def _header(text: str, key: str) -> str:
    for line in text.splitlines():
        if line.startswith(f"{key}: "):
            return line[len(key) + 2 :].strip()
    return ""


def parse_top(text: str) -> TopReport:
    """Parse the output of `go tool pprof -top` (with or without -cum); rows keep pprof's order."""
    sample_type = _header(text, "Type")
    total_match = _TOTAL.search(text)
    total, unit = parse_quantity(total_match.group(1)) if total_match else (0.0, "")
    spots: list[HotSpot] = []
    in_table = False
    for line in text.splitlines():
        if line.split() == ["flat", "flat%", "sum%", "cum", "cum%"]:
            in_table = True
            continue
        match = _TOP_ROW.match(line) if in_table else None
        if match is None:
            continue
        flat, flat_unit = parse_quantity(match.group(1))
        cum, cum_unit = parse_quantity(match.group(4))
        unit = unit or flat_unit or cum_unit
        function = match.group(6)
        inline = function.endswith(_INLINE)
        spots.append(
            HotSpot(
                function=function.removesuffix(_INLINE),
                flat=flat,
                flat_pct=float(match.group(2)),
                cum=cum,
                cum_pct=float(match.group(5)),
                inline=inline,
            )
        )
    if not unit:
        unit = "s" if sample_type == "cpu" else ""
    return TopReport(sample_type=sample_type, unit=unit, total=total, hot_spots=tuple(spots))


def parse_list(text: str) -> tuple[Listing, ...]:
    """Parse the output of `go tool pprof -list REGEX`: one Listing per ROUTINE, sampled lines only."""
    listings: list[Listing] = []
    current: dict[str, Any] | None = None

    def close() -> None:
        if current is not None:
            listings.append(
                Listing(current["function"], current["file"], current["flat"], current["cum"], tuple(current["lines"]))
            )

    for line in text.splitlines():
        routine = _ROUTINE.match(line)
        if routine:
            close()
            current = {"function": routine.group(1), "file": routine.group(2), "flat": 0.0, "cum": 0.0, "lines": []}
            continue
        if current is None:
            continue
        totals = _ROUTINE_TOTALS.match(line)
        if totals:
            current["flat"] = parse_quantity(totals.group(1))[0]
            current["cum"] = parse_quantity(totals.group(2))[0]
            continue
        row = _LIST_ROW.match(line)
        if row is None:
            continue
        flat, cum = parse_quantity(row.group(1))[0], parse_quantity(row.group(2))[0]
        if flat or cum:
            current["lines"].append(SourceLine(current["file"], int(row.group(3)), flat, cum, row.group(4).rstrip()))
    close()
    return tuple(listings)


def package_of(function: str) -> str:
    """The import path of a Go symbol: 'example.com/m/p.(*T).M' -> 'example.com/m/p'."""
    name = function.split("[", 1)[0]  # generic instantiations may hold '/' and '.'
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    return name if dot < 0 else name[:dot]


def in_module(function: str, module: str) -> bool:
    """True when the symbol belongs to a package of `module` (the module's own code, not std or deps)."""
    package = package_of(function)
    return package == module or package.startswith(module + "/")


def go_regexp_quote(text: str) -> str:
    """Escape text for Go's regexp syntax (RE2), as regexp.QuoteMeta does."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)
