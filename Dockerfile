# syntax=docker/dockerfile:1
#
# dns01-webhook container image.
#
#   docker build -t dns01-webhook .
#   docker run --rm dns01-webhook --help
#
# Two stages: a Rust toolchain builds the one binary; the runtime is distroless
# "cc" (glibc, libgcc, CA certificates; no shell, no package manager) running as the
# numeric non-root user 65532. The binary uses rustls, so no OpenSSL is needed, but it is
# linked against glibc, hence cc-debian12 rather than static-debian12.

ARG RUST_VERSION=1
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the registry and target/ between builds; the binary is
# copied out of target/ inside the same step because the cache is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p dns01-webhook \
 && install -D -m 0755 target/release/dns01-webhook /out/dns01-webhook

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="dns01-webhook" \
      org.opencontainers.image.description="cert-manager DNS-01 webhook for Gandi LiveDNS with delegated validation zones" \
      org.opencontainers.image.source="https://github.com/dns01/dns01" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/dns01-webhook /dns01-webhook
USER 65532:65532
EXPOSE 8443 9402
ENTRYPOINT ["/dns01-webhook"]
CMD ["serve"]
