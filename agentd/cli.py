"""The `agentd` command line. Every command honours --config and $AGENTD_CONFIG.

One module past ~400 lines on purpose: every command is a thin shell over the part it drives, so
the whole command surface reads in one place.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agentd.config import Config, load_config
from agentd.kernel.errors import AgentdError
from agentd.kernel.redact import Redactor
from agentd.service.logs import configure_logging

if TYPE_CHECKING:
    from agentd.store.records import TaskRecord

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="AGENTD_CONFIG",
    default=Path("agentd.toml"),
    show_default=True,
    help="agentd.toml to use (or $AGENTD_CONFIG).",
)
INIT_TEMPLATE = """\
# agentd configuration for {repo}
# Every key has a safe default in code; this file only overrides. Secrets never go here:
# name the environment variable that holds them (api_key_env, dsn_env).

[daemon]
state_dir = "{state}"        # worktrees, agentd's clone, logs and the SQLite database

[repository]
path = "{repo}"               # the local clone agentd watches; it only ever adds agentd/ branches
watch_branches = ["main"]
test_command = ["go", "test", "./..."]

# The model every role uses unless [roles] says otherwise. Any OpenAI-compatible server works
# through base_url (Ollama: http://127.0.0.1:11434/v1, vLLM: http://127.0.0.1:8000/v1).
[models.default]
provider = "openai"           # openai | anthropic | scripted
model = "gpt-4.1"
api_key_env = "OPENAI_API_KEY"
# base_url = "http://127.0.0.1:8000/v1"

# [models.claude]
# provider = "anthropic"
# model = "claude-sonnet-4-5"
# api_key_env = "ANTHROPIC_API_KEY"

[roles]                       # role -> model name; proposer, critic, reviewer, judge, optimizer, tester
# critic = "claude"

[sandbox]
# image = "agentd-sandbox-go:<version>"   # default: the image this agentd is made for (`agentd sandbox build`)

# [store]
# url = "sqlite:///{state}/agentd.db"

# [target_database]          # the project's PostgreSQL, for the query_database tool
# dsn_env = "APP_DATABASE_URL"
"""


def _load(config_path: Path) -> Config:
    config = load_config(config_path)
    configure_logging(Redactor.from_environment(config.secret_env_names()), config.daemon.log_format)
    return config


class _Group(click.Group):
    """Turns agentd's errors into one line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentdError as exc:
            click.echo(f"agentd: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="agentd")
def main() -> None:
    """agentd: a team of LLM agents that watches a git repository and commits proven fixes on agentd/ branches."""


@main.command()
@click.argument("repo", type=click.Path(file_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=Path("agentd.toml"))
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(repo: Path, output: Path, state_dir: Path | None, force: bool) -> None:
    """Write a commented agentd.toml for the repository at REPO."""
    from agentd.repo.mirror import check_repository  # noqa: PLC0415 - keep start-up light

    repo = repo.resolve()
    check_repository(repo)
    if output.exists() and not force:
        raise AgentdError(f"{output} exists; pass --force to overwrite it")
    state = (state_dir or repo.parent / ".agentd-state").resolve()
    output.write_text(INIT_TEMPLATE.format(repo=repo, state=state), encoding="utf-8")
    click.echo(f"wrote {output}; next: `agentd doctor --config {output}`, then `agentd run --config {output}`")


@main.command()
@CONFIG_OPTION
def run(config_path: Path) -> None:
    """Run the daemon in the foreground (SIGTERM or SIGINT stops it cleanly)."""
    from agentd.app import App  # noqa: PLC0415

    config = _load(config_path)
    log_file = config.daemon.state_dir / "logs" / "agentd.log"
    configure_logging(Redactor.from_environment(config.secret_env_names()), config.daemon.log_format, log_file=log_file)
    sys.exit(App(config).run())


@main.command()
@CONFIG_OPTION
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines as the daemon writes them.")
@click.option("--lines", "-n", default=50, show_default=True, help="How many of the last lines to print first.")
def logs(config_path: Path, follow: bool, lines: int) -> None:
    """Print the daemon's log (STATE_DIR/logs/agentd.log); --follow keeps watching it."""
    config = load_config(config_path)
    path = config.daemon.state_dir / "logs" / "agentd.log"
    if not path.exists():
        raise AgentdError(f"{path}: no log yet; the daemon writes it once `agentd run` has started")
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle.readlines()[-lines:] if lines > 0 else []:
            click.echo(line, nl=False)
        while follow:
            line = handle.readline()
            if line:
                click.echo(line, nl=False)
            else:
                time.sleep(0.2)


@main.command()
@click.argument("description")
@CONFIG_OPTION
@click.option("--base", "base_ref", default=None, help="Branch or commit to start from (default: first watched).")
@click.option("--kind", type=click.Choice(["fix", "feature", "optimize", "review"]), default="fix")
@click.option("--wait", is_flag=True, help="Wait for the result (runs the job here when no daemon is running).")
def task(description: str, config_path: Path, base_ref: str | None, kind: str, wait: bool) -> None:
    """Ask the team for a change described in DESCRIPTION."""
    from agentd.kernel.events import TaskRequested  # noqa: PLC0415
    from agentd.store import open_store  # noqa: PLC0415

    config = _load(config_path)
    store = open_store(config.store_url)
    event = TaskRequested(
        repo=config.repository.source,
        description=description,
        kind=kind,
        base_ref=base_ref or config.repository.watch_branches[0],
        request_id=uuid.uuid4().hex,
    )
    task_id, _ = store.enqueue(event, description, None)
    click.echo(f"task {task_id} queued")
    if wait:
        _wait_for(config, store, task_id)


def _wait_for(config: Config, store: Any, task_id: int) -> None:
    worker = None
    if not store.live_daemons(within_s=10):
        from agentd.app import App  # noqa: PLC0415

        click.echo("no daemon is running; running the job here")
        daemon = App(config, store)
        daemon.recover()

        def work() -> None:
            while not store.get_task(task_id).done and daemon.work_once():
                pass

        worker = threading.Thread(target=work, name="worker", daemon=True)
        worker.start()
    last, shown = "", 0
    while True:
        found = store.get_task(task_id)
        if found.status != last:
            click.echo(f"task {task_id}: {found.status}")
            last = found.status
        shown = _print_progress(store.task_record(task_id), shown)
        if found.done or (worker is not None and not worker.is_alive()):
            break
        time.sleep(0.5)
    found = store.get_task(task_id)
    _print_progress(store.task_record(task_id), shown)
    _print_task_line(found)
    sys.exit(0 if found.status in {"fixed", "reviewed"} else 1)


def _print_progress(record: TaskRecord, shown: int) -> int:
    """Print the turns finished since the last call (live progress); returns how many are shown."""
    turns = [turn for session in record.sessions for turn in session.turns]
    for turn in turns[shown:]:
        submission = turn.submission or {}
        said = submission.get("summary") or submission.get("rationale") or submission.get("approach") or turn.status
        click.echo(f"  {turn.agent} ({turn.role}): {str(said).splitlines()[0][:100]}")
    return len(turns)


def _print_task_line(found: Any) -> None:
    branch = f" on {found.branch} ({(found.commit_sha or '')[:7]})" if found.branch else ""
    click.echo(f"task {found.id} {found.status}{branch}: {found.summary.splitlines()[0] if found.summary else ''}")


@main.command()
@CONFIG_OPTION
@click.option("--limit", default=20, show_default=True)
def status(config_path: Path, limit: int) -> None:
    """The queue and the latest tasks."""
    from agentd.store import open_store  # noqa: PLC0415

    config = _load(config_path)
    store = open_store(config.store_url)
    live = store.live_daemons(within_s=10)
    click.echo(f"daemon: {'running (' + ', '.join(live) + ')' if live else 'not running'}")
    counts = store.counts()
    click.echo("jobs: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    stats = store.model_stats()
    if stats:
        click.echo(f"{'KIND':8}  {'MODEL':32}  {'RUNS':>4}  {'AGREED':>6}  {'GREEN':>5}  {'USD/RUN':>8}")
        for row in stats:
            click.echo(
                f"{row.kind:8}  {row.model[:32]:32}  {row.runs:>4}  {row.agreed:>6}  "
                f"{row.green:>5}  {row.cost_usd / max(1, row.runs):>8.4f}"
            )
    click.echo(f"{'ID':>4}  {'KIND':6}  {'STATUS':12}  {'BRANCH':28}  DESCRIPTION")
    for item in store.list_tasks(limit):
        click.echo(
            f"{item.id:>4}  {item.kind:6}  {item.status:12}  {item.branch or '-':28}  "
            f"{item.description.splitlines()[0][:60]}"
        )


@main.command()
@CONFIG_OPTION
def gc(config_path: Path) -> None:
    """Prune now what [retention] says is old: audit rows, delivery ids, reports, crashed jobs' leftovers."""
    from agentd.repo.mirror import Mirror  # noqa: PLC0415
    from agentd.service.retention import collect  # noqa: PLC0415
    from agentd.store import open_store  # noqa: PLC0415

    config = _load(config_path)
    store = open_store(config.store_url)
    mirror = Mirror(config.repository.source, config.daemon.state_dir / "repo.git")
    try:
        pruned = collect(store, config.daemon.state_dir, config.retention, mirror.remove_worktree)
    finally:
        store.close()
    click.echo(", ".join(f"{kind} {count}" for kind, count in pruned.items()))


@main.command()
@CONFIG_OPTION
@click.option("--timeout", "timeout_s", default=5.0, show_default=True, help="Seconds to wait for the answer.")
def health(config_path: Path, timeout_s: float) -> None:
    """Ask the running daemon's /healthz (api.listen); exit 0 when healthy, 1 when not (for container healthchecks)."""
    from agentd.intake.api.server import probe_health  # noqa: PLC0415

    config = load_config(config_path)
    if not config.api.listen:
        raise AgentdError("api.listen is not set, so there is no /healthz to ask; set it (e.g. 127.0.0.1:8765)")
    healthy, said = probe_health(config.api.listen, timeout_s)
    click.echo(said, err=not healthy)
    sys.exit(0 if healthy else 1)


@main.command()
@click.argument("task_id", type=int)
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
@click.option("--sarif", is_flag=True, help="Print the task's findings as a SARIF 2.1.0 log.")
def show(task_id: int, config_path: Path, as_json: bool, sarif: bool) -> None:
    """The debate of a task: turns, tool calls with their decisions, verdict, commit."""
    from agentd.job.report import render_task  # noqa: PLC0415
    from agentd.job.review import load  # noqa: PLC0415
    from agentd.job.sarif import sarif_log  # noqa: PLC0415
    from agentd.job.timeline import render_timeline  # noqa: PLC0415
    from agentd.store import open_store  # noqa: PLC0415
    from agentd.store.records import as_dict  # noqa: PLC0415

    if as_json and sarif:
        raise click.UsageError("--json and --sarif: choose one")
    store = open_store(_load(config_path).store_url)
    found = store.get_task(task_id)
    if found is None:
        raise AgentdError(f"no task {task_id}; `agentd status` lists them")
    record = store.task_record(task_id)
    review = load(store, task_id)
    spans = store.task_spans(task_id)
    if sarif:
        log = sarif_log(found, review.found() if review else [], review.head if review else None)
        click.echo(json.dumps(log, indent=2))
    elif as_json:
        extra = {"review": review.to_json() if review else None, "spans": [as_dict(span) for span in spans]}
        click.echo(json.dumps({"task": _task_dict(found), **as_dict(record), **extra}, indent=2, default=str))
    else:
        click.echo(render_task(found, record))
        click.echo("\n".join(["", *render_timeline(spans)]) if spans else "")


def _task_dict(found: Any) -> dict[str, Any]:
    return {
        k: getattr(found, k)
        for k in (
            "id",
            "kind",
            "description",
            "status",
            "base_sha",
            "summary",
            "branch",
            "commit_sha",
            "tests_passed",
            "created_at",
            "finished_at",
        )
    }


@main.group()
def sandbox() -> None:
    """The sandbox image."""


@sandbox.command("build")
@CONFIG_OPTION
@click.option("--mode", type=click.Choice(["auto", "dockerfile", "offline"]), default="auto", show_default=True)
@click.option("--force", is_flag=True, help="Rebuild even when the image is up to date.")
def sandbox_build(config_path: Path, mode: str, force: bool) -> None:
    """Build the sandbox image (from the Dockerfile when a registry answers, else offline); idempotent."""
    from sandbox.build import build_image  # noqa: PLC0415
    from sandbox.config import SandboxConfig  # noqa: PLC0415
    from sandbox.docker import connect_docker  # noqa: PLC0415

    image = _load(config_path).sandbox.image if config_path.exists() else SandboxConfig().image
    tag = build_image(connect_docker(), image, mode=mode, force=force, log=click.echo)  # type: ignore[arg-type]
    click.echo(f"sandbox image ready: {tag}")


@main.command()
@CONFIG_OPTION
def doctor(config_path: Path) -> None:
    """Check the Docker engine, the image, git, the models and the database; print a fix for each problem."""
    from agentd.doctor import run_checks  # noqa: PLC0415

    checks = run_checks(_load(config_path), dict(os.environ))
    for check in checks:
        click.echo(f"{'OK  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    sys.exit(0 if all(c.ok for c in checks) else 1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print {repository, branch, commit, tests_passed}.")
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
def demo(as_json: bool, workdir: Path | None) -> None:
    """Create a sample Go repository, break a test, and watch the team fix it on an agentd/ branch."""
    from agentd.demo import run_demo  # noqa: PLC0415

    configure_logging(Redactor.from_environment(), "console", level=30)
    say = (lambda _text: None) if as_json else click.echo
    result = run_demo(workdir.resolve() if workdir else None, say=say)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "repository": result.repository,
                    "branch": result.branch,
                    "commit": result.commit,
                    "tests_passed": result.tests_passed,
                }
            )
        )
    sys.exit(0 if result.branch and result.tests_passed else 1)


@main.group()
def policy() -> None:
    """Inspect the tool policy."""


@policy.command("check")
@CONFIG_OPTION
@click.option("--command", "command", default=None, help="A command line to judge.")
@click.option("--path", "path", default=None, help="A workspace-relative path to judge (as a write).")
@click.option("--sql", "sql", default=None, help="A SQL statement to judge.")
@click.option("--role", default="proposer", show_default=True)
def policy_check(config_path: Path, command: str | None, path: str | None, sql: str | None, role: str) -> None:
    """Print the decision on a command, path or SQL statement, and the rule that made it."""
    from agentd.kernel.policy import check_command, check_path, load_policy, split_command  # noqa: PLC0415

    config = _load(config_path) if config_path.exists() else None
    rules = load_policy(config.policy.file if config else None)
    if sum(x is not None for x in (command, path, sql)) != 1:
        raise AgentdError("give exactly one of --command, --path, --sql")
    if command is not None:
        try:
            decision = check_command(rules, split_command(command), role)
        except ValueError as exc:
            click.echo(f"deny (rule: shell-syntax): {exc}")
            sys.exit(1)
    elif path is not None:
        decision = check_path(rules, path, write=True, role=role)
    else:
        from agentd.kernel.sqlguard import check_sql  # noqa: PLC0415

        decision = check_sql(sql or "", rules.sql)
    click.echo(str(decision))
    sys.exit(0 if decision.allowed else 1)


@main.group("eval")
def eval_group() -> None:
    """Tasks with known answers: check a suite, run it through agentd per protocol and model, replay history."""


def _sandbox_settings(config_path: Path) -> Any:
    """The [sandbox] section of the config when the file exists, else the defaults."""
    from sandbox.config import SandboxConfig  # noqa: PLC0415

    return _load(config_path).sandbox if config_path.exists() else SandboxConfig()


JOBS_OPTION = click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True, help="At once.")


@eval_group.command("check")
@click.argument("suite")
@CONFIG_OPTION
@JOBS_OPTION
@click.option("--task", "only", multiple=True, help="Check only this task (repeatable).")
@click.option("--verbose", "-v", is_flag=True, help="Show each test run's outcome and last lines of output.")
def eval_check(suite: str, config_path: Path, jobs: int, only: tuple[str, ...], verbose: bool) -> None:
    """Validate every task of SUITE (a directory, or 'builtin'): its tests fail before solution.patch, pass after."""
    from agentd.eval.commands import run_check  # noqa: PLC0415

    valid = run_check(suite, _sandbox_settings(config_path), jobs, only, click.echo, verbose=verbose)
    sys.exit(0 if valid else 1)


@eval_group.command("replay")
@click.argument("repo", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--since", default=None, help="Only commits after this revision.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="Valid tasks to make at most.")
@click.option("--blind", is_flag=True, help="No description: the agents get no commit message.")
@click.option("--test-command", default="go test -count=1 ./...", show_default=True)
@CONFIG_OPTION
@JOBS_OPTION
def eval_replay(repo: Path, out_dir: Path, config_path: Path, test_command: str, **choices: Any) -> None:
    """Build tasks from REPO's history: commits whose new tests fail on the parent and pass on the commit."""
    import shlex  # noqa: PLC0415

    from agentd.eval.commands import run_replay  # noqa: PLC0415
    from agentd.eval.replay import ReplayOptions  # noqa: PLC0415

    options = ReplayOptions(**choices, test_command=tuple(shlex.split(test_command)))
    kept = run_replay(repo.resolve(), out_dir.resolve(), options, _sandbox_settings(config_path), click.echo)
    sys.exit(0 if kept else 1)


EVAL_PLACEHOLDER_CONFIG = """\
# no agentd.toml: every run replaces the repository and the models; the built-in models need nothing else
[repository]
path = "."
[models.default]
provider = "scripted"
model = "placeholder"
script = "example"
"""


def _eval_config(config_path: Path, models: tuple[str, ...]) -> Config:
    """The config of an eval run; without a config file, the defaults (only the built-in models can run then)."""
    from agentd.config import parse_config  # noqa: PLC0415
    from agentd.eval.models import BUILTIN_MODELS  # noqa: PLC0415

    if config_path.exists():
        return _load(config_path)
    others = [name for name in models if name not in BUILTIN_MODELS]
    if others:
        raise AgentdError(
            f"{config_path}: no such file, so only the built-in models ({', '.join(BUILTIN_MODELS)}) can run; "
            f"give --config naming [models.{others[0]}]"
        )
    return parse_config(EVAL_PLACEHOLDER_CONFIG, "(defaults)", env={})


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


@eval_group.command("run")
@click.argument("suite")
@CONFIG_OPTION
@click.option("--protocols", default="single,vote", show_default=True, help="Comma-separated: single,vote,debate,…")
@click.option("--models", default="default", show_default=True, help="[models.NAME] names, or oracle/null/saboteur.")
@click.option("--repeat", type=click.IntRange(1, 100), default=1, show_default=True, help="Runs of each combination.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("eval-out"))
@click.option("--task", "only", multiple=True, help="Run only this task (repeatable).")
@JOBS_OPTION
def eval_run(suite: str, config_path: Path, protocols: str, models: str, out_dir: Path, **choices: Any) -> None:
    """Run every task of SUITE through agentd's job path per protocol and model, and score it (docs/eval.md)."""
    from agentd.eval.commands import RunChoices, run_eval  # noqa: PLC0415

    asked = RunChoices(suite, _names(protocols), _names(models), out=out_dir, **choices)
    config = _eval_config(config_path, asked.models)
    # the runs' own lines are the output; agentd's log says only what goes wrong
    configure_logging(Redactor.from_environment(config.secret_env_names()), config.daemon.log_format, level=30)
    records = run_eval(config, asked, click.echo)
    sys.exit(0 if all(record.get("error") is None for record in records) else 1)
