//! Limits on the shape of a query, checked on the parsed document before anything runs:
//! depth, complexity (the number of fields selected, fragments expanded), aliases and
//! root fields. Each has its own error code so clients can tell which one they hit.

use std::collections::HashSet;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// The bounds a query must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of selection sets (`{ a { b } }` has depth 2).
    pub max_depth: usize,
    /// Most fields a query may select, counting every field of every expanded fragment.
    pub max_complexity: usize,
    /// Most aliased fields.
    pub max_aliases: usize,
    /// Most fields in the operation's root selection set.
    pub max_root_fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_complexity: 500,
            max_aliases: 30,
            max_root_fields: 20,
        }
    }
}

/// Which limit a query broke, with the figures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Nested deeper than allowed.
    #[error("the query is nested {found} levels deep; at most {max} are allowed")]
    TooDeep {
        /// The query's depth.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// Selects more fields than allowed.
    #[error("the query selects {found} fields; at most {max} are allowed")]
    TooComplex {
        /// The query's complexity.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// Uses more aliases than allowed.
    #[error("the query uses {found} aliases; at most {max} are allowed")]
    TooManyAliases {
        /// The number of aliases.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// Has more root fields than allowed.
    #[error("the operation has {found} root fields; at most {max} are allowed")]
    TooManyRootFields {
        /// The number of root fields.
        found: usize,
        /// The limit.
        max: usize,
    },
}

impl LimitError {
    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            LimitError::TooDeep { .. } => "QUERY_TOO_DEEP",
            LimitError::TooComplex { .. } => "QUERY_TOO_COMPLEX",
            LimitError::TooManyAliases { .. } => "TOO_MANY_ALIASES",
            LimitError::TooManyRootFields { .. } => "TOO_MANY_ROOT_FIELDS",
        }
    }
}

/// What a walk over one operation found.
#[derive(Default)]
struct Shape {
    depth: usize,
    fields: usize,
    aliases: usize,
}

/// The operation a request runs: the one named `operation_name`, or the only one.
pub fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a async_graphql::parser::types::OperationDefinition> {
    let mut operations = document.operations.iter();
    match operation_name {
        Some(wanted) => operations
            .find(|(name, _)| name.is_some_and(|n| n.as_str() == wanted))
            .map(|(_, op)| &op.node),
        None if document.operations.iter().len() == 1 => operations.next().map(|(_, op)| &op.node),
        None => None,
    }
}

/// Checks every operation of `document` against `limits`.
pub fn check(document: &ExecutableDocument, limits: &Limits) -> Result<(), LimitError> {
    for (_, operation) in document.operations.iter() {
        let root = &operation.node.selection_set.node;
        let root_fields = count_root_fields(document, root, &mut HashSet::new());
        if root_fields > limits.max_root_fields {
            return Err(LimitError::TooManyRootFields {
                found: root_fields,
                max: limits.max_root_fields,
            });
        }
        let mut shape = Shape::default();
        walk(document, root, 1, &mut shape, &mut Vec::new());
        if shape.depth > limits.max_depth {
            return Err(LimitError::TooDeep {
                found: shape.depth,
                max: limits.max_depth,
            });
        }
        if shape.aliases > limits.max_aliases {
            return Err(LimitError::TooManyAliases {
                found: shape.aliases,
                max: limits.max_aliases,
            });
        }
        if shape.fields > limits.max_complexity {
            return Err(LimitError::TooComplex {
                found: shape.fields,
                max: limits.max_complexity,
            });
        }
    }
    Ok(())
}

/// Walks a selection set at `depth`, expanding fragments; `open` holds the fragments being
/// expanded so a cycle (which validation rejects anyway) cannot loop forever.
fn walk<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    depth: usize,
    shape: &mut Shape,
    open: &mut Vec<&'a str>,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                shape.fields += 1;
                if field.alias.is_some() {
                    shape.aliases += 1;
                }
                shape.depth = shape.depth.max(depth);
                walk(document, &field.selection_set.node, depth + 1, shape, open);
            }
            Selection::InlineFragment(fragment) => {
                walk(
                    document,
                    &fragment.node.selection_set.node,
                    depth,
                    shape,
                    open,
                );
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if open.contains(&name) {
                    continue;
                }
                if let Some(fragment) = document.fragments.get(name) {
                    open.push(name);
                    walk(
                        document,
                        &fragment.node.selection_set.node,
                        depth,
                        shape,
                        open,
                    );
                    open.pop();
                }
            }
        }
    }
}

fn count_root_fields<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    open: &mut HashSet<&'a str>,
) -> usize {
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                count_root_fields(document, &fragment.node.selection_set.node, open)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(name) {
                    Some(fragment) if open.insert(name) => {
                        count_root_fields(document, &fragment.node.selection_set.node, open)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

/// Applies [`check`] to every operation the schema parses — over HTTP and WebSocket alike.
pub struct LimitsExtension(pub Limits);

impl async_graphql::extensions::ExtensionFactory for LimitsExtension {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(Enforcer(self.0))
    }
}

struct Enforcer(Limits);

#[async_graphql::async_trait::async_trait]
impl async_graphql::extensions::Extension for Enforcer {
    async fn parse_query(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        query: &str,
        variables: &async_graphql::Variables,
        next: async_graphql::extensions::NextParseQuery<'_>,
    ) -> async_graphql::ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        check(&document, &self.0).map_err(|error| {
            let mut server_error = async_graphql::ServerError::new(error.to_string(), None);
            let mut extensions = async_graphql::ErrorExtensionValues::default();
            extensions.set("code", error.code());
            server_error.extensions = Some(extensions);
            server_error
        })?;
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_query(query: &str, limits: Limits) -> Result<(), LimitError> {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        check(&document, &limits)
    }

    #[test]
    fn counts_depth_through_fragments() {
        let limits = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        assert!(check_query("{ a { b } }", limits).is_ok());
        let deep = "query { a { ...F } } fragment F on T { b { c } }";
        assert_eq!(
            check_query(deep, limits),
            Err(LimitError::TooDeep { found: 3, max: 2 })
        );
    }

    #[test]
    fn counts_aliases_fields_and_root_fields() {
        let limits = Limits {
            max_aliases: 1,
            ..Limits::default()
        };
        assert!(matches!(
            check_query("{ x: a y: a }", limits),
            Err(LimitError::TooManyAliases { found: 2, .. })
        ));
        let roots = Limits {
            max_root_fields: 2,
            ..Limits::default()
        };
        assert!(matches!(
            check_query("{ a b ... on Query { c } }", roots),
            Err(LimitError::TooManyRootFields { found: 3, .. })
        ));
        let small = Limits {
            max_complexity: 3,
            ..Limits::default()
        };
        assert!(matches!(
            check_query("{ a { b c d } }", small),
            Err(LimitError::TooComplex { found: 4, .. })
        ));
    }
}
