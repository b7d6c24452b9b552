# expect: health-documented
# Neither a HEALTHCHECK nor a word on the probes that replace it.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p users

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/users /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
