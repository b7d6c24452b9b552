//! The store conformance suite on the embedded SQLite store, in a file and in memory, plus
//! what only the SQLite store promises (data survives reopening the file); and the same suite
//! on MongoDB (`mongo.rs`).

mod mongo;

use std::sync::Arc;

use serde_json::json;
use switchboard::store::{self, OutboxEntry, Store, StoreError, Transaction};
use tempfile::TempDir;

/// A store in a fresh file under its own temporary directory, which the caller keeps alive.
async fn file_store() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    (store::open(&url).await.expect("open the file store"), dir)
}

async fn memory_store() -> (Arc<dyn Store>, ()) {
    (
        store::open("sqlite::memory:")
            .await
            .expect("open the in-memory store"),
        (),
    )
}

mod file {
    switchboard::store_conformance_tests!(super::file_store);
}

mod memory {
    switchboard::store_conformance_tests!(super::memory_store);
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    // The nested directories do not exist yet: open must create them.
    let url = format!(
        "sqlite://{}",
        dir.path().join("nested/deeper/store.db").display()
    );
    let doc = json!({"email": "a@x", "name": "Ada"})
        .as_object()
        .cloned()
        .expect("an object");
    let entry = OutboxEntry::new("events.users.created", b"u1".to_vec());
    {
        let store = store::open(&url)
            .await
            .expect("open the store the first time");
        store
            .ensure_index("users", "email", true)
            .await
            .expect("ensure_index");
        let tx = Transaction::new()
            .insert("users", "u1", doc.clone())
            .publish(entry.clone());
        store.commit(tx).await.expect("commit");
    }
    let store = store::open(&url).await.expect("reopen the store");
    let record = store
        .get("users", "u1")
        .await
        .expect("get")
        .expect("u1 survives reopening");
    assert_eq!((record.version, record.doc), (1, doc.clone()));
    assert_eq!(
        store.outbox_pending(10).await.expect("outbox_pending"),
        vec![entry],
        "the outbox survives reopening"
    );
    let err = store
        .commit(Transaction::new().insert("users", "u2", doc))
        .await
        .expect_err("the unique index survives");
    assert!(matches!(err, StoreError::Duplicate { .. }), "got {err:?}");
}

#[tokio::test]
async fn relative_paths_are_relative_to_the_working_directory() {
    // Tests must not change the process's working directory, so the relative path is
    // built from it: into Cargo's scratch directory when that lies below it, else here.
    let cwd = std::env::current_dir().expect("the working directory");
    let scratch = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let base = scratch
        .strip_prefix(&cwd)
        .unwrap_or(std::path::Path::new("."));
    let dir = tempfile::tempdir_in(base).expect("create a temporary directory");
    let relative = base.join(dir.path().file_name().expect("a directory name"));
    assert!(relative.is_relative());
    let url = format!("sqlite://{}/a/store.db", relative.display());
    let store = store::open(&url).await.expect("open a relative path");
    let tx = Transaction::new().insert("t", "1", Default::default());
    store.commit(tx).await.expect("commit");
    assert!(
        dir.path().join("a/store.db").is_file(),
        "the file must be created under the relative directory"
    );
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_secrets() {
    for url in [
        "mongodb://admin:hunter2@db:27017/users?tls=maybe",
        "mongodb+srv://admin:hunter2@cluster:27017/users",
    ] {
        let err = store::open(url)
            .await
            .err()
            .expect("an invalid MongoDB URL must be refused");
        let message = err.to_string();
        assert!(matches!(err, StoreError::UnsupportedUrl(_)), "got {err:?}");
        assert!(
            message.contains("not a valid MongoDB connection string"),
            "unclear message: {message}"
        );
        assert!(
            !message.contains("hunter2"),
            "the password leaked into the error: {message}"
        );
    }
    for url in [
        "postgres://localhost/db",
        "sqlite://",
        "sqlite:store.db",
        "",
    ] {
        let err = store::open(url)
            .await
            .err()
            .expect("an unsupported URL must be refused");
        assert!(
            matches!(err, StoreError::UnsupportedUrl(_)),
            "{url:?} gave {err:?}"
        );
        assert!(
            err.to_string().contains("sqlite://PATH"),
            "the message must say what works: {err}"
        );
    }
}
