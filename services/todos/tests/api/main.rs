//! The todos service, black-box, over a real nats-server per test.

mod helpers;

mod access;
mod batch;
mod config;
mod lifecycle;
