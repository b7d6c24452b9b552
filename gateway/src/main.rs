//! The `gateway` binary: configuration from the environment, then GraphQL until SIGTERM.

use gateway::settings::GatewaySettings;
use switchboard::settings::Env;
use switchboard::telemetry::{self, LogFormat};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `gateway print-schema` prints the SDL the contracts produce, and nothing else.
    if std::env::args().nth(1).as_deref() == Some("print-schema") {
        let options = gateway::schema::SchemaOptions {
            limits: Default::default(),
            introspection: true,
        };
        let schema = gateway::schema::GatewaySchema::from_descriptor_set(
            switchboard::proto::DESCRIPTOR_SET,
            &options,
        )?;
        println!("{}", schema.schema.sdl());
        return Ok(());
    }
    let env = Env::from_process();
    let loaded =
        LogFormat::from_env(&env).and_then(|format| Ok((format, GatewaySettings::from_env(&env)?)));
    let settings = match loaded {
        Ok((format, settings)) => {
            telemetry::init(format);
            settings
        }
        Err(error) => {
            eprintln!("gateway: configuration error: {error}");
            std::process::exit(64);
        }
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting");
    let app = gateway::Application::build(settings).await?;
    app.run_until_stopped(switchboard::shutdown::signal())
        .await?;
    Ok(())
}
