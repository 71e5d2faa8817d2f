#!/bin/sh
# The local lab: a controller and six agents (two in dev, one each in qa,
# staging, production and dr) as real processes on loopback, in a
# temporary directory. It signs the example app, deploys it to dev, then
# deploys a release whose health check fails and shows every agent roll
# itself back. Everything is stopped and removed at the end.
#
#   deploy/demo.sh [BUILD_DIR]
set -eu

build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
hoist="$build/hoist"
agent="$build/hoist-agent"
controller="$build/hoist-controller"
base_port=${HOIST_DEMO_PORT:-18080}
lab=$(mktemp -d /tmp/hoist-lab-XXXXXX)
data="$lab/controller"
me=$(id -un)
pids=""

cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for f in "$lab"/agent-*/apps/hello/run/server.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$lab"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

step "A controller (data in $data)"
run "$controller" init --data-dir "$data" \
    --agent-endpoint 'tcp://127.0.0.1:*' --api-endpoint 'tcp://127.0.0.1:*'
"$controller" run --data-dir "$data" --heartbeat 500 >"$lab/controller.log" 2>&1 &
pids="$pids $!"
while [ ! -f "$data/cli.conf" ]; do sleep 0.1; done
export HOIST_CONFIG="$data/cli.conf"
run "$hoist" whoami

step "A release-signing key: CI keeps the .key, the controller and agents trust the .pub"
run "$hoist" keygen --out "$lab/release"
run "$hoist" trust add "$lab/release.pub"

step "Six agents enroll with one-time tokens"
n=0
for spec in dev-1:dev dev-2:dev qa-1:qa staging-1:staging prod-1:production dr-1:dr; do
    name=${spec%%:*}
    env=${spec#*:}
    root="$lab/agent-$name"
    tok=$("$hoist" --json token create --env "$env")
    echo "$tok" | json '["server_key"]' >"$lab/controller.key"
    endpoint=$(echo "$tok" | json '["endpoint"]')
    run "$agent" enroll --root "$root" --controller "$endpoint" \
        --controller-key "$lab/controller.key" \
        --token "$(echo "$tok" | json '["token"]')" --env "$env" \
        --trust "$lab/release.pub" --name "$name" --user "$me"
    mkdir -p "$root/apps/hello"
    echo $((base_port + n)) >"$root/apps/hello/port"
    n=$((n + 1))
    "$agent" run --root "$root" --user "$me" >"$root.log" 2>&1 &
    pids="$pids $!"
done
online() {
    "$hoist" --json agents |
        python3 -c "import json,sys; print(sum(a['online'] for a in json.load(sys.stdin)['agents']))"
}
until [ "$(online)" -eq 6 ]; do
    sleep 0.2
done
run "$hoist" agents

# pack VERSION [broken]: a release tarball of the example app.
pack() {
    src="$lab/src-$1"
    cp -a "$here/examples/hello" "$src"
    sed -i "s/@VERSION@/$1/" "$src/public/index.html" "$src/public/healthz"
    if [ "${2:-}" = broken ]; then
        rm "$src/public/healthz" # the server answers 404: unhealthy
    fi
    tar -C "$src" -czf "$lab/hello-$1.tar.gz" .
}

step "CI publishes hello 1.0.0; it goes to dev"
pack 1.0.0
run "$hoist" release create hello 1.0.0 "$lab/hello-1.0.0.tar.gz" \
    --sign-key "$lab/release" --sequence 1
run "$hoist" deploy hello 1.0.0 --env dev --wait
for p in $base_port $((base_port + 1)); do
    printf 'GET 127.0.0.1:%s/healthz -> %s\n' "$p" \
        "$(python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$p/healthz', timeout=2).read().decode().strip())")"
done

step "hello 1.1.0 fails its health check: every dev agent rolls back by itself"
pack 1.1.0 broken
run "$hoist" release create hello 1.1.0 "$lab/hello-1.1.0.tar.gz" \
    --sign-key "$lab/release" --sequence 2
if run "$hoist" deploy hello 1.1.0 --env dev --wait; then
    echo "demo: a broken release was reported healthy" >&2
    exit 1
fi
id=$("$hoist" --json deployments | json '["deployments"][0]["id"]')
run "$hoist" logs "$id" --agent dev-1
for p in $base_port $((base_port + 1)); do
    printf 'GET 127.0.0.1:%s/healthz -> %s\n' "$p" \
        "$(python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$p/healthz', timeout=2).read().decode().strip())")"
done

step "Where everything stands"
run "$hoist" status
run "$hoist" deployments

step "Done: dev runs hello 1.0.0, healthy; the lab is being removed"
