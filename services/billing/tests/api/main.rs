//! The billing service, black-box, over a real nats-server per test.

mod helpers;

mod access;
mod charges;
mod config;
mod faults;
