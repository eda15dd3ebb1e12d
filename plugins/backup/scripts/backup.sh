# Takes one backup of Harbor's database and generated Secrets. Run by the backup Job's
# "backup" container (the harbor-db image: sh, pg_dump, pg_restore, psql, sha256sum).
# The files go to "$BACKUP_ROOT/$BACKUP_PATH.partial" and become "$BACKUP_ROOT/$BACKUP_PATH"
# only once the dump was read back and every file summed, so a directory without the
# suffix is always a complete backup. Secret values are copied, never printed.
set -eu
umask 077
export LC_ALL=C
final="$BACKUP_ROOT/$BACKUP_PATH"
work="$final.partial"
if [ -e "$final" ]; then
    echo "backup: $final exists already; a backup is never overwritten" >&2
    exit 1
fi
rm -rf "$work"
mkdir -p "$work/secrets"

echo "backup: dumping database $PGDATABASE from $PGHOST:$PGPORT"
server_version=$(psql -X -A -t -q -c 'SHOW server_version')
pg_dump --format=custom --no-password --file="$work/database.dump"
echo "backup: reading the dump back (pg_restore --list)"
pg_restore --list "$work/database.dump" > /dev/null

printf '%s\n' "$BERTH_CLUSTER_SPEC" > "$work/spec.json"
for secret in "$SECRETS_DIR"/*/; do
    name=$(basename "$secret")
    mkdir "$work/secrets/$name"
    for file in "$secret"*; do
        [ -f "$file" ] || continue
        cp "$file" "$work/secrets/$name/$(basename "$file")"
    done
done

echo "backup: summing the files"
cd "$work"
# Kubernetes Secret and key names hold no spaces; globs expand sorted (LC_ALL=C).
sha256sum database.dump spec.json secrets/*/* > SHA256SUMS
{
    printf '{"format":1,"harborVersion":"%s","database":"%s","serverVersion":"%s","verified":true,"files":[' \
        "$HARBOR_VERSION" "$PGDATABASE" "$server_version"
    separator=''
    while read -r sum name; do
        size=$(wc -c < "$name" | tr -d ' ')
        printf '%s{"name":"%s","size":%s,"sha256":"%s"}' "$separator" "$name" "$size" "$sum"
        separator=','
    done < SHA256SUMS
    printf ']}\n'
} > manifest.json
cd /
mv "$work" "$final"
# The manifest is the Job's termination message: how the operator learns what the
# backup holds without reading its files.
cp "$final/manifest.json" "$MANIFEST_MESSAGE_PATH"
echo "backup: complete: $final ($(wc -c < "$final/database.dump" | tr -d ' ') bytes of dump)"
