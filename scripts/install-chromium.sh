#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the browser tests (idempotent).
exec bash "$(dirname "$0")/install-debian-package.sh" chromium chromium /usr/bin/chromium
