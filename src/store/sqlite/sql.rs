//! SQL text: table and index names, the field expression, filter conditions, and reading
//! back which uniqueness rule a failed statement broke.

use rusqlite::ErrorCode;
use rusqlite::types::Value as SqlValue;
use serde_json::Value;

/// Appends `AND <field> = <value>` with the same meaning as MongoDB's equality: the JSON
/// type must match too, because `json_extract` turns `true` into the integer 1 and would
/// otherwise let `true` match `1` and a string match an array's JSON text.
pub(super) fn push_condition(
    sql: &mut String,
    args: &mut Vec<SqlValue>,
    field: &str,
    value: &Value,
) {
    let expr = field_expr(field);
    let (arg, types) = match value {
        // A missing field extracts as NULL too, which is what MongoDB's `{f: null}` matches.
        Value::Null => return sql.push_str(&format!(" AND {expr} IS NULL")),
        Value::Bool(b) => (SqlValue::Integer(i64::from(*b)), "'true', 'false'"),
        Value::Number(n) => {
            let arg = match n.as_i64() {
                Some(i) => SqlValue::Integer(i),
                None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
            };
            (arg, "'integer', 'real'")
        }
        Value::String(s) => (SqlValue::Text(s.clone()), "'text'"),
        // `validate_query` rejected these before we got here; match nothing if one slips by.
        Value::Array(_) | Value::Object(_) => return sql.push_str(" AND 0"),
    };
    sql.push_str(&format!(
        " AND {expr} = ? AND json_type(doc, '$.{field}') IN ({types})"
    ));
    args.push(arg);
}

/// The expression both queries and indexes use; they must be textually the same for the
/// planner to pick the index.
pub(super) fn field_expr(field: &str) -> String {
    format!("json_extract(doc, '$.{field}')")
}

/// The table of a collection, quoted for SQL text.
pub(super) fn table_name(collection: &str) -> String {
    format!("\"{}\"", table_ident(collection))
}

/// The table of a collection as `sqlite_master` stores it. The `doc_` prefix keeps
/// collections apart from the outbox table and from SQLite's reserved `sqlite_` names.
pub(super) fn table_ident(collection: &str) -> String {
    format!("doc_{}", escape(collection))
}

/// The index name: `ux` or `ix`, collection and field, separated by `:`, which no escaped
/// name contains, so [`unique_violation`] can read the field back.
pub(super) fn index_name(kind: &str, collection: &str, field: &str) -> String {
    format!("{kind}:{}:{}", escape(collection), escape(field))
}

/// Maps a validated name onto lower case without collisions: `_` → `__`, `A` → `_a`.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        match c {
            '_' => out.push_str("__"),
            c if c.is_ascii_uppercase() => {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            }
            c => out.push(c),
        }
    }
    out
}

fn unescape(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c == '_' {
            match chars.next() {
                Some('_') | None => out.push('_'),
                Some(next) => out.push(next.to_ascii_uppercase()),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Which uniqueness rule a failed statement broke.
pub(super) enum Violation {
    /// The primary key: the id is taken.
    Id,
    /// A unique index on this field.
    Field(String),
}

pub(super) fn unique_violation(err: &rusqlite::Error) -> Option<Violation> {
    let rusqlite::Error::SqliteFailure(failure, message) = err else {
        return None;
    };
    if failure.code != ErrorCode::ConstraintViolation {
        return None;
    }
    match failure.extended_code {
        rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Some(Violation::Id),
        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
            // SQLite names the index of an expression: "UNIQUE constraint failed: index 'ux:c:f'".
            // A UNIQUE failure we cannot attribute (the outbox id) reports an empty field.
            let field = message
                .as_deref()
                .and_then(|m| m.split_once("index '"))
                .and_then(|(_, rest)| rest.split(['\'', ':']).nth(2))
                .map(unescape)
                .unwrap_or_default();
            Some(Violation::Field(field))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn escaping_keeps_names_apart_and_reversible() {
        let names = ["users", "Users", "user_s", "userS", "_a", "A", "a__b"];
        let escaped: HashSet<_> = names.iter().map(|n| escape(n)).collect();
        assert_eq!(
            escaped.len(),
            names.len(),
            "two names share a table: {escaped:?}"
        );
        for name in names {
            assert_eq!(unescape(&escape(name)), name);
        }
    }
}
