# expect-hadolint: DL3066
# Health: probes /healthz and /readyz are in the chart.
# A user name: Kubernetes' runAsNonRoot cannot tell whether it is root.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p users

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/users /usr/local/bin/app
USER nonroot
ENTRYPOINT ["/usr/local/bin/app"]
