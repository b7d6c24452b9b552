//! Every instance answers the NATS Services API in the format NATS tools read.

use std::time::Duration;

use crate::helpers::{World, echo, gather, probe_rpc, stats};

#[tokio::test]
async fn every_instance_answers_ping_info_and_stats_in_all_three_forms() {
    let world = World::new().await;
    let first = world.start_probe().await;
    let second = world.start_probe().await;
    let ids = {
        let mut ids = vec![
            first.running.id().to_string(),
            second.running.id().to_string(),
        ];
        ids.sort();
        ids
    };

    for verb in ["PING", "INFO", "STATS"] {
        for subject in [format!("$SRV.{verb}"), format!("$SRV.{verb}.probe")] {
            let replies = gather(&world.bus, &subject, ids.len()).await;
            let mut seen: Vec<String> = replies
                .iter()
                .map(|r| r["id"].as_str().expect("an id").to_string())
                .collect();
            seen.sort();
            assert_eq!(seen, ids, "{subject}");
            for reply in &replies {
                assert_eq!(reply["name"], "probe", "{subject}");
            }
        }
        for id in &ids {
            let one = gather(&world.bus, &format!("$SRV.{verb}.probe.{id}"), 1).await;
            assert_eq!(
                one[0]["id"],
                id.as_str(),
                "{verb} by id answers for that id"
            );
        }
    }
}

#[tokio::test]
async fn info_lists_each_endpoint_with_its_subject_and_queue_group() {
    let world = World::new().await;
    let probe = world.start_probe().await;

    let replies = gather(
        &world.bus,
        &format!("$SRV.INFO.probe.{}", probe.running.id()),
        1,
    )
    .await;
    let info: async_nats::service::Info = serde_json::from_value(replies[0].clone())
        .expect("the NATS client's own Info type reads it");

    assert_eq!(info.name, "probe");
    let mut endpoints: Vec<(String, String, String)> = info
        .endpoints
        .iter()
        .map(|e| (e.name.clone(), e.subject.clone(), e.queue_group.clone()))
        .collect();
    endpoints.sort();
    assert_eq!(
        endpoints,
        vec![
            (
                "Echo".into(),
                probe_rpc::ECHO.subject.into(),
                "probe".into()
            ),
            (
                "Record".into(),
                probe_rpc::RECORD.subject.into(),
                "probe".into()
            ),
            (
                "Whoami".into(),
                probe_rpc::WHOAMI.subject.into(),
                "probe".into()
            ),
        ]
    );
}

#[tokio::test]
async fn stats_count_requests_errors_and_processing_time() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let client = world.probe_client();
    for n in 0..3 {
        client
            .echo(echo(&n.to_string()))
            .await
            .expect("echo succeeds");
    }
    let _ = client
        .record(crate::helpers::EchoRequest {
            panic: Some(true),
            ..Default::default()
        })
        .await;

    let stats = stats(&world.bus, &probe).await;

    let echo_stats = stats
        .endpoints
        .iter()
        .find(|e| e.name == "Echo")
        .expect("Echo");
    assert_eq!((echo_stats.requests, echo_stats.errors), (3, 0));
    assert!(echo_stats.processing_time > Duration::ZERO);
    let record = stats
        .endpoints
        .iter()
        .find(|e| e.name == "Record")
        .expect("Record");
    assert_eq!((record.requests, record.errors), (1, 1));
    assert_eq!(stats.endpoints.len(), 3);
}
