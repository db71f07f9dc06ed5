# syntax=docker/dockerfile:1
#
# Container images of dns01: the webhook (the default target) and the three companions.
#
#   docker build -t dns01-webhook .
#   docker build --target dns01-domains -t dns01-domains .
#   docker build --target dns01-registry-gateway -t dns01-registry-gateway .
#   docker build --target dns01-registry-janitor -t dns01-registry-janitor .
#   docker run --rm dns01-webhook --help
#
# A Rust toolchain builds each binary in its own stage (separate `cargo build`s: the
# companions pick a Kubernetes API version feature of k8s-openapi, which must not be unified
# with another binary's); each runtime is distroless "cc" (glibc, libgcc, CA certificates;
# no shell, no package manager) running as the numeric non-root user 65532. The binaries use
# rustls, so no OpenSSL is needed, but they are linked against glibc, hence cc-debian12
# rather than static-debian12.
#
# The janitor's image holds the janitor only. In a cluster it uses the kubernetes switch,
# which runs the collector as a Job from the registry Deployment's own image (with its
# volume and config), so no `docker-registry` binary is needed here; the process switch
# (`gc --switch process`, the janitor supervising `docker-registry serve`) is for single
# hosts, where the janitor runs beside the registry's own binary.

ARG RUST_VERSION=1
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS source
WORKDIR /src
COPY . .

# BuildKit cache mounts keep the registry and target/ between builds; each binary is copied
# out of target/ inside the same step because the cache is not part of the layer.
FROM source AS build
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p dns01-webhook \
 && install -D -m 0755 target/release/dns01-webhook /out/dns01-webhook

FROM source AS build-domains
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p dns01-domains \
 && install -D -m 0755 target/release/dns01-domains /out/dns01-domains

FROM source AS build-registry-gateway
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p dns01-registry-gateway \
 && install -D -m 0755 target/release/dns01-registry-gateway /out/dns01-registry-gateway

FROM source AS build-registry-janitor
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p dns01-registry-janitor \
 && install -D -m 0755 target/release/dns01-registry-janitor /out/dns01-registry-janitor

FROM gcr.io/distroless/cc-debian12:nonroot AS dns01-domains
LABEL org.opencontainers.image.title="dns01-domains" \
      org.opencontainers.image.description="CustomDomain controller: records to create, checks at the authoritative nameservers, certificate, route, status" \
      org.opencontainers.image.source="https://github.com/dns01/dns01" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build-domains /out/dns01-domains /dns01-domains
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/dns01-domains"]
CMD ["--help"]

FROM gcr.io/distroless/cc-debian12:nonroot AS dns01-registry-gateway
LABEL org.opencontainers.image.title="dns01-registry-gateway" \
      org.opencontainers.image.description="OCI registry gateway: custom domains, platform tokens, upstream credentials, allow-lists" \
      org.opencontainers.image.source="https://github.com/dns01/dns01" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build-registry-gateway /out/dns01-registry-gateway /dns01-registry-gateway
USER 65532:65532
# `serve` reads these when no flag is given: mount the configuration at /etc/gateway/config.
# The registry API on 8080; /metrics and /healthz on 9090, a listener of their own.
ENV GATEWAY_CONFIG=/etc/gateway/config/config.yaml \
    GATEWAY_LISTEN=0.0.0.0:8080 \
    GATEWAY_METRICS_ADDR=0.0.0.0:9090
EXPOSE 8080 9090
ENTRYPOINT ["/dns01-registry-gateway"]
CMD ["serve"]

FROM gcr.io/distroless/cc-debian12:nonroot AS dns01-registry-janitor
LABEL org.opencontainers.image.title="dns01-registry-janitor" \
      org.opencontainers.image.description="Registry GC in a read-only window that always ends, retention that keeps what workloads run" \
      org.opencontainers.image.source="https://github.com/dns01/dns01" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build-registry-janitor /out/dns01-registry-janitor /dns01-registry-janitor
USER 65532:65532
ENTRYPOINT ["/dns01-registry-janitor"]
CMD ["--help"]

# The last stage is the default target: the webhook.
FROM gcr.io/distroless/cc-debian12:nonroot AS dns01-webhook
LABEL org.opencontainers.image.title="dns01-webhook" \
      org.opencontainers.image.description="cert-manager DNS-01 webhook for Gandi LiveDNS with delegated validation zones" \
      org.opencontainers.image.source="https://github.com/dns01/dns01" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/dns01-webhook /dns01-webhook
USER 65532:65532
EXPOSE 8443 9402
ENTRYPOINT ["/dns01-webhook"]
CMD ["serve"]
