#!/bin/sh
# The air-gapped path, on one machine without a controller: sign the
# example app, install it with every check a production agent makes,
# upgrade it, watch a broken release roll itself back, and watch a
# tampered artifact get refused. (`make demo` runs the fleet: demo.sh.)
#
#   deploy/demo-local.sh [BUILD_DIR]
set -eu

build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
hoist="$build/hoist"
agent="$build/hoist-agent"
port=${HOIST_DEMO_PORT:-18080}
lab=$(mktemp -d /tmp/hoist-demo-XXXXXX)
root="$lab/root"

cleanup() {
    if [ -f "$root/apps/hello/run/server.pid" ]; then
        kill "$(cat "$root/apps/hello/run/server.pid")" 2>/dev/null || true
    fi
    rm -rf "$lab"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# pack VERSION [broken]: a release tarball of the example app.
pack() {
    src="$lab/src-$1"
    cp -a "$here/examples/hello" "$src"
    sed -i "s/@VERSION@/$1/" "$src/public/index.html" "$src/public/healthz"
    echo "$port" >"$src/port"
    if [ "${2:-}" = broken ]; then
        rm "$src/public/healthz" # the server answers 404: unhealthy
    fi
    tar -C "$src" -czf "$lab/hello-$1.tar.gz" .
}

sign() {
    run "$hoist" release sign hello "$1" "$lab/hello-$1.tar.gz" \
        --sign-key "$lab/release" --sequence "$2" --env demo \
        --out "$lab/hello-$1.manifest"
}

install() {
    run "$agent" install --root "$root" --env demo --trust "$lab/release.pub" \
        --user "$(id -un)" \
        --manifest "$lab/hello-$1.manifest" --artifact "$lab/hello-$1.tar.gz"
}

show() {
    run "$agent" status --root "$root"
    printf 'GET /healthz -> %s\n' "$(python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$port/healthz', timeout=2).read().decode().strip())")"
}

step "A release-signing key (CI holds the .key, agents trust the .pub)"
run "$hoist" keygen --out "$lab/release"

step "Sign and install hello 1.0.0"
pack 1.0.0
sign 1.0.0 1
install 1.0.0
show

step "Upgrade to 1.1.0"
pack 1.1.0
sign 1.1.0 2
install 1.1.0
show

step "1.2.0 fails its health check: the agent rolls back by itself"
pack 1.2.0 broken
sign 1.2.0 3
if install 1.2.0; then
    echo "demo: a broken release was reported healthy" >&2
    exit 1
else
    echo "(exit code $? : failed and rolled back)"
fi
show

step "A tampered artifact is refused before anything changes"
pack 1.3.0
sign 1.3.0 4
printf 'x' | dd of="$lab/hello-1.3.0.tar.gz" bs=1 seek=200 conv=notrunc 2>/dev/null
if install 1.3.0; then
    echo "demo: a tampered artifact was installed" >&2
    exit 1
else
    echo "(exit code $? : rejected)"
fi
show

step "Done: hello 1.1.0 is live and healthy"
