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

if [ "$(id -u)" -ne 0 ]; then
  echo "buildah.sh: need root to apt-get install buildah" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Only refresh the package lists when the package is unknown (a fresh box).
if ! apt-cache show buildah >/dev/null 2>&1; then
  apt-get update
fi
apt-get install -y --no-install-recommends buildah

buildah --version
