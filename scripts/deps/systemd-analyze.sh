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

if [ "$(id -u)" -ne 0 ]; then
  echo "systemd-analyze.sh: need root to apt-get install systemd" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Only refresh the package lists when the package is unknown (a fresh box).
if ! apt-cache show systemd >/dev/null 2>&1; then
  apt-get update
fi
apt-get install -y --no-install-recommends systemd

systemd-analyze --version | head -n1
