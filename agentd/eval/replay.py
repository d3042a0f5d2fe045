"""`agentd eval replay`: eval tasks from a repository's own history of fixes.

A commit becomes a task when it changes Go test files and Go code, and its new tests fail on the
parent and pass on the commit: repo/ is the parent's tree, hidden/ the commit's test files, the
rest of the commit's change solution.patch, and its message (nothing, when blind) the description.
Whether the tests fail and pass is decided by `eval check` itself, in the sandbox.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from agentd.eval.check import TaskCheck, check_task
from agentd.eval.harness import Harness
from agentd.eval.task import HIDDEN_DIR, REPO_DIR, SOLUTION_FILE, TASK_FILE, TaskError
from agentd.kernel import process
from agentd.kernel.errors import AgentdError, RepositoryError
from agentd.repo.mirror import check_repository, run_git

DEFAULT_TEST_COMMAND = ("go", "test", "-count=1", "./...")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class ReplayOptions:
    """Which commits to look at and how to turn them into tasks."""

    since: str | None = None  # only commits after this revision
    limit: int = 50  # stop after this many valid tasks, newest first
    blind: bool = False  # leave the description empty instead of using the commit message
    test_command: tuple[str, ...] = DEFAULT_TEST_COMMAND
    jobs: int = 1


@dataclass(frozen=True)
class Candidate:
    """A commit that may become a task: what it changed, split into tests and the rest."""

    sha: str
    parent: str
    message: str
    tests: tuple[str, ...]
    code: tuple[str, ...]

    @property
    def name(self) -> str:
        """The task's directory name: short hash and the subject as a slug."""
        subject = self.message.splitlines()[0] if self.message else ""
        slug = _SLUG.sub("-", subject.lower()).strip("-")[:48].rstrip("-")
        return f"{self.sha[:10]}-{slug}" if slug else self.sha[:10]


def is_test_path(path: str) -> bool:
    """A Go test file, or a file under a testdata/ directory (Go's convention for test fixtures)."""
    parts = PurePosixPath(path).parts
    return path.endswith("_test.go") or "testdata" in parts[:-1]


def split_change(changes: list[tuple[str, str]]) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """(test paths, other paths, why the commit is no task or '') from `git diff --name-status` rows."""
    tests = tuple(path for _, path in changes if is_test_path(path))
    code = tuple(path for _, path in changes if not is_test_path(path))
    if not any(path.endswith(".go") for _, path in changes):
        return tests, code, "changes no Go file"
    if not tests:
        return tests, code, "changes no test"
    if not code:
        return tests, code, "changes only tests: nothing to fix"
    if any(status.startswith("D") for status, path in changes if is_test_path(path)):
        return tests, code, "deletes test files (hidden/ can only add or replace files)"
    return tests, code, ""


def _name_status(repo: Path, parent: str, sha: str) -> list[tuple[str, str]]:
    out = run_git(repo, "diff", "--name-status", "--no-renames", "-z", parent, sha)
    fields = out.split("\0")
    return [(fields[i], fields[i + 1]) for i in range(0, len(fields) - 1, 2)]


def candidates(repo: Path, since: str | None, skipped: Callable[[str, str], None]) -> Iterator[Candidate]:
    """Commits of HEAD's first-parent history (after `since`), newest first, that may be tasks."""
    revisions = f"{since}..HEAD" if since else "HEAD"
    for sha in run_git(repo, "rev-list", "--first-parent", "--no-merges", revisions).split():
        parents = run_git(repo, "rev-list", "--parents", "-n", "1", sha).split()[1:]
        if not parents:
            skipped(sha, "the first commit has no parent to start from")
            continue
        tests, code, why = split_change(_name_status(repo, parents[0], sha))
        if why:
            skipped(sha, why)
            continue
        message = run_git(repo, "log", "-1", "--format=%B", sha).strip()
        yield Candidate(sha, parents[0], message, tests, code)


def _extract(repo: Path, rev: str, dest: Path, paths: tuple[str, ...] = ()) -> None:
    """Write the files of `rev` (only `paths`, if given) under dest, through git archive and tar."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest.parent / f".{dest.name}.tar"
    try:
        run_git(repo, "archive", "--format=tar", "-o", str(archive), rev, "--", *paths)
        done = process.run(["tar", "-xf", str(archive), "-C", str(dest), "--no-same-owner"], timeout_s=300)
        if not done.ok:
            raise RepositoryError(f"tar -x of {rev}: {done.reason()}")
    finally:
        archive.unlink(missing_ok=True)


def _toml_string(text: str) -> str:
    """A TOML basic string (escaped), so any commit message round-trips."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " or ch in "\n\t" else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"""\n{escaped}"""' if "\n" in escaped else f'"{escaped}"'


def write_task(repo: Path, candidate: Candidate, dest: Path, options: ReplayOptions) -> Path:
    """Lay out one candidate as a task directory at `dest`."""
    _extract(repo, candidate.parent, dest / REPO_DIR)
    _extract(repo, candidate.sha, dest / HIDDEN_DIR, candidate.tests)
    patch = run_git(repo, "diff", "--binary", "--no-renames", candidate.parent, candidate.sha, "--", *candidate.code)
    (dest / SOLUTION_FILE).write_text(patch + "\n", encoding="utf-8")
    description = "" if options.blind else candidate.message
    argv = ", ".join(_toml_string(word) for word in options.test_command)
    toml = (
        f"# replayed from commit {candidate.sha}\n"
        f'kind = "fix"\ndescription = {_toml_string(description)}\ntest_command = [{argv}]\n'
    )
    (dest / TASK_FILE).write_text(toml, encoding="utf-8")
    return dest


def _try(
    repo: Path, candidate: Candidate, out: Path, options: ReplayOptions, harness: Harness, scratch: Path
) -> TaskCheck:
    staged = scratch / "staged" / candidate.name
    try:
        write_task(repo, candidate, staged, options)
    except AgentdError as exc:
        shutil.rmtree(staged, ignore_errors=True)
        return TaskCheck(candidate.name, "fix", reasons=[f"cannot lay out the task: {exc}"])
    verdict = check_task(staged, harness, scratch / "trees" / candidate.name)
    if verdict.valid:
        shutil.move(str(staged), str(out / candidate.name))
    else:
        shutil.rmtree(staged, ignore_errors=True)
    return verdict


def prepare(repo: Path, out: Path) -> None:
    """Check the repository and make the (new or empty) output directory, before any work starts."""
    check_repository(repo)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TaskError(f"{out}: not an empty directory; give replay a new directory for its tasks")
    out.mkdir(parents=True, exist_ok=True)


def replay(
    repo: Path, out: Path, options: ReplayOptions, harness: Harness, scratch: Path, say: Callable[[str], None]
) -> list[str]:
    """Write the valid tasks of the history into `out` (newest first, up to the limit); their names."""
    prepare(repo, out)
    kept: list[str] = []
    pending = candidates(repo, options.since, lambda sha, why: say(f"skip  {sha[:10]}: {why}"))
    with ThreadPoolExecutor(max_workers=max(1, options.jobs), thread_name_prefix="eval-replay") as pool:
        while len(kept) < options.limit:
            batch = [c for _, c in zip(range(min(options.jobs, options.limit - len(kept))), pending, strict=False)]
            if not batch:
                break
            verdicts = pool.map(lambda c: (c, _try(repo, c, out, options, harness, scratch)), batch)
            for candidate, verdict in verdicts:
                if verdict.valid:
                    kept.append(candidate.name)
                    say(f"task  {candidate.name} ({verdict.seconds:.1f}s)")
                else:
                    say(f"skip  {candidate.sha[:10]}: {'; '.join(verdict.reasons)}")
    return kept
