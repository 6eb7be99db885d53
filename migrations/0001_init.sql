-- Fixpoint's durable state. Times are Unix milliseconds (UTC).

-- Every verified webhook delivery, once. The primary key is GitHub's delivery GUID,
-- which makes a redelivery (or a concurrent duplicate) a no-op.
CREATE TABLE deliveries (
    delivery_id TEXT PRIMARY KEY,
    event       TEXT NOT NULL,
    action      TEXT,
    repo        TEXT,
    outcome     TEXT NOT NULL,
    job_id      INTEGER,
    received_at INTEGER NOT NULL
);

-- The durable job queue. A worker claims a job by taking a lease; a job whose worker
-- died is claimed again once the lease expires. `dedupe_key` makes a second delivery
-- about the same thing (repo, run id, run attempt) join the first job.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    dedupe_key       TEXT NOT NULL UNIQUE,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'failed', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    heartbeat_at     INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX jobs_claimable ON jobs (state, run_at);

-- Each completed step of a job, so a job that is run again after a crash skips the
-- steps that already had their effect and reuses their results.
CREATE TABLE job_steps (
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    step        TEXT NOT NULL,
    result      TEXT NOT NULL,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, step)
);

-- Which accounts and repositories the App is installed on.
CREATE TABLE installations (
    installation_id INTEGER PRIMARY KEY,
    account         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'deleted')),
    updated_at      INTEGER NOT NULL
);
CREATE TABLE installation_repos (
    installation_id INTEGER NOT NULL,
    repo            TEXT NOT NULL,
    PRIMARY KEY (installation_id, repo)
);

-- One investigation per failed deploy run attempt.
CREATE TABLE investigations (
    id              INTEGER PRIMARY KEY,
    repo            TEXT NOT NULL,
    installation_id INTEGER NOT NULL,
    service         TEXT,
    workflow        TEXT NOT NULL,
    run_id          INTEGER NOT NULL,
    run_attempt     INTEGER NOT NULL,
    head_sha        TEXT NOT NULL,
    branch          TEXT NOT NULL,
    conclusion      TEXT NOT NULL,
    status          TEXT NOT NULL,
    status_reason   TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (repo, run_id, run_attempt)
);

-- The failed run's jobs as GitHub reported them.
CREATE TABLE run_jobs (
    investigation_id INTEGER NOT NULL REFERENCES investigations (id),
    job_id           INTEGER NOT NULL,
    name             TEXT NOT NULL,
    conclusion       TEXT,
    failed_steps     TEXT NOT NULL,
    PRIMARY KEY (investigation_id, job_id)
);

-- Runs on fixpoint/ branches: progress of the loop that owns the branch, not incidents.
CREATE TABLE loop_runs (
    repo        TEXT NOT NULL,
    branch      TEXT NOT NULL,
    run_id      INTEGER NOT NULL,
    run_attempt INTEGER NOT NULL,
    conclusion  TEXT,
    head_sha    TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (repo, run_id, run_attempt)
);

-- `/fixpoint ...` comments on pull requests, kept until the command grammar acts on them.
CREATE TABLE pr_commands (
    comment_id  INTEGER PRIMARY KEY,
    repo        TEXT NOT NULL,
    pr_number   INTEGER NOT NULL,
    author      TEXT NOT NULL,
    body        TEXT NOT NULL,
    status      TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
