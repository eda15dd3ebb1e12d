# What the Harbor checks (restore-check.sh, upgrade-check.sh) share, sourced from the
# checkout's root: where harbor-runtime, berth and the plugins are, the harness, and the
# PASS/FAIL bookkeeping. The caller defines `api ARGS...` (curl as admin) and its finish.
HR=$(cd "${HARBOR_RUNTIME:-../shared/harbor-runtime}" && pwd)
BERTH_BIN=${BERTH_BIN:-target/debug/berth}
PLUGINS=${PLUGINS:-target/plugins}
WORK=${HARBOR_RUNTIME_WORK:-/var/tmp/harbor-runtime-work}
PY=${HARBOR_RUNTIME_PYTHON:-/usr/bin/python3}
H() { "$PY" "$HR/harness.py" "$@"; }
passed=0; failed=0
check() { if [ "$1" = 0 ]; then echo "PASS $2"; passed=$((passed + 1)); else echo "FAIL $2"; failed=$((failed + 1)); fi; }
# A step the next ones build on: when it fails, the run stops there.
need() { check "$@"; [ "$1" = 0 ] || exit 1; }

# Waits up to three minutes for core to answer its ping; `pong` holds the last answer.
wait_pong() {
    pong=
    for _ in $(seq 1 90); do
        pong=$(api -s http://demo-harbor-core/api/v2.0/ping 2>/dev/null) && [ "$pong" = Pong ] && return 0
        sleep 2
    done
    return 1
}

# Waits up to two minutes for core's /api/v2.0/health to call every component it checks
# healthy (harbor-runtime runs neither portal nor trivy), then says so as a check.
check_harbor_healthy() {
    local health unhealthy
    for _ in $(seq 1 40); do
        health=$(api http://demo-harbor-core/api/v2.0/health 2>/dev/null)
        unhealthy=$(echo "$health" | jq -r '.components[] | select(.status != "healthy") | .name' 2>/dev/null | grep -vxE 'portal|trivy' | tr '\n' ' ')
        [ -n "$health" ] && [ -z "$unhealthy" ] && break
        sleep 3
    done
    check $([ -n "$health" ] && [ -z "$unhealthy" ] && echo 0 || echo 1) "core reports its database, Redis, registry, registryctl and jobservice healthy${unhealthy:+ (unhealthy: $unhealthy)}"
}
