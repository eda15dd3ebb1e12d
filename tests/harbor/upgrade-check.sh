#!/usr/bin/env bash
# The schema-migration Job Berth renders for an upgrade really migrates Harbor's database,
# proven with Harbor v2.15.1's own binaries (../shared/harbor-runtime, as root):
#   1. run-check.sh brings up the render of examples/minimal.yaml (core migrates the fresh
#      database to its newest schema on start);
#   2. the schema version is recorded (the newest migration of the core image, not dirty);
#      a project of our own is created, as data that has to survive;
#   3. the writers stop, as the upgrade's Quiesce stops them: core and jobservice;
#   4. the schema is made one release older, for real (see below): 2.14's schema;
#   5. negative check: the Job's `migrate` container with a wrong database password
#      (run_job_container.py --env, test-only) exits non-zero and migrates nothing;
#   6. the migration Job (`berth upgrade job --from 2.14.2 --to 2.15.1`) runs its `migrate`
#      container (`/harbor/harbor_core -mode=migrate`) as rendered: command, env, Secrets, the
#      core ConfigMap's app.conf, the key files and the image's migrations, run as harness.py
#      runs core (run_job_container.py --like-harness), in the core pod's network;
#   7. the schema is the newest again: version, dirty flag, the undone change redone, and
#      harbor_core's log names the migration it ran;
#   8. core and jobservice start again; core finds nothing left to migrate, answers, reports
#      v2.15.1, the admin logs in, the project is still there, everything keeps running.
#
# Step 4, "one release older": Harbor's migrations directory holds only NNNN_*.up.sql files,
# no .down.sql, so nothing of Harbor's can roll a migration back. The newest one,
# 0180_2.15.0_schema.up.sql, is a single statement,
#     ALTER TABLE registry ADD COLUMN IF NOT EXISTS ca_certificate TEXT;
# so it is undone by hand, exactly: the column is dropped (a column 2.15 added, that nothing of
# 2.14 reads; the test's registry table has no rows) and schema_migrations is set back to the
# previous migration's number (0171, the last of 2.14). The result is the schema a 2.14 Harbor
# leaves, with the data of before, so the Job has real work to do and the project has to
# survive it. The script first checks that the newest migration file is still exactly that
# statement; if Harbor's migrations change, it says so (FAIL) instead of testing something
# else. (Dropping the database instead would only test a fresh install, not an upgrade.)
#
# Output: PASS/FAIL lines, then "N passed, M failed"; exit 0 only when all passed.
# Only one harbor-runtime run per machine: this script waits for the lock of run-check.sh
# and, once Harbor is up, holds it to the end, so that no other run cleans its pods away.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/harbor/checks.sh
CLUSTER=examples/minimal.yaml
FROM=2.14.2
TO=2.15.1
CACHE=${HARBOR_RUNTIME_CACHE:-/var/tmp/harbor-runtime}
finish() { [ -n "${up:-}" ] && H down --logs "$tmp/state" > /dev/null 2>&1; echo "$passed passed, $failed failed"; [ "$failed" = 0 ] && [ "$passed" -gt 0 ]; exit $?; }
trap finish EXIT
tmp=$(mktemp -d /var/tmp/berth-upgrade-check.XXXXXX)
started=$(date +%s)

# The migrations the core image carries (harness.py's overlay of goharbor/harbor-core at /harbor).
MIGRATIONS=$CACHE/image/core/migrations/postgresql
versions=$(ls "$MIGRATIONS" 2>/dev/null | sed -n 's/^\([0-9][0-9]*\)_.*\.up\.sql$/\1/p' | sort -n)
newest=$(echo "$versions" | tail -1); previous=$(echo "$versions" | tail -2 | head -1)
newest_file=$(ls "$MIGRATIONS"/"$newest"_*.up.sql 2>/dev/null)
need $([ -n "$newest" ] && [ "$newest" != "$previous" ] && echo 0 || echo 1) \
    "the core image's migrations: newest $newest, previous $previous ($(echo "$versions" | grep -c .) up, $(ls "$MIGRATIONS" | grep -c '\.down\.sql$') down files)"
newest=$((10#$newest)); previous=$((10#$previous))
# The hand-made rollback of step 4 undoes exactly this statement; anything else: stop here.
undo_of_newest='ALTER TABLE registry DROP COLUMN ca_certificate'
need $([ "$(tr -s ' \n' ' ' < "$newest_file" | sed 's/^ //; s/ $//')" = 'ALTER TABLE registry ADD COLUMN IF NOT EXISTS ca_certificate TEXT;' ] && echo 0 || echo 1) \
    "the newest migration ($(basename "$newest_file")) is the one statement this script knows how to undo"

echo "== 1. Harbor up (run-check.sh --keep)"
LOCK=/run/lock; [ -d $LOCK ] || LOCK=/tmp
for attempt in $(seq 1 20); do
    flock -w 1800 "$LOCK/harbor-runtime.lock" true    # wait while another run holds it
    "$HR/run-check.sh" --keep --berth-bin "$BERTH_BIN" --plugins "$PLUGINS" "$CLUSTER" > "$tmp/run-check.txt" 2>&1
    rc=$?
    grep -q '^FAIL another run-check.sh' "$tmp/run-check.txt" || { up=1; break; }
    echo "   another harbor-runtime run holds the lock; retrying ($attempt)"; sleep 15
done
[ -n "${up:-}" ] || need 1 "the harbor-runtime lock ($LOCK/harbor-runtime.lock) stays held by another run"
# run-check.sh --keep has let go of the lock: take it until the end (released when this exits).
exec 9> "$LOCK/harbor-runtime.lock"
flock -w 600 9 || need 1 "the harbor-runtime lock is taken by another run while our pods are up"
need $rc "Harbor runs the render of $CLUSTER ($(tail -1 "$tmp/run-check.txt"))"
run=$(ls -td "$WORK"/runs/minimal-* | head -1)
render=$run/render.yaml
secret() { # secret NAME KEY: a value of a Secret of the render
    "$PY" - "$render" "$1" "$2" <<'PY'
import base64, sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get('kind') == 'Secret' and d['metadata']['name'] == sys.argv[2]:
        print((d.get('stringData') or {}).get(sys.argv[3]) or base64.b64decode(d['data'][sys.argv[3]]).decode())
PY
}
password=$(secret demo-harbor-core HARBOR_ADMIN_PASSWORD)
db_password=$(secret demo-harbor-database POSTGRES_PASSWORD)
# harbor-runtime names pods by component. Clients run in the database pod's network.
db=database
api() { H exec "$db" -- curl -sS -u "admin:$password" -H 'Content-Type: application/json' "$@"; }
sql() { # sql STATEMENT...: psql on Harbor's database through its Service, one transaction
    local s args=()
    for s in "$@"; do args+=(-c "$s"); done
    H exec "$db" -- env PGPASSWORD="$db_password" "$(ls -d /usr/lib/postgresql/*/bin | tail -1)/psql" \
        -h demo-harbor-database -U postgres -d registry -At -v ON_ERROR_STOP=1 -1 "${args[@]}" 2>&1
}
schema() { sql 'SELECT version, dirty FROM schema_migrations'; }
column() { sql "SELECT count(*) FROM information_schema.columns WHERE table_name = 'registry' AND column_name = 'ca_certificate'"; }

echo "== 2. the schema before, and data of our own"
before=$(schema)
check $([ "$before" = "$newest|f" ] && echo 0 || echo 1) "schema_migrations after core's start: version|dirty = ${before:-none} (newest migration: $newest)"
api -o /dev/null -w '%{http_code}\n' -X POST http://demo-harbor-core/api/v2.0/projects -d '{"project_name":"upgradecheck","metadata":{"public":"false"}}' > "$tmp/project.txt"
check $([ "$(cat "$tmp/project.txt")" = 201 ] && echo 0 || echo 1) "a project of our own created before the upgrade (HTTP $(cat "$tmp/project.txt"))"

echo "== 3. quiesce: core and jobservice stop"
# harness.py has no stop command: stop their process groups as its `down` and `restart` do
# (SIGTERM, SIGKILL after 20 s), by the ids it recorded in state/pids.json.
stopped=
for key in $(jq -r 'keys[] | select(test("^(core|jobservice)/"))' "$WORK/state/pids.json"); do
    pgid=$(jq -r --arg k "$key" '.[$k]' "$WORK/state/pids.json")
    kill -TERM -- "-$pgid" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pgid" 2>/dev/null
    kill -0 -- "-$pgid" 2>/dev/null || stopped="$stopped $key"
done
pong=$(api -s -m 5 http://demo-harbor-core/api/v2.0/ping 2>/dev/null)
need $([ "$stopped" = " core/core jobservice/jobservice" ] && [ "$pong" != Pong ] && echo 0 || echo 1) \
    "core and jobservice stopped (${stopped# }; core's ping: ${pong:-no answer})"

echo "== 4. the schema one release older (migration $newest undone by hand)"
sql "$undo_of_newest" "UPDATE schema_migrations SET version = $previous, dirty = false" > "$tmp/rollback.txt"
older=$(schema); col=$(column)
need $([ "$older" = "$previous|f" ] && [ "$col" = 0 ] && echo 0 || echo 1) \
    "schema_migrations = ${older:-none}, registry.ca_certificate columns: $col (psql: $(paste -sd, "$tmp/rollback.txt"))"

echo "== 5. the migration Job, with a wrong database password: it must fail"
"$BERTH_BIN" upgrade job -f "$CLUSTER" --to "$TO" --from "$FROM" --plugins "$PLUGINS" > "$tmp/migrate-job.yaml" 2> "$tmp/migrate-job.stderr"
need $? "berth upgrade job --from $FROM --to $TO renders the migration Job ($(sed -n '/^metadata:/,/^spec:/s/^  name: //p' "$tmp/migrate-job.yaml"))"
job() { # job WORKDIR [--env NAME=VALUE]: the Job's migrate container as harness.py runs core
    local dir=$1; shift
    timeout 300 "$PY" tests/harbor/run_job_container.py --harness "$HR/harness.py" --pod core --job "$tmp/migrate-job.yaml" \
        --render "$render" --container migrate --workdir "$dir" --like-harness "$@"
}
job "$tmp/migrate-wrong-password" --env POSTGRESQL_PASSWORD=wrong-password > "$tmp/migrate-wrong-password.txt" 2>&1
rc=$?
check $([ $rc != 0 ] && echo 0 || echo 1) "with a wrong POSTGRESQL_PASSWORD the container exits non-zero (exit $rc)"
grep -m1 -oE 'password authentication failed[^)]*\)' "$tmp/migrate-wrong-password.txt" | sed 's/^/   harbor_core: /'
after_wrong=$(schema)
check $([ "$after_wrong" = "$previous|f" ] && echo 0 || echo 1) "and migrates nothing (schema_migrations = ${after_wrong:-none})"

echo "== 6. the migration Job as rendered"
t0=$(date +%s)
job "$tmp/migrate" > "$tmp/migrate.txt" 2>&1
rc=$?
need $rc "the Job's migrate container (/harbor/harbor_core -mode=migrate) exits 0 (exit $rc, $(($(date +%s) - t0)) s)"
grep -E 'migrat|schema|FATAL|ERROR' "$tmp/migrate.txt" | sed 's/^/   /' | cut -c1-200

echo "== 7. the schema is the newest again"
after=$(schema)
check $([ "$after" = "$newest|f" ] && echo 0 || echo 1) "schema_migrations = ${after:-none} (newest migration $newest, not dirty)"
col=$(column)
check $([ "$col" = 1 ] && echo 0 || echo 1) "migration $newest's change is there again (registry.ca_certificate columns: $col)"
name=$(basename "$newest_file" .up.sql); name=${name#*_}
ran=$(grep -F ": $newest/u $name (" "$tmp/migrate.txt" | sed 's/.*\]: //')
check $([ -n "$ran" ] && grep -q 'the database migrate success' "$tmp/migrate.txt" && echo 0 || echo 1) \
    "harbor_core's log names the migration it ran (${ran:-no \"$newest/u $name\" line}) and its success"

echo "== 8. Harbor on the migrated database"
core_log=$WORK/state/pods/core/core/log
lines=$(wc -l < "$core_log")
H restart core > "$tmp/restart.txt" 2>&1; wait_pong
H restart jobservice >> "$tmp/restart.txt" 2>&1
need $([ "$pong" = Pong ] && echo 0 || echo 1) "core starts again (ping: ${pong:-no answer})"
startup=$(tail -n +"$((lines + 1))" "$core_log" | grep -E 'No change in schema|[0-9]+/u ' | sed 's/.*\]: //' | paste -sd';')
check $([ "$startup" = 'No change in schema, skip.' ] && echo 0 || echo 1) "core finds nothing left to migrate on start (${startup:-no schema line in its log})"
version=$(api http://demo-harbor-core/api/v2.0/systeminfo | jq -r .harbor_version 2>/dev/null)
check $(case "$version" in "v$TO"|"v$TO"-*) echo 0;; *) echo 1;; esac) "systeminfo reports ${version:-nothing} (want v$TO)"
code=$(api -o /dev/null -w '%{http_code}' http://demo-harbor-core/api/v2.0/users/current)
check $([ "$code" = 200 ] && echo 0 || echo 1) "the admin logs in (HTTP $code)"
code=$(api -o /dev/null -w '%{http_code}' http://demo-harbor-core/api/v2.0/projects/upgradecheck)
check $([ "$code" = 200 ] && echo 0 || echo 1) "the project created before the upgrade is there (HTTP $code)"
check_harbor_healthy
H running > "$tmp/running.txt" 2>&1
check $? "every emulated container still runs ($(cat "$tmp/running.txt"))"
echo "== details in $tmp ($(($(date +%s) - started)) s)"
