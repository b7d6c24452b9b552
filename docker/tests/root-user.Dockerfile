# expect-hadolint: DL3002
# Health: probes /healthz and /readyz are in the chart.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p users

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/users /usr/local/bin/app
USER root
ENTRYPOINT ["/usr/local/bin/app"]
