#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run dpsd on the
# embedded defaults (SQLite in ./var/dpsd, a generated local CA). dpsd prints
# where it listens, its ID scope and the service connection string; Ctrl-C
# stops it. Run it again later: the same data directory is reused.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" "$root/build"

data_dir=${DPSD_DATA_DIR:-"$root/var/dpsd"}
mkdir -p "$data_dir"

cat <<MSG

Starting dpsd. In another terminal, manage it with dpsctl, for example:
  export DPSCTL_CONNECTION_STRING='<the service connection string printed below>'
  export DPSCTL_CA_FILE=$data_dir/pki/ca.pem
  $root/build/bin/dpsctl enrollment create --enrollment-id device-1 --attestation-type symmetrickey
  $root/build/bin/dpsctl enrollment list --output table

MSG
exec "$root/build/bin/dpsd" --data-dir "$data_dir" "$@"
