# What the Harbor checks (restore-check.sh, upgrade-check.sh) share. Sourced; the caller
# defines `check STATUS TEXT` (a PASS/FAIL line) and `api ARGS...` (curl as admin).

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
