#!/bin/sh
# The multi-host lab: one network namespace per host (a controller, two
# dev servers, QA, staging, three production servers and DR), each linked
# by a veth pair to a bridge that lives in a namespace of its own, with
# addresses from 10.213.0.0/24 that exist only inside the lab. Nothing is
# added to the host's own namespace: no interface, no address, no route.
# The real daemons run in the namespaces: the controller bound to its lab
# address, one agent per host enrolled with a one-time token over the lab
# network. Cutting a host's link (its veth on the bridge side, like a
# pulled cable at the switch) shows what the controller does with a host
# that goes quiet mid-rollout.
#
#   lab.sh up                     build it; prints the lab's directory
#   lab.sh exec HOST CMD...       run CMD in HOST's namespace (ctl: the
#                                 hoist CLI finds the controller there)
#   lab.sh cut HOST | restore HOST
#   lab.sh down [--keep]          kill its processes, delete everything
#                                 (--keep leaves the directory and logs)
#
# Every command but `up` acts on the lab named by $HOIST_LAB (its
# directory, printed by `up`). `up` creates $HOIST_LAB when it is set and
# a fresh directory under ${TMPDIR:-/tmp} otherwise. Programs come from
# $HOIST_CONTROLLER_BIN, $HOIST_AGENT_BIN and $HOIST_CLI_BIN, or from
# ${HOIST_BUILD:-build}; hooks run as ${HOIST_LAB_USER:-the invoking user};
# the controller's heartbeat is ${HOIST_LAB_HEARTBEAT:-1000} ms.
# Needs root and iproute2.
set -eu
PATH=/usr/sbin:/sbin:$PATH

# HOST ENV ADDRESS: the controller first, then one agent per host.
HOSTS='ctl - 10.213.0.1
dev1 dev 10.213.0.11
dev2 dev 10.213.0.12
qa1 qa 10.213.0.21
stg1 staging 10.213.0.31
prod1 production 10.213.0.41
prod2 production 10.213.0.42
prod3 production 10.213.0.43
dr1 dr 10.213.0.51'
AGENT_PORT=7600
API_PORT=7601

die() {
    echo "lab: $*" >&2
    exit 1
}

usage() {
    sed -n 's/^#   //p' "$0" >&2
    exit 2
}

# The lab named by $HOIST_LAB: sets lab and prefix.
lab_open() {
    lab=${HOIST_LAB:-}
    [ -n "$lab" ] || die "HOIST_LAB is not set: export the directory \`lab.sh up\` printed"
    [ -f "$lab/prefix" ] || die "$lab holds no lab (no prefix file); was it taken down?"
    prefix=$(cat "$lab/prefix")
    # shellcheck source=/dev/null # written by `up`
    . "$lab/programs"
}

# HOST's namespace, checking that HOST is one of the lab's (or br).
ns_of() {
    if [ "$1" != br ] && ! echo "$HOSTS" | grep -q "^$1 "; then
        die "no host $1 in the lab (hosts: br $(echo "$HOSTS" | cut -d' ' -f1 | tr '\n' ' '))"
    fi
    echo "$prefix-$1"
}

# Runs CMD... in HOST's namespace with the lab's programs on PATH and the
# admin's CLI configuration in the environment.
in_ns() {
    host=$1
    shift
    ns=$(ns_of "$host")
    ip netns exec "$ns" env HOIST_CONFIG="$lab/controller/cli.conf" \
        PATH="$bindirs:$PATH" "$@"
}

# Starts CMD... in HOST's namespace in the background, detached from our
# output (a caller reading it to EOF would otherwise wait for the daemon),
# with its output in LOG.
spawn() {
    log=$1
    ns=$(ns_of "$2")
    shift 2
    ip netns exec "$ns" env HOIST_CONFIG="$lab/controller/cli.conf" \
        PATH="$bindirs:$PATH" "$@" </dev/null >>"$log" 2>&1 &
    spawned=$!
}

# The value of string KEY in the one-line JSON document on stdin (the
# values read here, tokens, keys and endpoints, hold no quote or escape).
json_string() {
    sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p"
}

# The network: the bridge's namespace, one namespace per host, a veth pair
# from each to the bridge. Every link is created from inside the lab's
# namespaces (`ip -n`), so the host's namespace never sees one.
net_up() {
    ip netns add "$prefix-br"
    ip -n "$prefix-br" link set lo up
    ip -n "$prefix-br" link add br0 type bridge
    ip -n "$prefix-br" link set br0 up
    echo "$HOSTS" | while read -r host env addr; do
        ns=$prefix-$host
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n "$prefix-br" link add "v-$host" type veth peer name eth0 netns "$ns"
        ip -n "$prefix-br" link set "v-$host" master br0 up
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
}

# The programs: from the environment, else from the build directory.
programs() {
    build=${HOIST_BUILD:-build}
    controller=${HOIST_CONTROLLER_BIN:-$build/hoist-controller}
    agent=${HOIST_AGENT_BIN:-$build/hoist-agent}
    cli=${HOIST_CLI_BIN:-$build/hoist}
    for p in "$controller" "$agent" "$cli"; do
        [ -x "$p" ] || die "$p is not an executable: build first, or set HOIST_BUILD or HOIST_*_BIN"
    done
    controller=$(cd "$(dirname "$controller")" && pwd)/$(basename "$controller")
    agent=$(cd "$(dirname "$agent")" && pwd)/$(basename "$agent")
    cli=$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli")
    bindirs=$(dirname "$controller"):$(dirname "$agent"):$(dirname "$cli")
    cat >"$lab/programs" <<EOF
controller='$controller'
agent='$agent'
cli='$cli'
bindirs='$bindirs'
EOF
}

# Waits until FILE exists, at most 30 s, while process PID lives.
wait_file() {
    n=0
    while [ ! -e "$1" ]; do
        n=$((n + 1))
        [ "$n" -le 300 ] || die "$1 did not appear in 30 s (see $lab/*.log)"
        kill -0 "$2" 2>/dev/null || die "$3 exited: $(tail -n 3 "$4")"
        sleep 0.1
    done
}

# The controller in ctl: agents reach it on its lab address, the CLI on
# the loopback of ctl's namespace (the CLI runs there: `lab.sh exec ctl`).
controller_up() {
    addr=$(echo "$HOSTS" | sed -n 's/^ctl - //p')
    in_ns ctl "$controller" init --data-dir "$lab/controller" \
        --agent-endpoint "tcp://$addr:$AGENT_PORT" \
        --api-endpoint "tcp://127.0.0.1:$API_PORT" >/dev/null
    spawn "$lab/controller.log" ctl "$controller" run \
        --data-dir "$lab/controller" --heartbeat "${HOIST_LAB_HEARTBEAT:-1000}"
    wait_file "$lab/controller/cli.conf" "$spawned" "the controller" \
        "$lab/controller.log"
    "$cli" keygen --out "$lab/release" >/dev/null
    in_ns ctl "$cli" trust add "$lab/release.pub" >/dev/null
}

# One agent per host: a token from the controller, `hoist-agent enroll`
# and `hoist-agent run` in the host's namespace, over the lab network.
agents_up() {
    user=${HOIST_LAB_USER:-$(id -un)}
    echo "$HOSTS" | while read -r host env addr; do
        [ "$env" != - ] || continue
        tok=$(in_ns ctl "$cli" --json token create --env "$env")
        echo "$tok" | json_string server_key >"$lab/controller.key"
        in_ns "$host" "$agent" enroll --root "$lab/agents/$host" \
            --controller "$(echo "$tok" | json_string endpoint)" \
            --controller-key "$lab/controller.key" \
            --token "$(echo "$tok" | json_string token)" --env "$env" \
            --trust "$lab/release.pub" --name "$host" --user "$user" >/dev/null
        spawn "$lab/agents/$host.log" "$host" "$agent" run \
            --root "$lab/agents/$host" --user "$user"
    done
    want=$(echo "$HOSTS" | grep -vc '^ctl ')
    n=0
    until [ "$(in_ns ctl "$cli" agents | grep -c ' online ')" -eq "$want" ]; do
        n=$((n + 1))
        [ "$n" -le 300 ] || die "not every agent came online in 30 s (see $lab/agents/*.log)"
        sleep 0.1
    done
}

cmd_up() {
    [ "$(id -u)" -eq 0 ] || die "network namespaces need root"
    if [ -n "${HOIST_LAB:-}" ]; then
        [ ! -e "$HOIST_LAB/prefix" ] || die "$HOIST_LAB already holds a lab"
        mkdir -p "$HOIST_LAB"
        lab=$(cd "$HOIST_LAB" && pwd)
    else
        lab=$(mktemp -d "${TMPDIR:-/tmp}/hoist-lab.XXXXXX")
    fi
    HOIST_LAB=$lab
    export HOIST_LAB
    # The prefix tells this lab's namespaces from any other's (a lab
    # left behind by a killed run may hold this one: never touch it).
    prefix=hoist-$$
    if ip netns list | cut -d' ' -f1 | grep -q "^$prefix-"; then
        die "namespaces $prefix-* exist already (a lab left behind?)"
    fi
    echo "$prefix" >"$lab/prefix"
    mkdir -p "$lab/agents"
    # A lab half built is taken down whole.
    trap 'cmd_down --keep >/dev/null 2>&1 || true
          echo "lab: up failed; logs stay in $lab" >&2' EXIT
    trap 'exit 130' INT TERM
    programs
    net_up
    controller_up
    agents_up
    trap - EXIT INT TERM
    echo "lab $prefix up in $lab (logs: controller.log, agents/HOST.log)"
    echo "$HOSTS" | while read -r host env addr; do
        printf '  %-6s %-11s %s\n' "$host" "$env" "$addr"
    done
    echo "export HOIST_LAB=$lab"
}

# True while one of the processes PID... lives.
alive() {
    for p in "$@"; do
        if kill -0 "$p" 2>/dev/null; then
            return 0
        fi
    done
    return 1
}

# Stops every process in the lab's namespaces (TERM, then KILL after 5 s)
# and deletes the namespaces, the bridge's last; with --keep the directory
# stays. Doing it twice is harmless.
cmd_down() {
    keep=${1:-}
    lab=${HOIST_LAB:-}
    [ -n "$lab" ] || die "HOIST_LAB is not set: export the directory \`lab.sh up\` printed"
    if [ ! -f "$lab/prefix" ]; then
        # Taken down already; a directory kept then goes now (one that
        # holds no lab's files is not ours to remove).
        if [ "$keep" != --keep ] && [ -f "$lab/programs" ]; then
            rm -rf "$lab"
        fi
        return 0
    fi
    prefix=$(cat "$lab/prefix")
    spaces=$(ip netns list | cut -d' ' -f1 | grep "^$prefix-" || true)
    for sig in TERM KILL; do
        pids=""
        for ns in $spaces; do
            pids="$pids $(ip netns pids "$ns" 2>/dev/null || true)"
        done
        [ -n "$(echo "$pids" | tr -d ' ')" ] || break
        # shellcheck disable=SC2086 # one word per pid
        kill -s "$sig" $pids 2>/dev/null || true
        n=0
        # shellcheck disable=SC2086 # one word per pid
        while [ "$n" -lt 50 ] && alive $pids; do
            n=$((n + 1))
            sleep 0.1
        done
    done
    for ns in $spaces; do
        [ "$ns" = "$prefix-br" ] || ip netns del "$ns"
    done
    ip netns del "$prefix-br" 2>/dev/null || true
    if [ "$keep" = --keep ]; then
        rm -f "$lab/prefix"
        echo "lab $prefix down; its files stay in $lab"
    else
        rm -rf "$lab"
        echo "lab $prefix down"
    fi
}

# Takes HOST's link down (UP=down) or up at the bridge: the host keeps its
# address and its processes, and hears nothing.
cmd_link() {
    lab_open
    ns=$(ns_of "$2")
    [ "$2" != br ] || die "the bridge has no link of its own to cut"
    ip -n "$prefix-br" link set "v-$2" "$1"
    ip -n "$ns" link show eth0 >/dev/null
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
up)
    [ $# -eq 0 ] || usage
    cmd_up
    ;;
down)
    [ $# -eq 0 ] || [ "$1" = --keep ] || usage
    cmd_down "${1:-}"
    ;;
exec)
    [ $# -ge 2 ] || usage
    lab_open
    host=$1
    shift
    in_ns "$host" "$@"
    ;;
cut)
    [ $# -eq 1 ] || usage
    cmd_link down "$1"
    ;;
restore)
    [ $# -eq 1 ] || usage
    cmd_link up "$1"
    ;;
*) usage ;;
esac
