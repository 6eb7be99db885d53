-- The fix loop: one row per loop (one per investigation that reached a fix) with its typed
-- state as JSON (src/harness/state.rs), stored after every transition. A loop
-- that is active or paused owns its service: the partial unique index makes "one loop per
-- service at a time" a property of the table, not of a check that could race.
CREATE TABLE loops (
    id               INTEGER PRIMARY KEY,
    investigation_id INTEGER NOT NULL UNIQUE REFERENCES investigations (id),
    repo             TEXT NOT NULL,
    installation_id  INTEGER NOT NULL,
    service          TEXT NOT NULL,
    branch           TEXT NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('active', 'paused', 'fixed', 'stopped_at_limit',
                                       'stopped_unsure', 'stopped_no_fix', 'stopped', 'failed')),
    phase            TEXT NOT NULL
                     CHECK (phase IN ('plan', 'act', 'await_ci', 'await_rollout', 'verify',
                                      'test', 'report', 'done')),
    iteration        INTEGER NOT NULL,
    status_reason    TEXT,
    pr_number        INTEGER,
    state            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX loops_one_open_per_service ON loops (repo, service)
    WHERE status IN ('active', 'paused');

-- Red deploys of a service whose loop was running: recorded on that loop, not started again.
CREATE TABLE loop_sightings (
    loop_id     INTEGER NOT NULL REFERENCES loops (id),
    run_id      INTEGER NOT NULL,
    head_sha    TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (loop_id, run_id)
);

-- The seed's debug context, stored with the investigation and appended per iteration.
ALTER TABLE investigations ADD COLUMN debug_context TEXT;
