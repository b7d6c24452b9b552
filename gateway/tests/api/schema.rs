//! The schema comes from the protos: a test-only contract appears with no gateway code.

use serde_json::json;

use crate::helpers::spawn_system;

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
