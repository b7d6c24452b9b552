//! The naming rule of subjects, shared by the code generator (`build.rs` includes this
//! file) and by run-time users of the descriptors (the gateway), so both always agree.

use heck::ToSnakeCase;

/// The subject of rpc `rpc` (its name in the proto, e.g. `GetMany`) of the service in proto
/// package `package` (e.g. `users.v1`): `users.v1.get_many`.
pub fn rpc_subject(package: &str, rpc: &str) -> String {
    format!("{package}.{}", rpc.to_snake_case())
}

/// The NATS service name of proto package `package`: the package without its trailing
/// `.v<major>` (`users.v1` → `users`), or `None` when the package is not `<name>.v<major>`.
pub fn service_name(package: &str) -> Option<&str> {
    let (name, major) = package.rsplit_once('.')?;
    let major_ok =
        major.len() > 1 && major.starts_with('v') && major[1..].chars().all(|c| c.is_ascii_digit());
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (major_ok && name_ok).then_some(name)
}

/// The subject of event message `message` (its name in the proto, e.g. `UserDeleted`) of
/// service `service`: `events.users.user_deleted`.
pub fn event_subject(service: &str, message: &str) -> String {
    format!("events.{service}.{}", message.to_snake_case())
}

/// The JetStream stream holding every event of service `service`: `USERS_EVENTS`.
pub fn event_stream(service: &str) -> String {
    format!("{}_EVENTS", service.to_uppercase())
}

/// The subjects of every event of service `service`, which its stream holds:
/// `events.users.>`.
pub fn event_subjects(service: &str) -> String {
    format!("events.{service}.>")
}

/// The durable consumer of handler `handler` (proto name, e.g. `DeleteOwnedTodos`) in
/// service `service`: `todos_delete_owned_todos`.
pub fn consumer_name(service: &str, handler: &str) -> String {
    format!("{service}_{}", handler.to_snake_case())
}

/// The subject a consumer's dead letters go to: `dlq.todos.delete_owned_todos`.
pub fn dead_letter_subject(service: &str, handler: &str) -> String {
    format!("dlq.{service}.{}", handler.to_snake_case())
}

/// The JetStream stream holding service `service`'s dead letters: `TODOS_DLQ`.
pub fn dead_letter_stream(service: &str) -> String {
    format!("{}_DLQ", service.to_uppercase())
}

/// The subjects of every dead letter of service `service`'s consumers: `dlq.todos.>`.
pub fn dead_letter_subjects(service: &str) -> String {
    format!("dlq.{service}.>")
}

/// Whether `subject` is a dead letter's (`dlq.<service>.<handler>`).
pub fn is_dead_letter(subject: &str) -> bool {
    subject.starts_with("dlq.")
}
