//! The `todos` binary: configuration from the environment, then the service until SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = switchboard::startup::load_or_exit(todos::SERVICE, |env| {
        switchboard::service::ServiceSettings::from_env(todos::SERVICE, env)
    });
    let app = todos::build(settings).await?;
    app.run_until_stopped(switchboard::shutdown::signal())
        .await?;
    Ok(())
}
