#!/usr/bin/env bash
# Installs Debian's buildah, which builds cgwatch's image from the Containerfile
# (scripts/image/build.sh; test/package/image.test.ts). Idempotent: does
# nothing when buildah is already on PATH. Storage and runtime come with the
# container tier's packages (scripts/deps/containers.sh).
set -euo pipefail

if command -v buildah >/dev/null 2>&1; then
  echo "buildah.sh: $(buildah --version) already installed"
  exit 0
fi

. "$(dirname "${BASH_SOURCE[0]}")/apt.bash"
apt_install buildah.sh buildah

buildah --version
