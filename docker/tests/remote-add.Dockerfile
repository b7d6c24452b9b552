# expect: no-remote-add
# Health: probes /healthz and /readyz are in the chart.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
ADD https://example.com/vendor.tar.gz /src/vendor.tar.gz
COPY . .
RUN cargo build --release --locked -p users

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/users /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
