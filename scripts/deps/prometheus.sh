#!/usr/bin/env bash
# Installs Debian's `prometheus` package (it ships `prometheus` and
# `promtool`), which the observability tests start on loopback. Idempotent:
# does nothing when both binaries are already on PATH. The package's
# systemd unit is not started: policy-rc.d refuses service starts during the
# install, so a CI box does not end up with a stray Prometheus on :9090.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  echo "prometheus.sh: $(prometheus --version 2>&1 | head -n1) already installed"
  exit 0
fi

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

. "$(dirname "${BASH_SOURCE[0]}")/apt.bash"
apt_install prometheus.sh prometheus

# Belt and braces for hosts without policy-rc.d support (e.g. a running systemd).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi

prometheus --version 2>&1 | head -n1
promtool --version 2>&1 | head -n1
