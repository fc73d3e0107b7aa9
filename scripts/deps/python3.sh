#!/usr/bin/env bash
# Installs Debian's `python3-minimal` for the tests that need a receiver or
# a small hog Node cannot be: the fake systemd notify socket
# (test/helpers/notifySocket.ts binds a unix datagram socket) and the VM
# guest's memory hogs (/usr/bin/python3). node-gyp needs it to build the
# addon anyway. Idempotent: does nothing when python3 is on PATH.
set -euo pipefail

if command -v python3 >/dev/null 2>&1; then
  echo "python3.sh: $(python3 --version 2>&1) already installed"
  exit 0
fi

. "$(dirname "${BASH_SOURCE[0]}")/apt.bash"
apt_install python3.sh python3-minimal
python3 --version
