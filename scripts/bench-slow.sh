#!/usr/bin/env bash
# Slow and lossy links: HOSTS (5) real sshd on loopback, each behind a TCP proxy that delays
# every byte by half the round trip each way (scripts/lib/delay_proxy.py; this kernel has no
# netem), with LOSS_PCT (2) % of the packets to and from the proxies dropped (iptables
# statistic match: TCP retransmits them, as on a lossy link). For each round trip in RTTS
# (300 and 1000 ms), once with the default refresh and once with --refresh slow, over
# WINDOW_SECONDS (120): time from exec to the first frame and to every host up, link-down
# transitions logged (flaps), key-to-frame latency of a local key (switching panes), the
# largest reading age in the disks pane (the overview says "live" while Docker's stream
# flows), watchfloor's CPU and the bytes carried over the links per second. Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-5}
CONTAINERS_PER_HOST=${CONTAINERS_PER_HOST:-3}
WINDOW_SECONDS=${WINDOW_SECONDS:-120}
LOSS_PCT=${LOSS_PCT:-2}
RTTS=${RTTS:-300 1000}
SSH_PORT=2522
PROXY_PORT=2622
command -v iptables >/dev/null || apt-get install -y -q iptables >/dev/null

# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
loss_rules() { # -I or -D: the drop rules on the proxies' port, both ways
  local dir
  for dir in --dport --sport; do
    iptables "$1" INPUT -i lo -p tcp "$dir" "$PROXY_PORT" -m statistic --mode random \
      --probability "$(awk -v p="$LOSS_PCT" 'BEGIN {print p / 100}')" -j DROP
  done
}
bench_cleanup() {
  sshd_fleet_cleanup
  [ -z "${proxy:-}" ] || kill "$proxy" 2>/dev/null || true
  loss_rules -D 2>/dev/null || true
  remove_labelled wf.bench-slow
}
bench_init bench-slow

api_replicas "$CONTAINERS_PER_HOST" wf.bench-slow
: >"$work/config.toml"
sshd_fleet "$HOSTS" "$SSH_PORT"
# The console reaches each host through its proxy: the same host key under the proxy's port.
sed "s/:$SSH_PORT\"/:$PROXY_PORT\"/" "$work/config.toml" >"$work/slow.toml"
sed "s/\]:$SSH_PORT /]:$PROXY_PORT /" "$work/home/.ssh/known_hosts" >>"$work/home/.ssh/known_hosts"
pairs=()
for i in $(seq 1 "$HOSTS"); do pairs+=("127.0.0.$((10 + i)):$PROXY_PORT=127.0.0.$((10 + i)):$SSH_PORT"); done
loss_rules -I

bench_tmux "$work/home"
keys() { tmux -L "$TMUX_SOCKET" send-keys "$@"; }
hz=$(getconf CLK_TCK)
log=$work/state/watchfloor/watchfloor.log
all_up() { [ "$(screen | grep -cE '^ *h[0-9]+ .* up ')" -eq "$HOSTS" ]; }

echo "watchfloor on slow links ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, $HOSTS hosts x $CONTAINERS_PER_HOST containers, $LOSS_PCT % loss each way, ${WINDOW_SECONDS} s each)"
for rtt in $RTTS; do
  python3 scripts/lib/delay_proxy.py "$rtt" "$work/carried" "${pairs[@]}" &
  proxy=$!
  until [ -s "$work/carried" ]; do sleep 0.1; done
  for refresh in normal slow; do
    rm -f "$work/t0"
    downs0=$(grep -c 'link down' "$log" 2>/dev/null || true)
    keys "env -u SSH_AUTH_SOCK sh -c 'date +%s%N > $work/t0; exec $BIN --refresh $refresh --config $work/slow.toml'" Enter
    until screen | grep -q "h01"; do sleep 0.01; done
    t1=$(date +%s%N)
    deadline=$(($(date +%s) + 120))
    until all_up || [ "$(date +%s)" -ge $deadline ]; do sleep 0.05; done
    t2=$(date +%s%N)
    t0=$(cat "$work/t0")
    pid=$(pgrep -f "^$BIN --refresh $refresh --config $work/slow.toml" | head -n 1)
    sleep 10
    keys 3
    b0=$(cat "$work/carried"); c0=$(ticks_of "$pid"); s0=$(date +%s%N)
    ages=()
    for _ in $(seq 1 $((WINDOW_SECONDS / 10))); do
      sleep 10
      # The largest df reading age the disks pane shows after a host's name ("▾ h01  12s").
      ages+=("$(screen | awk '$2 ~ /^h[0-9]+$/ && $3 ~ /^[0-9]+[sm]$/ {n = $3 + 0; if ($3 ~ /m$/) n *= 60; if (n > m) m = n} END {print m + 0}')")
    done
    b1=$(cat "$work/carried"); c1=$(ticks_of "$pid"); s1=$(date +%s%N)
    secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN {print (b - a) / 1e9}')
    latencies=()
    for k in 1 3 1 3 1; do
      want=$([ "$k" = 3 ] && echo "^ Disks " || echo "^ Overview ")
      s=$(date +%s%N)
      keys "$k"
      until screen | grep -qE "$want"; do :; done
      latencies+=($((($(date +%s%N) - s) / 1000000)))
      sleep 0.3
    done
    up_now=$(screen | grep -cE '^ *h[0-9]+ .* up ' || true)
    stop_console
    downs=$(($(grep -c 'link down' "$log" 2>/dev/null || true) - downs0))
    echo "RTT $rtt ms, --refresh $refresh:"
    echo "  first frame $(((t1 - t0) / 1000000)) ms; every host up $(((t2 - t0) / 1000000)) ms; $up_now of $HOSTS up at the end"
    echo "  link-down transitions logged: $downs"
    echo "  key to frame (ms): ${latencies[*]}"
    echo "  largest df reading age in the disks pane, every 10 s (s): ${ages[*]}"
    awk -v c=$((c1 - c0)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "  watchfloor CPU: %.2f %% of one core\n", c / hz / s * 100}'
    awk -v b=$((b1 - b0)) -v s="$secs" -v h="$HOSTS" 'BEGIN {printf "  carried over the links: %.0f bytes/s (%.0f per host)\n", b / s, b / s / h}'
  done
  kill "$proxy"
  wait "$proxy" 2>/dev/null || true
  proxy=
  rm -f "$work/carried"
done
