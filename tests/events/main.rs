//! The framework's events against a real nats-server with JetStream per test: the
//! transactional outbox and its relay (`publish`), durable consumers with their inbox and
//! dead letters (`consume`), and both across a restart of the server (`restart`).

mod helpers;

mod consume;
mod publish;
mod restart;
