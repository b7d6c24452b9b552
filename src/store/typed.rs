//! Typed access to one collection, which is how services use the store: they read and write
//! their own document structs, and the conversion to and from [`Document`] happens here.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use switchboard::store::{Collection, OutboxEntry, Store, StoreError, Transaction};
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Todo { owner_id: String, title: String, done: bool }
//!
//! # async fn example(store: Arc<dyn Store>) -> Result<(), StoreError> {
//! let todos = Collection::<Todo>::new(store.clone(), "todos");
//! todos.ensure_index("owner_id", false).await?;
//! let todo = Todo { owner_id: "u1".into(), title: "milk".into(), done: false };
//! let tx = todos
//!     .insert(Transaction::new(), "t1", &todo)?
//!     .publish(OutboxEntry::new("events.todos.created", b"t1".to_vec()));
//! store.commit(tx).await?;
//! let page = todos.find(todos.query().where_eq("owner_id", "u1").limit(20)).await?;
//! # Ok(()) }
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Document, Page, Query, Record, Store, StoreError, Transaction};

/// A value read from the store, with the id and version needed to write it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The record's id.
    pub id: String,
    /// The version to pass as `expected_version` when replacing or deleting it.
    pub version: u64,
    /// The decoded document.
    pub value: T,
}

impl<T: DeserializeOwned> Versioned<T> {
    /// Decodes a raw record read from `collection`.
    pub fn decode(collection: &str, record: Record) -> Result<Self, StoreError> {
        let Record { id, version, doc } = record;
        match from_document(doc) {
            Ok(value) => Ok(Self { id, version, value }),
            Err(source) => Err(StoreError::Decode {
                collection: collection.to_owned(),
                id,
                source,
            }),
        }
    }
}

/// Converts a value into a document; it must serialize to a JSON object.
pub fn to_document<T: Serialize + ?Sized>(value: &T) -> Result<Document, StoreError> {
    match serde_json::to_value(value).map_err(StoreError::Encode)? {
        Value::Object(doc) => Ok(doc),
        _ => Err(StoreError::NotADocument),
    }
}

/// Converts a document back into a value.
pub fn from_document<T: DeserializeOwned>(doc: Document) -> Result<T, serde_json::Error> {
    serde_json::from_value(Value::Object(doc))
}

/// One collection of `T` documents in a store.
pub struct Collection<T> {
    store: Arc<dyn Store>,
    name: String,
    // `fn() -> T` keeps the collection Send and Sync whatever T is: it never holds a T.
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            name: self.name.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Collection<T> {
    /// The collection `name` of `store`. The name is checked on first use, not here.
    pub fn new(store: Arc<dyn Store>, name: impl Into<String>) -> Self {
        Self {
            store,
            name: name.into(),
            _type: PhantomData,
        }
    }

    /// The collection's name, for building transactions by hand.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store, to commit transactions built with this collection's helpers.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A query over every record of this collection, to refine and pass to [`Self::find`].
    pub fn query(&self) -> Query {
        Query::all(self.name.clone())
    }

    /// Creates an index on `field` if missing; see [`Store::ensure_index`].
    pub async fn ensure_index(&self, field: &str, unique: bool) -> Result<(), StoreError> {
        self.store.ensure_index(&self.name, field, unique).await
    }

    /// Reads and decodes one record.
    pub async fn get(&self, id: &str) -> Result<Option<Versioned<T>>, StoreError> {
        let record = self.store.get(&self.name, id).await?;
        record.map(|r| Versioned::decode(&self.name, r)).transpose()
    }

    /// Reads and decodes one page. The query always runs on this collection, whatever
    /// collection it names, so build it with [`Self::query`].
    pub async fn find(&self, query: Query) -> Result<Page<Versioned<T>>, StoreError> {
        let query = Query {
            collection: self.name.clone(),
            ..query
        };
        let page = self.store.find(query).await?;
        let records = page
            .records
            .into_iter()
            .map(|r| Versioned::decode(&self.name, r))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            records,
            next: page.next,
        })
    }

    /// Adds the insert of `value` to `tx`.
    pub fn insert(
        &self,
        tx: Transaction,
        id: impl Into<String>,
        value: &T,
    ) -> Result<Transaction, StoreError> {
        Ok(tx.insert(self.name.clone(), id, to_document(value)?))
    }

    /// Adds the replace of the record at `expected_version` by `value` to `tx`.
    pub fn replace(
        &self,
        tx: Transaction,
        id: impl Into<String>,
        expected_version: u64,
        value: &T,
    ) -> Result<Transaction, StoreError> {
        Ok(tx.replace(self.name.clone(), id, expected_version, to_document(value)?))
    }

    /// Adds the delete of a record to `tx`.
    pub fn delete(
        &self,
        tx: Transaction,
        id: impl Into<String>,
        expected_version: Option<u64>,
    ) -> Transaction {
        tx.delete(self.name.clone(), id, expected_version)
    }
}
