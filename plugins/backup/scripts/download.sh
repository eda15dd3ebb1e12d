# Downloads one backup's files from the bucket for the "restore" container.
set -eu
source="s3://$S3_BUCKET/$S3_PREFIX$BACKUP_PATH"
target="/backup/$BACKUP_PATH"
set -- --only-show-errors
if [ -n "${S3_ENDPOINT:-}" ]; then
    set -- "$@" --endpoint-url "$S3_ENDPOINT"
fi
echo "download: $source -> $target"
aws s3 cp "$@" "$source/manifest.json" "$target/manifest.json"
aws s3 cp "$@" --recursive "$source" "$target"
echo "download: complete"
