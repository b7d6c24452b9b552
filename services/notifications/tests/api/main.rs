//! The notifications service, black-box: a real nats-server, the users service and a real
//! SMTP receiver per test; bookings events published as the bookings service's relay
//! would publish them.

mod helpers;

mod access;
mod config;
mod delivery;
