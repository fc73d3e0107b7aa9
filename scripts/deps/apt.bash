# Sourced by scripts/deps/*.sh (not run on its own: scripts/ensure.mjs runs
# only the *.sh files). One way to install Debian packages for the test tiers.
#
# apt_install NAME PKG...: installs PKG... with --no-install-recommends, as
# root. The package lists are refreshed first when a package is unknown (a
# fresh box), and once more when the install fails (a box whose lists are
# old enough that the archive no longer has the versions they name).
apt_install() {
  local name=$1
  shift
  if [ "$(id -u)" -ne 0 ]; then
    echo "$name: need root to apt-get install $*" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show "$@" >/dev/null 2>&1; then
    apt-get update
  fi
  apt-get install -y --no-install-recommends "$@" || { apt-get update && apt-get install -y --no-install-recommends "$@"; }
}
