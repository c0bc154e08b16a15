#!/usr/bin/env bash
# The replica test and deploy/one_machine.sh put Debian's nginx in front of the web
# replicas. Install it when missing and we are allowed to; otherwise say how.
set -euo pipefail
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then exit 0; fi
if [ "$(id -u)" = 0 ]; then
  echo "Installing Debian's nginx for the replica test..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
else
  echo "note: nginx is missing; the replica test fails in CI and is skipped elsewhere" \
       "(install it with: sudo apt-get install nginx)" >&2
fi
