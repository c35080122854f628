#!/usr/bin/env bash
# watchfloor's log pane on a busy container (release binary, tmux 120x40), twice:
#   firehose: a container logging as fast as it can (`yes`);
#   paced:    one logging about PACED_LINES lines every 10 ms (default 700, ~60k lines/s),
#             Docker's own delivery rate to `docker logs -f` on this machine kind.
# Each is shown for SECONDS_SHOWN (default 60). Printed for each: what the container logged
# (its json-file log's growth), what `docker logs -f` receives (10 s into wc, and its CPU),
# what watchfloor received (the pane's "lines · dropped" counters), watchfloor's CPU share of
# one core and per line, RSS every 10 s, and key-to-frame latency (a key that toggles
# timestamps, until the screen shows it). Then the firehose again over SSH: the same container
# watched through a real sshd on 127.0.0.11 (the log stream forwarded with direct-streamlocal),
# with sshd's CPU per line beside watchfloor's. Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_SHOWN=${SECONDS_SHOWN:-60}
PACED_LINES=${PACED_LINES:-700}
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 1; }

# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
bench_cleanup() {
  docker rm -f bench-firehose >/dev/null 2>&1 || true
  sshd_fleet_cleanup
}
bench_init bench-logs
printf '[[host]]\nname = "local"\ndocker_socket = "%s"\n' "${DOCKER_HOST#unix://}" >"$work/local.toml"
config=$work/local.toml
bench_tmux "$work/home"
keys() { tmux -L "$TMUX_SOCKET" send-keys "$@"; }
hz=$(getconf CLK_TCK)
line="GET /api/v1/items?page=2 200 1.8ms user=42 trace=9f86d081884c7d65"
echo "watchfloor log pane benchmark ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, tmux 120x40, ${SECONDS_SHOWN} s shown)"

# dockerd's CPU ticks (user + system): what a reader costs the monitored host.
dockerd_pid=$(pgrep -f "^dockerd .*-H $DOCKER_HOST" | head -n 1 || true)
[ -n "$dockerd_pid" ] || dockerd_pid=$(pgrep -o -x dockerd)
dockerd_ticks() { awk '{print $14 + $15}' "/proc/$dockerd_pid/stat"; }
share() { awk -v t="$1" -v hz="$hz" -v s="$2" 'BEGIN {printf "%.1f", t / hz / s * 100}'; }

# CPU ticks of every sshd below the listener (the connection's monitor and session), reaped
# children included; 0 without SSH.
sshd_ticks() {
  local p
  for p in $(for l in "${sshd_pids[@]}"; do pgrep -P "$l"; done); do
    awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || true
    for c in $(pgrep -P "$p"); do ticks_of "$c"; done
  done | awk '{s += $1} END {print s + 0}'
}

# Lines the container has logged so far: its json-file log's size over the bytes of a line.
logged() { awk -v s="$(stat -c %s "$log")" -v b="$line_bytes" 'BEGIN {printf "%.0f", s / b}'; }

# measure TITLE SHELL-COMMAND: runs the container, then `docker logs -f`, then the console.
measure() {
  docker rm -f bench-firehose >/dev/null 2>&1 || true
  docker run -d --network none --name bench-firehose --label com.docker.compose.project=bench \
    --label com.docker.compose.service=firehose --label com.docker.compose.container-number=1 \
    wf-busybox:test sh -c "$2" >/dev/null
  sleep 2
  log=$(docker inspect -f '{{.LogPath}}' bench-firehose)
  line_bytes=$(head -c 1000000 "$log" | wc -l | awk '{print 1000000 / $1}')

  # GNU time counts the CPU of `docker logs` (timeout's child): the reference for a reader.
  local l0 l1 docker_rate docker_cpu d0 dockerd_alone dockerd_docker
  d0=$(dockerd_ticks)
  sleep 10
  dockerd_alone=$(share $(($(dockerd_ticks) - d0)) 10)
  l0=$(logged); d0=$(dockerd_ticks)
  docker_rate=$( (/usr/bin/time -f '%U %S' -o "$work/docker-cpu" \
    timeout 10 docker logs -f --tail 0 bench-firehose 2>/dev/null || true) | wc -l)
  l1=$(logged)
  dockerd_docker=$(share $(($(dockerd_ticks) - d0)) 10)
  docker_cpu=$(awk 'END {print ($1 + $2) / 10 * 100}' "$work/docker-cpu")

  keys "$BIN --config $config" Enter
  until screen | grep -q "bench-firehose"; do sleep 0.05; done
  keys / f i r e h o s e Enter
  keys g j j j j l
  until screen | grep -q "Logs · bench-firehose"; do sleep 0.05; done
  local pid
  pid=$(pgrep -f "^$BIN --config $config" | head -n 1)
  counters() { # received = lines kept + dropped, from the title
    screen | grep -m1 "Logs ·" | sed 's/,//g' |
      awk '{for (i = 1; i <= NF; i++) { if ($(i+1) == "lines") k = $i; if ($(i+1) == "dropped") d = $i }} END {print k + d}'
  }
  ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
  rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
  sleep 5 # the ring fills
  local n0 c0 t0 w0 n1 c1 t1 w1 e0 e1 secs rss_series
  n0=$(counters); c0=$(ticks); w0=$(logged); e0=$(dockerd_ticks); h0=$(sshd_ticks); t0=$(date +%s%N)
  rss_series="$(rss)"
  for _ in $(seq 1 $((SECONDS_SHOWN / 10))); do
    sleep 10
    rss_series="$rss_series $(rss)"
  done
  n1=$(counters); c1=$(ticks); w1=$(logged); e1=$(dockerd_ticks); h1=$(sshd_ticks); t1=$(date +%s%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')

  local latencies=() before s
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
  stop_console

  echo "$1"
  awk -v n=$((l1 - l0)) -v m=$((w1 - w0)) -v s="$secs" 'BEGIN {
    printf "  the container logged: %.0f lines/s beside docker logs -f, %.0f lines/s beside watchfloor\n", n / 10, m / s }'
  awk -v n="$docker_rate" -v c="$docker_cpu" 'BEGIN {
    printf "  docker logs -f alone received: %.0f lines/s, using %.1f %% of one core (%.2f us a line)\n", n / 10, c, c / 100 * 10 / n * 1e6 }'
  awk -v n=$((n1 - n0)) -v s="$secs" 'BEGIN {printf "  watchfloor received: %.0f lines/s\n", n / s}'
  awk -v c=$((c1 - c0)) -v hz="$hz" -v s="$secs" -v n=$((n1 - n0)) 'BEGIN {
    printf "  watchfloor CPU: %.1f %% of one core (%.2f us a line)\n", c / hz / s * 100, c / hz / n * 1e6 }'
  echo "  dockerd's CPU: $dockerd_alone % with no reader, $dockerd_docker % beside docker logs -f, $(share $((e1 - e0)) "$secs") % beside watchfloor"
  if [ -n "${sshd_pids[*]:-}" ]; then
    awk -v c=$((h1 - h0)) -v hz="$hz" -v s="$secs" -v n=$((n1 - n0)) 'BEGIN {
      printf "  sshd CPU (every process of the connection): %.1f %% of one core (%.2f us a line)\n", c / hz / s * 100, c / hz / n * 1e6 }'
  fi
  echo "  RSS every 10 s (KiB): $rss_series"
  echo "  key to frame (ms): ${latencies[*]}"
}

measure "firehose (yes):" "yes '$line'"
measure "paced ($PACED_LINES lines every 10 ms):" \
  "while :; do yes '$line' | head -n $PACED_LINES; usleep 10000; done"

: >"$work/config.toml"
sshd_fleet 1 2422
config=$work/config.toml
measure "firehose (yes) over SSH (direct-streamlocal through sshd):" "yes '$line'"
