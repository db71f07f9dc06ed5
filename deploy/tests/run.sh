#!/usr/bin/env bash
# Deployment checks: render the Helm chart (Helm's Go SDK through helm-python-sdk) and the
# kustomize base (kubectl kustomize), validate every object against Kubernetes schemas and
# check that the pieces fit together. Needs python3 (with venv) and kubectl on PATH.
#
#   deploy/tests/run.sh [pytest args...]
#
# Creates or reuses the virtualenv .venv-deploy at the repository root (override with
# DEPLOY_VENV) and installs deploy/tests/requirements.txt into it when it changed.
# Exits non-zero when a check fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${DEPLOY_VENV:-$repo/.venv-deploy}"
requirements="$here/requirements.txt"

command -v kubectl >/dev/null 2>&1 || {
  echo "deploy/tests: kubectl is required (for 'kubectl kustomize')" >&2
  exit 1
}

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi

# Install only when requirements.txt differs from what was last installed.
stamp="$venv/.deploy-requirements"
if ! cmp -s "$requirements" "$stamp"; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-virtualenv -r "$requirements"
  cp "$requirements" "$stamp"
fi

cd "$here"
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest "$@"
