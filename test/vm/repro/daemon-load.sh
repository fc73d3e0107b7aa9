#!/bin/sh
# Guest script (not part of the suite): runs `cgwatch run` with the shipped
# policies, unprotected, against four hogs for ~80 s, then SIGTERM, and
# reports whether the daemon survived and how it exited. Reproduces the
# daemon crashes seen in the v2 tier (docs/vm-tier.md, "Findings").
#   bash test/vm/vmtest.sh -t 300 "$PWD/test/vm/repro/daemon-load.sh" "$PWD"
# Optional, on the host: test-results/vm-repro-flags, line 1 = node flags
# (e.g. --no-wasm-tier-up), line 2 = environment (e.g. CGWATCH_DISABLE_NATIVE=1).
export NO_COLOR=1 HOME=/root
FLAGS=$(sed -n 1p test-results/vm-repro-flags 2>/dev/null)
ENVS=$(sed -n 2p test-results/vm-repro-flags 2>/dev/null)
C=/sys/fs/cgroup; P=$C/cgwatch-vmtest
echo "+memory +cpu +pids" > $C/cgroup.subtree_control
mkdir -p $P; echo "+memory +cpu +pids" > $P/cgroup.subtree_control
for n in d-rescue d-kill d-cpu d-pids; do mkdir -p $P/$n; done
echo 33554432 > $P/d-rescue/memory.max; echo 31457280 > $P/d-rescue/memory.high
echo 33554432 > $P/d-kill/memory.max; echo "10000 100000" > $P/d-cpu/cpu.max; echo 4 > $P/d-pids/pids.max
cat > /tmp/c.yaml <<'Y'
watch: ["cgwatch-vmtest/d-*"]
pollInterval: 200ms
safetyNetInterval: 1h
psi:
  memory: some 20ms 1s
guardrails:
  cooldown: 1s
  rateLimit: null
policies:
  params:
    oom-rescue: { stepPercent: 100 }
    pressure-relief: { minHighBytes: 16m }
    throttle-burst: { consecutive: 2, ratioThreshold: 0.1 }
metrics:
  listen: 127.0.0.1:19786
log:
  level: info
Y
echo "REPRO: node flags: '${FLAGS}', env: '${ENVS}'"
# shellcheck disable=SC2086
env $ENVS node $FLAGS dist/src/cli.js run --config /tmp/c.yaml > /tmp/d.out 2>&1 &
DP=$!
sleep 15
hog() { sh -c "echo \$\$ > $P/$1/cgroup.procs && exec timeout $3 /usr/bin/python3 -c 'import time
b=[]
for i in range($2): b.append(bytearray(1<<20))
time.sleep(60)'" & }
hog d-rescue 48 90
sh -c "echo \$\$ > $P/d-cpu/cgroup.procs && exec timeout 60 sh -c 'while :; do :; done'" &
sleep 10
hog d-kill 128 90
sh -c "echo \$\$ > $P/d-pids/cgroup.procs && exec timeout 60 sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 300 & done; wait'" 2>/dev/null &
DIED=
for i in $(seq 1 40); do
  sleep 2
  if ! kill -0 $DP 2>/dev/null; then wait $DP; DIED=$?; echo "REPRO: daemon DIED rc=$DIED after ~$((25 + i * 2)) s"; break; fi
done
for n in d-rescue d-kill d-cpu d-pids; do echo 1 > $P/$n/cgroup.kill; done
if [ -z "$DIED" ]; then
  echo "REPRO: daemon alive after ~105 s under load; SIGTERM"
  kill $DP; wait $DP; echo "REPRO: exit status after SIGTERM: $? (0 expected)"
fi
echo "REPRO: action decisions: $(grep -c '"action decision"' /tmp/d.out)"
echo "REPRO: non-JSON output of the daemon:"; grep -v '^{' /tmp/d.out | head -n 25
echo "REPRO: last log lines:"; tail -n 4 /tmp/d.out | cut -c1-300
