# expect: base-pinned
# Health: probes /healthz and /readyz are in the chart.
# The builder image comes from a build argument: hadolint cannot see which image (or
# whether it is pinned), and reports nothing.
ARG RUST_IMAGE=rust:latest
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p users

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/users /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
