//! The bookings service black-box, with real tickets and billing services on a real
//! nats-server: the saga's outcomes and compensations one by one, the circuit breaker on
//! a failing billing, and takeover of sagas whose replica died.

mod config;
mod faults;
mod helpers;
mod outcomes;
mod progress;
mod takeover;
