#!/usr/bin/env bash
# A container logging as fast as it can (`yes`), shown in watchfloor's log pane (release
# binary, tmux 120x40) for SECONDS (default 60). Prints: the rate Docker itself delivers
# (`docker logs -f` into wc for 10 s), lines/s watchfloor received (from the pane's
# "lines · dropped" counters), watchfloor's CPU share of one core, RSS every 10 s, and
# key-to-frame latency (a key that toggles timestamps, until the screen shows it).
# Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_SHOWN=${SECONDS_SHOWN:-60}
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 1; }

# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
bench_cleanup() { docker rm -f bench-firehose >/dev/null 2>&1 || true; }
bench_init bench-logs
docker rm -f bench-firehose >/dev/null 2>&1 || true
docker run -d --network none --name bench-firehose --label com.docker.compose.project=bench \
  --label com.docker.compose.service=firehose --label com.docker.compose.container-number=1 \
  wf-busybox:test sh -c 'yes "GET /api/v1/items?page=2 200 1.8ms user=42 trace=9f86d081884c7d65"' >/dev/null
sleep 2

# GNU time counts the CPU of `docker logs` (timeout's child): the reference for a reader.
docker_rate=$( (/usr/bin/time -f '%U %S' -o "$work/docker-cpu" \
  timeout 10 docker logs -f --since 0s bench-firehose 2>/dev/null || true) | wc -l)
docker_cpu=$(awk 'END {print ($1 + $2) / 10 * 100}' "$work/docker-cpu")

printf '[[host]]\nname = "local"\ndocker_socket = "%s"\n' "${DOCKER_HOST#unix://}" >"$work/config.toml"
bench_tmux "$work"
keys() { tmux -L "$TMUX_SOCKET" send-keys "$@"; }
keys "$BIN --config $work/config.toml" Enter
until screen | grep -q "bench-firehose"; do sleep 0.05; done
keys / f i r e h o s e Enter
keys g j j j j l
until screen | grep -q "Logs · bench-firehose"; do sleep 0.05; done
pid=$(pgrep -f "^$BIN --config $work/config.toml" | head -n 1)
counters() { # received = lines kept + dropped, from the title
  screen | grep -m1 "Logs ·" | sed 's/,//g' |
    awk '{for (i = 1; i <= NF; i++) { if ($(i+1) == "lines") k = $i; if ($(i+1) == "dropped") d = $i }} END {print k + d}'
}
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hz=$(getconf CLK_TCK)
sleep 5 # the ring fills
n0=$(counters); c0=$(ticks); t0=$(date +%s%N)
rss_series="$(rss)"
for _ in $(seq 1 $((SECONDS_SHOWN / 10))); do
  sleep 10
  rss_series="$rss_series $(rss)"
done
n1=$(counters); c1=$(ticks); t1=$(date +%s%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')

latencies=()
for _ in 1 2 3 4 5; do
  before=$(screen | grep -c '^[0-9][0-9]:[0-9][0-9]:' || true)
  s=$(date +%s%N)
  keys t
  if [ "$before" -gt 0 ]; then
    until [ "$(screen | grep -c '^[0-9][0-9]:[0-9][0-9]:' || true)" -eq 0 ]; do :; done
  else
    until [ "$(screen | grep -c '^[0-9][0-9]:[0-9][0-9]:' || true)" -gt 0 ]; do :; done
  fi
  latencies+=($((($(date +%s%N) - s) / 1000000)))
  sleep 0.5
done
keys q

echo "watchfloor log firehose benchmark ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, tmux 120x40, ${secs%.*} s shown)"
awk -v n="$docker_rate" -v c="$docker_cpu" 'BEGIN {
  printf "  docker logs -f alone delivers: %.0f lines/s, using %.1f %% of one core (%.2f us a line)\n", n / 10, c, c / 100 * 10 / n * 1e6 }'
awk -v n=$((n1 - n0)) -v s="$secs" 'BEGIN {printf "  watchfloor received: %.0f lines/s\n", n / s}'
awk -v c=$((c1 - c0)) -v hz="$hz" -v s="$secs" -v n=$((n1 - n0)) 'BEGIN {
  printf "  watchfloor CPU: %.1f %% of one core (%.2f us a line)\n", c / hz / s * 100, c / hz / n * 1e6 }'
echo "  RSS every 10 s (KiB): $rss_series"
echo "  key to frame (ms): ${latencies[*]}"
