//! The users service, black-box, over a real nats-server per test.

mod helpers;

mod access;
mod config;
mod crash;
mod create;
mod lookups;
mod outbox;
mod shutdown;
