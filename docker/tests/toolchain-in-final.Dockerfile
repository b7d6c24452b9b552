# expect: final-minimal
# Health: probes /healthz and /readyz are in the chart.
# One stage: the shipped image holds the compiler, cargo and the sources.
FROM rust:1.95-bookworm
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p users
USER 65532:65532
ENTRYPOINT ["/src/target/release/users"]
