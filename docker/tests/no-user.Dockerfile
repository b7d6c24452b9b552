# expect: final-user
# Health: probes /healthz and /readyz are in the chart.
# The distroless :nonroot tag would run as 65532, but Kubernetes cannot verify a user it is
# not told: the image must say USER with a numeric id.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p users

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/users /usr/local/bin/app
ENTRYPOINT ["/usr/local/bin/app"]
