#!/usr/bin/env bash
# The PostgreSQL pane's cost: a private PostgreSQL cluster with SESSIONS client sessions
# (default 25: idle ones, a few running pg_sleep, two idle in transaction) shown in
# watchfloor's PostgreSQL pane (release binary, tmux 120x40) for SECONDS_SHOWN (default 60).
# Prints: watchfloor's CPU share of one core, the extra CPU of the postgres processes (against
# a baseline of the same length without watchfloor), bytes written to the terminal per
# second, and the time one refresh takes (its round trip, from watchfloor's debug log).
# Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_SHOWN=${SECONDS_SHOWN:-60}
SESSIONS=${SESSIONS:-25}
PORT=${PORT:-54391}

# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
bench_cleanup() { pg_cluster_cleanup; }
bench_init bench-pg nodocker

pg_cluster "$PORT" "$SESSIONS"
hz=$(getconf CLK_TCK)
b0=$(pg_ticks); t0=$(date +%s%N)
sleep "$SECONDS_SHOWN"
b1=$(pg_ticks); t1=$(date +%s%N)
base_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')

printf '[[host]]\nname = "db"\ndocker = false\n\n[[host.postgres]]\nname = "main"\nsocket = "%s/.s.PGSQL.%s"\nuser = "postgres"\n' \
  "$work/pg" "$PORT" >"$work/config.toml"
bench_tmux "$work"
tmux -L "$TMUX_SOCKET" send-keys "WATCHFLOOR_LOG=watchfloor=debug $BIN --config $work/config.toml" Enter
until screen | grep -q "Overview"; do sleep 0.05; done
tmux -L "$TMUX_SOCKET" send-keys 6
until screen | grep -q "conns"; do sleep 0.05; done
pid=$(pgrep -f "^$BIN --config $work/config.toml" | head -n 1)
sleep 3
log=$work/state/watchfloor/watchfloor.log
lines0=$(wc -l <"$log")
tmux -L "$TMUX_SOCKET" pipe-pane -o "cat >> $work/pty.out"
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
w0=$(ticks); p0=$(pg_ticks); t0=$(date +%s%N)
sleep "$SECONDS_SHOWN"
w1=$(ticks); p1=$(pg_ticks); t1=$(date +%s%N)
tmux -L "$TMUX_SOCKET" pipe-pane
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')
bytes=$(stat -c %s "$work/pty.out" 2>/dev/null || echo 0)
took=$(tail -n +"$((lines0 + 1))" "$log" | grep -o 'took_ms=[0-9.]*' | cut -d= -f2 | sort -n)
stop_console

echo "watchfloor PostgreSQL pane benchmark ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, tmux 120x40, ${secs%.*} s shown)"
echo "  sessions: $(runuser -u postgres -- psql -h "$work/pg" -p "$PORT" -d postgres -Atc \
  "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'") client backends"
awk -v c=$((w1 - w0)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "  watchfloor CPU: %.2f %% of one core\n", c / hz / s * 100}'
awk -v c=$((p1 - p0)) -v b=$((b1 - b0)) -v bs="$base_secs" -v hz="$hz" -v s="$secs" \
  'BEGIN {printf "  postgres CPU: %.2f %% with the pane, %.2f %% without: %.2f %% extra\n", c / hz / s * 100, b / hz / bs * 100, (c / hz / s - b / hz / bs) * 100}'
awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "  bytes written to the terminal: %.1f bytes/s (%d bytes)\n", b / s, b}'
if [ -n "$took" ]; then
  n=$(echo "$took" | wc -l)
  echo "$took" | awk -v n="$n" '{v[NR] = $1} END {printf "  one refresh (round trip): median %.1f ms, p95 %.1f ms, max %.1f ms over %d refreshes\n", v[int((n + 1) / 2)], v[int(n * 0.95 + 0.5) < 1 ? 1 : int(n * 0.95 + 0.5)], v[n], n}'
fi
