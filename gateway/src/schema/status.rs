//! The `Subscription` root. Until the contracts declare streaming rpcs, it holds the
//! gateway's own `readiness` feed for operators (administrators only): whether NATS is
//! connected and which subjects the schema needs are not served, re-checked periodically.
//! Having a subscription root also lets clients run queries over WebSocket.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, Subscription, SubscriptionField,
    SubscriptionFieldFuture, TypeRef,
};
use async_graphql::{Name, Value as GqlValue};
use switchboard::auth::ADMIN_ROLE;

use crate::dispatch::{self, RequestScope};
use crate::readiness::{Readiness, Report};

/// The shortest interval a client may ask for, so a feed cannot hammer `$SRV.INFO`.
const MIN_INTERVAL: Duration = Duration::from_millis(500);

/// The `Subscription` root and the `Readiness` object it streams.
pub fn subscription_root() -> (Subscription, Object) {
    let field = SubscriptionField::new("readiness", TypeRef::named_nn("Readiness"), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let scope = ctx.data::<Arc<RequestScope>>()?.clone();
            if !scope.caller.has_role(ADMIN_ROLE) {
                return Err(dispatch::coded(
                    "FORBIDDEN",
                    "readiness is for administrators",
                ));
            }
            let readiness = ctx.data::<Arc<Readiness>>()?.clone();
            let every = ctx
                .args
                .get("everyMs")
                .and_then(|v| v.u64().ok())
                .map(Duration::from_millis)
                .unwrap_or(Duration::from_secs(5))
                .max(MIN_INTERVAL);
            let ticker = tokio::time::interval(every);
            Ok(async_graphql::futures_util::stream::unfold(
                ticker,
                move |mut ticker| {
                    let readiness = readiness.clone();
                    let scope = scope.clone();
                    async move {
                        ticker.tick().await;
                        let report = readiness.check(scope.bus.nats()).await;
                        Some((Ok::<_, async_graphql::Error>(report_value(&report)), ticker))
                    }
                },
            ))
        })
    })
    .argument(
        InputValue::new("everyMs", TypeRef::named_nn(TypeRef::INT))
            .default_value(5000)
            .description("Milliseconds between two reports."),
    )
    .description("The gateway's readiness, now and then every `everyMs` (administrators only).");
    let fields = [
        ("ready", "Whether the gateway can serve every field now."),
        ("natsConnected", "Whether the gateway is connected to NATS."),
        (
            "missing",
            "The subjects the schema needs that no service answers.",
        ),
    ];
    let object = fields.into_iter().fold(
        Object::new("Readiness").description("Whether every subject the schema needs is served."),
        |object, (name, description)| {
            let ty = if name == "missing" {
                TypeRef::named_nn_list_nn(TypeRef::STRING)
            } else {
                TypeRef::named_nn(TypeRef::BOOLEAN)
            };
            object.field(
                Field::new(name, ty, move |ctx| {
                    let value = match ctx.parent_value.as_value() {
                        Some(GqlValue::Object(fields)) => fields.get(name).cloned(),
                        _ => None,
                    };
                    FieldFuture::Value(value.map(FieldValue::value))
                })
                .description(description),
            )
        },
    );
    (Subscription::new("Subscription").field(field), object)
}

fn report_value(report: &Report) -> FieldValue<'static> {
    let mut fields = async_graphql::indexmap::IndexMap::new();
    fields.insert(Name::new("ready"), GqlValue::Boolean(report.ready));
    fields.insert(
        Name::new("natsConnected"),
        GqlValue::Boolean(report.nats_connected),
    );
    fields.insert(
        Name::new("missing"),
        GqlValue::List(
            report
                .missing
                .iter()
                .cloned()
                .map(GqlValue::String)
                .collect(),
        ),
    );
    FieldValue::value(GqlValue::Object(fields))
}
