//! The framework's bus and service runtime, against a real nats-server per test.

mod helpers;

mod admin;
mod breaker;
mod connect;
mod context;
mod creds;
mod discovery;
mod errors;
mod idempotency;
mod jwks;
mod limits;
mod retries;
mod shutdown;
mod streams;
mod tls;
