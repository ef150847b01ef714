#!/usr/bin/env bash
# Debian's chromium, which the browser tests drive with playwright-core: installed with apt-get
# when missing. When it cannot be installed this says why and returns 1; the browser tests then
# fail (they never skip).
set -euo pipefail
browser="${SHOAL_CHROMIUM:-/usr/bin/chromium}"
[ -x "$browser" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  apt=(sudo apt-get)
else
  echo "cannot install chromium: not root and no passwordless sudo (install Debian's chromium package)" >&2
  exit 1
fi
echo "› installing chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
if ! { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq chromium; } >/dev/null; then
  echo "could not install chromium with apt-get" >&2
  exit 1
fi
