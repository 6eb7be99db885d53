-- Persisted states become closed sets (each mirrors an enum in src/domain/status.rs),
-- jobs can be snoozed (waiting on CI or a rollout without holding a worker) and woken by
-- a key, and the step journal is keyed by iteration so a loop's iterations never reuse
-- each other's results. SQLite cannot add a CHECK to a column, so the tables are
-- rebuilt; a table that others reference is dropped only after its children were set
-- aside (foreign keys stay on: migrations run inside a transaction).
CREATE TABLE job_steps_old AS SELECT * FROM job_steps;
DROP TABLE job_steps;
CREATE TABLE run_jobs_old AS SELECT * FROM run_jobs;
DROP TABLE run_jobs;

CREATE TABLE jobs_new (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    dedupe_key       TEXT NOT NULL UNIQUE,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'failed', 'snoozed', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    -- A snoozed job is woken early by work stored under this key (e.g. a run on its branch).
    wake_key         TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    heartbeat_at     INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
INSERT INTO jobs_new (id, kind, dedupe_key, payload, state, attempts, max_attempts, run_at,
                      lease_owner, lease_expires_at, heartbeat_at, last_error, created_at, updated_at)
SELECT id, kind, dedupe_key, payload, state, attempts, max_attempts, run_at,
       lease_owner, lease_expires_at, heartbeat_at, last_error, created_at, updated_at FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;

CREATE TABLE job_steps (
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    -- 0 for steps outside a loop's iterations.
    iteration   INTEGER NOT NULL DEFAULT 0,
    step        TEXT NOT NULL,
    result      TEXT NOT NULL,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, iteration, step)
);
INSERT INTO job_steps (job_id, iteration, step, result, finished_at)
SELECT job_id, 0, step, result, finished_at FROM job_steps_old;
DROP TABLE job_steps_old;
CREATE INDEX jobs_claimable ON jobs (state, run_at);
CREATE INDEX jobs_waking ON jobs (wake_key) WHERE wake_key IS NOT NULL;

CREATE TABLE investigations_new (
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
    status          TEXT NOT NULL
                    CHECK (status IN ('received', 'not_started', 'collected', 'swept', 'diagnosed', 'failed')),
    status_reason   TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sweep           TEXT,
    diagnosis       TEXT,
    UNIQUE (repo, run_id, run_attempt)
);
INSERT INTO investigations_new SELECT id, repo, installation_id, service, workflow, run_id,
    run_attempt, head_sha, branch, conclusion, status, status_reason, created_at, updated_at,
    sweep, diagnosis FROM investigations;
DROP TABLE investigations;
ALTER TABLE investigations_new RENAME TO investigations;

CREATE TABLE run_jobs (
    investigation_id INTEGER NOT NULL REFERENCES investigations (id),
    job_id           INTEGER NOT NULL,
    name             TEXT NOT NULL,
    conclusion       TEXT,
    failed_steps     TEXT NOT NULL,
    PRIMARY KEY (investigation_id, job_id)
);
INSERT INTO run_jobs SELECT investigation_id, job_id, name, conclusion, failed_steps FROM run_jobs_old;
DROP TABLE run_jobs_old;

CREATE TABLE pr_commands_new (
    comment_id  INTEGER PRIMARY KEY,
    repo        TEXT NOT NULL,
    pr_number   INTEGER NOT NULL,
    author      TEXT NOT NULL,
    body        TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('received', 'done', 'denied', 'unparsed', 'failed')),
    received_at INTEGER NOT NULL
);
INSERT INTO pr_commands_new SELECT comment_id, repo, pr_number, author, body, status, received_at
FROM pr_commands;
DROP TABLE pr_commands;
ALTER TABLE pr_commands_new RENAME TO pr_commands;
