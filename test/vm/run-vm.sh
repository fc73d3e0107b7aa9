#!/usr/bin/env bash
# The real cgroup v2 tier: boots Debian's stock kernel once in QEMU (TCG) and
# runs the guest suite (test/vm/guest/*.test.ts, compiled on the host to
# dist/) against a real v2 hierarchy. Called by `npm test` (scripts/test.mjs),
# which reads test-results/vm.json = {passed, failed, skipped, kernel, wallSeconds}.
#
# Environment:
#   CGWATCH_VM_TIMEOUT  seconds before the VM is killed (default 900)
#   CGWATCH_VM_MEM      guest RAM in MB (default 1024)
#   CGWATCH_VM_ONLY     run only guest test files whose name contains this text
#   VMTEST_CACHE        kernel/initramfs cache (default <repo>/.vmcache, git-ignored)
# Exit: 0 when every guest test passed; non-zero otherwise (also on timeout,
# a guest that never reported, or a setup failure), with the console tail.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
T0=$(date +%s.%N)
RESULTS="$ROOT/test-results"
GUEST_RES="$RESULTS/vm-guest"
VMJSON="$RESULTS/vm.json"
CONSOLE="$RESULTS/vm-console.log"
mkdir -p "$RESULTS"
rm -rf "$GUEST_RES" "$VMJSON"
mkdir -p "$GUEST_RES"

wall() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
fail_json() {
  # Used only when the summariser itself cannot run (dist not built).
  printf '{"passed":0,"failed":1,"skipped":0,"kernel":"unknown","wallSeconds":%s,"error":"%s"}\n' "$(wall)" "$1" > "$VMJSON"
  echo "v2 VM tier FAIL: $1"
  exit 1
}

if [ "$(id -u)" != 0 ]; then fail_json "the VM tier needs root (apt, qemu 9p export of /)"; fi

# 1. Compile on the host (tsc in the guest takes ~25x longer). tsc rewrites
#    every output, so dist/test/vm/summarise.js dates the last build: skip it
#    when no source is newer (npm test has just built). tsc emits even with
#    type errors elsewhere, which the build tier of npm test reports on its own.
REF="$ROOT/dist/test/vm/summarise.js"
if [ ! -f "$REF" ] || [ -n "$(find src test bench policies tsconfig.json \( -name '*.ts' -o -name tsconfig.json \) -newer "$REF" 2>/dev/null | head -1)" ]; then
  echo "vm: compiling on the host (npx tsc -p tsconfig.json)"
  if npx tsc -p tsconfig.json > "$RESULTS/vm-tsc.log" 2>&1; then :; else
    echo "vm: warning: tsc reported errors (see test-results/vm-tsc.log); using what it emitted"
    grep -v "^npm warn" "$RESULTS/vm-tsc.log" | head -n 20
  fi
fi
[ -f "$ROOT/dist/test/vm/summarise.js" ] || fail_json "dist/test/vm/summarise.js was not emitted by tsc"
ls "$ROOT"/dist/test/vm/guest/*.test.js >/dev/null 2>&1 || fail_json "no compiled guest tests in dist/test/vm/guest"
if [ ! -f "$ROOT/build/Release/cgwatch_native.node" ]; then
  echo "vm: warning: native addon not built (build/Release/cgwatch_native.node): guest PSI-trigger tests will fail"
fi

[ -n "${CGWATCH_VM_ONLY:-}" ] && printf '%s' "$CGWATCH_VM_ONLY" > "$GUEST_RES/only"

# 2. Boot once; the guest writes its report into $GUEST_RES (a read-write 9p share).
echo "vm: booting the guest (QEMU TCG, $(nproc) vCPUs, ${CGWATCH_VM_MEM:-1024} MB)"
bash "$ROOT/test/vm/vmtest.sh" -m "${CGWATCH_VM_MEM:-1024}" -t "${CGWATCH_VM_TIMEOUT:-900}" \
  -w "$GUEST_RES" -l "$CONSOLE" "$ROOT/test/vm/guest/run-guest.sh" "$ROOT"
VMRC=$?

# 3. Counts back to the host.
node "$ROOT/dist/test/vm/summarise.js" "$GUEST_RES" "$VMJSON" "$VMRC" "$(wall)"
SRC=$?
[ -f "$GUEST_RES/kernel" ] && echo "vm: guest kernel $(cat "$GUEST_RES/kernel")"
[ "$VMRC" = 0 ] || echo "vm: VM exit code $VMRC (124 timeout, 125 no result marker, 126 setup) — console log: test-results/vm-console.log"
if [ "$SRC" != 0 ] && [ "$VMRC" = 0 ]; then exit 1; fi
exit "$VMRC"
