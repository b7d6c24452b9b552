//! The schema comes from the protos: a test-only contract appears with no gateway code,
//! in GraphQL's own conventions (descriptions, `ID`s, required arguments, connections), and
//! any change to it shows as a diff of `gateway/schema.graphql`.

use std::path::Path;

use serde_json::json;

use crate::helpers::{admin, spawn_system, token};

/// What `gateway print-schema` printed when the schema was last reviewed.
const SNAPSHOT: &str = "schema.graphql";

#[test]
fn the_printed_schema_is_the_committed_snapshot() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("print-schema")
        .output()
        .expect("gateway print-schema runs");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).expect("UTF-8 SDL");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if printed != committed {
        let first_difference = printed
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(printed.lines().count().min(committed.lines().count()));
        panic!(
            "the schema differs from {} from line {}: review the change, then record it with\n  \
             cargo run -q -p gateway -- print-schema > gateway/{SNAPSHOT}",
            path.display(),
            first_difference + 1
        );
    }
}

#[tokio::test]
async fn a_missing_required_argument_is_refused_before_any_request_is_sent() {
    let system = spawn_system().await;
    let user = system.create_user("ada@example.org").await;
    let ada = token(&user, &[]);

    let missing = system
        .graphql("{ todos { nodes { id } } }", json!({}), Some(&ada))
        .await;
    let empty = system
        .graphql(
            "{ todos(ownerId: \"\") { nodes { id } } }",
            json!({}),
            Some(&ada),
        )
        .await;

    assert_eq!(missing.status, 400, "{}", missing.body);
    let message = missing.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(message.contains("ownerId"), "{message}");
    assert!(
        missing.json().get("data").is_none_or(|d| d.is_null()),
        "{}",
        missing.body
    );
    // An empty id reaches the service, which says what is wrong with it.
    assert_eq!(empty.error_codes(), ["BAD_USER_INPUT"], "{}", empty.body);
    assert_eq!(system.requests_served("todos", "ListByOwner").await, 1);
}

#[tokio::test]
async fn types_fields_arguments_and_enum_values_carry_the_proto_comments() {
    let system = spawn_system().await;

    let reply = system
        .graphql(
            r#"{
              todo: __type(name: "Todo") { description fields { name description type { name ofType { name } } } }
              status: __type(name: "TodoChange") { enumValues { name description } }
              query: __type(name: "Query") { fields { name description args { name description type { kind name ofType { name } } } } }
              result: __type(name: "CreateUserResult") { description }
            }"#,
            json!({}),
            Some(&admin()),
        )
        .await;

    let data = &reply.json()["data"];
    assert_eq!(
        data["todo"]["description"], "A thing to do.",
        "{}",
        reply.body
    );
    let field = |name: &str| {
        data["todo"]["fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no field {name}: {}", reply.body))
    };
    assert_eq!(field("title")["description"], "1 to 500 characters.");
    assert_eq!(field("ownerId")["type"]["ofType"]["name"], "ID");
    assert_eq!(
        field("owner")["description"],
        "The owner, resolved through the users service in one batch per request."
    );
    let values: Vec<(&str, &str)> = data["status"]["enumValues"]
        .as_array()
        .expect("enum values")
        .iter()
        .filter_map(|v| Some((v["name"].as_str()?, v["description"].as_str()?)))
        .collect();
    assert!(
        values.contains(&("CREATED", "The todo was created.")),
        "{values:?}"
    );
    let todos = data["query"]["fields"]
        .as_array()
        .and_then(|fields| fields.iter().find(|f| f["name"] == "todos"))
        .expect("the todos field");
    assert_eq!(
        todos["description"],
        "Lists one owner's todos ordered by id, one page at a time."
    );
    let owner = &todos["args"][0];
    assert_eq!(owner["name"], "ownerId");
    assert_eq!(owner["description"], "The owner's user id.");
    assert_eq!(owner["type"]["kind"], "NON_NULL");
    assert_eq!(owner["type"]["ofType"]["name"], "ID");
    let description = data["result"]["description"].as_str().unwrap_or("");
    assert!(
        description.contains("`EmailTaken`: Another user already has this email."),
        "{description}"
    );
}

#[tokio::test]
async fn ids_may_be_written_as_integers() {
    let system = spawn_system().await;

    let reply = system
        .graphql(
            "{ user(id: 42) { __typename ... on UserNotFound { id } } }",
            json!({}),
            Some(&admin()),
        )
        .await;

    assert_eq!(
        reply.json()["data"]["user"],
        json!({ "__typename": "UserNotFound", "id": "42" }),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn the_test_only_probe_rpc_is_a_query_field_with_no_gateway_code() {
    let system = spawn_system().await;

    let fields = system
        .graphql(
            "{ __type(name: \"Query\") { fields { name } } }",
            json!({}),
            None,
        )
        .await;
    let echo = system
        .graphql(
            "{ probeEcho(text: \"hello\") { __typename ... on Echoed { text } } }",
            json!({}),
            None,
        )
        .await;

    let names: Vec<String> = fields.json()["data"]["__type"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(names.contains(&"probeEcho".to_string()), "{names:?}");
    assert_eq!(
        echo.json()["data"]["probeEcho"],
        json!({ "__typename": "Echoed", "text": "hello" })
    );
}

#[tokio::test]
async fn sixty_four_bit_integers_and_enums_map_without_loss() {
    let schema = gateway::schema::GatewaySchema::from_descriptor_set(
        switchboard::testing::proto::DESCRIPTOR_SET,
        &gateway::schema::SchemaOptions {
            limits: Default::default(),
            introspection: true,
        },
    )
    .expect("the schema builds");

    let sdl = schema.schema.sdl();

    assert!(sdl.contains("scalar Int64"), "{sdl}");
    assert!(sdl.contains("scalar DateTime"));
    assert!(sdl.contains("union CreateUserResult = User | EmailTaken"));
    assert!(
        sdl.contains("remainingMs: Int64!"),
        "int64 fields are Int64, not Int"
    );
}
