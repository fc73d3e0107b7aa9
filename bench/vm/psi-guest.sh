#!/bin/sh
# Runs INSIDE the QEMU guest for `npm run bench` (bench/vmPsi.ts boots it
# with test/vm/vmtest.sh), repo as cwd, test-results/bench-vm shared
# read-write with the host. Leaves psi.json (the figures) and rc there.
RES="$PWD/test-results/bench-vm"
export NO_COLOR=1 FORCE_COLOR=0 CI=true CGWATCH_VM_GUEST=1 HOME=/root
# The TCG workaround flags of test/vm/guest/run-guest.sh (docs/vm-tier.md, Findings).
export CGWATCH_GUEST_NODE_FLAGS="--no-wasm-lazy-compilation --no-wasm-tier-up"
REPS=$(cat "$RES/reps" 2>/dev/null || echo 8)
# shellcheck disable=SC2086
node $CGWATCH_GUEST_NODE_FLAGS dist/bench/vm/psi-guest.js "$REPS" "$RES/psi.json"
RC=$?
echo "$RC" > "$RES/rc"
sync
exit "$RC"
