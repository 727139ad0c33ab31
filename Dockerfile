# rightsize in a container: the image the kubernetes backend's shards run (and a coordinator
# run inside the cluster). Multi-stage: built with the Rust toolchain, shipped on a slim
# Debian with CA certificates only (TLS to SageMaker and HTTPS endpoints).
#
#   docker build -t registry.example.com/rightsize:0.1.0 .
#   docker push registry.example.com/rightsize:0.1.0
#
# The `dist` profile is the fully optimised build the benchmarks use (Cargo.toml).
FROM rust:1-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends cmake clang perl make git \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --locked --profile dist && cp target/dist/rightsize /rightsize

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /work rightsize && mkdir -p /work \
    && chown rightsize /work
COPY --from=build /rightsize /usr/local/bin/rightsize
# Payload files a campaign names by relative path are read from here: bake them in
# (COPY payloads/ /work/payloads/) or use an inline `body`.
WORKDIR /work
USER 10001
ENTRYPOINT ["rightsize"]
CMD ["--help"]
