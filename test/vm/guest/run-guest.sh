#!/bin/sh
# Runs INSIDE the QEMU guest (started by test/vm/vmtest.sh from run-vm.sh),
# with the repo as cwd (read-only host root + tmpfs overlay) and
# test-results/vm-guest mounted read-write from the host. Runs the compiled
# guest suite with node:test and leaves, in the results dir:
#   kernel     uname -r
#   guest.tap  the TAP report (run-vm.sh counts it)
#   rc         node --test's exit code
#   dmesg.txt  the kernel log (OOM reports are kept off the console)
# An optional `only` file (written by run-vm.sh from CGWATCH_VM_ONLY) selects
# test files whose name contains its text.
RES="$PWD/test-results/vm-guest"
export NO_COLOR=1 FORCE_COLOR=0 CI=true CGWATCH_VM_GUEST=1 HOME=/root
uname -r > "$RES/kernel"
echo "GUEST: kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/{print $2" kB"}' /proc/meminfo)"
echo "GUEST: controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"

ONLY=
[ -f "$RES/only" ] && ONLY=$(cat "$RES/only")
FILES=
for f in dist/test/vm/guest/*.test.js; do
  [ -f "$f" ] || continue
  case "$f" in *"$ONLY"*) FILES="$FILES $f";; esac
done
if [ -z "$FILES" ]; then
  echo "GUEST: no compiled guest tests under dist/test/vm/guest (filter: '$ONLY')"
  echo 1 > "$RES/rc"
  exit 1
fi

# V8 flags for every node in the guest. Under QEMU's TCG emulation the daemon
# crashed (SIGSEGV with the PC inside JIT-compiled WebAssembly, once a V8
# check in WasmTriggerTierUp) in 5 of 6 loaded runs; with wasm compiled
# eagerly and never re-tiered (so V8 never patches wasm jump tables while
# they run: cross-modifying code, which TCG must catch) 0 of 2. The host, on
# a real CPU, never showed it. See docs/vm-tier.md, "Findings".
export CGWATCH_GUEST_NODE_FLAGS="--no-wasm-lazy-compilation --no-wasm-tier-up"

# One file at a time: the hogs of one test must not pressure another's cgroup.
# Per-test timeouts bound hangs; 300 s is far above anything seen under TCG.
# shellcheck disable=SC2086
node $CGWATCH_GUEST_NODE_FLAGS --test --test-concurrency=1 --test-timeout=300000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$RES/guest.tap" \
  $FILES
RC=$?
echo "$RC" > "$RES/rc"
dmesg > "$RES/dmesg.txt" 2>/dev/null
# Leftover scratch cgroups would mean a test leaked processes: report them.
if [ -d /sys/fs/cgroup/cgwatch-vmtest ]; then
  LEFT=$(find /sys/fs/cgroup/cgwatch-vmtest -mindepth 1 -type d | wc -l)
  [ "$LEFT" = 0 ] || echo "GUEST: warning: $LEFT scratch cgroup(s) left under /sys/fs/cgroup/cgwatch-vmtest"
fi
sync
exit "$RC"
