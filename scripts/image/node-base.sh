#!/usr/bin/env bash
# Makes the local base image of Containerfile: the build host's node binary
# and exactly the shared libraries it links (from ldd), a root passwd entry
# and /tmp. No registry, no package manager: what runs in the image is what
# runs on the build host (Debian's node here). Idempotent per node version.
#   scripts/image/node-base.sh [IMAGE]      (default localhost/cgwatch-node-base:latest)
# Extra buildah global flags (e.g. --root/--runroot of a private store) come
# from $BUILDAH_FLAGS.
set -euo pipefail

image="${1:-localhost/cgwatch-node-base:latest}"
node_bin="$(readlink -f "$(command -v node)")"
read -r -a flags <<<"${BUILDAH_FLAGS:-}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs/usr/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
chmod 1777 "$rootfs/tmp"
install -m 0755 "$node_bin" "$rootfs/usr/bin/node"
# Every library at the path the dynamic loader resolved it to (the loader itself included).
ldd "$node_bin" | awk '/=>/ { print $3 } !/=>/ && $1 ~ /^\// { print $1 }' | while read -r lib; do
  [ -n "$lib" ] || continue
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"

ctr="$(buildah "${flags[@]}" from scratch)"
trap 'buildah "${flags[@]}" rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
buildah "${flags[@]}" copy "$ctr" "$rootfs/" / >/dev/null
buildah "${flags[@]}" config --env PATH=/usr/bin --label "cgwatch.node-version=$("$node_bin" --version)" "$ctr"
buildah "${flags[@]}" commit --quiet "$ctr" "$image"
