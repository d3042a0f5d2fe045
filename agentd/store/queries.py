"""Every statement the store runs, written once for both backends.

Parameters are named (`:name`); `{skip_locked}` and `{lock_jobs}` are the row-lock clauses only
PostgreSQL writes. agentd.store.dialect turns a statement into its backend's text. Both SQLite
(3.35 or newer) and PostgreSQL take `RETURNING`, `ON CONFLICT`, `NULLS LAST` and `CAST(… AS TEXT)`.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentd.store.records import TASK_DONE_STATES
from agentd.store.rows import check_task_fields

_DONE_IN = ", ".join(f"'{state}'" for state in TASK_DONE_STATES)

# ------------------------------------------------------------------ queue

INSERT_EVENT = (
    "INSERT INTO events(key, type, payload, created_at) VALUES (:key, :type, :payload, :now) "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
)
TASK_OF_EVENT = "SELECT t.id FROM events e JOIN tasks t ON t.event_id = e.id WHERE e.key = :key"
INSERT_TASK = (
    "INSERT INTO tasks(event_id, kind, subject, description, base_sha, created_at) "
    "VALUES (:event_id, :kind, :subject, :description, :base_sha, :now) RETURNING id"
)
INSERT_JOB = "INSERT INTO jobs(task_id, created_at, updated_at) VALUES (:task_id, :now, :now) RETURNING id"
# {lock_jobs}: a job a worker claims meanwhile is seen as running (asked to stop), never cancelled under it.
OTHERS_OF_SUBJECT = (
    "SELECT t.id AS task_id, t.base_sha AS head, j.id AS job_id, j.status FROM tasks t JOIN jobs j ON j.task_id = t.id "
    "WHERE t.subject = :subject AND t.id <> :keep ORDER BY j.id {lock_jobs}"
)
CANCEL_JOB = "UPDATE jobs SET status = 'cancelled', lease_expires = NULL, updated_at = :now WHERE id = :job_id"
SUPERSEDE_TASK = (
    "UPDATE tasks SET status = 'superseded', finished_at = :now, summary = :summary "
    "WHERE id = :task_id AND status IN ('queued', 'running')"
)
ASK_JOB_TO_STOP = "UPDATE jobs SET cancel_requested = 1 WHERE id = :job_id"
JOB_OF_TASK_ID = "SELECT j.id AS job_id, j.status FROM jobs j WHERE j.task_id = :task_id {lock_jobs}"
REVIVE_JOB = (
    "UPDATE jobs SET status = 'queued', cancel_requested = 0, lease_owner = NULL, lease_expires = NULL, "
    "error = NULL, updated_at = :now WHERE id = :job_id AND status = 'cancelled'"
)
REVIVE_TASK = "UPDATE tasks SET status = 'queued', summary = '', finished_at = NULL WHERE id = :task_id"

LIVE_LEASES = "SELECT COUNT(*) AS n FROM jobs WHERE status = 'running' AND lease_expires >= :now"
CLAIMABLE_JOB = (
    "SELECT id, task_id, attempts, cancel_requested FROM jobs WHERE (status = 'queued' AND (lease_expires IS NULL "
    "OR lease_expires <= :now)) OR (status = 'running' AND lease_expires < :now) ORDER BY id LIMIT 1 {skip_locked}"
)
# A job still 'running' when claimed lost its worker (killed, or cut off from the store): say so.
LEASE_JOB = (
    "UPDATE jobs SET status = 'running', lease_owner = :owner, lease_expires = :expires, "
    "attempts = attempts + 1, error = CASE WHEN status = 'running' THEN :taken_over ELSE error END, "
    "updated_at = :now WHERE id = :job_id"
)
SET_TASK_STATUS = "UPDATE tasks SET status = :status WHERE id = :task_id"
RENEW_LEASE = (
    "UPDATE jobs SET lease_expires = :expires WHERE id = :job_id AND lease_owner = :owner "
    "AND status = 'running' AND cancel_requested = 0"
)
CANCEL_REQUESTED = "SELECT cancel_requested FROM jobs WHERE id = :job_id"
RELEASE_JOB = (
    "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, error = :error, "
    "attempts = attempts - 1, updated_at = :now WHERE id = :job_id AND lease_owner = :owner"
)
RETRY_JOB = (
    "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires = :not_before, error = :error, "
    "updated_at = :now WHERE id = :job_id AND lease_owner = :owner"
)
# Fenced: only the worker holding the lease ends a job (one whose lease expired and was taken over does not).
FINISH_JOB = (
    "UPDATE jobs SET status = :status, error = :error, lease_expires = NULL, updated_at = :now "
    "WHERE id = :job_id AND lease_owner = :owner AND status = 'running'"
)


# A task's end is recorded only while its worker holds the lease and nobody asked the job to stop.
_HOLDS_LEASE = (
    " AND EXISTS (SELECT 1 FROM jobs WHERE id = :job_id AND lease_owner = :owner AND status = 'running' "
    "AND cancel_requested = 0)"
)


def update_task(fields: Iterable[str], *, fenced: bool = False) -> str:
    """The UPDATE of the given task columns (each checked against the known ones), by `:task_id`.

    `fenced`: only while the lease `:job_id`/`:owner` is held and its job was not asked to stop.
    """
    names = sorted(fields)
    check_task_fields(names)
    if not names:
        raise ValueError("update_task needs at least one field")
    update = f"UPDATE tasks SET {', '.join(f'{name} = :{name}' for name in names)} WHERE id = :task_id"
    return update + _HOLDS_LEASE if fenced else update


HEARTBEAT = (
    "INSERT INTO daemons(owner, pid, heartbeat) VALUES (:owner, :pid, :now) "
    "ON CONFLICT (owner) DO UPDATE SET heartbeat = excluded.heartbeat"
)
LIVE_DAEMONS = "SELECT owner FROM daemons WHERE heartbeat > :since"
BRANCH_HEAD = "SELECT sha FROM branch_heads WHERE repo = :repo AND branch = :branch"
PUBLISHED_COMMIT = "SELECT id FROM tasks WHERE commit_sha = :sha LIMIT 1"
SET_BRANCH_HEAD = (
    "INSERT INTO branch_heads(repo, branch, sha) VALUES (:repo, :branch, :sha) "
    "ON CONFLICT (repo, branch) DO UPDATE SET sha = excluded.sha"
)
REMEMBER_DELIVERY = (
    "INSERT INTO webhook_deliveries(delivery_id, received_at) VALUES (:delivery_id, :now) ON CONFLICT DO NOTHING"
)

# ------------------------------------------------------------------ housekeeping

PRUNE_TOOL_CALLS = (
    "DELETE FROM tool_calls WHERE created_at < :before AND session_id IN (SELECT s.id FROM debate_sessions s "
    f"JOIN tasks t ON t.id = s.task_id WHERE t.status IN ({_DONE_IN}))"
)
PRUNE_DELIVERIES = "DELETE FROM webhook_deliveries WHERE received_at < :before"
HELD_TASKS = "SELECT task_id FROM jobs WHERE status = 'running' AND lease_expires >= :now"

# ------------------------------------------------------------------ recorder

INSERT_SESSION = (
    "INSERT INTO debate_sessions(task_id, protocol, strategy, created_at) "
    "VALUES (:task_id, :protocol, :strategy, :now) RETURNING id"
)
FINISH_SESSION = (
    "UPDATE debate_sessions SET status = :status, verdict = :verdict, finished_at = :now WHERE id = :session_id"
)
INSERT_AGENT = (
    "INSERT INTO agents(name, role, model, created_at) VALUES (:agent, :role, :model, :now) "
    "ON CONFLICT (name) DO NOTHING"
)
INSERT_TURN = (
    "INSERT INTO debate_turns(session_id, seq, agent, role, model, content, submission, status, input_tokens, "
    "output_tokens, latency_ms, created_at) VALUES (:session_id, :seq, :agent, :role, :model, :content, "
    ":submission, :status, :input_tokens, :output_tokens, :latency_ms, :now) RETURNING id"
)
INSERT_TOOL_CALL = (
    "INSERT INTO tool_calls(session_id, turn_seq, agent, tool, arguments, decision, rule, ok, exit_code, "
    "duration_ms, output, created_at) VALUES (:session_id, :turn_seq, :agent, :tool, :arguments, :decision, "
    ":rule, :ok, :exit_code, :duration_ms, :output, :now) RETURNING id"
)
INSERT_USAGE = (
    "INSERT INTO usage(task_id, model, input_tokens, output_tokens, cost_usd, created_at) "
    "VALUES (:task_id, :model, :input_tokens, :output_tokens, :cost_usd, :now) RETURNING id"
)
INSERT_CODE_VERSION = (
    "INSERT INTO code_versions(task_id, kind, sha, diff, tests_passed, test_output, created_at) "
    "VALUES (:task_id, :kind, :sha, :diff, :tests_passed, :test_output, :now) RETURNING id"
)
ADD_MODEL_OUTCOME = (
    "INSERT INTO model_stats AS m(kind, model, runs, agreed, green, cost_usd, latency_ms) "
    "VALUES (:kind, :model, 1, :agreed, :green, :cost_usd, :latency_ms) ON CONFLICT (kind, model) DO UPDATE "
    "SET runs = m.runs + 1, agreed = m.agreed + excluded.agreed, green = m.green + excluded.green, "
    "cost_usd = m.cost_usd + excluded.cost_usd, latency_ms = m.latency_ms + excluded.latency_ms"
)
SPENT_SINCE = "SELECT COALESCE(SUM(cost_usd), 0) AS usd FROM usage WHERE created_at >= :since"
RUNNING_SESSION = (
    "SELECT id FROM debate_sessions WHERE task_id = :task_id AND status = 'running' ORDER BY id DESC LIMIT 1"
)
TURNS_IN_ORDER = "SELECT * FROM debate_turns WHERE session_id = :session_id ORDER BY seq"
FORGE_COMMENT = "SELECT comment_id FROM forge_comments WHERE repo = :repo AND pr = :pr"
SET_FORGE_COMMENT = (
    "INSERT INTO forge_comments(repo, pr, comment_id) VALUES (:repo, :pr, :comment_id) "
    "ON CONFLICT (repo, pr) DO UPDATE SET comment_id = excluded.comment_id"
)
SET_EVAL_RESULT = (
    "INSERT INTO eval_results(key, task_id, record, created_at) VALUES (:key, :task_id, :record, :now) "
    "ON CONFLICT (key) DO UPDATE SET task_id = excluded.task_id, record = excluded.record, "
    "created_at = excluded.created_at"
)
EVAL_RESULTS = "SELECT key, record FROM eval_results ORDER BY key"
POSTED_FINDINGS = "SELECT fingerprint FROM posted_findings WHERE repo = :repo AND pr = :pr"
REMEMBER_FINDING = (
    "INSERT INTO posted_findings(repo, pr, fingerprint, posted_at) VALUES (:repo, :pr, :fingerprint, :now) "
    "ON CONFLICT DO NOTHING"
)
SET_TASK_REVIEW = (
    "INSERT INTO task_reviews(task_id, review, updated_at) VALUES (:task_id, :review, :now) "
    "ON CONFLICT (task_id) DO UPDATE SET review = excluded.review, updated_at = excluded.updated_at"
)

# ------------------------------------------------------------------ views

_TASK = "SELECT t.*, e.payload FROM tasks t JOIN events e ON e.id = t.event_id"
TASK = f"{_TASK} WHERE t.id = :task_id"
TASKS = f"{_TASK} WHERE CAST(:status AS TEXT) IS NULL OR t.status = :status ORDER BY t.id DESC LIMIT :limit"
HISTORY = (
    "SELECT t.id, t.kind, t.description, t.status, t.branch, t.commit_sha, t.tests_passed, t.created_at, "
    "t.finished_at, COALESCE(u.input_tokens, 0) AS input_tokens, COALESCE(u.output_tokens, 0) AS output_tokens, "
    "COALESCE(u.calls, 0) AS model_calls FROM tasks t LEFT JOIN (SELECT task_id, SUM(input_tokens) AS input_tokens, "
    "SUM(output_tokens) AS output_tokens, COUNT(*) AS calls FROM usage GROUP BY task_id) u ON u.task_id = t.id "
    f"WHERE t.status IN ({_DONE_IN}) ORDER BY t.finished_at DESC NULLS LAST, t.id DESC LIMIT :limit"
)
TASK_REVIEW = "SELECT review FROM task_reviews WHERE task_id = :task_id"
SESSIONS_OF_TASK = "SELECT * FROM debate_sessions WHERE task_id = :task_id ORDER BY id"
TURNS_OF_SESSION = "SELECT * FROM debate_turns WHERE session_id = :session_id ORDER BY id"
TOOL_CALLS_OF_SESSION = "SELECT * FROM tool_calls WHERE session_id = :session_id ORDER BY id"
INSERT_SPAN = (
    "INSERT INTO spans(task_id, span_id, parent_id, name, started_at, duration_ms, status, attributes) "
    "VALUES (:task_id, :span_id, :parent_id, :name, :started_at, :duration_ms, :status, :attributes) RETURNING id"
)
SPANS_OF_TASK = "SELECT * FROM spans WHERE task_id = :task_id ORDER BY started_at, id"
VERSIONS_OF_TASK = "SELECT * FROM code_versions WHERE task_id = :task_id ORDER BY id"
_USAGE = (
    "SELECT COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens, "
    "COUNT(*) AS calls, COALESCE(SUM(cost_usd), 0) AS cost_usd FROM usage"
)
USAGE_OF_TASK = f"{_USAGE} WHERE task_id = :task_id"
USAGE = _USAGE
JOB_OF_TASK = "SELECT status, attempts, error FROM jobs WHERE task_id = :task_id"
TURNS_AFTER = (
    "SELECT d.* FROM debate_turns d JOIN debate_sessions s ON s.id = d.session_id "
    "WHERE s.task_id = :task_id AND d.id > :after ORDER BY d.id LIMIT :limit"
)
TOOL_CALLS_AFTER = (
    "SELECT c.* FROM tool_calls c JOIN debate_sessions s ON s.id = c.session_id "
    "WHERE s.task_id = :task_id AND c.id > :after ORDER BY c.id LIMIT :limit"
)
SESSIONS = (
    "SELECT s.*, (SELECT COUNT(*) FROM debate_turns d WHERE d.session_id = s.id) AS turns, "
    "(SELECT COUNT(*) FROM tool_calls c WHERE c.session_id = s.id) AS tool_calls "
    "FROM debate_sessions s ORDER BY s.id DESC LIMIT :limit"
)
AGENTS = "SELECT name, role, model, created_at FROM agents ORDER BY name"
MODEL_STATS = "SELECT * FROM model_stats ORDER BY kind, model"
JOBS_BY_STATUS = "SELECT status AS k, COUNT(*) AS n FROM jobs GROUP BY status"
TASKS_BY_STATUS = "SELECT status AS k, COUNT(*) AS n FROM tasks GROUP BY status"
TOOL_CALLS_BY_DECISION = "SELECT decision AS k, COUNT(*) AS n FROM tool_calls GROUP BY decision"
FINISHED_TASKS = (
    "SELECT COUNT(*) AS n, COALESCE(SUM(finished_at - created_at), 0) AS seconds FROM tasks "
    "WHERE finished_at IS NOT NULL"
)
SANDBOX_COMMANDS = "SELECT COUNT(*) AS n FROM tool_calls WHERE tool = 'execute_command' AND decision = 'allowed'"

# ------------------------------------------------------------------ schema

SCHEMA_VERSION = 1
RECORD_SCHEMA_VERSION = "INSERT INTO schema_version(version, applied_at) VALUES (:version, :now) ON CONFLICT DO NOTHING"
NEWEST_SCHEMA_VERSION = "SELECT MAX(version) AS version FROM schema_version"
