#!/usr/bin/env bash
# Builds cgwatch's image with buildah from the Containerfile, without a
# registry:
#   1. the npm tarball (npm pack, or $CGWATCH_TARBALL), unpacked as the
#      build context's package/ (dependencies bundled, addon prebuilt);
#   2. the local base image of node and its libraries (node-base.sh);
#   3. buildah bud --pull=never.
#   scripts/image/build.sh [TAG]            (default localhost/cgwatch:<version>)
# $BUILDAH_FLAGS adds buildah global flags (e.g. a private --root/--runroot).
# Then push it where your nodes pull from, e.g.
#   buildah push localhost/cgwatch:0.1.0 docker://registry.example/cgwatch:0.1.0
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
version="$(node -p "require('$repo/package.json').version")"
tag="${1:-localhost/cgwatch:$version}"
read -r -a flags <<<"${BUILDAH_FLAGS:-}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="${CGWATCH_TARBALL:-}"
if [ -z "$tarball" ]; then
  (cd "$repo" && npm pack --silent --pack-destination "$work" >/dev/null)
  tarball="$(ls "$work"/cgwatch-*.tgz)"
fi
mkdir "$work/context"
tar -xzf "$tarball" -C "$work/context"
base="localhost/cgwatch-node-base:$(node --version)"
"$here/node-base.sh" "$base" >/dev/null
buildah "${flags[@]}" bud --quiet --pull=never --layers=false --build-arg "BASE=$base" -f "$repo/Containerfile" -t "$tag" "$work/context" >/dev/null
echo "$tag"
