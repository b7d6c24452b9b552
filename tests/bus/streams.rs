//! Streaming replies against a real nats-server: items arrive in order and the stream ends
//! on the final reply, on an error mid-stream (with its code), at the caller's idle timeout;
//! a malformed request and a missing service fail the call itself.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use switchboard::bus::ReplyStream;
use switchboard::service::{ReplySink, RuntimeSettings};
use switchboard::testing::proto::ticker::v1::{
    CountRequest, Tick, TickerClient, TickerHandler, ticker_rpc, ticker_service,
};
use switchboard::testing::{NatsServer, connect, memory_store};
use switchboard::{BusError, CallOptions, Context, ServiceError, ServiceRuntime};

struct Ticker;

impl TickerHandler for Ticker {
    async fn count(
        &self,
        ctx: Context,
        request: CountRequest,
        sink: ReplySink<Tick>,
    ) -> Result<(), ServiceError> {
        for n in 1..=request.count {
            sink.send(&Tick { n }).await?;
        }
        if request.fail {
            return Err(ServiceError::conflict("the ticker stopped"));
        }
        if request.hold {
            // Holds until the caller's deadline: the caller's idle timeout ends it first.
            let _ = tokio::time::timeout(ctx.remaining(), std::future::pending::<()>()).await;
        }
        Ok(())
    }
}

/// A ticker service and a client of it on one server.
async fn ticker(server: &NatsServer) -> (switchboard::service::RunningService, TickerClient) {
    let running = ServiceRuntime::new(
        ticker_service(Ticker),
        connect(server).await,
        memory_store().await,
        RuntimeSettings::default(),
    )
    .start()
    .await
    .expect("the ticker starts");
    (running, TickerClient::new(connect(server).await))
}

/// Every item of `stream` until it ends: the ticks, then the error if it ended with one.
async fn drain(stream: ReplyStream<Tick>) -> (Vec<u32>, Option<BusError>) {
    let mut stream = std::pin::pin!(stream);
    let mut ticks = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(tick) => ticks.push(tick.n),
            Err(error) => {
                assert!(stream.next().await.is_none(), "nothing after an error");
                return (ticks, Some(error));
            }
        }
    }
    (ticks, None)
}

#[tokio::test]
async fn items_arrive_in_order_and_the_final_reply_ends_the_stream() {
    let server = NatsServer::start();
    let (_running, client) = ticker(&server).await;
    let stream = client
        .count(CountRequest {
            count: 200,
            ..CountRequest::default()
        })
        .await
        .expect("the stream opens");
    let (ticks, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(ticks, (1..=200).collect::<Vec<_>>());

    let empty = client
        .count(CountRequest::default())
        .await
        .expect("an empty stream opens");
    assert_eq!(drain(empty).await.0, Vec::<u32>::new());
}

#[tokio::test]
async fn an_error_mid_stream_ends_it_with_the_services_code() {
    let server = NatsServer::start();
    let (_running, client) = ticker(&server).await;
    let stream = client
        .count(CountRequest {
            count: 3,
            fail: true,
            ..CountRequest::default()
        })
        .await
        .expect("the stream opens");
    let (ticks, error) = drain(stream).await;
    assert_eq!(ticks, [1, 2, 3]);
    assert!(
        matches!(&error, Some(BusError::Service { code: 409, message, .. }) if message == "the ticker stopped"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_silent_stream_ends_at_the_idle_timeout() {
    let server = NatsServer::start();
    let (_running, client) = ticker(&server).await;
    let options = CallOptions::default()
        .timeout(Duration::from_secs(60))
        .idle_timeout(Duration::from_millis(200));
    let stream = client
        .count_with(
            CountRequest {
                count: 1,
                hold: true,
                ..CountRequest::default()
            },
            options,
        )
        .await
        .expect("the stream opens");
    let (ticks, error) = drain(stream).await;
    assert_eq!(ticks, [1]);
    assert!(matches!(error, Some(BusError::Timeout { .. })), "{error:?}");
}

#[tokio::test]
async fn a_malformed_request_or_a_missing_service_fails_the_call() {
    let server = NatsServer::start();
    let bus = connect(&server).await;
    let nobody = bus
        .stream_bytes(
            &ticker_rpc::COUNT,
            Bytes::new(),
            CallOptions::default().timeout(Duration::from_secs(30)),
        )
        .await
        .map(|_| ())
        .expect_err("nobody serves the ticker yet");
    assert!(
        matches!(nobody, BusError::NoResponders { .. }),
        "{nobody:?}"
    );

    let (_running, _client) = ticker(&server).await;
    let malformed = bus
        .stream_bytes(
            &ticker_rpc::COUNT,
            Bytes::from_static(b"\xff\xff\xff"),
            CallOptions::default().timeout(Duration::from_secs(30)),
        )
        .await
        .map(|_| ())
        .expect_err("a malformed request is refused");
    assert!(
        matches!(malformed, BusError::Service { code: 400, .. }),
        "{malformed:?}"
    );
}
