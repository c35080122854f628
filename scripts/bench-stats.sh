#!/usr/bin/env bash
# What sampling container CPU and memory costs the host, with CONTAINERS running containers
# (default 30) on a private dockerd: the cgroup files (watchfloor's way) against Docker's
# stats API, each for STATS_SECONDS (default 60) after an idle baseline. See benches/stats_cost.rs.
# Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTAINERS=${CONTAINERS:-30}
STATS_SECONDS=${STATS_SECONDS:-60}

# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
bench_cleanup() {
  ids=$(docker ps -aq --filter label=wf.bench-stats=1)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
}
bench_init bench-stats
bench_cleanup
for i in $(seq 1 "$CONTAINERS"); do
  docker run -d --network none --label wf.bench-stats=1 --name "bench-stats-$i" \
    wf-busybox:test sleep 1000000 >/dev/null
done
STATS_SECONDS=$STATS_SECONDS cargo bench --locked -q --bench stats_cost
