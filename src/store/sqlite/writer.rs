//! The writer: one thread owning the connection that writes, fed through a channel.
//!
//! Commits queued while the thread was busy are applied together in one SQLite
//! transaction (group commit), each inside its own savepoint: a transaction whose write
//! fails is rolled back to its savepoint and gets its own error, the others are kept, and
//! all of them are durable once the one `COMMIT` returns. Under concurrent writers this
//! turns many small commits (and many thread hand-offs) into few; a lone commit is applied
//! as before. Commits leave the queue in order, so the outbox sequence still follows the
//! order in which transactions committed.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use rusqlite::TransactionBehavior;
use tokio::sync::oneshot;

use super::Db;
use super::writes::{apply, insert_outbox};
use crate::store::{OutboxEntry, StoreError, Write};

/// The most commits applied in one SQLite transaction.
const MAX_BATCH: usize = 256;

/// Work for the writer thread.
pub(super) enum Job {
    /// A transaction's writes and outbox entries, and where its outcome goes.
    Commit {
        writes: Vec<Write>,
        outbox: Vec<OutboxEntry>,
        done: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Anything else that needs the writing connection (index creation, the outbox's
    /// bookkeeping, every read of an in-memory database).
    Run(Box<dyn FnOnce(&mut Db) + Send>),
}

/// The error a caller gets when the writer thread is gone or dropped its work.
pub(super) fn gone() -> StoreError {
    StoreError::backend("the SQLite writer thread stopped")
}

/// Starts the writer thread on `db`; it ends when every sender is dropped.
pub(super) fn start(db: Db) -> std::io::Result<mpsc::Sender<Job>> {
    let (jobs, queue) = mpsc::channel();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || run(db, &queue))?;
    Ok(jobs)
}

fn run(mut db: Db, queue: &mpsc::Receiver<Job>) {
    let mut batch = Vec::new();
    while let Ok(first) = queue.recv() {
        let mut job = Some(first);
        while let Some(current) = job.take() {
            match current {
                Job::Commit {
                    writes,
                    outbox,
                    done,
                } => {
                    batch.push((writes, outbox, done));
                    if batch.len() < MAX_BATCH {
                        job = queue.try_recv().ok();
                    }
                }
                Job::Run(work) => {
                    flush(&mut db, &mut batch);
                    // A panic drops the job's reply channel, which its caller reports; the
                    // connection is left as rusqlite's unwinding left it: rolled back.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| work(&mut db)));
                    job = queue.try_recv().ok();
                }
            }
        }
        flush(&mut db, &mut batch);
    }
}

type Pending = (
    Vec<Write>,
    Vec<OutboxEntry>,
    oneshot::Sender<Result<(), StoreError>>,
);

/// Applies the queued commits and tells each caller its outcome.
fn flush(db: &mut Db, batch: &mut Vec<Pending>) {
    if batch.is_empty() {
        return;
    }
    let commits = std::mem::take(batch);
    let outcomes = std::panic::catch_unwind(AssertUnwindSafe(|| apply_all(db, &commits)));
    let Ok(outcomes) = outcomes else {
        // Dropping the senders reports the failure to every caller.
        return;
    };
    for ((_, _, done), outcome) in commits.into_iter().zip(outcomes) {
        // A caller that stopped waiting has nothing to be told.
        let _ = done.send(outcome);
    }
}

/// Applies `commits` in one transaction, each in a savepoint (a lone commit without one).
fn apply_all(db: &mut Db, commits: &[Pending]) -> Vec<Result<(), StoreError>> {
    let Db { conn, tables } = db;
    let sql_tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(error) => return failed_all(commits.len(), &error),
    };
    let mut outcomes = Vec::with_capacity(commits.len());
    let mut created = Vec::new();
    if let [(writes, outbox, _)] = commits {
        // Any error drops `sql_tx`, which rolls everything back.
        let outcome = apply_one(&sql_tx, tables, &mut created, writes, outbox);
        outcomes.push(outcome);
    } else {
        for (writes, outbox, _) in commits {
            // Savepoints through cached statements: rusqlite's would parse their SQL for
            // every commit of the batch.
            let savepoint = |sql: &str| {
                sql_tx
                    .prepare_cached(sql)
                    .and_then(|mut statement| statement.execute([]))
            };
            if let Err(error) = savepoint("SAVEPOINT sb_commit") {
                return failed_all(commits.len(), &error);
            }
            let mut mine = Vec::new();
            let outcome = apply_one(&sql_tx, tables, &mut mine, writes, outbox);
            if outcome.is_ok() {
                created.extend(mine);
            } else if let Err(error) = savepoint("ROLLBACK TO sb_commit") {
                return failed_all(commits.len(), &error);
            }
            if let Err(error) = savepoint("RELEASE sb_commit") {
                return failed_all(commits.len(), &error);
            }
            outcomes.push(outcome);
        }
    }
    if outcomes.iter().all(Result::is_err) {
        return outcomes;
    }
    match sql_tx.commit() {
        Ok(()) => {
            tables.extend(created);
            outcomes
        }
        Err(error) => failed_all(commits.len(), &error),
    }
}

/// One transaction's writes and outbox entries on `conn` (a transaction or a savepoint).
fn apply_one(
    conn: &rusqlite::Connection,
    tables: &HashSet<String>,
    created: &mut Vec<String>,
    writes: &[Write],
    outbox: &[OutboxEntry],
) -> Result<(), StoreError> {
    for write in writes {
        apply(conn, tables, created, write)?;
    }
    for entry in outbox {
        insert_outbox(conn, entry)?;
    }
    Ok(())
}

/// The same backend failure for each of `count` commits.
fn failed_all(count: usize, error: &rusqlite::Error) -> Vec<Result<(), StoreError>> {
    (0..count)
        .map(|_| Err(StoreError::backend(error.to_string())))
        .collect()
}
