//! A service binary's whole life in one type: connect to NATS, open the service's store,
//! build its definition, serve, and stop gracefully — the same for every service, so a
//! service crate only says what is particular to it (its collections and handler).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use super::ServiceSettings;
use super::{RunningService, RuntimeError, ServiceDefinition, ServiceRuntime, StartError};
use crate::Bus;
use crate::store::{self, Store, StoreError};

/// A started service.
pub struct Application {
    running: RunningService,
}

impl Application {
    /// Connects to NATS as `name`, opens the store of `settings.store_url`, lets `define`
    /// prepare the store (indexes) and build the definition, and starts serving.
    pub async fn build<F, Fut>(
        name: &'static str,
        settings: &ServiceSettings,
        define: F,
    ) -> Result<Self, StartError>
    where
        F: FnOnce(Arc<dyn Store>) -> Fut,
        Fut: Future<Output = Result<ServiceDefinition, StoreError>>,
    {
        let bus = Bus::connect(&settings.bus, name).await?;
        let store = store::open_for(name, &settings.store_url).await?;
        let definition = define(store.clone()).await?;
        let credentials = crate::auth::ServiceCredentials::new(
            name,
            &settings.auth,
            settings.runtime.service_token_file.clone(),
        );
        let running = ServiceRuntime::new(definition, bus, store, settings.runtime.clone())
            .verifier(settings.auth.verifier().await?)
            .credentials(Arc::new(credentials))
            .start()
            .await?;
        Ok(Self { running })
    }

    /// This instance's id in the NATS Services API.
    pub fn id(&self) -> &str {
        self.running.id()
    }

    /// Where the admin listener is bound, when `ADMIN_ADDR` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.running.admin_addr()
    }

    /// Serves until `shutdown` completes, then drains and stops.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RuntimeError> {
        self.running.run_until_stopped(shutdown).await
    }
}
