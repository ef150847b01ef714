#!/usr/bin/env bash
# Two Shoal workers sharing a 4-shard stream on emulators this script starts by itself.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/bootstrap.sh"
cd "$root"
exec node examples/demo/dist/main.js "$@"
