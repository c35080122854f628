#!/usr/bin/env bash
# watchfloor against oxker (containers) and pg_activity (PostgreSQL) in one run, on this machine,
# with the same containers and the same cluster. One command on a fresh clone: oxker is built
# with `cargo install --locked` and pg_activity installed with pip into a venv, both under
# BENCH_TOOLS (default target/bench-tools), once.
#
# Containers: CONTAINERS (30) on a private dockerd. watchfloor (containers pane) and oxker
# alternate RUNS times (3) in a 120x40 tmux pane. Each run: time from exec to container names
# on screen and to the first CPU/MEM numbers, then IDLE_SECONDS (60) with no key and
# KEYS_SECONDS (30) with one key a second (down, up, …): own CPU, bytes written to the terminal
# (tmux pipe-pane), RSS, and the extra CPU of dockerd + containerd + the container shims
# (reparented to init; found by their containerd address) over a baseline with no console.
# PostgreSQL: a private cluster with SESSIONS (25) sessions; watchfloor's PostgreSQL pane and
# pg_activity alternate RUNS times for PG_SECONDS (90) each: own CPU, RSS, bytes/s, and the
# cluster's extra CPU over a baseline with no console.
# Prints one table of medians with the ratios and the goals of issue 19. Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
CONTAINERS=${CONTAINERS:-30}
IDLE_SECONDS=${IDLE_SECONDS:-60} # a minute: each idle window holds one tick of the uptime column
KEYS_SECONDS=${KEYS_SECONDS:-30}
PG_SECONDS=${PG_SECONDS:-90} # CPU is counted in 10 ms ticks: long enough to tell 0.1 % from 0.3 %
SESSIONS=${SESSIONS:-25}
PORT=${PORT:-54393}
OXKER_VERSION=0.13.4
PG_ACTIVITY_VERSION=3.0.3
TOOLS=${BENCH_TOOLS:-$PWD/target/bench-tools}

# The tools compared against, installed once (a bench-only prefix; nothing system-wide).
if ! "$TOOLS/bin/oxker" --version 2>/dev/null | grep -q "$OXKER_VERSION"; then
  echo "installing oxker $OXKER_VERSION into $TOOLS (cargo install --locked; a few minutes)" >&2
  cargo install -q oxker --locked --version "$OXKER_VERSION" --root "$TOOLS"
fi
if ! "$TOOLS/venv/bin/pg_activity" --version 2>/dev/null | grep -q "$PG_ACTIVITY_VERSION"; then
  python3 -c 'import ensurepip' 2>/dev/null || apt-get install -y -q python3-venv >/dev/null
  rm -rf "$TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q "pg_activity==$PG_ACTIVITY_VERSION" psycopg2-binary
fi

# Docker's side is measured on a daemon of its own: nothing else may use it meanwhile.
unset WATCHFLOOR_TEST_DOCKER_HOST
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
bench_cleanup() {
  pg_cluster_cleanup
  remove_labelled wf.compare
}
bench_init bench-compare
compose_fleet "$CONTAINERS" wf.compare
created=$(date +%s)
hz=$(getconf CLK_TCK)
keys() { tmux -L "$TMUX_SOCKET" send-keys "$@"; }
secs_since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN {print (b - a) / 1e9}'; }
share() { awk -v t="$1" -v hz="$hz" -v s="$2" 'BEGIN {printf "%.3f", t / hz / s * 100}'; }

# Docker's side: dockerd, its containerd and the shims of its containers, reaped children
# included (fields 14-17).
socket=${DOCKER_HOST#unix://}
dockerd_pid=$(pgrep -f "^dockerd .*-H $DOCKER_HOST" | head -n 1)
exec_root=$(tr '\0' ' ' <"/proc/$dockerd_pid/cmdline" | sed -n 's/.*--exec-root \([^ ]*\).*/\1/p')
docker_ticks() {
  local p
  for p in "$dockerd_pid" $(pgrep -P "$dockerd_pid") $(pgrep -f "containerd-shim.* -address $exec_root/"); do
    awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || true
  done | awk '{s += $1} END {print s + 0}'
}
rss_of() { awk -v f="$2" '$1 == f ":" {print $2}' "/proc/$1/status"; }

# window SECONDS WITH_KEYS: own CPU %, bytes/s to the terminal, Docker-side CPU % (and the
# cluster's, when one is up) over the window; one key a second when asked.
window() {
  local c0 d0 p0 t0 i
  rm -f "$work/pty.out"
  tmux -L "$TMUX_SOCKET" pipe-pane -o "cat >> $work/pty.out"
  sleep 0.3
  : >"$work/pty.out"
  c0=$(ticks_of "$pid"); d0=$(docker_ticks); p0=$([ -z "${postmaster:-}" ] || pg_ticks); t0=$(date +%s%N)
  if [ "$2" = keys ]; then
    for i in $(seq 1 "$1"); do
      if [ $((i % 2)) -eq 1 ]; then keys Down; else keys Up; fi
      sleep 1
    done
  else
    sleep "$1"
  fi
  local s
  s=$(secs_since "$t0")
  echo "$(share $(($(ticks_of "$pid") - c0)) "$s") $(awk -v b="$(stat -c %s "$work/pty.out")" -v s="$s" 'BEGIN {printf "%.1f", b / s}') $(share $(($(docker_ticks) - d0)) "$s") $([ -z "${postmaster:-}" ] || share $(($(pg_ticks) - p0)) "$s")"
  tmux -L "$TMUX_SOCKET" pipe-pane
}

# start NAME COMMAND: runs it in the pane; sets pid and t0 (ns at exec).
start() {
  rm -f "$work/t0" "$work/pid"
  keys "clear; sh -c 'echo \$\$ > $work/pid; date +%s%N > $work/t0; exec $2'" Enter
  until [ -s "$work/t0" ] && [ -s "$work/pid" ]; do sleep 0.01; done
  pid=$(cat "$work/pid")
  t0=$(cat "$work/t0")
}
ms_until() { # GREP-PATTERN: ms from exec until the screen shows it (gives up after 60 s)
  local deadline=$(($(date +%s) + 60))
  until screen | grep -qE "$1"; do
    [ "$(date +%s)" -lt $deadline ] || { echo NaN; return; }
  done
  echo $((($(date +%s%N) - t0) / 1000000))
}
quit() {
  keys q
  while [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do sleep 0.05; done
}

printf '[[host]]\nname = "local"\ndocker_socket = "%s"\n' "$socket" >"$work/containers.toml"
bench_tmux "$work"
# Containers older than a minute, as in a fleet: no uptime column changes every second.
while [ "$(date +%s)" -lt $((created + 65)) ]; do sleep 1; done
d0=$(docker_ticks); t=$(date +%s%N)
sleep "$IDLE_SECONDS"
docker_base=$(share $(($(docker_ticks) - d0)) "$(secs_since "$t")")

# One line per run: tool names_ms stats_ms cpu_idle bytes_idle docker_idle cpu_keys bytes_keys docker_keys rss_kib hwm_kib
containers_run() {
  local names stats idle keyed
  case $1 in
    watchfloor)
      start watchfloor "$BIN --config $work/containers.toml"
      names=$(ms_until 'bench-[a-z0-9]+-[0-9]')
      stats=$(ms_until 'bench-[a-z0-9]+-[0-9] .* [0-9.]+% +[0-9.]+[BKMG] ') ;;
    oxker)
      start oxker "$TOOLS/bin/oxker --host $socket"
      names=$(ms_until 'bench-[a-z0-9]+-[0-9]')
      stats=$(ms_until 'bench-[a-z0-9]+-[0-9] .*%.* [1-9][0-9.]* [kMG]B / [1-9]') ;;
  esac
  sleep 5
  idle=$(window "$IDLE_SECONDS" idle)
  keyed=$(window "$KEYS_SECONDS" keys)
  echo "$1 $names $stats $(echo "$idle" | cut -d' ' -f1-3) $(echo "$keyed" | cut -d' ' -f1-3) $(rss_of "$pid" VmRSS) $(rss_of "$pid" VmHWM)"
  quit
}
: >"$work/containers.txt"
for r in $(seq 1 "$RUNS"); do
  echo "containers run $r of $RUNS" >&2
  containers_run watchfloor >>"$work/containers.txt"
  containers_run oxker >>"$work/containers.txt"
done

# PostgreSQL.
pg_cluster "$PORT" "$SESSIONS"
printf '[[host]]\nname = "db"\ndocker = false\n\n[[host.postgres]]\nname = "main"\nsocket = "%s/.s.PGSQL.%s"\nuser = "postgres"\n' \
  "$work/pg" "$PORT" >"$work/pg.toml"
p0=$(pg_ticks); t=$(date +%s%N)
sleep "$PG_SECONDS"
pg_base=$(share $(($(pg_ticks) - p0)) "$(secs_since "$t")")
pg_run() { # tool cpu bytes_s pg_cpu rss_kib
  case $1 in
    watchfloor)
      start watchfloor "$BIN --config $work/pg.toml"
      ms_until 'Overview' >/dev/null
      keys 6
      ms_until 'conns' >/dev/null ;;
    pg_activity)
      start pg_activity "$TOOLS/venv/bin/pg_activity -h $work/pg -p $PORT -U postgres -d postgres"
      ms_until 'worker1' >/dev/null ;;
  esac
  sleep 5
  local w
  w=$(window "$PG_SECONDS" idle)
  echo "$1 $(echo "$w" | cut -d' ' -f1,2,4) $(rss_of "$pid" VmRSS)"
  quit
}
: >"$work/pg.txt"
for r in $(seq 1 "$RUNS"); do
  echo "PostgreSQL run $r of $RUNS" >&2
  pg_run watchfloor >>"$work/pg.txt"
  pg_run pg_activity >>"$work/pg.txt"
done

# The table: medians, ratios (watchfloor / the other) and the goals.
median() { # FILE TOOL COLUMN
  awk -v t="$2" -v c="$3" '$1 == t {print $c}' "$1" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
row() { # LABEL FILE COLUMN OTHER GOAL [BASE]: GOAL is "1/5" or "-"; BASE is subtracted from both (extra CPU)
  local w o
  w=$(median "$2" watchfloor "$3"); o=$(median "$2" "$4" "$3")
  awk -v l="$1" -v w="$w" -v o="$o" -v g="$5" -v b="${6:-0}" 'BEGIN {
    w -= b; o -= b; r = (o > 0) ? w / o : 0
    if (g == "-") { printf "  %-44s %12.2f %12.2f %8.3f\n", l, w, o, r; exit }
    split(g, f, "/"); limit = f[1] / f[2]
    printf "  %-44s %12.2f %12.2f %8.3f   <= %-6s %s\n", l, w, o, r, g, (o > 0 && r <= limit + 1e-9) ? "met" : "MISSED"
  }'
}
echo "watchfloor against oxker $OXKER_VERSION and pg_activity $PG_ACTIVITY_VERSION ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, tmux 120x40, medians of $RUNS runs)"
echo "  containers: $CONTAINERS; Docker side with no console: $docker_base % of one core"
printf '  %-44s %12s %12s %8s   %s\n' "" watchfloor oxker ratio goal
row "own CPU idle (% of one core)" "$work/containers.txt" 4 oxker 1/5
row "own CPU, one key a second (%)" "$work/containers.txt" 7 oxker 1/2
row "Docker-side extra CPU idle (% of one core)" "$work/containers.txt" 6 oxker 1/8 "$docker_base"
row "bytes/s to the terminal idle" "$work/containers.txt" 5 oxker 1/10
row "bytes/s to the terminal, keys" "$work/containers.txt" 8 oxker 1/2
row "ms to container names" "$work/containers.txt" 2 oxker -
row "ms to the first CPU/MEM numbers" "$work/containers.txt" 3 oxker 1/2
row "RSS at the end (KiB)" "$work/containers.txt" 10 oxker -
row "RSS peak (KiB)" "$work/containers.txt" 11 oxker -
echo "  PostgreSQL: $SESSIONS sessions; the cluster with no console: $pg_base % of one core"
printf '  %-44s %12s %12s %8s   %s\n' "" watchfloor pg_activity ratio goal
row "own CPU (% of one core)" "$work/pg.txt" 2 pg_activity 1/3
row "bytes/s to the terminal" "$work/pg.txt" 3 pg_activity 1/3
row "postgres extra CPU (% of one core)" "$work/pg.txt" 4 pg_activity 1/3 "$pg_base"
row "RSS (KiB)" "$work/pg.txt" 5 pg_activity -
echo "  every run (tool names_ms stats_ms cpu_idle bytes_idle docker_idle cpu_keys bytes_keys docker_keys rss hwm):"
sed 's/^/    /' "$work/containers.txt"
echo "  every PostgreSQL run (tool cpu bytes_s postgres_cpu rss):"
sed 's/^/    /' "$work/pg.txt"
