//! The store a test service runs on: a SQLite file in a directory of its own by default, or,
//! when `SB_TEST_STORE=mongodb` (what `cargo xtask test`'s MongoDB pass sets), a database of
//! its own on the test MongoDB ([`super::mongo`]). Black-box service tests take their
//! `STORE_URL` from here, so the same tests run on both stores.

use std::path::PathBuf;

use super::mongo::TestDatabase;

/// A service's store for one test; its file or database goes when the value is dropped.
pub struct TestStore {
    url: String,
    /// The SQLite file, alone in a directory of its own, when the store is SQLite.
    path: Option<PathBuf>,
    /// The MongoDB database, when the store is MongoDB.
    _database: Option<TestDatabase>,
}

impl TestStore {
    /// A fresh store for `service`, on the backend `SB_TEST_STORE` names.
    ///
    /// # Panics
    /// When the directory cannot be created or `SB_TEST_STORE` names no known store.
    pub fn new(service: &str) -> Self {
        if use_mongodb() {
            let database = TestDatabase::new(service);
            return Self {
                url: database.url().to_owned(),
                path: None,
                _database: Some(database),
            };
        }
        let dir = std::env::temp_dir().join(format!("switchboard-store-{}", uuid::Uuid::new_v4()));
        if let Err(error) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {error}", dir.display());
        }
        let path = dir.join(format!("{service}.db"));
        Self {
            url: format!("sqlite://{}", path.display()),
            path: Some(path),
            _database: None,
        }
    }

    /// The `STORE_URL` of this store.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The SQLite file, or `None` when the tests run on MongoDB (for SQLite-only tests).
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(dir) = self.path.as_deref().and_then(std::path::Path::parent) {
            // Best effort: a leftover temp directory is harmless.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Whether `SB_TEST_STORE` asks for MongoDB.
///
/// # Panics
/// When it names a store that does not exist, so a typo never silently tests SQLite.
#[allow(clippy::disallowed_methods)] // Test support: `cargo xtask test` sets it.
pub fn use_mongodb() -> bool {
    match std::env::var("SB_TEST_STORE").unwrap_or_default().as_str() {
        "" | "sqlite" => false,
        "mongodb" => true,
        other => panic!("SB_TEST_STORE={other:?}: expected sqlite or mongodb"),
    }
}

/// Whether the test database survives a client killed with SIGKILL while it holds open
/// transactions: SQLite and MongoDB do (MongoDB aborts such a transaction after
/// `transactionLifetimeLimitSeconds`), SecantusDB 0.7.0b3 does not — after the kill it
/// keeps a core busy and stops answering. The `kill -9` tests skip on it and run on SQLite
/// and on a real MongoDB (`MONGODB_URI`).
pub fn survives_killed_clients() -> bool {
    !use_mongodb() || super::mongo::is_real_mongodb()
}
