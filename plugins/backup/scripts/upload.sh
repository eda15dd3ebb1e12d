# Uploads one backup's files (made by the "backup" init container) to the bucket. The
# manifest goes last: a backup in a bucket is complete exactly when its manifest.json is.
set -eu
source="/backup/$BACKUP_PATH"
target="s3://$S3_BUCKET/$S3_PREFIX$BACKUP_PATH"
set -- --only-show-errors
if [ -n "${S3_ENDPOINT:-}" ]; then
    set -- "$@" --endpoint-url "$S3_ENDPOINT"
fi
echo "upload: $source -> $target"
aws s3 cp "$@" --recursive --exclude manifest.json "$source" "$target"
aws s3 cp "$@" "$source/manifest.json" "$target/manifest.json"
echo "upload: complete"
