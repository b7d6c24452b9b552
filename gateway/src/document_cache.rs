//! Parsed documents of the queries [`limits::admit`](crate::limits::admit) accepted, so the
//! text nesting scan, the parse and the shape checks run once per distinct query text
//! instead of once per request.
//!
//! What is cached, precisely:
//! - **Only accepted documents.** A text is cached once it has passed the nesting scan, the
//!   parse and [`limits::check`](crate::limits::check) under a given [`Limits`]; an entry
//!   is used only for a request admitted under the same limits. A text that is refused
//!   (too nested, not parseable, over a limit) is never cached: a refused query goes
//!   through the same checks every time and gets the same refusal, as before the cache.
//! - **Not per-request checks.** The variables (their nesting, and the variables the
//!   operation requires) are checked on every request, hit or miss, and async-graphql still
//!   validates every request against the schema (validation does not depend on the cache).
//! - **A pure function of the text and the limits.** Caching a document changes no answer,
//!   so one cache serves every gateway of the process ([`shared`]).
//!
//! Bounds: at most [`MAX_ENTRIES`] documents and [`MAX_TOTAL_QUERY_BYTES`] of query text
//! (the parsed form takes a small multiple of that); a text longer than
//! [`MAX_QUERY_BYTES`] is never cached. When a bound would be passed, arbitrary entries
//! are evicted.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use async_graphql::parser::types::ExecutableDocument;

use crate::limits::Limits;

/// Most documents cached.
pub const MAX_ENTRIES: usize = 1_000;
/// Most bytes of query text cached, all entries together.
pub const MAX_TOTAL_QUERY_BYTES: usize = 2 * 1024 * 1024;
/// Longest query text cached; longer ones are parsed on every request.
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

/// A bounded map from query text to its parsed, accepted document.
pub struct DocumentCache {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_total_bytes: usize,
    max_query_bytes: usize,
}

#[derive(Default)]
struct Inner {
    documents: HashMap<Arc<str>, Entry>,
    /// Bytes of query text held, the keys' lengths summed.
    bytes: usize,
}

struct Entry {
    /// The limits the document was accepted under.
    limits: Limits,
    document: Arc<ExecutableDocument>,
}

static SHARED: LazyLock<DocumentCache> =
    LazyLock::new(|| DocumentCache::new(MAX_ENTRIES, MAX_TOTAL_QUERY_BYTES, MAX_QUERY_BYTES));

/// The process's cache, bounded by this module's constants.
pub fn shared() -> &'static DocumentCache {
    &SHARED
}

impl DocumentCache {
    /// An empty cache with these bounds.
    pub fn new(max_entries: usize, max_total_bytes: usize, max_query_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max_entries,
            max_total_bytes,
            max_query_bytes: max_query_bytes.min(max_total_bytes),
        }
    }

    /// Whether a text like `query` is cached at all (so callers clone a document only then).
    pub fn caches(&self, query: &str) -> bool {
        self.max_entries > 0 && query.len() <= self.max_query_bytes
    }

    /// The document of `query` if it was accepted under `limits`.
    pub fn get(&self, query: &str, limits: &Limits) -> Option<Arc<ExecutableDocument>> {
        if query.len() > self.max_query_bytes {
            return None;
        }
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .documents
            .get(query)
            .filter(|entry| entry.limits == *limits)
            .map(|entry| Arc::clone(&entry.document))
    }

    /// Remembers that `query` parsed into `document` and was accepted under `limits`
    /// (replacing an entry of the same text accepted under other limits).
    pub fn insert(&self, query: &str, limits: Limits, document: ExecutableDocument) {
        if !self.caches(query) {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.documents.remove(query) {
            drop(old);
            inner.bytes -= query.len();
        }
        while inner.documents.len() >= self.max_entries
            || inner.bytes + query.len() > self.max_total_bytes
        {
            let Some(victim) = inner.documents.keys().next().cloned() else {
                break;
            };
            inner.documents.remove(&victim);
            inner.bytes -= victim.len();
        }
        inner.bytes += query.len();
        let entry = Entry {
            limits,
            document: Arc::new(document),
        };
        inner.documents.insert(Arc::from(query), entry);
    }

    /// How many documents and bytes of query text are held.
    pub fn size(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (inner.documents.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("parses")
    }

    #[test]
    fn a_document_is_used_only_under_the_limits_it_was_accepted_under() {
        let cache = DocumentCache::new(10, 1024, 1024);
        let limits = Limits::default();
        cache.insert("{ a }", limits, parsed("{ a }"));

        assert!(cache.get("{ a }", &limits).is_some());
        let stricter = Limits {
            max_depth: 1,
            ..limits
        };
        assert!(cache.get("{ a }", &stricter).is_none());
        assert!(cache.get("{ b }", &limits).is_none());
    }

    #[test]
    fn entries_and_bytes_stay_within_their_bounds() {
        let limits = Limits::default();
        let by_count = DocumentCache::new(2, 1024, 1024);
        for query in ["{ a }", "{ b }", "{ c }"] {
            by_count.insert(query, limits, parsed(query));
        }
        assert_eq!(by_count.size(), (2, 10));
        assert!(
            by_count.get("{ c }", &limits).is_some(),
            "the newest is kept"
        );

        let by_bytes = DocumentCache::new(100, 12, 12);
        for query in ["{ a }", "{ b }", "{ c }"] {
            by_bytes.insert(query, limits, parsed(query));
        }
        assert_eq!(by_bytes.size(), (2, 10));

        let long = format!("{{ {} }}", "a ".repeat(10));
        assert!(!by_bytes.caches(&long));
        by_bytes.insert(&long, limits, parsed(&long));
        assert!(by_bytes.get(&long, &limits).is_none(), "too long to cache");
        assert_eq!(by_bytes.size(), (2, 10));
    }

    #[test]
    fn inserting_a_text_again_replaces_its_entry() {
        let limits = Limits::default();
        let cache = DocumentCache::new(10, 1024, 1024);
        cache.insert("{ a }", limits, parsed("{ a }"));
        let stricter = Limits {
            max_depth: 1,
            ..limits
        };
        cache.insert("{ a }", stricter, parsed("{ a }"));

        assert_eq!(cache.size(), (1, 5));
        assert!(cache.get("{ a }", &stricter).is_some());
        assert!(cache.get("{ a }", &limits).is_none());
    }
}
