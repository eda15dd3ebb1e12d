#!/usr/bin/env bash
# A backup restores into a Harbor that works, proven with Harbor v2.15.1's own binaries
# (../shared/harbor-runtime, as root):
#   1. run-check.sh brings up the render of examples/backup.yaml and pushes an image;
#      a project of our own is added;
#   2. the backup Job's `backup` container (as `berth backup job` renders it) runs against
#      Harbor's database, from the database pod's network;
#   3. the database is lost: every pod stops and every data volume is deleted;
#   4. a fresh database starts with the same Secrets; the restore Job's `restore`
#      container runs; only then do core, jobservice, registry and the rest start;
#   5. Harbor answers on the restored database: the admin logs in with the old password,
#      the project and the pushed repository are there, every component is healthy.
# Blobs are not part of a backup (see the README), so pulling the image is not checked.
# Output: PASS/FAIL lines, then "N passed, M failed"; exit 0 only when all passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/harbor/checks.sh
CLUSTER=examples/backup.yaml
finish() { H down --logs "$tmp/state" > /dev/null 2>&1; echo "$passed passed, $failed failed"; [ "$failed" = 0 ] && [ "$passed" -gt 0 ]; exit $?; }
trap finish EXIT
tmp=$(mktemp -d /var/tmp/berth-restore-check.XXXXXX)

echo "== 1. Harbor up with content (run-check.sh --keep)"
"$HR/run-check.sh" --keep --berth-bin "$BERTH_BIN" --plugins "$PLUGINS" "$CLUSTER" > "$tmp/run-check.txt" 2>&1
need $? "Harbor runs the render of $CLUSTER ($(tail -1 "$tmp/run-check.txt"))"
run=$(ls -td "$WORK"/runs/backup-* | head -1)
render=$run/render.yaml
password=$("$PY" - "$render" <<'PY'
import base64, sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get('kind') == 'Secret' and d['metadata']['name'] == 'demo-harbor-core':
        v = (d.get('stringData') or {}).get('HARBOR_ADMIN_PASSWORD') or base64.b64decode(d['data']['HARBOR_ADMIN_PASSWORD']).decode()
        print(v)
PY
)
# harness-runtime names pods by component.
db=database
api() { H exec "$db" -- curl -sS -u "admin:$password" -H 'Content-Type: application/json' "$@"; }
api -o /dev/null -w '%{http_code}\n' -X POST http://demo-harbor-core/api/v2.0/projects -d '{"project_name":"restorecheck","metadata":{"public":"false"}}' > "$tmp/project.txt"
check $([ "$(cat "$tmp/project.txt")" = 201 ] && echo 0 || echo 1) "a project of our own created before the backup (HTTP $(cat "$tmp/project.txt"))"

echo "== 2. backup"
"$BERTH_BIN" backup job -f "$CLUSTER" --plugins "$PLUGINS" --backup b1 > "$tmp/backup-job.yaml"
need $? "berth backup job renders the backup Job"
mkdir -p "$tmp/backups"
"$PY" tests/harbor/run_job_container.py --harness "$HR/harness.py" --pod "$db" --job "$tmp/backup-job.yaml" --render "$render" \
    --container backup --workdir "$tmp/backup-run" --backup-root "$tmp/backups" > "$tmp/backup.txt" 2>&1
need $? "the backup Job's container dumps Harbor's database ($(grep -c . "$tmp/backup.txt") lines of output)"
sed 's/^/   /' "$tmp/backup.txt" | cut -c1-200 | tail -4
manifest=$tmp/backups/registry/demo/b1/manifest.json
dump_sha=$(jq -r '.files[] | select(.name == "database.dump") | .sha256' "$manifest" 2>/dev/null)
need $([ "$(jq -r .verified "$manifest" 2>/dev/null)" = true ] && [ ${#dump_sha} = 64 ] && echo 0 || echo 1) "the manifest records a verified dump"

echo "== 3. the database is lost"
H down > "$tmp/down.txt" 2>&1
need $? "every pod stopped and every data volume deleted"

echo "== 4. restore into a fresh database, then start Harbor"
H up "$render" --only "$db,redis" > "$tmp/up-db.txt" 2>&1
need $? "a fresh database and Redis start with the render's Secrets"
tables=$(H exec "$db" -- env PGPASSWORD="$("$PY" -c "import base64,sys,yaml
for d in yaml.safe_load_all(open('$render')):
    if d and d.get('kind')=='Secret' and d['metadata']['name']=='demo-harbor-database':
        print((d.get('stringData') or {}).get('POSTGRES_PASSWORD') or base64.b64decode(d['data']['POSTGRES_PASSWORD']).decode())")" \
    "$(ls -d /usr/lib/postgresql/*/bin | tail -1)/psql" -h demo-harbor-database -U postgres -d registry -At -c "select count(*) from information_schema.tables where table_name = 'project'" 2>&1)
check $([ "$tables" = 0 ] && echo 0 || echo 1) "the fresh database holds no Harbor schema (tables named project: $tables)"
"$BERTH_BIN" backup job -f "$CLUSTER" --plugins "$PLUGINS" --restore r1 --backup-path registry/demo/b1 --dump-sha256 "$dump_sha" > "$tmp/restore-job.yaml"
"$PY" tests/harbor/run_job_container.py --harness "$HR/harness.py" --pod "$db" --job "$tmp/restore-job.yaml" --render "$render" \
    --container restore --workdir "$tmp/restore-run" --backup-root "$tmp/backups" > "$tmp/restore.txt" 2>&1
need $? "the restore Job's container restores the dump"
sed 's/^/   /' "$tmp/restore.txt" | cut -c1-200 | tail -4
# The rest in the order harness up starts them, each after what it needs: core answers
# before jobservice and the others start (jobservice registers with core at start).
for pod in $(jq -r '.pods | keys_unsorted[]' "$WORK/state/plan.json"); do
    case "$pod" in
        "$db"|redis) ;;
        core) H restart core > /dev/null 2>&1; wait_pong ;;
        *) H restart "$pod" > /dev/null 2>&1 ;;
    esac
done
wait_pong
need $([ "$pong" = Pong ] && echo 0 || echo 1) "core starts on the restored database (ping: ${pong:-no answer})"

echo "== 5. Harbor on the restored database"
code=$(api -o /dev/null -w '%{http_code}' http://demo-harbor-core/api/v2.0/users/current)
check $([ "$code" = 200 ] && echo 0 || echo 1) "the admin logs in with the password of before (HTTP $code)"
code=$(api -o /dev/null -w '%{http_code}' http://demo-harbor-core/api/v2.0/projects/restorecheck)
check $([ "$code" = 200 ] && echo 0 || echo 1) "the project created before the backup is there (HTTP $code)"
repos=$(api http://demo-harbor-core/api/v2.0/projects/library/repositories | jq -r '.[].name' 2>/dev/null | tr '\n' ' ')
check $(case "$repos" in *library/smoke*) echo 0;; *) echo 1;; esac) "the pushed repository is listed (${repos:-none})"
check_harbor_healthy
H running > "$tmp/running.txt" 2>&1
check $? "every emulated container still runs ($(cat "$tmp/running.txt"))"
echo "== details in $tmp"
