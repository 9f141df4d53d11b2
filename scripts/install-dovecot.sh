#!/usr/bin/env bash
# Install Debian's Dovecot IMAP server for the IMAP tests (idempotent). The tests start their
# own throw-away server (scripts/dovecot-test-server.sh); the system's service is not started.
# Exit 0 when `dovecot` is installed afterwards; otherwise non-zero with the reason.
set -uo pipefail

found() {
  command -v dovecot 2>/dev/null || { test -x /usr/sbin/dovecot && echo /usr/sbin/dovecot; }
}

if path="$(found)"; then
  echo "dovecot already installed: $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "cannot install dovecot: apt-get not found; install Dovecot's IMAP server yourself" >&2
  exit 2
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "cannot install dovecot: not root and no password-less sudo;" \
       "run 'sudo apt-get install dovecot-imapd' yourself" >&2
  exit 3
fi

echo "installing Debian's dovecot-imapd with apt-get${SUDO:+ (via sudo)}..."
"${SUDO[@]}" apt-get update -qq || { echo "cannot install dovecot: 'apt-get update' failed" >&2; exit 4; }
# RUNLEVEL=1: the package's scripts do not start the system-wide service.
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
    apt-get install -y -qq --no-install-recommends dovecot-imapd; then
  echo "cannot install dovecot: 'apt-get install dovecot-imapd' failed" >&2
  exit 5
fi
if path="$(found)"; then
  echo "dovecot installed: $path"
  exit 0
fi
echo "cannot install dovecot: apt-get succeeded but no dovecot binary is there" >&2
exit 6
