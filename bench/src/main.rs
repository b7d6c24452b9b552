//! Benchmarks of Switchboard against the bare stack it is built on.
//!
//! `cargo run --release -p bench -- [BENCHMARK] [OPTIONS]`; `bench/README.md` describes each
//! benchmark and records its figures. The first argument names the benchmark (`bus` when
//! it is left out or is an option); the rest go to that benchmark.

mod booking;
mod bus;
mod cpu;
mod events;
mod gateway;
mod options;
mod report;
mod stats;
mod tracing;

use anyhow::bail;

/// mimalloc instead of glibc's malloc: allocation was 12 % of the full path's profile
/// (`bench/README.md`, issue 8).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What `help` prints.
const USAGE: &str = "\
usage: cargo run --release -p bench -- [BENCHMARK] [OPTIONS]

benchmarks:
  bus      typed request/reply through Switchboard vs raw async-nats request/reply (default)
  gateway  HTTP -> GraphQL gateway -> bus -> todos service -> store, vs a hand-written
           axum -> async-nats -> raw subscriber path and async-graphql resolving the same
           todos in process
  events   events through outbox -> relay -> JetStream -> durable consumer with its inbox,
           vs raw JetStream publish + pull consume of the same payload
  tracing  the gateway's full path with trace export off, at sampling 1.0 and at 0.1, each
           in a child process exporting over OTLP to a receiver in this one
  booking  bookings through the whole saga (tickets, billing, bookings in process):
           bookings per second and the time from createBooking to CONFIRMED
  help     print this text

bus options:
  --warmup N        requests sent before measuring each pairing   (default 2000)
  --requests N      sequential requests measured one at a time     (default 20000)
  --concurrency N   concurrent requesters of the throughput phase  (default 64)
  --seconds S       length of the throughput phase                 (default 5)
  --rounds N        times every pairing is measured, alternating   (default 2)
  --breakdown       also measure the pairings that tell the costs apart: a raw responder
                    spawning a task per request, raw with framework-shaped headers,
                    framework client -> raw responder, raw requester -> framework service
  --only P[,P…]     measure only these pairings, in this order: raw, raw-spawn,
                    raw-headers, framework-client, framework-server, framework

gateway options:
  --warmup N        requests sent to each target before measuring, every round (default 1000)
  --requests N      sequential requests per target over one connection        (default 5000)
  --concurrency N   keep-alive connections of the throughput phase            (default 64)
  --seconds S       length of the throughput phase                            (default 5)
  --rounds N        times every target is measured, alternating               (default 2)
  --breakdown       also measure the pieces: HTTP + token check answering canned bytes,
                    the todos rpc over the bus without HTTP/GraphQL, the store read alone
  --only T[,T…]     measure only these targets, in this order: full, hand, store,
                    memory, canned, bus-call, store-find

events options:
  --events N        events per throughput measurement                         (default 20000)
  --concurrency N   concurrent producers of the throughput measurement        (default 64)
  --seconds S       length of the lag measurement at half the reached rate    (default 5)
  --rounds N        times every pairing is measured, alternating              (default 2)

tracing options:
  --rounds N        times every configuration is measured, alternating        (default 3)
  any other option  passed to each child's gateway benchmark (--seconds, --concurrency, …)

booking options:
  --bookings N      bookings per round                                        (default 2000)
  --concurrency N   callers making bookings at once                           (default 64)
  --rounds N        rounds                                                    (default 2)
  --sequential N    bookings then made one at a time, for the latency alone   (default 200)
  --shows N         shows the bookings are spread over, round robin           (default 1)

nats-server comes from NATS_SERVER_BIN (or PATH); `cargo xtask nats` prints one.
";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|arg| arg == "-h" || arg == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let mut args = std::env::args().skip(1).peekable();
    let benchmark = match args.peek() {
        Some(first) if !first.starts_with('-') => args.next(),
        _ => None,
    };
    // A child of `tracing`: the telemetry every binary installs, from the same variables.
    let env = switchboard::settings::Env::from_process();
    if env.string("BENCH_TELEMETRY").is_some() {
        let logs = switchboard::telemetry::LogSettings::from_env(&env)?;
        let traces = switchboard::telemetry::TraceSettings::from_env(&env, "bench")?;
        switchboard::telemetry::init(&logs, &traces).map_err(anyhow::Error::msg)?;
    }
    match benchmark.as_deref().unwrap_or("bus") {
        "bus" => bus::run(bus::parse_options(args)?).await,
        "gateway" => gateway::run(gateway::parse_options(args)?).await,
        "events" => events::run(events::parse_options(args)?).await,
        "tracing" => tracing::run(tracing::parse_options(args)?).await,
        "booking" => booking::run(booking::parse_options(args)?).await,
        "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown benchmark {other:?}\n\n{USAGE}"),
    }
}
