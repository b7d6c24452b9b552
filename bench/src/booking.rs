//! `booking`: bookings through the whole saga — `Bookings.Create` answered PENDING, then
//! tickets.Reserve, billing.Charge and tickets.Confirm driven by the bookings service's saga
//! runner, each transition committed with its events — measured from the caller's side.
//!
//! tickets, billing and bookings run in this process on file stores (as in production,
//! one SQLite file each), on one nats-server. `concurrency` callers make `bookings`
//! bookings of 1 seat on a show that never sells out; a plain subscriber on the
//! `BookingConfirmed` / `BookingCancelled` subjects notes when each booking ends. Reported:
//! bookings per second (first create sent → last booking ended), the create reply's
//! latency, and each booking's time from `createBooking` sent to its `BookingConfirmed`
//! published — the moment anyone following it (an email, a `bookingProgress` subscriber)
//! can know — under that load ("loaded": creates arrive faster than sagas finish, so it
//! is mostly queueing), and for `sequential` bookings then made one at a time ("alone").

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use futures::StreamExt as _;
use prost::Message as _;
use switchboard::auth::ADMIN_ROLE;
use switchboard::bus::BusSettings;
use switchboard::proto::bookings::v1::{
    BookingCancelled, BookingConfirmed, BookingsClient, CreateBookingRequest, bookings_events,
    create_booking_reply,
};
use switchboard::proto::tickets::v1::{CreateShowRequest, TicketsClient, create_show_reply};
use switchboard::service::{Application, RuntimeSettings, ServiceSettings};
use switchboard::settings::Env;
use switchboard::testing::NatsServer;
use switchboard::{Bus, CallOptions};
use tokio::sync::Notify;

use crate::stats::{Summary, micros};

/// The development secret every service of the run verifies tokens with.
const SECRET: &str = "bench-booking-secret-0123456789abcdef";

/// What the command line chose.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bookings per round.
    pub bookings: usize,
    /// Callers making bookings at once.
    pub concurrency: usize,
    /// Rounds.
    pub rounds: usize,
    /// Shows the bookings are spread over (tickets serialises the bookings of one show).
    pub shows: usize,
    /// Bookings made one at a time (each waits for its end) per round, for the latency of
    /// a booking alone.
    pub sequential: usize,
}

/// Reads the options that follow `booking` on the command line.
pub fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options> {
    let mut options = Options {
        bookings: 2000,
        concurrency: 64,
        rounds: 2,
        sequential: 200,
        shows: 1,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let number: usize = value
            .parse()
            .with_context(|| format!("{flag} {value:?}: not a whole number"))?;
        ensure!(number > 0, "{flag} must be at least 1");
        match flag.as_str() {
            "--bookings" => options.bookings = number,
            "--concurrency" => options.concurrency = number,
            "--rounds" => options.rounds = number,
            "--sequential" => options.sequential = number,
            "--shows" => options.shows = number,
            other => bail!("unknown option {other:?} (try --help)"),
        }
    }
    Ok(options)
}

/// When each booking ended, by id, as the event subscriber saw it.
#[derive(Default)]
struct Ends {
    at: Mutex<HashMap<String, (Instant, bool)>>,
    count: AtomicUsize,
    progress: Notify,
}

/// The services of the run.
struct System {
    _server: NatsServer,
    _dir: tempfile::TempDir,
    _apps: Vec<Application>,
    bus: Bus,
}

async fn start() -> Result<System> {
    let server = NatsServer::start();
    let dir = tempfile::tempdir()?;
    let auth = switchboard::testing::hs256_auth(SECRET);
    let settings = |name: &str| ServiceSettings {
        bus: BusSettings::new(server.url()),
        runtime: RuntimeSettings::default(),
        store_url: format!(
            "sqlite://{}",
            dir.path().join(format!("{name}.db")).display()
        ),
        auth: auth.clone(),
    };
    let mut tickets = tickets::TicketsSettings::from_env(&Env::default())?;
    tickets.service = settings("tickets");
    let mut billing = billing::BillingSettings::from_env(&Env::default())?;
    billing.service = settings("billing");
    let apps = vec![
        tickets::build(tickets).await?,
        billing::build(billing).await?,
        bookings::build(settings("bookings")).await?,
    ];
    let bus = Bus::connect(&BusSettings::new(server.url()), "bench-client").await?;
    Ok(System {
        _server: server,
        _dir: dir,
        _apps: apps,
        bus,
    })
}

/// Notes in `ends` when each booking's outcome event is published.
async fn watch_ends(bus: &Bus, ends: Arc<Ends>) -> Result<()> {
    let nats = bus.nats();
    let mut confirmed = nats
        .subscribe(bookings_events::BOOKING_CONFIRMED.subject)
        .await?;
    let mut cancelled = nats
        .subscribe(bookings_events::BOOKING_CANCELLED.subject)
        .await?;
    nats.flush().await?;
    tokio::spawn(async move {
        loop {
            let (id, ok) = tokio::select! {
                Some(message) = confirmed.next() => match BookingConfirmed::decode(message.payload) {
                    Ok(event) => (event.booking_id, true),
                    Err(_) => continue,
                },
                Some(message) = cancelled.next() => match BookingCancelled::decode(message.payload) {
                    Ok(event) => (event.booking_id, false),
                    Err(_) => continue,
                },
                else => return,
            };
            let fresh = ends
                .at
                .lock()
                .map(|mut at| at.insert(id, (Instant::now(), ok)).is_none())
                .unwrap_or(false);
            if fresh {
                ends.count.fetch_add(1, Ordering::SeqCst);
                ends.progress.notify_waiters();
            }
        }
    });
    Ok(())
}

/// One round's figures.
struct Round {
    elapsed: Duration,
    confirmed: usize,
    cancelled: usize,
    created: Summary,
    to_confirmed: Summary,
    /// Create → CONFIRMED of bookings made one at a time.
    alone: Summary,
}

async fn round(system: &System, options: &Options) -> Result<Round> {
    let admin =
        system
            .bus
            .with_bearer_token(&switchboard::testing::token(SECRET, "bench", &[ADMIN_ROLE]));
    let tickets = TicketsClient::new(admin);
    let mut shows = Vec::new();
    for _ in 0..options.shows {
        let request = CreateShowRequest {
            name: "Bench".into(),
            capacity: 1_000_000,
            price_cents: 1000,
        };
        match tickets.create_show(request).await? {
            create_show_reply::Outcome::Created(show) => shows.push(show.id),
        }
    }
    let show = shows[0].clone();
    let ends = Arc::new(Ends::default());
    watch_ends(&system.bus, ends.clone()).await?;
    // A token per caller's user, valid for the whole round.
    let user = system
        .bus
        .with_bearer_token(&switchboard::testing::token(SECRET, "fan", &[]));
    let client = BookingsClient::new(user);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let callers: Vec<_> = (0..options.concurrency)
        .map(|_| {
            let (client, next, shows) = (client.clone(), next.clone(), shows.clone());
            let total = options.bookings;
            tokio::spawn(async move {
                let mut made = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    let sent = Instant::now();
                    let request = CreateBookingRequest {
                        show_id: shows[n % shows.len()].clone(),
                        seats: 1,
                    };
                    let options = CallOptions::default().timeout(Duration::from_secs(30));
                    match client.create_with(request, options).await {
                        Ok(create_booking_reply::Outcome::Created(booking)) => {
                            made.push((booking.id, sent, sent.elapsed()));
                        }
                        Err(error) => return Err(anyhow::Error::from(error)),
                    }
                }
                Ok(made)
            })
        })
        .collect();
    let mut made = Vec::new();
    for caller in callers {
        made.extend(caller.await??);
    }
    let all_ended = async {
        loop {
            let waiting = ends.progress.notified();
            if ends.count.load(Ordering::SeqCst) >= made.len() {
                return;
            }
            waiting.await;
        }
    };
    tokio::time::timeout(Duration::from_secs(300), all_ended)
        .await
        .context("bookings did not all end within 300 s")?;
    let mut created: Vec<Duration> = made.iter().map(|(_, _, latency)| *latency).collect();
    let mut to_confirmed = Vec::new();
    let (mut confirmed, mut cancelled) = (0, 0);
    let mut last = started;
    {
        let at = ends.at.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        for (id, sent, _) in &made {
            let Some((ended, ok)) = at.get(id) else {
                bail!("booking {id} never ended");
            };
            last = last.max(*ended);
            if *ok {
                confirmed += 1;
                to_confirmed.push(ended.saturating_duration_since(*sent));
            } else {
                cancelled += 1;
            }
        }
    }
    let mut alone = Vec::new();
    for _ in 0..options.sequential {
        let sent = Instant::now();
        let request = CreateBookingRequest {
            show_id: show.clone(),
            seats: 1,
        };
        let create_booking_reply::Outcome::Created(booking) = client.create(request).await?;
        let ended = async {
            loop {
                let waiting = ends.progress.notified();
                let ended = ends
                    .at
                    .lock()
                    .ok()
                    .and_then(|at| at.get(&booking.id).copied());
                if let Some(ended) = ended {
                    return ended;
                }
                waiting.await;
            }
        };
        let (at, ok) = tokio::time::timeout(Duration::from_secs(60), ended)
            .await
            .context("a booking made alone did not end within 60 s")?;
        ensure!(ok, "booking {} was cancelled", booking.id);
        alone.push(at.saturating_duration_since(sent));
    }
    Ok(Round {
        elapsed: last.duration_since(started),
        confirmed,
        cancelled,
        created: Summary::of(&mut created).context("no bookings")?,
        to_confirmed: Summary::of(&mut to_confirmed).context("no booking confirmed")?,
        alone: Summary::of(&mut alone).context("no booking made alone")?,
    })
}

/// Runs the benchmark and prints its table.
pub async fn run(options: Options) -> Result<()> {
    println!(
        "booking: {} bookings per round over {} show(s), {} callers, {} rounds (tickets, billing and bookings in this process, file stores)",
        options.bookings, options.shows, options.concurrency, options.rounds
    );
    let system = start().await?;
    println!(
        "{:>5} {:>11} {:>9} {:>9} {:>11} {:>11} {:>11} {:>11} {:>10} {:>10}",
        "round",
        "bookings/s",
        "confirmed",
        "cancelled",
        "create p50",
        "create p99",
        "loaded p50",
        "loaded p99",
        "alone p50",
        "alone p99"
    );
    for number in 1..=options.rounds {
        let round = round(&system, &options).await?;
        let per_second = round.confirmed as f64 / round.elapsed.as_secs_f64();
        let ms = |d: Duration| micros(d) / 1000.0;
        println!(
            "{:>5} {:>11.0} {:>9} {:>9} {:>9.1}ms {:>9.1}ms {:>9.0}ms {:>9.0}ms {:>8.1}ms {:>8.1}ms",
            number,
            per_second,
            round.confirmed,
            round.cancelled,
            ms(round.created.p50),
            ms(round.created.p99),
            ms(round.to_confirmed.p50),
            ms(round.to_confirmed.p99),
            ms(round.alone.p50),
            ms(round.alone.p99),
        );
    }
    Ok(())
}
