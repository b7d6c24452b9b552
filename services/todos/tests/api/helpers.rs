//! `spawn_app()`: a nats-server, a todos service on a temp-dir store, and a client.

use switchboard::Bus;
use switchboard::auth::AuthSettings;
use switchboard::bus::BusSettings;
use switchboard::proto::todos::v1::{CreateTodoRequest, Todo, TodosClient, create_todo_reply};
use switchboard::service::RuntimeSettings;
use switchboard::settings::ServiceSettings;
use switchboard::testing::NatsServer;
use todos::Application;

pub struct TestApp {
    pub _server: NatsServer,
    pub todos: TodosClient,
    pub _app: Application,
    pub _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let settings = ServiceSettings {
        bus: BusSettings::new(server.url()),
        runtime: RuntimeSettings::default(),
        store_url: format!("sqlite://{}", dir.path().join("todos.db").display()),
        auth: AuthSettings::default(),
    };
    let app = Application::build(settings)
        .await
        .expect("the service starts");
    let bus = Bus::connect(&BusSettings::new(server.url()), "tests")
        .await
        .expect("connects");
    TestApp {
        _server: server,
        todos: TodosClient::new(bus),
        _app: app,
        _dir: dir,
    }
}

impl TestApp {
    pub async fn create_todo(&self, owner: &str, title: &str) -> Todo {
        let request = CreateTodoRequest {
            owner_id: owner.to_string(),
            title: title.to_string(),
        };
        match self.todos.create(request).await.expect("create succeeds") {
            create_todo_reply::Outcome::Created(todo) => todo,
        }
    }
}
