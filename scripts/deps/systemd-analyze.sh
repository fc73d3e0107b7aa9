#!/usr/bin/env bash
# Installs Debian's `systemd` package for `systemd-analyze`, which the unit
# tests run (verify, and security --offline=true). Idempotent: does nothing
# when systemd-analyze is already on PATH. Installing the package on a box
# that is not booted with systemd starts nothing.
set -euo pipefail

if command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze.sh: $(systemd-analyze --version | head -n1) already installed"
  exit 0
fi

. "$(dirname "${BASH_SOURCE[0]}")/apt.bash"
apt_install systemd-analyze.sh systemd

systemd-analyze --version | head -n1
