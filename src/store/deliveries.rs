//! Recording verified deliveries and their effects, so that a delivery acknowledged
//! with 202 is always durably stored, and a delivery seen twice (a redelivery, or two
//! concurrent requests, even inside one batch) has its effect once.
//!
//! One writer thread per store does all of it, on a connection of its own (group
//! commit): every delivery waiting when the writer is free goes into one
//! `BEGIN IMMEDIATE` transaction, and each waiting request is answered after that
//! commit. Why a thread: SQLite has one write lock, and a transaction per request from
//! a connection pool makes requests race for it (the losers sleep in SQLite's busy
//! handler), while sqlx hops to its connection thread for every statement, a thread
//! wake-up each. Here a batch costs one wake-up. A request that goes away (a client
//! hanging up) cannot cancel the writer's transaction either: once queued, its delivery
//! is committed.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::installations;
use super::jobs::{self, NewJob};
use super::{BUSY_TIMEOUT, Store};
use crate::clock::SharedClock;
use crate::domain::InstallationChange;

/// Most deliveries in one transaction, so one commit's latency stays bounded.
const MAX_BATCH: usize = 256;

/// Deliveries waiting for the writer before requests wait to queue (backpressure).
const QUEUE: usize = 4096;

/// How long a WAL restart waits for readers to leave the WAL before it is put off.
const RESTART_WAIT: Duration = Duration::from_millis(250);

/// Least time between two checkpoints while deliveries keep coming.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// A WAL frame: a page (SQLite's default 4 KiB) and its 24-byte header.
const FRAME_BYTES: u64 = 4096 + 24;

/// What storing a delivery should do besides remembering it.
#[derive(Debug, Clone)]
pub enum Effect {
    Job(NewJob),
    Installation(InstallationChange),
    /// None: the delivery is kept with the reason it was refused.
    Refused {
        reason: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Stored for the first time; `job_id` when it queued a job.
    Accepted { job_id: Option<i64> },
    /// The same delivery GUID was stored before: nothing done.
    DuplicateDelivery,
    /// A new delivery about something already queued (same repo, run id and attempt).
    DuplicateJob { job_id: i64 },
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repo: Option<String>,
}

struct Pending {
    delivery: Delivery,
    effect: Effect,
    reply: oneshot::Sender<Result<Ingested, String>>,
}

/// The handle requests use to store a delivery; clones share one writer, which stops
/// once the last clone is dropped.
#[derive(Clone, Debug)]
pub struct DeliveryWriter {
    queue: mpsc::Sender<Pending>,
    stats: Arc<Stats>,
}

/// How well deliveries are grouped: `/metrics` shows both, so deliveries per commit
/// can be watched under load.
#[derive(Debug, Default)]
pub struct Stats {
    commits: AtomicU64,
    deliveries: AtomicU64,
}

impl Stats {
    /// (transactions committed, deliveries they answered) since the writer started.
    pub fn read(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.deliveries.load(Ordering::Relaxed),
        )
    }

    fn committed(&self, deliveries: usize) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.deliveries
            .fetch_add(deliveries as u64, Ordering::Relaxed);
    }
}

impl Store {
    /// Opens the writer's and the checkpointer's connections and starts their threads.
    ///
    /// `wal_restart_mib`: the WAL size at which the writer starts it over under sustained
    /// load. Each restart stalls the writer for a copy and two fsyncs (tens of ms on a
    /// slow disk), so it is large; it bounds the disk the WAL takes.
    pub fn delivery_writer(
        &self,
        max_attempts: u32,
        wal_restart_mib: u64,
    ) -> anyhow::Result<DeliveryWriter> {
        let restart_after = (wal_restart_mib * 1024 * 1024 / FRAME_BYTES).max(1) as i64;
        let conn = open(&self.file)?;
        // SQLite checkpoints in the connection that commits, once the WAL passes 1000
        // pages: copying pages back and an fsync, which would stall every waiting
        // request. The checkpointer thread does that instead.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = open(&self.file)?;
        let (committed, wake) = std::sync::mpsc::sync_channel(1);
        let restart_wal = Arc::new(AtomicBool::new(false));
        let restart = restart_wal.clone();
        std::thread::Builder::new()
            .name("wal-checkpointer".into())
            .spawn(move || checkpoint_loop(&checkpointer, &wake, &restart, restart_after))
            .context("cannot start the checkpointer thread")?;
        let (queue, rx) = mpsc::channel(QUEUE);
        let stats = Arc::<Stats>::default();
        let writer = Writer {
            conn,
            clock: self.clock.clone(),
            max_attempts,
            stats: stats.clone(),
            committed,
            restart_wal,
        };
        std::thread::Builder::new()
            .name("delivery-writer".into())
            .spawn(move || writer.run(rx))
            .context("cannot start the delivery writer thread")?;
        Ok(DeliveryWriter { queue, stats })
    }
}

/// After commits, at most every `CHECKPOINT_EVERY`: a PASSIVE checkpoint copies what no
/// reader still needs into the database file and never blocks the writer. Under steady
/// load it never catches up with the writer, and SQLite starts the WAL over only once a
/// checkpoint has caught up: past `restart_after` frames the writer is asked to restart
/// it between two batches (`Writer::restart_wal`), which costs it only the frames this
/// pass has not copied yet. Past half of that, passes run back to back, so the WAL
/// overshoots by one pass at most. Ends with a last checkpoint once the writer has.
fn checkpoint_loop(
    conn: &Connection,
    wake: &std::sync::mpsc::Receiver<()>,
    restart: &AtomicBool,
    restart_after: i64,
) {
    while wake.recv().is_ok() {
        match passive_checkpoint(conn) {
            Ok(frames) if frames >= restart_after => restart.store(true, Ordering::Relaxed),
            Ok(frames) if frames >= restart_after / 2 => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; trying again after the next commit")
            }
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
    let _ = passive_checkpoint(conn);
}

/// Returns the frames in the WAL.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

/// The same settings as the pool's connections (`Store::connect`).
fn open(file: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(file)
        .with_context(|| format!("cannot open the database at `{}`", file.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL is durable across process crashes in WAL mode: see `Store::connect`.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

impl Store {
    /// How a delivery was recorded (`accepted`, `duplicate`, `refused`) and, when refused,
    /// why; `None` when the delivery was never stored (an ignored event, say).
    pub async fn delivery_outcome(
        &self,
        delivery_id: &str,
    ) -> anyhow::Result<Option<(String, Option<String>)>> {
        Ok(
            sqlx::query_as("SELECT outcome, reason FROM deliveries WHERE delivery_id = ?")
                .bind(delivery_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

impl DeliveryWriter {
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// False once the writer thread has ended; every delivery would then get a 503.
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Stores the delivery and its effect; returns once they are committed.
    pub async fn ingest(&self, delivery: Delivery, effect: Effect) -> anyhow::Result<Ingested> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            delivery,
            effect,
            reply,
        };
        self.queue
            .send(pending)
            .await
            .map_err(|_| anyhow::anyhow!("the delivery writer has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the delivery writer stopped before committing"))?
            .map_err(anyhow::Error::msg)
    }
}

struct Writer {
    conn: Connection,
    clock: SharedClock,
    max_attempts: u32,
    stats: Arc<Stats>,
    /// Wakes the checkpointer; a full channel means it is already awake.
    committed: std::sync::mpsc::SyncSender<()>,
    /// Set by the checkpointer when the WAL has grown long (`checkpoint_loop`).
    restart_wal: Arc<AtomicBool>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
            let outcomes = match self.commit(&batch) {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                Err(e) if batch.len() > 1 => {
                    // One delivery the database refuses must not fail the ones beside
                    // it: the batch was rolled back whole, so each is tried alone.
                    tracing::warn!(
                        error = format!("{e:#}"),
                        size = batch.len(),
                        "a batch of deliveries failed; storing each alone"
                    );
                    batch
                        .iter()
                        .map(|pending| self.commit_one(pending))
                        .collect()
                }
                Err(e) => vec![Err(format!("{e:#}"))],
            };
            for (pending, outcome) in batch.drain(..).zip(outcomes) {
                // The request may have gone away; its delivery is stored all the same.
                let _ = pending.reply.send(outcome);
            }
            if self.restart_wal.swap(false, Ordering::Relaxed) {
                self.restart_wal();
            }
        }
    }

    /// Between batches: copies the frames the checkpointer has not, and has the next
    /// transaction write the WAL from its start again. Deliveries wait meanwhile, so it
    /// gives up soon when a reader still holds the WAL; the checkpointer asks again.
    fn restart_wal(&self) {
        let _ = self.conn.busy_timeout(RESTART_WAIT);
        let restarted = self
            .conn
            .query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
                row.get::<_, i64>(0)
            });
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
        match restarted {
            Ok(0) => tracing::debug!("WAL restarted"),
            Ok(_) => tracing::debug!("WAL restart put off: a reader still uses it"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot restart the WAL; it keeps growing until a later try")
            }
        }
    }

    fn commit_one(&mut self, pending: &Pending) -> Result<Ingested, String> {
        match self.commit(std::slice::from_ref(pending)) {
            Ok(outcomes) => outcomes
                .into_iter()
                .next()
                .ok_or_else(|| "no outcome".into()),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), delivery = %pending.delivery.delivery_id, "cannot store the delivery");
                Err(format!("{e:#}"))
            }
        }
    }

    /// One transaction for the batch; outcomes in the batch's order.
    fn commit(&mut self, batch: &[Pending]) -> anyhow::Result<Vec<Ingested>> {
        let now = self.clock.now_ms();
        let max_attempts = i64::from(self.max_attempts);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("cannot start a transaction")?;
        let outcomes = batch
            .iter()
            .map(|pending| store_one(&tx, pending, max_attempts, now))
            .collect::<anyhow::Result<Vec<_>>>()?;
        tx.commit().context("cannot commit the deliveries")?;
        self.stats.committed(batch.len());
        let _ = self.committed.try_send(());
        Ok(outcomes)
    }
}

fn store_one(
    conn: &Connection,
    pending: &Pending,
    max_attempts: i64,
    now: i64,
) -> anyhow::Result<Ingested> {
    let delivery = &pending.delivery;
    let known = conn
        .prepare_cached("SELECT 1 FROM deliveries WHERE delivery_id = ?")?
        .exists([&delivery.delivery_id])?;
    if known {
        return Ok(Ingested::DuplicateDelivery);
    }
    let outcome = match &pending.effect {
        Effect::Job(job) => {
            let outcome = match jobs::insert(conn, job, max_attempts, now)? {
                (id, true) => Ingested::Accepted { job_id: Some(id) },
                (id, false) => Ingested::DuplicateJob { job_id: id },
            };
            if let Some(key) = &job.wakes {
                jobs::wake(conn, key, now)?;
            }
            outcome
        }
        Effect::Installation(change) => {
            installations::apply(conn, change, now)?;
            Ingested::Accepted { job_id: None }
        }
        Effect::Refused { .. } => Ingested::Accepted { job_id: None },
    };
    let (label, job_id) = match (&pending.effect, outcome) {
        (Effect::Refused { .. }, _) => ("refused", None),
        (_, Ingested::Accepted { job_id }) => ("accepted", job_id),
        (_, Ingested::DuplicateJob { job_id }) => ("duplicate", Some(job_id)),
        (_, Ingested::DuplicateDelivery) => ("duplicate", None),
    };
    let reason = match &pending.effect {
        Effect::Refused { reason } => Some(*reason),
        _ => None,
    };
    conn.prepare_cached(
        "INSERT INTO deliveries (delivery_id, event, action, repo, outcome, job_id, received_at, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        delivery.delivery_id,
        delivery.event,
        delivery.action,
        delivery.repo,
        label,
        job_id,
        now,
        reason
    ])
    .context("cannot record the delivery")?;
    Ok(outcome)
}
