//! The tickets service, black-box, over a real nats-server per test.

mod helpers;

mod concurrency;
mod config;
mod expiry;
mod reservations;
mod shows;
