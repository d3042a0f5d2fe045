"""An eval task on disk (`task.toml`, `repo/`, `hidden/`, `solution.patch`) and a suite of them, validated."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agentd.kernel.errors import AgentdError
from agentd.kernel.validation import toml_model

TASK_FILE = "task.toml"
REPO_DIR = "repo"
HIDDEN_DIR = "hidden"
SOLUTION_FILE = "solution.patch"
BUILTIN_NAME = "builtin"
BUILTIN_SUITE = Path(__file__).resolve().parent / "suite"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

TaskKind = Literal["fix", "optimize", "sql"]


class TaskError(AgentdError):
    """A task or suite directory is malformed; the message names the file, the key and the fix."""


class Limits(BaseModel):
    """What one attempt at the task may use; check uses the test deadline, the runner all of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test_timeout_s: float = Field(300.0, gt=0, description="Deadline of one run of test_command.")
    max_steps_per_turn: int | None = Field(None, ge=1, description="Model calls one agent may make in one turn.")
    max_tokens: int | None = Field(None, ge=1, description="Tokens the whole attempt may use.")
    max_usd: float | None = Field(None, gt=0, description="Dollars the whole attempt may spend.")
    wall_time_s: float | None = Field(None, gt=0, description="Wall time of the whole attempt.")


class DatabaseFixture(BaseModel):
    """A PostgreSQL database the tests need: loaded fresh from a SQL file for every test run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fixture: str = Field(description="A SQL file (plain SQL or a pg_dump script), relative to the task directory.")
    dsn_env: str = Field("DATABASE_URL", description="The variable the tests read the database's DSN from.")

    @field_validator("dsn_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name (letters, digits, underscores)")
        return value


class TaskSpec(BaseModel):
    """The contents of task.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: TaskKind = Field(description="fix: make failing behaviour right; optimize: faster, same behaviour; sql.")
    description: str = Field(description="The text the agents get, as a user would write it ('' for a blind task).")
    test_command: list[str] = Field(min_length=1, description="argv run in the sandbox at the tree's root.")
    limits: Limits = Field(default_factory=Limits)
    database: DatabaseFixture | None = None
    benchmark: str | None = Field(None, description="optimize: the Go package whose benchmarks measure the gain.")
    bench_pattern: str = Field(".", description="optimize: the -bench regexp agentd's comparison runs.")
    min_gain: float | None = Field(None, gt=0, lt=1, description="optimize: the smallest gain that counts (0.3 = 30%).")

    @field_validator("test_command")
    @classmethod
    def _argv(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise ValueError("the first word names the program to run")
        return value

    @model_validator(mode="after")
    def _kind_needs(self) -> TaskSpec:
        if self.kind == "sql" and self.database is None:
            raise ValueError("a sql task needs a [database] table naming its fixture")
        if self.kind == "optimize" and (self.benchmark is None or self.min_gain is None):
            raise ValueError("an optimize task names its benchmark package (benchmark = './pkg') and min_gain")
        if self.kind != "optimize" and (self.benchmark is not None or self.min_gain is not None):
            raise ValueError("benchmark and min_gain belong to optimize tasks only")
        if self.benchmark is not None and not self.benchmark.startswith("./"):
            raise ValueError(f"benchmark = {self.benchmark!r}: name a package directory such as './pkg'")
        return self


@dataclass(frozen=True)
class EvalTask:
    """One task directory and its parsed task.toml."""

    name: str
    root: Path
    spec: TaskSpec

    @property
    def repo(self) -> Path:
        """The starting tree."""
        return self.root / REPO_DIR

    @property
    def hidden(self) -> Path:
        """Files laid over a tree only for scoring (may be absent: nothing hidden)."""
        return self.root / HIDDEN_DIR

    @property
    def solution(self) -> Path:
        """The reference fix, a patch against repo/."""
        return self.root / SOLUTION_FILE

    @property
    def fixture(self) -> Path | None:
        """The database fixture's SQL file, when the task has one."""
        return None if self.spec.database is None else self.root / self.spec.database.fixture


def parse_spec(text: str, source: str) -> TaskSpec:
    """Parse task.toml text; TaskError naming every bad key."""
    return toml_model(TaskSpec, text, source, TaskError)


def load_task(root: Path) -> EvalTask:
    """Read and check one task directory: task.toml parses, repo/ and solution.patch exist, paths stay inside."""
    root = root.resolve()
    toml = root / TASK_FILE
    try:
        spec = parse_spec(toml.read_text(encoding="utf-8"), str(toml))
    except FileNotFoundError:
        raise TaskError(f"{root}: no {TASK_FILE}; a task directory holds task.toml, repo/ and solution.patch") from None
    task = EvalTask(root.name, root, spec)
    if not task.repo.is_dir():
        raise TaskError(f"{root}: no {REPO_DIR}/ directory holding the starting tree")
    if not task.solution.is_file():
        raise TaskError(f"{root}: no {SOLUTION_FILE} (the reference fix, a patch against {REPO_DIR}/)")
    if task.hidden.exists() and not task.hidden.is_dir():
        raise TaskError(f"{root}: {HIDDEN_DIR} must be a directory of files to lay over the tree")
    fixture = task.fixture
    if fixture is not None:
        if not fixture.resolve().is_relative_to(root):
            raise TaskError(f"{toml}: database.fixture = {spec.database.fixture!r} lies outside the task")  # type: ignore[union-attr]
        if not fixture.is_file():
            raise TaskError(f"{toml}: database.fixture = {fixture.name!r}: no such file in the task directory")
    return task


def suite_root(suite: str | Path) -> Path:
    """The directory of a suite: a path, or the word 'builtin' for the suite shipped with agentd."""
    path = BUILTIN_SUITE if str(suite) == BUILTIN_NAME else Path(suite)
    if not path.is_dir():
        raise TaskError(f"{path}: no such suite directory; give a directory of tasks or '{BUILTIN_NAME}'")
    return path


def task_dirs(suite: str | Path, only: Sequence[str] = ()) -> list[Path]:
    """The task directories of a suite (itself, when it is one task), sorted; `only` picks some by name."""
    root = suite_root(suite)
    found = [root] if (root / TASK_FILE).exists() else sorted(p.parent for p in root.glob(f"*/{TASK_FILE}"))
    if not found:
        raise TaskError(f"{root}: no task directories (each holds a {TASK_FILE})")
    if only:
        missing = sorted(set(only) - {path.name for path in found})
        if missing:
            raise TaskError(f"{root}: no task named {', '.join(missing)}")
        found = [path for path in found if path.name in only]
    return found
