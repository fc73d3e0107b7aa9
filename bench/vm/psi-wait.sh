#!/bin/sh
# Runs INSIDE the QEMU guest: where a PSI wake waits in the daemon
# (bench/vm/psi-wait.ts). Host side, from the repo (root, after npx tsc):
#   mkdir -p test-results/psi-wait && bash test/vm/vmtest.sh -w "$PWD/test-results/psi-wait" \
#     -l "$PWD/test-results/psi-wait/console.log" "$PWD/bench/vm/psi-wait.sh" "$PWD"
# Optional files in that directory: `wakes` (reference wakes to measure, 12)
# and `siblings` (more cgroups throttled at memory.high in the same daemon, 0).
RES="$PWD/test-results/psi-wait"
export NO_COLOR=1 FORCE_COLOR=0 CI=true CGWATCH_VM_GUEST=1 HOME=/root
# The TCG workaround flags of test/vm/guest/run-guest.sh (docs/vm-tier.md, Findings).
export CGWATCH_GUEST_NODE_FLAGS="--no-wasm-lazy-compilation --no-wasm-tier-up"
# shellcheck disable=SC2086
node $CGWATCH_GUEST_NODE_FLAGS dist/bench/vm/psi-wait.js "$(cat "$RES/wakes" 2>/dev/null || echo 12)" "$RES/psi-wait.json" "$(cat "$RES/siblings" 2>/dev/null || echo 0)"
RC=$?
sync
exit "$RC"
