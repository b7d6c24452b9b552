# expect: final-minimal
# expect-hadolint: DL3008
# Health: probes /healthz and /readyz are in the chart.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p users

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates gcc make \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /src/target/release/users /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
