//! The `gateway` binary: configuration from the environment, then GraphQL until SIGTERM.

use gateway::settings::GatewaySettings;

/// mimalloc instead of glibc's malloc: allocation was 12 % of the full path's profile
/// (`bench/README.md`, issue 8).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `gateway print-schema` prints the SDL the contracts produce, and nothing else.
    if std::env::args().nth(1).as_deref() == Some("print-schema") {
        let sdl = gateway::schema::GatewaySchema::sdl_of(switchboard::proto::DESCRIPTOR_SET)?;
        print!("{sdl}");
        return Ok(());
    }
    let settings = switchboard::startup::load_or_exit("gateway", GatewaySettings::from_env);
    let app = switchboard::startup::started_or_exit(
        "gateway",
        gateway::Application::build(settings).await,
    );
    app.run_until_stopped(switchboard::shutdown::signal())
        .await?;
    Ok(())
}
