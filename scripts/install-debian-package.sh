#!/usr/bin/env bash
# Install a Debian package for the tests unless its program is there already (idempotent).
#   usage: scripts/install-debian-package.sh PACKAGE PROGRAM [WHERE]
# PROGRAM is looked for on PATH, then at WHERE (a full path). The package's own service, if it
# has one, is not started. Exit 0 when PROGRAM is there afterwards; otherwise non-zero with the
# reason.
set -uo pipefail
package=$1 program=$2 where=${3:-}

found() {
  command -v "$program" 2>/dev/null || { [ -n "$where" ] && test -x "$where" && echo "$where"; }
}

if path="$(found)"; then
  echo "$program already installed: $path ($("$path" --version 2>/dev/null | head -1 || echo 'version unknown'))"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "cannot install $package: apt-get not found (not a Debian/Ubuntu system);" \
       "install it with this system's package manager" >&2
  exit 2
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "cannot install $package: not root and no password-less sudo;" \
       "run 'sudo apt-get install $package' yourself" >&2
  exit 3
fi

echo "installing Debian's $package with apt-get${SUDO:+ (via sudo)}..."
if ! "${SUDO[@]}" apt-get update -qq; then
  echo "cannot install $package: 'apt-get update' failed (no network or package mirror?)" >&2
  exit 4
fi
# RUNLEVEL=1: the package's scripts do not start a system-wide service.
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
    apt-get install -y -qq --no-install-recommends "$package"; then
  echo "cannot install $package: 'apt-get install $package' failed" >&2
  exit 5
fi
if path="$(found)"; then
  echo "$package installed: $path"
  exit 0
fi
echo "cannot install $package: apt-get succeeded but no $program is there" >&2
exit 6
