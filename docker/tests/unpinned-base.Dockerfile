# expect-hadolint: DL3006, DL3007
# Health: probes /healthz and /readyz are in the chart.
FROM rust AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p users

FROM gcr.io/distroless/cc-debian12:latest
COPY --from=builder /src/target/release/users /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
