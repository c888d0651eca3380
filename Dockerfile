# netchaos container image: `docker build -t netchaos .`, then `docker run --rm netchaos generate --count 10`.
# docker-compose.yml builds it for its `generator` and `sink` services.

# --- builder ---------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder

# librdkafka is built from source by rdkafka's `cmake-build` feature: it needs cmake, a C++
# compiler, the OpenSSL headers (the `ssl` feature links the system's libssl) and libcurl's headers
# (its cmake build uses libcurl whenever libcurl is installed, as it is in this image).
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake g++ make pkg-config libssl-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Dependency layer: build every dependency against stub sources, so that a change to src/ does not
# rebuild librdkafka and the rest (this layer is reused while Cargo.toml and Cargo.lock are unchanged).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > benches/generate.rs \
    && echo 'fn main() {}' > benches/sink.rs \
    && cargo build --release --locked \
    && rm -rf src benches

# The real sources; touched so that cargo rebuilds the crate over the stubs' artefacts.
COPY src src
COPY benches benches
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin netchaos \
    && cp target/release/netchaos /usr/local/bin/netchaos

# --- runtime ---------------------------------------------------------------------------------------
FROM debian:bookworm-slim

# The binary links (ldd) libssl3 and libcrypto (Kafka TLS), zlib, libgcc_s and glibc: of these only
# libssl3 is not already in bookworm-slim. CA certificates for TLS to Kafka and S3.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/*

# An unprivileged user; its home /var/lib/netchaos holds manifests and episodes (a volume in compose).
RUN groupadd --system --gid 10001 netchaos \
    && useradd --system --uid 10001 --gid netchaos --home-dir /var/lib/netchaos --create-home --shell /usr/sbin/nologin netchaos

COPY --from=builder /usr/local/bin/netchaos /usr/local/bin/netchaos

USER netchaos:netchaos
WORKDIR /var/lib/netchaos

# Metrics: generate 9750, sink 9751, run 9752 (bind them to 0.0.0.0 with NETCHAOS_METRICS_ADDR).
EXPOSE 9750 9751 9752

ENTRYPOINT ["netchaos"]
CMD ["--help"]
