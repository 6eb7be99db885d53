//! Incidents at the store's door: bursts of deliveries that the one delivery writer
//! commits together (group commit). Each test holds SQLite's write lock from another
//! connection first, as a slow checkpoint or a worker's claim would, so that the
//! deliveries pile up and are committed as one batch when the lock is let go.

use std::time::Duration;

use fixpoint::domain::InstallationChange;
use fixpoint::ids::{InstallationId, RepoName};
use fixpoint::store::deliveries::{Delivery, DeliveryWriter, Effect, Ingested};
use fixpoint::store::{NewJob, Store};
use serde_json::json;
use sqlx::{Sqlite, Transaction};
use tokio::task::JoinHandle;

struct Door {
    // Kept open so its pool (and migrations) outlive the writer.
    _store: Store,
    /// A connection of the test's own: another writer, and a way to look inside.
    db: sqlx::SqlitePool,
    writer: DeliveryWriter,
    _dir: tempfile::TempDir,
}

async fn open() -> Door {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fixpoint.sqlite").display());
    let store = Store::connect(&url).await.expect("store opens");
    // A small WAL limit, so that a flood a test can afford goes past it.
    let writer = store.delivery_writer(5, 16).expect("writer starts");
    Door {
        _store: store,
        db: sqlx::SqlitePool::connect_lazy(&url).expect("test connection"),
        writer,
        _dir: dir,
    }
}

impl Door {
    /// Takes SQLite's write lock, as another writer would.
    async fn lock(&self) -> Transaction<'static, Sqlite> {
        self.db
            .begin_with("BEGIN IMMEDIATE")
            .await
            .expect("write lock")
    }

    fn send(&self, guid: &str, effect: Effect) -> JoinHandle<anyhow::Result<Ingested>> {
        let writer = self.writer.clone();
        let delivery = Delivery {
            delivery_id: guid.to_string(),
            event: "workflow_run".into(),
            action: Some("completed".into()),
            repo: Some("acme/payments-api".into()),
        };
        tokio::spawn(async move { writer.ingest(delivery, effect).await })
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

fn failed_run(run_id: u64) -> Effect {
    Effect::Job(NewJob {
        kind: "workflow_run".into(),
        dedupe_key: format!("workflow_run:acme/payments-api:{run_id}:1"),
        payload: json!({ "run_id": run_id }),
        wakes: None,
    })
}

/// Lets every spawned delivery reach the writer's queue while the lock is held.
async fn pile_up() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn outcomes(sends: Vec<JoinHandle<anyhow::Result<Ingested>>>) -> Vec<Ingested> {
    let mut out = Vec::new();
    for send in sends {
        out.push(send.await.expect("task").expect("stored"));
    }
    out
}

#[tokio::test]
async fn a_redelivery_storm_during_a_stall_is_committed_once_per_delivery_and_per_run() {
    let door = open().await;
    let lock = door.lock().await;
    // While the database is stalled: GitHub retries one delivery 20 times, a run is
    // delivered 10 times under new GUIDs ("redeliver" in the App settings makes new
    // GUIDs), 10 other runs fail, and the App is installed on a new repository.
    let mut same_guid = Vec::new();
    let mut same_run = Vec::new();
    let mut other_runs = Vec::new();
    for _ in 0..20 {
        same_guid.push(door.send("retried", failed_run(1)));
    }
    for i in 0..10 {
        same_run.push(door.send(&format!("redelivered-{i}"), failed_run(2)));
        other_runs.push(door.send(&format!("run-{i}"), failed_run(100 + i)));
    }
    let installed = door.send(
        "installed",
        Effect::Installation(InstallationChange::ReposChanged {
            id: InstallationId(7),
            account: "acme".into(),
            added: vec![RepoName::parse("acme/ledger").unwrap()],
            removed: vec![],
        }),
    );
    pile_up().await;
    assert_eq!(door.count("SELECT COUNT(*) FROM deliveries").await, 0);
    lock.commit().await.unwrap();

    let same_guid = outcomes(same_guid).await;
    let accepted = |o: &&Ingested| matches!(o, Ingested::Accepted { job_id: Some(_) });
    assert_eq!(
        same_guid.iter().filter(accepted).count(),
        1,
        "{same_guid:?}"
    );
    assert_eq!(
        same_guid
            .iter()
            .filter(|o| **o == Ingested::DuplicateDelivery)
            .count(),
        19
    );

    let same_run = outcomes(same_run).await;
    let Some(Ingested::Accepted { job_id: Some(job) }) = same_run.iter().find(accepted).copied()
    else {
        panic!("no delivery of run 2 queued its job: {same_run:?}");
    };
    assert_eq!(same_run.iter().filter(accepted).count(), 1, "{same_run:?}");
    assert_eq!(
        same_run
            .iter()
            .filter(|o| **o == Ingested::DuplicateJob { job_id: job })
            .count(),
        9,
        "{same_run:?}"
    );

    let other_runs = outcomes(other_runs).await;
    let mut ids: Vec<_> = other_runs
        .iter()
        .map(|o| match o {
            Ingested::Accepted { job_id: Some(id) } => *id,
            other => panic!("a new run was not queued: {other:?}"),
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    assert_eq!(
        installed.await.unwrap().unwrap(),
        Ingested::Accepted { job_id: None }
    );

    // What is on disk: every delivery once, every run's job once.
    assert_eq!(door.count("SELECT COUNT(*) FROM deliveries").await, 22);
    assert_eq!(door.count("SELECT COUNT(*) FROM jobs").await, 12);
    assert_eq!(
        door.count(&format!(
            "SELECT COUNT(*) FROM deliveries WHERE outcome = 'duplicate' AND job_id = {job}"
        ))
        .await,
        9
    );
    assert_eq!(
        door.count("SELECT COUNT(*) FROM installation_repos WHERE repo = 'acme/ledger'")
            .await,
        1
    );
    // And they went in together: at most the first one alone, then the rest at once.
    let (commits, committed) = door.writer.stats().read();
    assert_eq!(committed, 41);
    assert!(commits <= 2, "{commits} commits for one stall");
}

#[tokio::test]
async fn a_delivery_the_database_refuses_does_not_lose_the_ones_beside_it() {
    let door = open().await;
    // A constraint the database enforces and the writer cannot know about.
    sqlx::query(
        "CREATE TRIGGER refuse_run_13 BEFORE INSERT ON jobs
         WHEN NEW.dedupe_key LIKE '%:13:1'
         BEGIN SELECT RAISE(ABORT, 'run 13 is refused by a trigger'); END",
    )
    .execute(&door.db)
    .await
    .unwrap();
    let lock = door.lock().await;
    let sends: Vec<_> = (10..16)
        .map(|run| door.send(&format!("d-{run}"), failed_run(run)))
        .collect();
    pile_up().await;
    lock.commit().await.unwrap();
    for (run, send) in (10..16).zip(sends) {
        let outcome = send.await.unwrap();
        if run == 13 {
            let err = format!("{:#}", outcome.expect_err("run 13 must fail"));
            assert!(err.contains("run 13 is refused by a trigger"), "{err}");
        } else {
            assert!(
                matches!(outcome, Ok(Ingested::Accepted { job_id: Some(_) })),
                "run {run}: {outcome:?}"
            );
        }
    }
    assert_eq!(door.count("SELECT COUNT(*) FROM jobs").await, 5);
    // Not stored, so its 503 lets GitHub redeliver it.
    assert_eq!(
        door.count("SELECT COUNT(*) FROM deliveries WHERE delivery_id = 'd-13'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_sender_that_hangs_up_while_the_database_is_stalled_still_has_its_delivery_stored() {
    let door = open().await;
    let lock = door.lock().await;
    // GitHub gives up on a delivery after 10 s; the request's future is dropped.
    let impatient = door.send("gave-up", failed_run(42));
    pile_up().await;
    impatient.abort();
    assert!(impatient.await.unwrap_err().is_cancelled());
    lock.commit().await.unwrap();
    // The next delivery is stored after it, so by its answer the first is on disk too.
    let next = door.send("next", failed_run(43)).await.unwrap().unwrap();
    assert!(matches!(next, Ingested::Accepted { job_id: Some(_) }));
    assert_eq!(
        door.count(
            "SELECT COUNT(*) FROM jobs WHERE dedupe_key = 'workflow_run:acme/payments-api:42:1'"
        )
        .await,
        1
    );
    // And the store takes writes from elsewhere: nothing kept the write lock.
    let mut tx = door.lock().await;
    sqlx::query("UPDATE jobs SET state = 'done'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sustained_flood_of_deliveries_keeps_the_wal_bounded() {
    // A checkpoint that runs beside a writer that never pauses never catches up, and
    // SQLite starts the WAL over only once one has: without the writer's restart, this
    // flood leaves a WAL of well over 100 MiB (a longer one fills the disk). The limit
    // here is 16 MiB; on an idle machine the WAL ends near 28 MiB (one checkpoint pass of
    // overshoot), and the bound below leaves room for a busy one.
    let door = open().await;
    let senders: Vec<_> = (0..16u64)
        .map(|sender| {
            let writer = door.writer.clone();
            tokio::spawn(async move {
                for i in 0..1500u64 {
                    let delivery = Delivery {
                        delivery_id: format!("flood-{sender}-{i}"),
                        event: "workflow_run".into(),
                        action: Some("completed".into()),
                        repo: Some("acme/payments-api".into()),
                    };
                    let run = sender * 1_000_000 + i;
                    writer
                        .ingest(delivery, failed_run(run))
                        .await
                        .expect("stored");
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    assert_eq!(door.count("SELECT COUNT(*) FROM jobs").await, 24_000);
    let wal = door._dir.path().join("fixpoint.sqlite-wal");
    let size = std::fs::metadata(&wal).expect("the WAL exists").len();
    eprintln!("WAL after the flood: {} MiB", size / (1024 * 1024));
    assert!(
        size < 64 * 1024 * 1024,
        "the WAL grew to {} MiB",
        size / (1024 * 1024)
    );
}
