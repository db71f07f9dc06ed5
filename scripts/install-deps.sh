#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine. Idempotent, and fast when everything is
# already present: it only calls apt-get or cargo install for what is missing.
set -euo pipefail

need_apt=()
command -v dig >/dev/null 2>&1 || need_apt+=(bind9-dnsutils)
command -v pebble >/dev/null 2>&1 || [ -x /usr/bin/pebble ] || need_apt+=(pebble)
command -v named >/dev/null 2>&1 || [ -x /usr/sbin/named ] || need_apt+=(bind9)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# Real container-registry parts for dns01-registry's tests: CNCF Distribution, and skopeo,
# podman and umoci as the clients and image builder.
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || need_apt+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || [ -x /usr/bin/skopeo ] || need_apt+=(skopeo)
command -v podman >/dev/null 2>&1 || [ -x /usr/bin/podman ] || need_apt+=(podman)
command -v umoci >/dev/null 2>&1 || [ -x /usr/bin/umoci ] || need_apt+=(umoci)
# Apache's htpasswd: bcrypt hashes for registries with htpasswd auth (the janitor's credential tests).
command -v htpasswd >/dev/null 2>&1 || need_apt+=(apache2-utils)
# The reverse proxy the registry gateway's benchmark compares against.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: installing ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The bind9 package starts a resolver on port 53; the tests start their own servers on
  # ephemeral ports and do not need it running.
  # The same holds for the docker-registry package's service (port 5000): tests start their
  # own registries on ephemeral ports.
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now named >/dev/null 2>&1 || true
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo is required (install Rust with rustup first)" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install-deps: installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt 2>/dev/null || true
echo "install-deps: ok"
