# Deletes one expired backup's files from the volume (retention). Never anything else:
# the path is the backup's own, "<namespace>/<cluster>/<backup>".
set -eu
case "$BACKUP_PATH" in
    */*/*) ;;
    *) echo "delete: $BACKUP_PATH is not a backup's path" >&2; exit 1 ;;
esac
echo "delete: $BACKUP_ROOT/$BACKUP_PATH"
rm -rf "$BACKUP_ROOT/$BACKUP_PATH" "$BACKUP_ROOT/$BACKUP_PATH.partial"
echo "delete: complete"
