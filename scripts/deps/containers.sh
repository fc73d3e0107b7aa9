#!/usr/bin/env bash
# Installs the container tier's engine from Debian's packages: podman with
# runc (crun refuses hybrid hierarchies), conmon, the containers-common
# config, CNI plugins (podman 4.3 wants them even with --network none),
# fuse-overlayfs, and busybox-static for the test image's root filesystem.
# gcc builds the image's small static C programs. Idempotent: does nothing
# when every tool is already on PATH. See test/helpers/podman.ts.
set -euo pipefail

have_all() {
  command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 &&
    command -v conmon >/dev/null 2>&1 && [ -x /bin/busybox ] &&
    command -v gcc >/dev/null 2>&1 && [ -e /usr/share/containers/containers.conf ] &&
    { [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/libc.a ]; }
}

if have_all; then
  echo "containers.sh: $(podman --version 2>&1), $(runc --version 2>&1 | head -n1) already installed"
  exit 0
fi

. "$(dirname "${BASH_SOURCE[0]}")/apt.bash"
apt_install containers.sh podman runc conmon busybox-static golang-github-containers-common containernetworking-plugins fuse-overlayfs gcc libc6-dev

podman --version
runc --version | head -n1
