//! The `bookings` binary: configuration from the environment, then the service until SIGTERM.

/// mimalloc instead of glibc's malloc: allocation was 12 % of the full path's profile
/// (`bench/README.md`, issue 8).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = switchboard::startup::load_or_exit(bookings::SERVICE, bookings::settings);
    let app =
        switchboard::startup::started_or_exit(bookings::SERVICE, bookings::build(settings).await);
    app.run_until_stopped(switchboard::shutdown::signal())
        .await?;
    Ok(())
}
