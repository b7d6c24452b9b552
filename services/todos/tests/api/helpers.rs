//! `spawn_app()`: a nats-server, a todos service on a store of its own (SQLite, or MongoDB
//! with `SB_TEST_STORE=mongodb`), and a client.

use switchboard::Bus;
use switchboard::auth::{ADMIN_ROLE, AuthSettings};
use switchboard::bus::BusSettings;
use switchboard::proto::todos::v1::{CreateTodoRequest, Todo, TodosClient, create_todo_reply};
use switchboard::service::RuntimeSettings;
use switchboard::service::ServiceSettings;
use switchboard::testing::store::TestStore;
use switchboard::testing::{self, NatsServer};
use todos::Application;

/// The development secret the test service verifies tokens with.
const SECRET: &str = "todos-tests-secret-0123456789abcdef";

pub struct TestApp {
    pub _server: NatsServer,
    /// A client acting as the user `ada`.
    pub todos: TodosClient,
    /// A client acting as an administrator.
    pub admin: TodosClient,
    /// The bus without a token.
    pub bus: Bus,
    pub _app: Application,
    pub _store: TestStore,
}

pub async fn spawn_app() -> TestApp {
    let server = NatsServer::start();
    let store = TestStore::new(todos::SERVICE);
    let settings = ServiceSettings {
        bus: BusSettings::new(server.url()),
        runtime: RuntimeSettings::default(),
        store_url: store.url().to_owned(),
        auth: auth_settings(),
    };
    let app = todos::build(settings).await.expect("the service starts");
    let bus = Bus::connect(&BusSettings::new(server.url()), "tests")
        .await
        .expect("connects");
    TestApp {
        _server: server,
        todos: TodosClient::new(bus.with_bearer_token(&token("ada", &[]))),
        admin: TodosClient::new(bus.with_bearer_token(&token("root", &[ADMIN_ROLE]))),
        bus,
        _app: app,
        _store: store,
    }
}

impl TestApp {
    /// A client acting as user `subject`.
    pub fn client_as(&self, subject: &str) -> TodosClient {
        TodosClient::new(self.bus.with_bearer_token(&token(subject, &[])))
    }

    /// Creates a todo for `owner` (as an administrator).
    pub async fn create_todo(&self, owner: &str, title: &str) -> Todo {
        let request = CreateTodoRequest {
            owner_id: owner.to_string(),
            title: title.to_string(),
        };
        match self.admin.create(request).await.expect("create succeeds") {
            create_todo_reply::Outcome::Created(todo) => todo,
        }
    }
}

fn auth_settings() -> AuthSettings {
    testing::hs256_auth(SECRET)
}

/// A token for user `subject` with `roles`, valid for a minute.
pub fn token(subject: &str, roles: &[&str]) -> String {
    testing::token(SECRET, subject, roles)
}
