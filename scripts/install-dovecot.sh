#!/usr/bin/env bash
# Install Debian's Dovecot IMAP server for the IMAP tests (idempotent). The tests start their
# own throw-away server (scripts/dovecot-test-server.sh); the system's service is not started.
exec bash "$(dirname "$0")/install-debian-package.sh" dovecot-imapd dovecot /usr/sbin/dovecot
