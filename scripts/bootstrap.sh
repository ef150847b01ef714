#!/usr/bin/env bash
# Brings pnpm (into .tools/, nothing global), installs the workspace and builds it.
# Sourced by demo.sh and test.sh; needs only Node 20.19+ and npm.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

PNPM_VERSION=12.21.0
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "Shoal needs Node.js 20.19 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

pnpm_bin="$root/.tools/node_modules/.bin/pnpm"
if [ ! -x "$pnpm_bin" ] || [ "$("$pnpm_bin" --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "› installing pnpm $PNPM_VERSION into .tools/"
  npm install --silent --no-audit --no-fund --no-save --no-package-lock --prefix "$root/.tools" "pnpm@$PNPM_VERSION" >/dev/null
fi
export PATH="$root/.tools/node_modules/.bin:$PATH"

echo "› installing dependencies"
pnpm install --frozen-lockfile --reporter=silent
echo "› building"
pnpm exec tsc -b
