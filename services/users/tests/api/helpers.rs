//! `spawn_app()`: a nats-server, a users service on a store of its own (SQLite, or MongoDB
//! with `SB_TEST_STORE=mongodb`), and a client.

use switchboard::Bus;
use switchboard::auth::{ADMIN_ROLE, AuthSettings};
use switchboard::bus::BusSettings;
use switchboard::proto::users::v1::{CreateUserRequest, User, UsersClient, create_user_reply};
use switchboard::service::RuntimeSettings;
use switchboard::service::ServiceSettings;
use switchboard::store;
use switchboard::testing::store::TestStore;
use switchboard::testing::{self, NatsServer};
use users::Application;

/// The development secret the test service verifies tokens with.
pub const SECRET: &str = "users-tests-secret-0123456789abcdef";

pub struct TestApp {
    pub server: NatsServer,
    /// A client acting as an administrator.
    pub users: UsersClient,
    /// The bus without a token, for acting as someone else.
    pub bus: Bus,
    pub app: Option<Application>,
    pub store: TestStore,
}

pub async fn spawn_app() -> TestApp {
    // Monitored, so a test can see what the server delivered to whom (`/connz`).
    let server = NatsServer::start_monitored();
    let store = TestStore::new(users::SERVICE);
    // The test client has no circuit breaker: the crash test kills the service under load
    // and then retries every command, which is the idempotency records' test, not the
    // breaker's (that one is `tests/bus/breaker.rs`).
    let mut client_settings = BusSettings::new(server.url());
    client_settings.breaker.failures = 0;
    let bus = Bus::connect(&client_settings, "tests")
        .await
        .expect("connects");
    let mut app = TestApp {
        server,
        users: UsersClient::new(bus.with_bearer_token(&token("root", &[ADMIN_ROLE]))),
        bus,
        app: None,
        store,
    };
    app.app = Some(app.start_instance().await);
    app
}

impl TestApp {
    pub fn store_url(&self) -> String {
        self.store.url().to_owned()
    }

    pub fn settings(&self) -> ServiceSettings {
        ServiceSettings {
            bus: BusSettings::new(self.server.url()),
            runtime: RuntimeSettings::default(),
            store_url: self.store_url(),
            auth: auth_settings(),
        }
    }

    /// Another instance of the service, on the same store.
    pub async fn start_instance(&self) -> Application {
        users::build(self.settings())
            .await
            .expect("the service starts")
    }

    /// Stops the running instance gracefully.
    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.run_until_stopped(async {})
                .await
                .expect("stops cleanly");
        }
    }

    pub async fn create_user(&self, email: &str) -> User {
        match self
            .users
            .create(create_request(email))
            .await
            .expect("create succeeds")
        {
            create_user_reply::Outcome::Created(user) => user,
            other => panic!("expected a created user, got {other:?}"),
        }
    }

    /// How many users the store holds, read directly from the service's database.
    pub async fn stored_users(&self) -> usize {
        let store = store::open(&self.store_url())
            .await
            .expect("opens the store");
        let page = store
            .find(store::Query::all(users::COLLECTION).limit(store::MAX_PAGE_SIZE))
            .await
            .expect("reads users");
        page.records.len()
    }
}

pub fn create_request(email: &str) -> CreateUserRequest {
    CreateUserRequest {
        email: email.to_string(),
        display_name: "Ada".to_string(),
    }
}

pub fn auth_settings() -> AuthSettings {
    testing::hs256_auth(SECRET)
}

/// A token for user `subject` with `roles`, valid for a minute.
pub fn token(subject: &str, roles: &[&str]) -> String {
    testing::token(SECRET, subject, roles)
}

impl TestApp {
    /// A client acting as user `subject` without roles.
    pub fn client_as(&self, subject: &str) -> UsersClient {
        UsersClient::new(self.bus.with_bearer_token(&token(subject, &[])))
    }

    /// A client sending no token.
    pub fn anonymous(&self) -> UsersClient {
        UsersClient::new(self.bus.clone())
    }

    /// Starts the real binary on the app's server and store, and waits until it answers.
    pub async fn start_binary(&self) -> tokio::process::Child {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_users"))
            .env("NATS_URL", self.server.url())
            .env("STORE_URL", self.store_url())
            .env("JWT_HS256_SECRET", SECRET)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the users binary starts");
        let client = self.users.clone();
        testing::eventually(PATIENCE, || {
            let client = client.clone();
            async move { client.list(Default::default()).await.ok().map(|_| ()) }
        })
        .await
        .expect("the binary serves");
        child
    }

    /// The ids of the users the store holds, read directly from the service's database.
    pub async fn stored_ids(&self) -> std::collections::BTreeSet<String> {
        let store = store::open(&self.store_url())
            .await
            .expect("opens the store");
        let mut ids = std::collections::BTreeSet::new();
        let mut query = store::Query::all(users::COLLECTION).limit(store::MAX_PAGE_SIZE);
        loop {
            let page = store.find(query.clone()).await.expect("reads users");
            ids.extend(page.records.into_iter().map(|r| r.id));
            match page.next {
                Some(next) => query = query.after(Some(next)),
                None => return ids,
            }
        }
    }
}

/// How long a test waits for a condition or an answer: generous for a loaded machine.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);
