#!/bin/sh
# Shows the janitor on a throw-away CNCF Distribution: two images pushed, one untagged,
# `du` before, `plan`, `gc --policy` (retention, then the read-only window), `du` after.
# Needs docker-registry, umoci and skopeo (scripts/install-deps.sh). Usage:
#   registry-janitor/demo.sh [port]
set -eu
port=${1:-5077}
dir=$(mktemp -d /tmp/dns01-janitor-demo.XXXXXX)
cargo build -q -p dns01-registry-janitor
janitor=${CARGO_TARGET_DIR:-target}/debug/dns01-registry-janitor
cat > "$dir/config.yml" <<YAML
version: 0.1
storage:
  filesystem: {rootdirectory: $dir/storage}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port, secret: demo}
YAML
docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
echo $! > "$dir/registry.pid"   # the janitor's process switch takes the registry over from here
[ -n "${KEEP:-}" ] || trap 'kill $(cat "$dir/registry.pid") 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.3
umoci init --layout "$dir/oci"
for tag in v1 v2; do
  umoci new --image "$dir/oci:$tag"
  head -c 300000 /dev/urandom > "$dir/layer"
  umoci insert --rootless --image "$dir/oci:$tag" "$dir/layer" /layer
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$dir/oci:$tag" "docker://127.0.0.1:$port/demo/app:$tag"
done
# Moving v1 onto v2's image leaves the first image untagged.
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$dir/oci:v2" "docker://127.0.0.1:$port/demo/app:v1"
printf 'defaults: {delete_untagged_older_than: 0s}\n' > "$dir/policy.yml"
sleep 1
echo "== du before"; "$janitor" du --registry "http://127.0.0.1:$port/" --storage "$dir/storage"
echo "== plan";      "$janitor" plan --registry "http://127.0.0.1:$port/" --storage "$dir/storage" --policy "$dir/policy.yml"
echo "== gc";        "$janitor" gc --registry "http://127.0.0.1:$port/" --state-dir "$dir" \
                       --registry-config "$dir/config.yml" --policy "$dir/policy.yml" --collector-deadline 60s
echo "== du after";  "$janitor" du --registry "http://127.0.0.1:$port/" --storage "$dir/storage"
