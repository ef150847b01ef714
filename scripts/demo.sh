#!/usr/bin/env bash
# Two Shoal workers sharing a 4-shard stream on emulators this script starts by itself.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/bootstrap.sh"
# The AWS SDK warns about Node 20 on every process start; the warning is not news here.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
cd "$root"
exec node examples/demo/dist/main.js "$@"
