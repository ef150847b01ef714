#!/usr/bin/env bash
# The whole test suite: unit tests, and integration tests against real NATS and Redis and the
# Kinesis/DynamoDB emulators (started by the tests themselves on free loopback ports).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/bootstrap.sh"
# The AWS SDK warns about Node 20 on every process start; the warning is not news here.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
bash "$root/scripts/ensure-services.sh"
bash "$root/scripts/ensure-browser.sh" || echo "› continuing without chromium: the browser tests will fail" >&2
cd "$root"
echo "› running tests"
pnpm exec tsc -p tsconfig.tests.json
results="$root/.tools/test-results.json"
rm -f "$results"
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile="$results" "$@" || status=$?
# One plain closing line, whatever the reporter printed above it.
if [ -f "$results" ]; then
  node -e 'const r = require(process.argv[1]); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)' "$results"
fi
exit "$status"
