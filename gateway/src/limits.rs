//! Limits on the shape of a request, checked before anything recursive touches it: the
//! nesting of the query text and of the variables, then — on the parsed document — depth,
//! complexity (the number of fields selected, fragments expanded), aliases and root fields.
//! Each has its own error code so clients can tell which one they hit.
//!
//! Order matters. async-graphql's parser, its validation visitors and its own
//! recursion-depth check all recurse, and the visitors expand every fragment at every
//! spread. So [`admit`] first bounds the nesting of the raw text with a linear scan (the
//! parser overflows the stack on a few hundred nested brackets), then parses, then computes
//! each fragment's cost once, in dependency order, with no recursion across fragments.
//! Only a document that passes reaches async-graphql, whose own walks are then bounded by
//! the same figures.

use std::collections::HashMap;

use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{ErrorExtensionValues, ServerError, Value, Variables};

use crate::document_cache;

/// The bounds a request must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of selection sets (`{ a { b } }` has depth 2). Fields below an
    /// introspection field (`__schema`, `__type`) do not count: they resolve in memory
    /// without reaching a service, and the standard schema query of GraphiQL and other tools
    /// is 13 deep. Complexity and nesting still bound them.
    pub max_depth: usize,
    /// Most fields a query may select, counting every field of every expanded fragment.
    pub max_complexity: usize,
    /// Most aliased fields.
    pub max_aliases: usize,
    /// Most fields in the operation's root selection set.
    pub max_root_fields: usize,
    /// Deepest nesting of brackets, braces and parentheses in the query text, of lists and
    /// objects in a variable's value, and of fragment spreads inside fragments.
    pub max_nesting: usize,
}

/// Default of [`Limits::max_nesting`]: far above any real query (whose depth is bounded by
/// `max_depth` anyway), far below what the parser's recursion survives on a 2 MiB stack.
pub const DEFAULT_MAX_NESTING: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_complexity: 500,
            max_aliases: 30,
            max_root_fields: 20,
            max_nesting: DEFAULT_MAX_NESTING,
        }
    }
}

/// Which limit a request broke, with the figures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The text, a variable or a fragment chain nests deeper than allowed.
    #[error("the request nests more than {max} levels deep")]
    NestingTooDeep {
        /// The limit.
        max: usize,
    },
    /// Nested deeper than allowed.
    #[error("the query is nested {found} levels deep; at most {max} are allowed")]
    TooDeep {
        /// The query's depth (or the depth found when the check stopped).
        found: u64,
        /// The limit.
        max: usize,
    },
    /// Selects more fields than allowed.
    #[error("the query selects at least {found} fields; at most {max} are allowed")]
    TooComplex {
        /// The query's complexity (or the part counted when the check stopped).
        found: u64,
        /// The limit.
        max: usize,
    },
    /// Uses more aliases than allowed.
    #[error("the query uses at least {found} aliases; at most {max} are allowed")]
    TooManyAliases {
        /// The number of aliases.
        found: u64,
        /// The limit.
        max: usize,
    },
    /// Has more root fields than allowed.
    #[error("the operation has {found} root fields; at most {max} are allowed")]
    TooManyRootFields {
        /// The number of root fields.
        found: u64,
        /// The limit.
        max: usize,
    },
    /// A fragment spreads itself, directly or through others.
    #[error("fragment {fragment:?} spreads itself")]
    FragmentCycle {
        /// A fragment on the cycle.
        fragment: String,
    },
}

impl LimitError {
    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            LimitError::NestingTooDeep { .. } => "NESTING_TOO_DEEP",
            LimitError::TooDeep { .. } => "QUERY_TOO_DEEP",
            LimitError::TooComplex { .. } => "QUERY_TOO_COMPLEX",
            LimitError::TooManyAliases { .. } => "TOO_MANY_ALIASES",
            LimitError::TooManyRootFields { .. } => "TOO_MANY_ROOT_FIELDS",
            LimitError::FragmentCycle { .. } => VALIDATION_FAILED,
        }
    }
}

/// The code of a document that does not parse.
pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
/// The code of a document that parses but is not valid against the schema.
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// A `ServerError` with `extensions.code = code`.
pub fn coded_error(code: &'static str, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

impl From<LimitError> for ServerError {
    fn from(error: LimitError) -> Self {
        coded_error(error.code(), error.to_string())
    }
}

/// Marks a request [`admit`] already checked, so the schema extension does not check it
/// twice (HTTP admits requests itself, to know their operation type before running them).
pub struct Admitted;

/// Checks `request` against `limits` in an order that never recurses on unbounded input:
/// the nesting of the text and variables first, then the parse, then the document's shape.
/// On success the parsed document is stored in the request, so it is not parsed again.
///
/// A text accepted once is remembered with its parsed document
/// ([`document_cache`](crate::document_cache)): a later request with the same text under
/// the same limits skips the text scan, the parse and the shape checks, which depend on the
/// text alone, and only has its variables checked. Refused texts are not remembered.
pub fn admit(request: &mut async_graphql::Request, limits: &Limits) -> Result<(), ServerError> {
    let documents = document_cache::shared();
    if let Some(document) = documents.get(&request.query, limits) {
        check_variables_nesting(&request.variables, limits.max_nesting)?;
        check_operation_variables(&document, request)?;
        request.set_parsed_query(ExecutableDocument::clone(&document));
        request.data.insert(Admitted);
        return Ok(());
    }
    check_text_nesting(&request.query, limits.max_nesting)?;
    check_variables_nesting(&request.variables, limits.max_nesting)?;
    let document = async_graphql::parser::parse_query(&request.query)
        .map_err(|error| coded_error(PARSE_FAILED, error.to_string()))?;
    check(&document, limits)?;
    if documents.caches(&request.query) {
        documents.insert(&request.query, *limits, document.clone());
    }
    check_operation_variables(&document, request)?;
    request.set_parsed_query(document);
    request.data.insert(Admitted);
    Ok(())
}

/// Refuses `request` if it leaves out a variable its operation in `document` requires.
fn check_operation_variables(
    document: &ExecutableDocument,
    request: &async_graphql::Request,
) -> Result<(), ServerError> {
    match selected_operation(document, request.operation_name.as_deref()) {
        Some(operation) => check_required_variables(operation, &request.variables),
        None => Ok(()),
    }
}

/// Refuses a request that leaves out a variable the operation requires (non-null, with no
/// default). async-graphql would notice only while resolving a field, and answer as if the
/// operation had run; the GraphQL specification coerces variables before execution.
fn check_required_variables(
    operation: &OperationDefinition,
    variables: &Variables,
) -> Result<(), ServerError> {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let required = !definition.var_type.node.nullable && definition.default_value.is_none();
        let name = &definition.name.node;
        if required && variables.get(name).is_none_or(|v| *v == Value::Null) {
            return Err(coded_error(
                "BAD_USER_INPUT",
                format!("the variable `${name}` is required"),
            ));
        }
    }
    Ok(())
}

/// Refuses text whose brackets, braces and parentheses nest deeper than `max`, outside
/// strings, block strings and comments. One pass, no recursion, no allocation.
pub fn check_text_nesting(text: &str, max: usize) -> Result<(), LimitError> {
    #[derive(PartialEq)]
    enum State {
        Code,
        String,
        BlockString,
        Comment,
    }
    let bytes = text.as_bytes();
    let mut state = State::Code;
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match state {
            State::Code => match byte {
                b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                    state = State::BlockString;
                    i += 2;
                }
                b'"' => state = State::String,
                b'#' => state = State::Comment,
                b'{' | b'[' | b'(' => {
                    depth += 1;
                    if depth > max {
                        return Err(LimitError::NestingTooDeep { max });
                    }
                }
                b'}' | b']' | b')' => depth = depth.saturating_sub(1),
                _ => {}
            },
            State::String => match byte {
                // An escape takes the next byte with it, so `\"` does not end the string.
                b'\\' => i += 1,
                b'"' | b'\n' | b'\r' => state = State::Code,
                _ => {}
            },
            State::BlockString => {
                if bytes[i..].starts_with(b"\\\"\"\"") {
                    i += 3;
                } else if bytes[i..].starts_with(b"\"\"\"") {
                    state = State::Code;
                    i += 2;
                }
            }
            State::Comment => {
                if byte == b'\n' || byte == b'\r' {
                    state = State::Code;
                }
            }
        }
        i += 1;
    }
    Ok(())
}

/// Refuses variables whose lists and objects nest deeper than `max` (`[[1]]` nests two
/// levels, as in query text). Walks with an explicit stack, never the call stack.
pub fn check_variables_nesting(variables: &Variables, max: usize) -> Result<(), LimitError> {
    let mut stack: Vec<(&Value, usize)> = variables.values().map(|v| (v, 0)).collect();
    while let Some((value, depth)) = stack.pop() {
        // `depth` counts the lists and objects around `value`; a container is one more.
        let level = depth + 1;
        match value {
            Value::List(_) | Value::Object(_) if level > max => {
                return Err(LimitError::NestingTooDeep { max });
            }
            Value::List(items) => stack.extend(items.iter().map(|item| (item, level))),
            Value::Object(fields) => stack.extend(fields.values().map(|field| (field, level))),
            _ => {}
        }
    }
    Ok(())
}

/// The cost of a selection set, fragments expanded. Sums saturate: a chain of fragments
/// can describe more fields than a `u64` holds, and any such figure is over every limit.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    /// Fields selected.
    fields: u64,
    /// Aliased fields.
    aliases: u64,
    /// Deepest field nesting (a field of the set itself is at depth 1).
    depth: u64,
    /// Fields at the top level of the set (through inline fragments and spreads).
    top_fields: u64,
    /// Deepest nesting of selection sets, inline fragments and spreads, as async-graphql's
    /// recursion check counts it.
    recursion: u64,
}

impl Cost {
    /// Adds the cost of a spread of `fragment` found `depth` fields down, `recursion`
    /// levels down, at the top level of the set or not.
    fn add_spread(&mut self, fragment: &Cost, spread: &Spread<'_>) {
        self.fields = self.fields.saturating_add(fragment.fields);
        self.aliases = self.aliases.saturating_add(fragment.aliases);
        if !spread.introspection {
            self.depth = self.depth.max(spread.depth.saturating_add(fragment.depth));
        }
        self.recursion = self.recursion.max(
            spread
                .recursion
                .saturating_add(1)
                .saturating_add(fragment.recursion),
        );
        if spread.top_level {
            self.top_fields = self.top_fields.saturating_add(fragment.top_fields);
        }
    }

    /// The first limit this cost breaks, root fields aside (a fragment's top level is not
    /// the root unless it is spread there).
    fn check(&self, limits: &Limits) -> Result<(), LimitError> {
        if self.recursion > limits.max_nesting as u64 {
            return Err(LimitError::NestingTooDeep {
                max: limits.max_nesting,
            });
        }
        if self.depth > limits.max_depth as u64 {
            return Err(LimitError::TooDeep {
                found: self.depth,
                max: limits.max_depth,
            });
        }
        if self.aliases > limits.max_aliases as u64 {
            return Err(LimitError::TooManyAliases {
                found: self.aliases,
                max: limits.max_aliases,
            });
        }
        if self.fields > limits.max_complexity as u64 {
            return Err(LimitError::TooComplex {
                found: self.fields,
                max: limits.max_complexity,
            });
        }
        Ok(())
    }
}

/// A fragment spread inside a definition, where it was found.
#[derive(Debug)]
struct Spread<'a> {
    fragment: &'a str,
    depth: u64,
    recursion: u64,
    top_level: bool,
    /// Inside an introspection field, where depth does not count.
    introspection: bool,
}

/// What one definition selects by itself, and the spreads it still has to add.
#[derive(Debug, Default)]
struct Local<'a> {
    cost: Cost,
    spreads: Vec<Spread<'a>>,
}

/// Walks one definition's selection set without entering fragments. The walk recurses
/// only into nested selection sets, which the text scan has already bounded; it still
/// refuses to go deeper than `max_nesting` itself, so it is safe on any document.
fn local_cost<'a>(
    set: &'a SelectionSet,
    introspection: bool,
    max_nesting: usize,
) -> Result<Local<'a>, LimitError> {
    let mut local = Local::default();
    let at = Position {
        depth: 0,
        recursion: 0,
        top_level: true,
        introspection,
    };
    walk(set, at, max_nesting, &mut local)?;
    Ok(local)
}

/// Where a selection set lies in the definition being walked.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// Fields above it.
    depth: u64,
    /// Selection sets, inline fragments and spreads around it.
    recursion: u64,
    /// Whether its fields are the definition's top level.
    top_level: bool,
    /// Whether it is below an introspection field (whose depth does not count).
    introspection: bool,
}

fn walk<'a>(
    set: &'a SelectionSet,
    at: Position,
    max_nesting: usize,
    local: &mut Local<'a>,
) -> Result<(), LimitError> {
    let Position {
        depth,
        recursion,
        top_level,
        introspection,
    } = at;
    if recursion > max_nesting as u64 {
        return Err(LimitError::NestingTooDeep { max: max_nesting });
    }
    local.cost.recursion = local.cost.recursion.max(recursion);
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                local.cost.fields += 1;
                if field.alias.is_some() {
                    local.cost.aliases += 1;
                }
                if top_level {
                    local.cost.top_fields += 1;
                }
                if !introspection {
                    local.cost.depth = local.cost.depth.max(depth + 1);
                }
                if !field.selection_set.node.items.is_empty() {
                    let below = Position {
                        depth: depth + 1,
                        recursion: recursion + 1,
                        top_level: false,
                        introspection: introspection || field.name.node.starts_with("__"),
                    };
                    walk(&field.selection_set.node, below, max_nesting, local)?;
                }
            }
            Selection::InlineFragment(fragment) => {
                let inside = Position {
                    recursion: recursion + 1,
                    ..at
                };
                walk(
                    &fragment.node.selection_set.node,
                    inside,
                    max_nesting,
                    local,
                )?;
            }
            Selection::FragmentSpread(spread) => local.spreads.push(Spread {
                fragment: spread.node.fragment_name.node.as_str(),
                depth,
                recursion,
                top_level,
                introspection,
            }),
        }
    }
    Ok(())
}

/// Each fragment's cost, fragments expanded, computed once per fragment in dependency
/// order: linear in the size of the document, whatever the spreads multiply to. Stops at
/// the first fragment over a limit (any operation spreading it is over it too; one spread
/// by none fails validation anyway) and at the first cycle.
fn fragment_costs<'a>(
    document: &'a ExecutableDocument,
    limits: &Limits,
) -> Result<HashMap<&'a str, Cost>, LimitError> {
    let mut locals: HashMap<&'a str, Local<'a>> = HashMap::new();
    for (name, fragment) in &document.fragments {
        // A fragment on an introspection type (`__Type`) selects introspection fields.
        let introspection = fragment.node.type_condition.node.on.node.starts_with("__");
        let set = &fragment.node.selection_set.node;
        locals.insert(
            name.as_str(),
            local_cost(set, introspection, limits.max_nesting)?,
        );
    }
    let mut done: HashMap<&'a str, Cost> = HashMap::with_capacity(locals.len());
    let mut open: Vec<&'a str> = Vec::new();
    for &start in locals.keys() {
        if done.contains_key(start) {
            continue;
        }
        // Depth-first with an explicit stack (a chain of fragments may be long): a frame is
        // a fragment and how many of its spreads are already accounted for.
        let mut stack: Vec<(&'a str, usize)> = vec![(start, 0)];
        open.push(start);
        while let Some(&(name, next)) = stack.last() {
            let local = &locals[name];
            if let Some(spread) = local.spreads.get(next) {
                if let Some(frame) = stack.last_mut() {
                    frame.1 += 1;
                }
                let target = spread.fragment;
                if done.contains_key(target) || !locals.contains_key(target) {
                    // Known and costed, or unknown (which validation reports).
                    continue;
                }
                if open.contains(&target) {
                    return Err(LimitError::FragmentCycle {
                        fragment: target.to_string(),
                    });
                }
                open.push(target);
                stack.push((target, 0));
                continue;
            }
            let mut cost = local.cost;
            for spread in &local.spreads {
                if let Some(fragment) = done.get(spread.fragment) {
                    cost.add_spread(fragment, spread);
                }
            }
            cost.check(limits)?;
            done.insert(name, cost);
            stack.pop();
            open.pop();
        }
    }
    Ok(done)
}

/// The operation a request runs: the one named `operation_name`, or the only one.
pub fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    let mut operations = document.operations.iter();
    match operation_name {
        Some(wanted) => operations
            .find(|(name, _)| name.is_some_and(|n| n.as_str() == wanted))
            .map(|(_, op)| &op.node),
        None if document.operations.iter().len() == 1 => operations.next().map(|(_, op)| &op.node),
        None => None,
    }
}

/// The number of root fields of `operation`, fragments expanded (the document must have
/// passed [`check`], so its fragments are acyclic and bounded).
pub fn root_fields(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    limits: &Limits,
) -> Result<u64, LimitError> {
    let fragments = fragment_costs(document, limits)?;
    Ok(operation_cost(operation, &fragments, limits)?.top_fields)
}

fn operation_cost(
    operation: &OperationDefinition,
    fragments: &HashMap<&str, Cost>,
    limits: &Limits,
) -> Result<Cost, LimitError> {
    let local = local_cost(&operation.selection_set.node, false, limits.max_nesting)?;
    let mut cost = local.cost;
    for spread in &local.spreads {
        if let Some(fragment) = fragments.get(spread.fragment) {
            cost.add_spread(fragment, spread);
        }
    }
    Ok(cost)
}

/// Checks every operation of `document` against `limits`.
pub fn check(document: &ExecutableDocument, limits: &Limits) -> Result<(), LimitError> {
    let fragments = fragment_costs(document, limits)?;
    for (_, operation) in document.operations.iter() {
        let cost = operation_cost(&operation.node, &fragments, limits)?;
        if cost.top_fields > limits.max_root_fields as u64 {
            return Err(LimitError::TooManyRootFields {
                found: cost.top_fields,
                max: limits.max_root_fields,
            });
        }
        cost.check(limits)?;
    }
    Ok(())
}

/// Applies [`admit`] to every request the schema runs — over HTTP and WebSocket alike —
/// and gives every error that reaches a client an `extensions.code`.
pub struct LimitsExtension(pub Limits);

impl async_graphql::extensions::ExtensionFactory for LimitsExtension {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(Enforcer {
            limits: self.0,
            websocket: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// The extension of one request.
struct Enforcer {
    limits: Limits,
    /// Whether the request came over WebSocket (it was subscribed to, not executed), so
    /// this extension opened its operation's span.
    websocket: std::sync::atomic::AtomicBool,
}

/// Sets `code` on every error of `errors` that has none.
fn default_code(errors: &mut [ServerError], code: impl Fn(&ServerError) -> &'static str) {
    for error in errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !has_code {
            let code = code(error);
            error
                .extensions
                .get_or_insert_with(ErrorExtensionValues::default)
                .set("code", code);
        }
    }
}

/// A response's errors all carry a code: a response with no data was refused as a whole
/// (`BAD_REQUEST`, e.g. an unknown operation name); errors beside data are field failures
/// the gateway did not classify (`INTERNAL`).
fn ensure_codes(mut response: async_graphql::Response) -> async_graphql::Response {
    let code = if response.data == Value::Null {
        "BAD_REQUEST"
    } else {
        "INTERNAL"
    };
    default_code(&mut response.errors, |_| code);
    response
}

/// A marker on responses that come from executing an operation, as opposed to requests
/// refused before execution. It travels in `Response::http_headers`, which the gateway
/// never copies to clients: HTTP tells a request that could not run (no `data` entry, and
/// 400 with `graphql-response+json`) from one whose every field failed (200, with `data:
/// null`).
pub const EXECUTED: &str = "x-switchboard-executed";

#[async_graphql::async_trait::async_trait]
impl async_graphql::extensions::Extension for Enforcer {
    async fn execute(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: async_graphql::extensions::NextExecute<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(ctx, operation_name).await;
        response
            .http_headers
            .insert(EXECUTED, axum::http::HeaderValue::from_static("true"));
        response
    }

    async fn request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextRequest<'_>,
    ) -> async_graphql::Response {
        ensure_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        stream: futures::stream::BoxStream<'s, async_graphql::Response>,
        next: async_graphql::extensions::NextSubscribe<'_>,
    ) -> futures::stream::BoxStream<'s, async_graphql::Response> {
        use futures::StreamExt;
        // Over HTTP the handler opened the operation's span; an operation over WebSocket
        // comes here, and is a trace of its own: its span is entered on every poll of its
        // stream, and named once its request is admitted (`prepare_request`, which runs
        // inside it).
        let mut inner = next.run(ctx, stream);
        if !tracing::Span::current().is_none() {
            return inner.map(ensure_codes).boxed();
        }
        let span = crate::operation::unnamed_span();
        self.websocket
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // The span ends with the stream's last item: whoever holds the finished stream
        // (the connection, until the client leaves) does not keep it open.
        let mut span = Some(span);
        futures::stream::poll_fn(move |cx| {
            let Some(open) = &span else {
                return std::task::Poll::Ready(None);
            };
            let polled = open.in_scope(|| inner.poll_next_unpin(cx));
            match &polled {
                std::task::Poll::Ready(Some(response)) => {
                    crate::operation::record_outcome(open, response);
                }
                std::task::Poll::Ready(None) => span = None,
                std::task::Poll::Pending => {}
            }
            polled
        })
        .map(ensure_codes)
        .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        mut request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<async_graphql::Request> {
        if !request
            .data
            .contains_key(&std::any::TypeId::of::<Admitted>())
        {
            admit(&mut request, &self.limits)?;
        }
        if self.websocket.load(std::sync::atomic::Ordering::Relaxed) {
            // Inside the operation's stream: the current span is the one `subscribe` opened.
            crate::operation::name_from(&tracing::Span::current(), &mut request);
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: async_graphql::extensions::NextParseQuery<'_>,
    ) -> async_graphql::ServerResult<ExecutableDocument> {
        // The document was parsed by `admit`; what can fail here is async-graphql's own
        // recursion check, a backstop of the nesting limit.
        next.run(ctx, query, variables).await.map_err(|mut error| {
            default_code(std::slice::from_mut(&mut error), |_| "NESTING_TOO_DEEP");
            error
        })
    }

    async fn validation(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextValidation<'_>,
    ) -> Result<async_graphql::ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            // async-graphql's own depth and complexity limits back ours up; their
            // messages are the only way to tell them apart from rule violations.
            default_code(&mut errors, |error| match error.message.as_str() {
                "Query is too complex." => "QUERY_TOO_COMPLEX",
                "Query is nested too deep." => "QUERY_TOO_DEEP",
                _ => VALIDATION_FAILED,
            });
            errors
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request for `query` with `variables`, under `limits`, admitted.
    fn admit_query(
        query: &str,
        variables: serde_json::Value,
        limits: &Limits,
    ) -> Result<async_graphql::Request, ServerError> {
        let mut request =
            async_graphql::Request::new(query).variables(Variables::from_json(variables));
        admit(&mut request, limits).map(|()| request)
    }

    fn code_of(error: &ServerError) -> Option<String> {
        let code = error.extensions.as_ref()?.get("code")?;
        match code {
            Value::String(code) => Some(code.clone()),
            _ => None,
        }
    }

    #[test]
    fn an_admitted_text_is_cached_and_its_variables_are_still_checked_per_request() {
        let limits = Limits::default();
        let query = "query Cached($o: String!) { todos(ownerId: $o) { cached_per_text } }";
        let mut first =
            admit_query(query, serde_json::json!({ "o": "a" }), &limits).expect("admitted");
        assert!(
            document_cache::shared().get(query, &limits).is_some(),
            "the accepted text is cached"
        );
        let mut second = admit_query(query, serde_json::json!({ "o": "b" }), &limits)
            .expect("admitted from the cache");
        assert_eq!(
            format!("{:?}", first.parsed_query().expect("parsed")),
            format!("{:?}", second.parsed_query().expect("parsed")),
            "the cached document is the parsed one"
        );

        let missing = admit_query(query, serde_json::json!({}), &limits)
            .expect_err("a required variable is missing");
        assert_eq!(code_of(&missing).as_deref(), Some("BAD_USER_INPUT"));
        let mut nested = serde_json::json!(1);
        for _ in 0..(limits.max_nesting + 1) {
            nested = serde_json::Value::Array(vec![nested]);
        }
        let deep = admit_query(query, serde_json::json!({ "o": nested }), &limits)
            .expect_err("variables nested too deep");
        assert_eq!(code_of(&deep).as_deref(), Some("NESTING_TOO_DEEP"));
    }

    #[test]
    fn refused_texts_are_refused_again_and_never_cached() {
        let limits = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        let nested_text = format!(
            "{{ refused_nesting(a: {}1{}) }}",
            "[".repeat(70),
            "]".repeat(70)
        );
        let cases = [
            ("{ refused_deep { b { c } } }", "QUERY_TOO_DEEP"),
            ("{ refused_parse { ", "GRAPHQL_PARSE_FAILED"),
            (nested_text.as_str(), "NESTING_TOO_DEEP"),
        ];
        for (query, code) in cases {
            for attempt in 0..2 {
                let error =
                    admit_query(query, serde_json::json!({}), &limits).expect_err("refused");
                assert_eq!(
                    code_of(&error).as_deref(),
                    Some(code),
                    "{query}, try {attempt}"
                );
            }
            assert!(document_cache::shared().get(query, &limits).is_none());
        }
    }

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
    fn introspection_depth_does_not_count_but_its_fields_do() {
        let limits = Limits {
            max_depth: 3,
            max_complexity: 20,
            ..Limits::default()
        };
        // Nine levels below `__schema`, through a fragment as GraphiQL's query does.
        let schema_query = "query { __schema { types { ...T } } } \
            fragment T on __Type { fields { type { ofType { ofType { ofType { ofType { name } } } } } } }";
        assert_eq!(check_query(schema_query, limits), Ok(()));
        assert_eq!(
            check_query(
                "{ __type(name: \"Q\") { fields { type { ofType { name } } } } }",
                limits
            ),
            Ok(())
        );
        // The same shape through ordinary fields is over the limit …
        let ordinary = "query { users { nodes { ...T } } } \
            fragment T on User { todos { owner { todos { id } } } }";
        assert!(matches!(
            check_query(ordinary, limits),
            Err(LimitError::TooDeep { .. })
        ));
        // … and introspection's fields still count towards complexity.
        let wide = format!("{{ __schema {{ types {{ {} }} }} }}", "name ".repeat(30));
        assert!(matches!(
            check_query(&wide, limits),
            Err(LimitError::TooComplex { .. })
        ));
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
        assert!(matches!(
            check_query("{ a ...R } fragment R on Query { b c }", roots),
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

    #[test]
    fn expands_each_spread_of_a_fragment_with_its_memoised_cost() {
        let limits = Limits::default();
        let query = "{ a { ...F ...F } } fragment F on T { x ...G ...G } fragment G on T { y z }";
        let document = async_graphql::parser::parse_query(query).expect("parses");
        let fragments = fragment_costs(&document, &limits).expect("within limits");
        // G = 2 fields; F = 1 + 2 × 2 = 5; the operation = 1 + 2 × 5 = 11.
        assert_eq!(fragments["G"].fields, 2);
        assert_eq!(fragments["F"].fields, 5);
        let (_, operation) = document.operations.iter().next().expect("an operation");
        let cost = operation_cost(&operation.node, &fragments, &limits).expect("costs");
        assert_eq!((cost.fields, cost.depth, cost.top_fields), (11, 2, 1));
    }

    #[test]
    fn a_chain_of_doubling_fragments_is_refused_without_expanding_it() {
        // 64 fragments, each spreading the next twice: 2^64 fields if expanded.
        let mut query = String::from("{ ...F0 }");
        for n in 0..64 {
            query.push_str(&format!(
                " fragment F{n} on Query {{ ...F{} ...F{} }}",
                n + 1,
                n + 1
            ));
        }
        query.push_str(" fragment F64 on Query { a }");
        let limits = Limits {
            max_nesting: 1000,
            ..Limits::default()
        };
        assert!(matches!(
            check_query(&query, limits),
            Err(LimitError::TooComplex { .. })
        ));
    }

    #[test]
    fn fragment_cycles_are_refused() {
        let query = "{ ...A } fragment A on Query { a ...B } fragment B on Query { ...A }";
        assert!(matches!(
            check_query(query, Limits::default()),
            Err(LimitError::FragmentCycle { .. })
        ));
        let own = "{ ...A } fragment A on Query { ...A }";
        assert!(matches!(
            check_query(own, Limits::default()),
            Err(LimitError::FragmentCycle { .. })
        ));
    }

    #[test]
    fn long_fragment_chains_count_as_nesting() {
        let mut query = String::from("{ ...F0 }");
        for n in 0..5000 {
            query.push_str(&format!(" fragment F{n} on Query {{ ...F{} }}", n + 1));
        }
        query.push_str(" fragment F5000 on Query { a }");
        assert!(matches!(
            check_query(&query, Limits::default()),
            Err(LimitError::NestingTooDeep { .. })
        ));
    }

    #[test]
    fn text_nesting_ignores_strings_block_strings_and_comments() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(check_text_nesting(&nested(4), 4).is_ok());
        assert_eq!(
            check_text_nesting(&nested(5), 4),
            Err(LimitError::NestingTooDeep { max: 4 })
        );
        let hidden = format!(
            "{{ a(s: \"{0} \\\" {0}\", b: \"\"\"{0} \\\"\"\" {0}\"\"\") # {0}\n }}",
            "[[[[[[[["
        );
        assert!(check_text_nesting(&hidden, 2).is_ok(), "{hidden}");
        // Closers never take the count below zero, so they cannot buy extra openers.
        assert!(check_text_nesting(&format!("]]]]{}", nested(3)), 2).is_err());
    }

    #[test]
    fn variable_nesting_counts_lists_and_objects() {
        let mut value = serde_json::json!(1);
        for _ in 0..100 {
            value = serde_json::Value::Array(vec![value]);
        }
        let variables = Variables::from_json(serde_json::json!({ "v": value }));
        assert_eq!(
            check_variables_nesting(&variables, 64),
            Err(LimitError::NestingTooDeep { max: 64 })
        );
        // Three levels, as the brackets of the same value written in query text count.
        let flat = Variables::from_json(serde_json::json!({ "v": [[1], { "a": [2] }], "w": 3 }));
        assert!(check_variables_nesting(&flat, 3).is_ok());
        assert!(check_variables_nesting(&flat, 2).is_err());
    }
}
