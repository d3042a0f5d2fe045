"""Git at the edge: agentd's own clone, job worktrees, diffs, commits and agentd/ branches.

agentd never moves a user's branch: it fetches the watched repository into its own clone under
the state directory, works in detached worktrees of that clone, and only ever creates refs named
`agentd/…` in the user's repository. Git runs with hooks, fsmonitor and the user's global config
switched off, so nothing a sandbox wrote into a workspace can make git run a program.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import git

from agentd.kernel import process
from agentd.kernel.errors import RepositoryError

AGENTD_PREFIX = "agentd/"
SAFE_GIT = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "safe.directory=*",
    "-c",
    "protocol.ext.allow=never",
    "-c",
    "user.name=agentd",
    "-c",
    "user.email=agentd@localhost",
    "-c",
    "commit.gpgsign=false",
]
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}
GIT_TIMEOUT_S = 300.0  # a fetch of a large remote, or a push, may be slow; nothing else comes close


def run_git(cwd: Path, *args: str, timeout_s: float = GIT_TIMEOUT_S, stdin: str | None = None) -> str:
    """Run one git command safely in `cwd` under a deadline; raise RepositoryError with git's message on failure."""
    done = process.run(
        ["git", *SAFE_GIT, *args], timeout_s=timeout_s, cwd=cwd, env={**os.environ, **GIT_ENV}, stdin=stdin
    )
    if not done.ok:
        raise RepositoryError(f"git {' '.join(args[:2])} failed: {done.reason(lines=5)}")
    return done.stdout.removesuffix("\n")


def check_repository(path: Path) -> None:
    """Raise RepositoryError unless `path` is a git repository."""
    if not path.exists():
        raise RepositoryError(f"repository.path {path} does not exist; clone the repository there first")
    try:
        git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise RepositoryError(f"repository.path {path} is not a git repository; point it at a clone") from None


def clean_nested_git(workspace: Path) -> list[str]:
    """Remove `.git` entries a sandbox may have planted below the workspace root; returns what it removed."""
    removed = []
    for directory, dirs, files in os.walk(workspace):
        here = Path(directory)
        for name in [*dirs, *files]:
            if name == ".git" and here != workspace:
                target = here / name
                removed.append(target.relative_to(workspace).as_posix())
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
        dirs[:] = [d for d in dirs if d != ".git"]
    return removed


PULL_REFSPECS = (
    "+refs/pull/*/head:refs/remotes/origin/pull/*",  # GitHub, Gitea, Forgejo
    "+refs/merge-requests/*/head:refs/remotes/origin/merge-requests/*",  # GitLab
)


def _looks_like_url(source: str) -> bool:
    return "://" in source or ("@" in source and ":" in source)


class Mirror:
    """agentd's own clone of the watched repository (a local path or a remote URL), under the state directory.

    `push` says whether agentd/ branches go back to the source: always for a local clone (that is
    where its user reads them), for a remote only when the config says `push = true`.
    """

    def __init__(self, source: str | Path, clone_dir: Path, *, push: bool = True, pull_requests: bool = False) -> None:
        self.source = str(source)
        self.path = clone_dir
        self.push = push
        self.pull_requests = pull_requests
        self._lock = threading.RLock()
        self._depth = 0

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the clone for one change of its refs or worktrees (threads here, and other agentd processes).

        A fetch walks every worktree's HEAD; a worktree being made or removed at that moment makes
        it fail ("bad object worktrees/…/HEAD"), and two worktree changes trip over each other.
        """
        with self._lock:
            if self._depth:  # already held by this thread: the RLock let it in
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with (self.path.parent / f"{self.path.name}.lock").open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
                    fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def is_local(self) -> bool:
        """Whether the source is a local non-bare clone that agentd may watch with inotify."""
        return Path(self.source).is_dir() and not self.source.endswith(".git")

    def ensure(self) -> None:
        """Create the clone on first use."""
        if Path(self.source).is_absolute() or not _looks_like_url(self.source):
            check_repository(Path(self.source))
        with self._exclusive():
            if (self.path / "HEAD").exists():
                return
            run_git(self.path.parent, "init", "--bare", "--quiet", str(self.path))
            run_git(self.path, "remote", "add", "origin", self.source)

    def fetch(self) -> None:
        """Fetch branches (and pull-request heads) of the source into refs/remotes/origin/."""
        refspecs = ["+refs/heads/*:refs/remotes/origin/*"]
        if self.pull_requests:
            refspecs += PULL_REFSPECS
        with self._exclusive():
            run_git(self.path, "fetch", "--quiet", "--prune", "--no-tags", "origin", *refspecs)

    def pull_heads(self) -> dict[int, str]:
        """Pull/merge-request number -> head sha, as last fetched."""
        listing = run_git(
            self.path,
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/remotes/origin/pull",
            "refs/remotes/origin/merge-requests",
        )
        heads: dict[int, str] = {}
        for line in listing.splitlines():
            ref, sha = line.split()
            number = ref.rsplit("/", 1)[-1]
            if number.isdigit():
                heads[int(number)] = sha
        return heads

    def merge_base(self, a: str, b: str) -> str:
        """The best common ancestor of two commits."""
        return run_git(self.path, "merge-base", a, b)

    def diff(self, base: str, head: str, max_bytes: int = 60_000) -> str:
        """The patch from base to head (capped), for reviews."""
        return run_git(self.path, "diff", "--stat", "--patch", "--no-color", "--no-ext-diff", base, head)[:max_bytes]

    def patch(self, base: str, head: str, max_bytes: int = 4 << 20) -> str:
        """The plain patch from base to head (no stat, renames found), cut at `max_bytes`: what findings anchor on."""
        done = self._git("diff", "--no-color", "--no-ext-diff", "-M", base, head, max_output=max_bytes)
        if done.exit_code != 0 or done.timed_out:
            raise RepositoryError(f"git diff failed: {done.reason(lines=5)}")
        return done.stdout

    def changed_paths(self, base: str, head: str) -> list[str]:
        """The paths a change from base to head touches (new names of renamed files)."""
        listing = run_git(self.path, "diff", "--name-only", "--no-renames", "-z", base, head)
        return [path for path in listing.split("\0") if path]

    def existing_files(self, rev: str, paths: list[str]) -> set[str]:
        """Which of `paths` are files in the tree of `rev` (one git process for all of them)."""
        if not paths:
            return set()
        asked = "".join(f"{rev}:{path}\n" for path in paths)
        done = self._git("cat-file", "--batch-check=%(objecttype)", stdin=asked)
        if not done.ok:
            raise RepositoryError(f"git cat-file failed: {done.reason(lines=5)}")
        kinds = done.stdout.splitlines()
        return {path for path, kind in zip(paths, kinds, strict=False) if kind == "blob"}

    def read_file(self, rev: str, path: str, max_bytes: int) -> str | None:
        """The text of file `path` in `rev` (None when it is not a file there), cut at `max_bytes`."""
        if path not in self.existing_files(rev, [path]):
            return None
        done = self._git("cat-file", "blob", f"{rev}:{path}", max_output=max_bytes)
        return done.stdout if done.exit_code == 0 else None

    def _git(self, *args: str, stdin: str | None = None, max_output: int = 1 << 20) -> process.ProcessResult:
        """One safe git command in the clone whose failure (or cut output) the caller judges."""
        return process.run(
            ["git", *SAFE_GIT, *args],
            timeout_s=GIT_TIMEOUT_S,
            cwd=self.path,
            env={**os.environ, **GIT_ENV},
            stdin=stdin,
            max_output=max_output,
        )

    def head(self, branch: str) -> str | None:
        """The fetched head of a branch, or None if the branch does not exist."""
        try:
            return run_git(self.path, "rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}^{{commit}}")
        except RepositoryError:
            return None

    def resolve(self, ref: str) -> str:
        """A commit sha for a branch name or any revision."""
        try:
            return self.head(ref) or run_git(self.path, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except RepositoryError:
            raise RepositoryError(f"no branch or commit {ref!r} in {self.source}") from None

    def is_ancestor(self, older: str, newer: str) -> bool | None:
        """Whether `older` is an ancestor of `newer` in agentd's clone; None when git cannot tell (one is missing)."""
        argv = ["git", *SAFE_GIT, "merge-base", "--is-ancestor", older, newer]
        done = process.run(argv, timeout_s=60, cwd=self.path, env={**os.environ, **GIT_ENV})
        if done.timed_out:
            return None
        return {0: True, 1: False}.get(done.exit_code)

    def has_commit(self, sha: str) -> bool:
        """Whether agentd's clone holds the commit `sha`."""
        argv = ["git", *SAFE_GIT, "cat-file", "-e", f"{sha}^{{commit}}"]
        return process.run(argv, timeout_s=60, cwd=self.path, env={**os.environ, **GIT_ENV}).ok

    def first_parent_commits(self, old: str, new: str, limit: int) -> list[str]:
        """Commits reachable from `new` but not `old` on the first-parent line, oldest first (at most `limit`)."""
        shas = run_git(self.path, "rev-list", "--first-parent", f"--max-count={limit}", f"{old}..{new}").split()
        return list(reversed(shas))

    def parent(self, sha: str) -> str | None:
        """The first parent of a commit, or None for a root commit."""
        try:
            return run_git(self.path, "rev-parse", "--verify", "--quiet", f"{sha}^")
        except RepositoryError:
            return None

    def commit_message(self, sha: str) -> str:
        """A commit's full message."""
        return run_git(self.path, "log", "-1", "--format=%B", sha)

    def show(self, sha: str, max_bytes: int = 60_000) -> str:
        """A commit's patch (capped), for reviews."""
        return run_git(self.path, "show", "--stat", "--patch", "--no-color", sha)[:max_bytes]

    # ------------------------------------------------------------ worktrees

    def add_worktree(self, path: Path, sha: str) -> Path:
        """A detached worktree of `sha` at `path` (replacing a leftover one)."""
        with self._exclusive():
            self.remove_worktree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            run_git(self.path, "worktree", "add", "--detach", "--force", str(path), sha)
        return path

    def remove_worktree(self, path: Path) -> None:
        """Remove a worktree and its metadata; safe when it does not exist."""
        with self._exclusive():
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
            run_git(self.path, "worktree", "prune")

    def stage(self, worktree: Path) -> str:
        """Stage everything in a worktree (after removing planted .git entries); returns the staged diff."""
        clean_nested_git(worktree)
        run_git(worktree, "add", "--all")
        return run_git(worktree, "diff", "--cached", "--no-color", "--no-ext-diff", "HEAD")

    def index_tree(self, worktree: Path) -> str:
        """The tree id of what is staged in a worktree (its content, as git would commit it)."""
        return run_git(worktree, "write-tree")

    def tree_of(self, commit: str) -> str:
        """The tree id of a commit."""
        return run_git(self.path, "rev-parse", "--verify", "--quiet", f"{commit}^{{tree}}")

    def commit(self, worktree: Path, message: str, message_file: Path) -> str:
        """Commit the staged tree on the worktree's detached HEAD; returns the new sha."""
        message_file.write_text(message, encoding="utf-8")
        try:
            with self._exclusive():  # a new object and the worktree's HEAD: not while a fetch walks HEADs
                run_git(worktree, "commit", "--quiet", "--no-verify", "--cleanup=verbatim", "-F", str(message_file))
        finally:
            message_file.unlink(missing_ok=True)
        return run_git(worktree, "rev-parse", "HEAD")

    # ------------------------------------------------------------ publishing

    def published(self, branch: str) -> str | None:
        """The sha of an agentd/ branch: in the source when agentd pushes there, else in its own clone."""
        if self.push:
            return self.head(branch) or self._local(branch)
        return self._local(branch)

    def publish(self, sha: str, branch: str, replaces: str | None = None, *, push: bool = True) -> str:
        """Point `branch` (an agentd/ ref) at `sha` in agentd's clone and, when pushing, in the source.

        Only agentd/ refs are ever written. `replaces` is the sha agentd itself published there
        before (from its store): the ref moves only if it still holds exactly that (a lease), and
        must not exist at all when `replaces` is None; anything else is someone else's work and
        the publish fails instead of overwriting it. `push=False` keeps it in agentd's clone.
        """
        if not branch.startswith(AGENTD_PREFIX):
            raise RepositoryError(f"refusing to publish {branch!r}: agentd only writes agentd/ branches")
        ref = f"refs/heads/{branch}"
        with self._exclusive():
            local = self._local(branch)
            if local not in (None, replaces, sha):
                raise RepositoryError(
                    f"{branch} in agentd's clone holds {local[:12]}, not the {(replaces or 'nothing')[:12]} agentd "
                    "published; refusing to move it"
                )
            if self.push and push:
                lease = f"--force-with-lease={ref}:{replaces or ''}"
                try:
                    run_git(self.path, "push", "--quiet", "--no-verify", lease, "origin", f"{sha}:{ref}")
                except RepositoryError as exc:
                    raise RepositoryError(
                        f"{branch} in {self.source} no longer holds what agentd published there "
                        f"({(replaces or 'nothing')[:12]}); refusing to overwrite it: {exc}"
                    ) from None
            run_git(self.path, "update-ref", ref, sha)
        return sha

    def _local(self, branch: str) -> str | None:
        try:
            return run_git(self.path, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
        except RepositoryError:
            return None
