-- agentd's database of record, one script for both backends. It is written in SQLite's dialect;
-- for PostgreSQL agentd.store.dialect turns each `INTEGER PRIMARY KEY` row id into an identity column.
-- JSON stays TEXT and flags stay INTEGER (0/1), so both backends hand Python the same values.
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (version)
);
CREATE TABLE IF NOT EXISTS agents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    event_id BIGINT NOT NULL REFERENCES events(id),
    kind TEXT NOT NULL,
    subject TEXT,
    description TEXT NOT NULL,
    base_sha TEXT,
    status TEXT NOT NULL DEFAULT 'queued',
    summary TEXT NOT NULL DEFAULT '',
    branch TEXT,
    commit_sha TEXT,
    tests_passed INTEGER,
    created_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS tasks_event ON tasks(event_id);
CREATE INDEX IF NOT EXISTS tasks_subject ON tasks(subject) WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    task_id BIGINT NOT NULL UNIQUE REFERENCES tasks(id),
    status TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires DOUBLE PRECISION,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, id);
CREATE TABLE IF NOT EXISTS debate_sessions (
    id INTEGER PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES tasks(id),
    protocol TEXT NOT NULL,
    strategy TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    verdict TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS debate_sessions_task ON debate_sessions(task_id, id);
CREATE TABLE IF NOT EXISTS debate_turns (
    id INTEGER PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES debate_sessions(id),
    seq INTEGER NOT NULL,
    agent TEXT NOT NULL,
    role TEXT NOT NULL,
    model TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    submission TEXT,
    status TEXT NOT NULL DEFAULT 'done',
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS debate_turns_session ON debate_turns(session_id, id);
CREATE TABLE IF NOT EXISTS tool_calls (
    id INTEGER PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES debate_sessions(id),
    turn_seq INTEGER NOT NULL,
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    decision TEXT NOT NULL,
    rule TEXT NOT NULL DEFAULT '',
    ok INTEGER NOT NULL,
    exit_code INTEGER,
    duration_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    output TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS tool_calls_session ON tool_calls(session_id, id);
CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES tasks(id),
    span_id TEXT NOT NULL,
    parent_id TEXT,
    name TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    attributes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_task ON spans(task_id, started_at);
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES tasks(id),
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_task ON usage(task_id);
CREATE INDEX IF NOT EXISTS usage_created ON usage(created_at);
CREATE TABLE IF NOT EXISTS code_versions (
    id INTEGER PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES tasks(id),
    kind TEXT NOT NULL,
    sha TEXT,
    diff TEXT NOT NULL DEFAULT '',
    tests_passed INTEGER,
    test_output TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS code_versions_task ON code_versions(task_id, id);
CREATE TABLE IF NOT EXISTS branch_heads (
    repo TEXT NOT NULL,
    branch TEXT NOT NULL,
    sha TEXT NOT NULL,
    PRIMARY KEY (repo, branch)
);
CREATE TABLE IF NOT EXISTS model_stats (
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    runs INTEGER NOT NULL DEFAULT 0,
    agreed INTEGER NOT NULL DEFAULT 0,
    green INTEGER NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, model)
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    received_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS forge_comments (
    repo TEXT NOT NULL,
    pr INTEGER NOT NULL,
    comment_id TEXT NOT NULL,
    PRIMARY KEY (repo, pr)
);
CREATE TABLE IF NOT EXISTS posted_findings (
    repo TEXT NOT NULL,
    pr INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    posted_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (repo, pr, fingerprint)
);
CREATE TABLE IF NOT EXISTS task_reviews (
    task_id BIGINT NOT NULL REFERENCES tasks(id),
    review TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (task_id)
);
CREATE TABLE IF NOT EXISTS daemons (
    owner TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS eval_results (
    key TEXT PRIMARY KEY,
    task_id BIGINT REFERENCES tasks(id),
    record TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
