# Restores one backup into Harbor's (empty) database. Run by the restore Job's "restore"
# container (the harbor-db image). Refuses a backup whose files do not match their
# checksums, a dump other than the one the backup recorded, and a cluster whose generated
# Secrets are not the backup's (its encrypted columns would be unreadable).
set -eu
export LC_ALL=C
dir="$BACKUP_ROOT/$BACKUP_PATH"
if [ ! -f "$dir/SHA256SUMS" ]; then
    echo "restore: no complete backup at $dir" >&2
    exit 1
fi
cd "$dir"
echo "restore: checking the backup's checksums"
if ! sha256sum -c --quiet SHA256SUMS; then
    echo "restore: the backup's files do not match their checksums; refusing it" >&2
    exit 1
fi
actual=$(sha256sum database.dump | cut -d' ' -f1)
if [ "$actual" != "$DUMP_SHA256" ]; then
    echo "restore: database.dump has sha256 $actual, the backup recorded $DUMP_SHA256; refusing it" >&2
    exit 1
fi
echo "restore: checking that the cluster's generated Secrets are the backup's"
for secret in "$SECRETS_DIR"/*/; do
    name=$(basename "$secret")
    for file in "$secret"*; do
        [ -f "$file" ] || continue
        key=$(basename "$file")
        if [ ! -f "secrets/$name/$key" ] || [ "$(sha256sum < "$file")" != "$(sha256sum < "secrets/$name/$key")" ]; then
            echo "restore: key $key of Secret $name is not the backup's; refusing to restore" >&2
            exit 1
        fi
    done
done
echo "restore: waiting for the database at $PGHOST:$PGPORT"
until pg_isready -q; do
    sleep 2
done
echo "restore: restoring into database $PGDATABASE"
pg_restore --clean --if-exists --no-owner --exit-on-error --single-transaction --no-password \
    --dbname="$PGDATABASE" database.dump
echo "restore: complete"
