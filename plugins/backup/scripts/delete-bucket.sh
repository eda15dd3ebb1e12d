# Deletes one expired backup's files from the bucket (retention).
set -eu
case "$BACKUP_PATH" in
    */*/*) ;;
    *) echo "delete: $BACKUP_PATH is not a backup's path" >&2; exit 1 ;;
esac
set -- --only-show-errors
if [ -n "${S3_ENDPOINT:-}" ]; then
    set -- "$@" --endpoint-url "$S3_ENDPOINT"
fi
echo "delete: s3://$S3_BUCKET/$S3_PREFIX$BACKUP_PATH/"
aws s3 rm "$@" --recursive "s3://$S3_BUCKET/$S3_PREFIX$BACKUP_PATH/"
echo "delete: complete"
