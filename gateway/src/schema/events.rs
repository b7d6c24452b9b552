//! Subscriptions from events: every event message declared with
//! `(switchboard.v1.event) = { subscription: "…" }` becomes a field of the `Subscription`
//! root, its type the event's object, delivering events as the announcing service publishes
//! them. No per-service code: subject, type and arguments come from the descriptors.
//!
//! - **Where events come from.** One core NATS subscription on the event's subject per
//!   GraphQL subscription (see ARCHITECTURE.md for why not a JetStream consumer): new events
//!   only, nothing kept on the server, released the moment the client goes away (the
//!   subscription's stream is dropped, which unsubscribes).
//! - **Who may see what.** A subscription needs a verified token. When the event declares
//!   an `owner` field, a user receives only their own events (naming another user's id is
//!   refused with `FORBIDDEN`); an administrator receives any owner's, or everyone's when
//!   leaving the argument out. The caller's identity is fixed when the subscription
//!   starts.
//! - **Token expiry.** When the token's `exp` passes, the subscription ends with an
//!   `UNAUTHENTICATED` error, which the client receives before `complete`.
//! - **Payloads** are decoded from protobuf by descriptor into the same objects queries
//!   return; no JSON step.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::dynamic::{
    FieldValue, InputValue, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use futures::StreamExt as _;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, MessageDescriptor};
use switchboard::auth::{ADMIN_ROLE, Caller};
use switchboard::{contract, naming};

use super::docs::Documented as _;
use super::types::Registry;
use super::{SchemaBuildError, values};
use crate::dispatch::{self, RequestScope};

/// An event exposed as a subscription field.
pub struct EventRoute {
    /// The field name.
    pub field: String,
    /// The event's subject.
    pub subject: String,
    /// The event message.
    pub message: MessageDescriptor,
    /// The field naming the event's owner, when it declares one.
    pub owner: Option<FieldDescriptor>,
    /// Further fields subscribers may filter on.
    pub filters: Vec<FieldDescriptor>,
}

/// Every event in `pool` declared as a subscription, by field name.
pub fn discover(pool: &DescriptorPool) -> Result<Vec<EventRoute>, SchemaBuildError> {
    let mut routes: Vec<EventRoute> = Vec::new();
    for message in pool.all_messages() {
        let spec = contract::event_spec(pool, &message).map_err(SchemaBuildError::Unsupported)?;
        let Some(spec) = spec else { continue };
        let Some(field) = spec.subscription else {
            continue;
        };
        let package = message.package_name();
        let service = naming::service_name(package).ok_or_else(|| {
            SchemaBuildError::Unsupported(format!(
                "{}: package {package:?} is not <service>.v<major>",
                message.full_name()
            ))
        })?;
        let field_of = |name: &str| {
            message.get_field_by_name(name).ok_or_else(|| {
                SchemaBuildError::Unsupported(format!("{}: no field {name}", message.full_name()))
            })
        };
        let owner = spec.owner.as_deref().map(field_of).transpose()?;
        let filters = spec
            .filters
            .iter()
            .map(|name| field_of(name))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(other) = routes.iter().find(|r| r.field == field) {
            return Err(SchemaBuildError::NameCollision {
                name: field,
                first: other.message.full_name().to_string(),
                second: message.full_name().to_string(),
            });
        }
        routes.push(EventRoute {
            subject: naming::event_subject(service, message.name()),
            field,
            message,
            owner,
            filters,
        });
    }
    routes.sort_by(|a, b| a.field.cmp(&b.field));
    Ok(routes)
}

/// The subscription field of `route`, registering the event's object.
pub fn field(
    route: Arc<EventRoute>,
    registry: &mut Registry,
) -> Result<SubscriptionField, SchemaBuildError> {
    let type_name = registry.object(&route.message)?;
    let mut field = SubscriptionField::new(route.field.clone(), TypeRef::named_nn(type_name), {
        let route = route.clone();
        move |ctx| {
            let route = route.clone();
            SubscriptionFieldFuture::new(async move {
                let scope = ctx.data::<Arc<RequestScope>>()?.clone();
                let argument = |field: &FieldDescriptor| {
                    match ctx.args.get(&values::graphql_name(field))?.as_value() {
                        async_graphql::Value::String(s) => Some(s.clone()),
                        // An `ID` may be written as an integer literal.
                        async_graphql::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    }
                };
                let (filters, expires_at) = admit(&route, &scope, argument)?;
                let subscriber = scope
                    .bus
                    .nats()
                    .subscribe(route.subject.clone())
                    .await
                    .map_err(|e| {
                        dispatch::internal(format!("subscribing to {}: {e}", route.subject))
                    })?;
                Ok(events(route, subscriber, filters, expires_at))
            })
        }
    })
    .description(format!(
        "{}\n\nDelivered as they happen{}.",
        route.message.doc().unwrap_or_else(|| "An event.".into()),
        if route.owner.is_some() {
            ", a user's own (any owner's for administrators)"
        } else {
            ""
        }
    ));
    for filter in route.owner.iter().chain(&route.filters) {
        let name = values::graphql_name(filter);
        let scalar = if values::is_id(filter) {
            TypeRef::ID
        } else {
            TypeRef::STRING
        };
        let only = format!("Only events whose `{name}` is this.");
        let description = match filter.doc() {
            Some(doc) => format!("{only} {doc}"),
            None => only,
        };
        field =
            field.argument(InputValue::new(name, TypeRef::named(scalar)).description(description));
    }
    Ok(field)
}

/// Event fields and the values they must have for a subscriber to receive the event.
type Filters = Vec<(FieldDescriptor, String)>;

/// The filters a subscription applies and when its token expires, or why it is refused.
fn admit(
    route: &EventRoute,
    scope: &RequestScope,
    argument: impl Fn(&FieldDescriptor) -> Option<String>,
) -> Result<(Filters, Option<u64>), async_graphql::Error> {
    let Caller::Authenticated(identity) = &scope.caller else {
        return Err(dispatch::unauthenticated(format!(
            "`{}` requires a bearer token",
            route.field
        )));
    };
    let admin = identity.roles.iter().any(|r| r == ADMIN_ROLE);
    let mut filters = Vec::new();
    if let Some(owner) = &route.owner {
        match argument(owner) {
            Some(wanted) if !admin && wanted != identity.subject => {
                return Err(dispatch::coded(
                    "FORBIDDEN",
                    "these events belong to another user",
                ));
            }
            Some(wanted) => filters.push((owner.clone(), wanted)),
            None if admin => {}
            None => filters.push((owner.clone(), identity.subject.clone())),
        }
    }
    for filter in &route.filters {
        if let Some(wanted) = argument(filter) {
            filters.push((filter.clone(), wanted));
        }
    }
    Ok((filters, identity.expires_at))
}

/// The events `subscriber` receives that pass `filters`, ending with `UNAUTHENTICATED`
/// once `expires_at` (seconds since the Unix epoch) has passed.
fn events<'a>(
    route: Arc<EventRoute>,
    subscriber: async_nats::Subscriber,
    filters: Filters,
    expires_at: Option<u64>,
) -> impl futures::Stream<Item = Result<FieldValue<'a>, async_graphql::Error>> + Send + 'a {
    let deadline = expires_at.map(|exp| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        tokio::time::Instant::now() + Duration::from_secs(exp).saturating_sub(now)
    });
    // The state is `None` once the expiry error was sent: the stream then ends.
    futures::stream::unfold(Some(subscriber), move |state| {
        let (route, filters) = (route.clone(), filters.clone());
        async move {
            let mut subscriber = state?;
            loop {
                let message = match deadline {
                    Some(at) => tokio::select! {
                        message = subscriber.next() => message,
                        () = tokio::time::sleep_until(at) => {
                            let expired = dispatch::unauthenticated(
                                "the token expired; subscribe again with a new one",
                            );
                            return Some((Err(expired), None));
                        }
                    },
                    None => subscriber.next().await,
                }?;
                match DynamicMessage::decode(route.message.clone(), message.payload) {
                    Ok(event) if passes(&event, &filters) => {
                        return Some((Ok(FieldValue::owned_any(event)), Some(subscriber)));
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(subject = route.subject, %error, "an undecodable event was skipped");
                    }
                }
            }
        }
    })
}

/// Whether every filter's field of `event` equals its value.
fn passes(event: &DynamicMessage, filters: &[(FieldDescriptor, String)]) -> bool {
    filters
        .iter()
        .all(|(field, value)| event.get_field(field).as_str() == Some(value.as_str()))
}
