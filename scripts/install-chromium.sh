#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the browser tests (idempotent).
# Exit 0 when `chromium` is on PATH afterwards; otherwise exit non-zero with the reason.
set -uo pipefail

found() {
  command -v chromium 2>/dev/null || { test -x /usr/bin/chromium && echo /usr/bin/chromium; }
}

if path="$(found)"; then
  echo "chromium already installed: $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "cannot install chromium: apt-get not found (not a Debian/Ubuntu system);" \
       "install Chromium with this system's package manager" >&2
  exit 2
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "cannot install chromium: not root and no password-less sudo;" \
       "run 'sudo apt-get install chromium' yourself" >&2
  exit 3
fi

echo "installing Debian's chromium with apt-get${SUDO:+ (via sudo)}..."
if ! "${SUDO[@]}" apt-get update -qq; then
  echo "cannot install chromium: 'apt-get update' failed (no network or package mirror?)" >&2
  exit 4
fi
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; then
  echo "cannot install chromium: 'apt-get install chromium' failed" >&2
  exit 5
fi

if path="$(found)"; then
  echo "chromium installed: $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
echo "cannot install chromium: apt-get succeeded but no chromium binary is on PATH" >&2
exit 6
