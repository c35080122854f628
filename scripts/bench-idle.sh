#!/usr/bin/env bash
# Idle cost of the console, as an admin leaves it in a tmux pane: the release binary in a
# 120x40 tmux pane watching CONTAINERS running containers (default 30) on a private dockerd.
# Prints: time from exec to the container names on screen (median of STARTS runs), then over
# IDLE_SECONDS with no key pressed: CPU share of one core, bytes written to the terminal per
# second (tmux pipe-pane), RSS at the start and end and its peak. Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTAINERS=${CONTAINERS:-30}
IDLE_SECONDS=${IDLE_SECONDS:-60}
STARTS=${STARTS:-5}

# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
bench_cleanup() {
  remove_labelled wf.bench
}
bench_init bench

compose_fleet "$CONTAINERS" wf.bench
n=$CONTAINERS
created=$(date +%s)

printf '[[host]]\nname = "local"\ndocker_socket = "%s"\n' "${DOCKER_HOST#unix://}" >"$work/config.toml"
bench_tmux "$work"
start_console() {
  rm -f "$work/t0"
  tmux -L "$TMUX_SOCKET" send-keys "sh -c 'date +%s%N > $work/t0; exec $BIN --config $work/config.toml'" Enter
  until screen | grep -q "bench-api-4"; do :; done
  t1=$(date +%s%N)
  echo $(((t1 - $(cat "$work/t0")) / 1000000))
}

times=()
for _ in $(seq 1 "$STARTS"); do
  times+=("$(start_console)")
  stop_console
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((STARTS + 1) / 2))p")

# Idle: containers older than a minute, so their uptime column changes once a minute.
start_console >/dev/null
wait_until=$((created + 65))
while [ "$(date +%s)" -lt $wait_until ]; do sleep 1; done
sleep 2
pid=$(pgrep -f "^$BIN --config $work/config.toml" | head -n 1)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hz=$(getconf CLK_TCK)
tmux -L "$TMUX_SOCKET" pipe-pane -o "cat >> $work/pty.out"
sleep 0.5
: >"$work/pty.out"
c0=$(ticks); r0=$(rss_kib); t0=$(date +%s%N)
sleep "$IDLE_SECONDS"
c1=$(ticks); r1=$(rss_kib); t1=$(date +%s%N)
bytes=$(stat -c %s "$work/pty.out")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')
stop_console

echo "watchfloor idle benchmark ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, $n containers, tmux 120x40)"
echo "  container names on screen after exec: median ${median} ms (runs: ${sorted% }ms)"
awk -v c=$((c1 - c0)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "  idle CPU over %.0f s: %.3f %% of one core (%d ticks at %d Hz)\n", s, c / hz / s * 100, c, hz}'
awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "  bytes written to the terminal while idle: %.1f bytes/s (%d bytes)\n", b / s, b}'
echo "  RSS: ${r0} KiB at the start of the idle window, ${r1} KiB at its end, peak ${hwm} KiB"
