#!/bin/sh
# The local lab: a controller and six agents (two in dev, one each in qa,
# staging, production and dr) as real processes on loopback, in a
# temporary directory. It signs the example app, deploys it to dev, then
# deploys a release whose health check fails and shows every agent roll
# itself back. Then a pipeline file, users with roles, and one release
# climbing dev -> qa -> staging -> production through its gates: QA's
# approval and a scheduled production step, and a canary in dev that
# waits for a release manager, and a DR drill with its recovery time.
# Everything is stopped and removed at the end.
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

step "The pipeline: dev -> qa -> staging -> production; dev takes every release; production needs QA's approval"
cat >"$lab/pipeline.yml" <<'YAML'
lifecycles:
  default: [dev, qa, staging, production]
environments:
  dev:
    auto_deploy: true
  qa: {}
  staging:
    tags: {kind: on-prem, site: lab}
  production:
    approvals: {count: 1, role: qa}
    freezes: [{from: 2099-12-20, to: 2099-12-31, reason: far-away year-end}]
  dr:
    mirror: production
YAML
run "$hoist" apply "$lab/pipeline.yml"

step "People: Rita manages releases, Quinn is QA"
run "$hoist" keygen --user --out "$lab/rita"
run "$hoist" keygen --user --out "$lab/quinn"
run "$hoist" users add rita --role release-manager --key "$lab/rita"
run "$hoist" users add quinn --role qa --key "$lab/quinn"
run "$hoist" users list
rita() { run "$hoist" --identity "$lab/rita" "$@"; }
quinn() { run "$hoist" --identity "$lab/quinn" "$@"; }

step "CI publishes hello 1.2.0: it lands in dev by itself (auto_deploy)"
pack 1.2.0
run "$hoist" release create hello 1.2.0 "$lab/hello-1.2.0.tar.gz" \
    --sign-key "$lab/release" --sequence 3
id=$("$hoist" --json deployments | json '["deployments"][0]["id"]')
run "$hoist" deployment show "$id" >/dev/null
until [ "$("$hoist" --json deployment show "$id" | json '["state"]')" != running ]; do
    sleep 0.2
done
run "$hoist" deployment show "$id"

step "Rita promotes it to qa and staging"
rita promote hello 1.2.0 --to qa --wait
rita promote hello 1.2.0 --to staging --wait

step "Production has gates: Quinn may not promote, and Rita lacks QA's approval"
if quinn promote hello 1.2.0 --to production; then
    echo "demo: QA promoted to production" >&2
    exit 1
fi
if rita promote hello 1.2.0 --to production; then
    echo "demo: production's approval gate let a release through" >&2
    exit 1
fi

step "Quinn approves; Rita schedules production a few seconds ahead"
quinn approve hello 1.2.0 --env production --comment "regression suite green"
rita promote hello 1.2.0 --to production --at +5s
run "$hoist" schedule list
until [ "$("$hoist" --json schedule list | json '["schedules"][0]["state"]')" != pending ]; do
    sleep 0.5
done
run "$hoist" schedule list
id=$("$hoist" --json schedule list | json '["schedules"][0]["deployment"]')
until [ "$("$hoist" --json deployment show "$id" | json '["state"]')" != running ]; do
    sleep 0.2
done
run "$hoist" deployment show "$id"
run "$hoist" release show hello 1.2.0

step "A canary in dev: one agent first, the other when Rita says so"
sed -i 's/^    auto_deploy: true$/    auto_deploy: true\n    strategy: {type: canary, count: 1, then: manual}/' "$lab/pipeline.yml"
run "$hoist" apply "$lab/pipeline.yml"
pack 1.3.0
run "$hoist" release create hello 1.3.0 "$lab/hello-1.3.0.tar.gz" \
    --sign-key "$lab/release" --sequence 4
id=$("$hoist" --json deployments | json '["deployments"][0]["id"]')
until [ "$("$hoist" --json deployment show "$id" | json '["waiting_continue"]')" = True ]; do
    sleep 0.2
done
run "$hoist" deployment show "$id"
rita deployment continue "$id"
rita watch "$id"

step "DR follows production; a drill proves it can take over"
run "$hoist" diff production dr hello
rita drill run hello --failback
run "$hoist" drill list

step "The record: every change and every refusal, hash-chained"
run "$hoist" audit
run "$hoist" audit verify

step "Where everything stands"
run "$hoist" status
run "$hoist" deployments

step "Done: dev runs hello 1.3.0 (after its canary), qa, staging and production 1.2.0; the lab is being removed"
