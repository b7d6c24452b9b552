//! The gateway over real HTTP and WebSocket, in front of real services on a real
//! nats-server per test.

mod helpers;

mod audit;
mod auth;
mod batching;
mod booking;
mod browser;
mod cascade;
mod codes;
mod errors;
mod hostile;
mod http;
mod idempotency;
mod limits;
mod queries;
mod schema;
mod shutdown;
mod subscriptions;
mod tracing;
mod web;
mod websocket;
