# expect: ca-certificates
# Health: probes /healthz and /readyz are in the chart.
# debian-slim has no CA bundle: TLS to NATS, MongoDB or the OTLP collector would fail.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p users

FROM debian:12-slim
COPY --from=builder /src/target/release/users /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
