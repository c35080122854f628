#!/usr/bin/env bash
# Cost of a fleet over SSH: HOSTS real sshd (default 10) on 127.0.0.x loopback addresses, each
# forwarding to a private dockerd with CONTAINERS_PER_HOST compose containers, watched by the
# release binary in a 120x40 tmux pane with key-file auth and strict known_hosts.
# Prints: time from exec to the first frame and to every host up with its containers counted
# (median of STARTS runs), then over IDLE_SECONDS with no key pressed: CPU share of one core of
# watchfloor and of all sshd processes it talks to, bytes written to the terminal per second,
# RSS and threads. Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-10}
CONTAINERS_PER_HOST=${CONTAINERS_PER_HOST:-3}
IDLE_SECONDS=${IDLE_SECONDS:-60}
STARTS=${STARTS:-5}

# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
bench_cleanup() {
  sshd_fleet_cleanup
  remove_labelled wf.bench-ssh
}
bench_init bench-ssh

api_replicas "$CONTAINERS_PER_HOST" wf.bench-ssh

: >"$work/config.toml"

sshd_fleet "$HOSTS"

bench_tmux "$work/home"
all_up() { # every host's overview row: link up and the containers counted
  [ "$(screen | grep -cE "^ *h[0-9]+ .* up .* $CONTAINERS_PER_HOST/$CONTAINERS_PER_HOST")" -eq "$HOSTS" ]
}
start_console() { # prints "first-frame-ms all-up-ms"
  rm -f "$work/t0"
  tmux -L "$TMUX_SOCKET" send-keys \
    "env -u SSH_AUTH_SOCK sh -c 'date +%s%N > $work/t0; exec $BIN --config $work/config.toml'" Enter
  until screen | grep -q "h01"; do :; done
  t1=$(date +%s%N)
  until all_up; do :; done
  t2=$(date +%s%N)
  t0=$(cat "$work/t0")
  echo "$(((t1 - t0) / 1000000)) $(((t2 - t0) / 1000000))"
}
median() { sort -n | sed -n "$(((STARTS + 1) / 2))p"; }

firsts=(); ups=()
for _ in $(seq 1 "$STARTS"); do
  read -r f u < <(start_console)
  firsts+=("$f"); ups+=("$u")
  stop_console
done

start_console >/dev/null
sleep 5 # past the start-up burst
pid=$(pgrep -f "^$BIN --config $work/config.toml" | head -n 1)
sshd_ticks() { # every sshd below the listeners: the per-connection monitors and sessions
  local sum=0 p
  for p in $(for l in "${sshd_pids[@]}"; do pgrep -P "$l"; done; pgrep -f "sshd: root" || true); do
    sum=$((sum + $(ticks_of "$p")))
  done
  echo "$sum"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hz=$(getconf CLK_TCK)
tmux -L "$TMUX_SOCKET" pipe-pane -o "cat >> $work/pty.out"
sleep 0.5
: >"$work/pty.out"
c0=$(ticks_of "$pid"); s0=$(sshd_ticks); r0=$(rss_kib); t0=$(date +%s%N)
sleep "$IDLE_SECONDS"
c1=$(ticks_of "$pid"); s1=$(sshd_ticks); r1=$(rss_kib); t1=$(date +%s%N)
threads=$(ls "/proc/$pid/task" | wc -l)
bytes=$(stat -c %s "$work/pty.out")
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')
stop_console

echo "watchfloor SSH fleet benchmark ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, $HOSTS hosts x $CONTAINERS_PER_HOST containers, tmux 120x${BENCH_ROWS:-40})"
echo "  first frame after exec: median $(printf '%s\n' "${firsts[@]}" | median) ms (runs: ${firsts[*]} ms)"
echo "  every host up with its containers: median $(printf '%s\n' "${ups[@]}" | median) ms (runs: ${ups[*]} ms)"
awk -v c=$((c1 - c0)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "  idle CPU over %.0f s: %.3f %% of one core (%d ticks at %d Hz)\n", s, c / hz / s * 100, c, hz}'
awk -v c=$((s1 - s0)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "  sshd processes meanwhile: %.3f %% of one core (%d ticks)\n", c / hz / s * 100, c}'
awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "  bytes written to the terminal while idle: %.1f bytes/s (%d bytes)\n", b / s, b}'
echo "  RSS: ${r0} KiB at the start of the idle window, ${r1} KiB at its end"
echo "  threads: $threads (independent of the host count: the runtime has 2 workers plus blocking helpers)"
