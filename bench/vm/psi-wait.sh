#!/bin/sh
# Runs INSIDE the QEMU guest: where a PSI wake waits in the daemon
# (bench/vm/psi-wait.ts). Host side, from the repo (root, after npx tsc):
#   mkdir -p test-results/psi-wait && bash test/vm/vmtest.sh -w "$PWD/test-results/psi-wait" \
#     -l "$PWD/test-results/psi-wait/console.log" "$PWD/bench/vm/psi-wait.sh" "$PWD"
RES="$PWD/test-results/psi-wait"
export NO_COLOR=1 FORCE_COLOR=0 CI=true CGWATCH_VM_GUEST=1 HOME=/root
# The TCG workaround flags of test/vm/guest/run-guest.sh (docs/vm-tier.md, Findings).
export CGWATCH_GUEST_NODE_FLAGS="--no-wasm-lazy-compilation --no-wasm-tier-up"
# shellcheck disable=SC2086
node $CGWATCH_GUEST_NODE_FLAGS dist/bench/vm/psi-wait.js "${PSI_WAIT_WAKES:-12}" "$RES/psi-wait.json"
RC=$?
sync
exit "$RC"
