#!/usr/bin/env bash
# Soak (a script, not a test): the release binary in a 120x40 tmux pane for SOAK_SECONDS
# (default 7200) watching HOSTS (default 10) real sshd on loopback, each forwarding to a private
# dockerd (3 api replicas and a logger, 20 lines/s), and a PostgreSQL cluster behind the last
# host; a log view on the logger stays open (its 10,000-line ring is full after 8 minutes,
# before the warm-up ends). Meanwhile:
#   every RESTART_EVERY (300 s) an api container restarts;
#   every RECONNECT_EVERY (900 s) one host's SSH connection is cut (its sshd sessions killed);
#   every PG_RESTART_EVERY (1800 s) PostgreSQL restarts (pg_ctl restart -m fast).
# Every SAMPLE_SECONDS (10) it records the console's RSS, open file descriptors, tasks and CPU.
# The events stop QUIET_SECONDS (180) before the end; then the overview and alerts panes are
# captured: every host up, no alert left. Writes into OUT (default bench/soak): samples.tsv,
# events.tsv, screens.txt, summary.txt and soak.png (gnuplot). Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECONDS=${SOAK_SECONDS:-7200}
HOSTS=${HOSTS:-10}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-10}
RESTART_EVERY=${RESTART_EVERY:-300}
RECONNECT_EVERY=${RECONNECT_EVERY:-900}
PG_RESTART_EVERY=${PG_RESTART_EVERY:-1800}
QUIET_SECONDS=${QUIET_SECONDS:-180}
WARMUP_SECONDS=${WARMUP_SECONDS:-900}
OUT=${OUT:-bench/soak}
PORT=${PORT:-54392}
command -v gnuplot >/dev/null || apt-get install -y -q gnuplot-nox >/dev/null

# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
bench_cleanup() {
  sshd_fleet_cleanup
  [ -z "${pgbin:-}" ] || runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
  ids=$(docker ps -aq --filter label=wf.soak=1)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
}
bench_init soak
rev=${SOAK_REV:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)} # the tree may move on during two hours

ids=$(docker ps -aq --filter label=wf.soak=1)
[ -z "$ids" ] || docker rm -f $ids >/dev/null
run() { # service replica command...
  local service=$1 replica=$2
  shift 2
  docker run -d --network none --label wf.soak=1 --label com.docker.compose.project=soak \
    --label "com.docker.compose.service=$service" --label "com.docker.compose.container-number=$replica" \
    --name "soak-$service-$replica" wf-busybox:test "$@" >/dev/null
}
for r in 1 2 3; do run api "$r" sleep 1000000; done
run logger 1 sh -c 'i=0; while :; do i=$((i + 1)); echo "GET /api/items?page=$i 200 1.8ms"; echo "worker tick $i"; [ $((i % 10)) -ne 0 ] || sleep 1; done'

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
mkdir -p "$work/pg"
chown postgres "$work/pg"
chmod 755 "$work"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg/data" -A trust -U postgres >/dev/null
pg_opts="-k $work/pg -p $PORT -c listen_addresses=''"
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w -o "$pg_opts" start >/dev/null

: >"$work/config.toml"
sshd_fleet "$HOSTS" "${SSH_PORT:-2322}" # not bench-ssh's 2222: both may run at once
# The cluster belongs to the last host block written.
printf '[[host.postgres]]\nname = "main"\nsocket = "%s/.s.PGSQL.%s"\nuser = "postgres"\n' \
  "$work/pg" "$PORT" >>"$work/config.toml"

bench_tmux "$work/home"
keys() { tmux -L "$TMUX_SOCKET" send-keys "$@"; }
keys "env -u SSH_AUTH_SOCK $BIN --config $work/config.toml" Enter
until [ "$(screen | grep -cE '^ *h[0-9]+ .* up ')" -eq "$HOSTS" ]; do sleep 0.2; done
pid=$(pgrep -f "^$BIN --config $work/config.toml" | head -n 1)
keys 2 / l o g g e r Enter
sleep 1
keys G l
until screen | grep -q "Logs · soak-logger-1"; do sleep 0.2; done

mkdir -p "$OUT"
printf 'seconds\trss_kib\tfds\ttasks\tcpu_ticks\n' >"$OUT/samples.tsv"
printf 'seconds\tevent\n' >"$OUT/events.tsv"
event() { printf '%s\t%s\n' "$1" "$2" >>"$OUT/events.tsv"; }
t_start=$(date +%s)
next_restart=$RESTART_EVERY next_reconnect=$RECONNECT_EVERY next_pg=$PG_RESTART_EVERY
restarts=0 reconnects=0
while :; do
  now=$(($(date +%s) - t_start))
  [ "$now" -le "$SOAK_SECONDS" ] || break
  [ -d "/proc/$pid" ] || { echo "the console exited after $now s" >&2; exit 1; }
  printf '%s\t%s\t%s\t%s\t%s\n' "$now" "$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")" \
    "$(ls "/proc/$pid/fd" | wc -l)" "$(ls "/proc/$pid/task" | wc -l)" "$(ticks_of "$pid")" >>"$OUT/samples.tsv"
  if [ "$now" -lt $((SOAK_SECONDS - QUIET_SECONDS)) ]; then
    if [ "$now" -ge "$next_restart" ]; then
      restarts=$((restarts + 1))
      docker restart -t 1 "soak-api-$((restarts % 3 + 1))" >/dev/null
      event "$now" "restart soak-api-$((restarts % 3 + 1))"
      next_restart=$((next_restart + RESTART_EVERY))
    fi
    if [ "$now" -ge "$next_reconnect" ]; then
      h=$((reconnects % HOSTS))
      reconnects=$((reconnects + 1))
      pkill -KILL -P "${sshd_pids[$h]}" || true
      event "$now" "$(printf 'cut h%02d' $((h + 1)))"
      next_reconnect=$((next_reconnect + RECONNECT_EVERY))
    fi
    if [ "$now" -ge "$next_pg" ]; then
      runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w -m fast -o "$pg_opts" restart >/dev/null
      event "$now" "restart postgres"
      next_pg=$((next_pg + PG_RESTART_EVERY))
    fi
  fi
  sleep "$SAMPLE_SECONDS"
done

# After the last recovery: what the admin would see.
{
  echo "== log view"; screen
  keys 1; sleep 2; echo "== overview"; screen
  keys 0; sleep 2; echo "== alerts"; screen
} >"$OUT/screens.txt"
stop_console

# Figures after warm-up: spread around the median, and the extremes.
spread() { # column: "min max median (min-median)/median% (max-median)/median%"
  awk -F'\t' -v c="$1" -v w="$WARMUP_SECONDS" 'NR > 1 && $1 >= w {print $c}' "$OUT/samples.tsv" | sort -n |
    awk '{v[NR] = $1} END {m = v[int((NR + 1) / 2)]; printf "min %d, max %d, median %d (%+.1f %% / %+.1f %% of the median)", v[1], v[NR], m, (v[1] - m) / m * 100, (v[NR] - m) / m * 100}'
}
hz=$(getconf CLK_TCK)
{
  echo "watchfloor soak ($rev, $(nproc) cores, $HOSTS hosts, $((SOAK_SECONDS / 60)) min, started $(date -u -d "@$t_start" +%FT%TZ))"
  echo "  events: $(($(wc -l <"$OUT/events.tsv") - 1)) ($(grep -c restart\ soak "$OUT/events.tsv") container restarts, $(grep -c cut "$OUT/events.tsv") cut connections, $(grep -c postgres "$OUT/events.tsv") PostgreSQL restarts), none in the last $QUIET_SECONDS s"
  echo "  after the first $WARMUP_SECONDS s:"
  echo "    RSS KiB: $(spread 2)"
  echo "    open fds: $(spread 3)"
  echo "    tasks: $(spread 4)"
  awk -F'\t' -v hz="$hz" 'NR == 2 {t0 = $1; c0 = $5} END {printf "  CPU over the run: %.2f %% of one core\n", ($5 - c0) / hz / ($1 - t0) * 100}' "$OUT/samples.tsv"
  echo "  at the end: $(grep -cE '^ *h[0-9]+ .* up ' "$OUT/screens.txt") of $HOSTS hosts up on the overview; alerts pane: $(sed -n '/^== alerts/,$p' "$OUT/screens.txt" | grep -cE '^ *(CRIT|warn) ' || true) alerts"
} | tee "$OUT/summary.txt"

every() { if [ $(($1 % 60)) -eq 0 ]; then echo "$(($1 / 60)) min"; else echo "$1 s"; fi; }
gnuplot <<EOF
set terminal pngcairo size 1000,500 font ",10"
set output "$OUT/soak.png"
set title "watchfloor soak: $HOSTS hosts, a restart every $(every "$RESTART_EVERY"), a cut link every $(every "$RECONNECT_EVERY"), PostgreSQL restart every $(every "$PG_RESTART_EVERY")"
set xlabel "minutes"
set ylabel "RSS (MiB)"
set y2label "open fds / tasks"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key bottom right
plot "$OUT/samples.tsv" skip 1 using (\$1/60):(\$2/1024) with lines lw 2 title "RSS", \
     "" skip 1 using (\$1/60):3 axes x1y2 with lines title "open fds", \
     "" skip 1 using (\$1/60):4 axes x1y2 with lines title "tasks"
EOF
echo "  figures: $OUT/samples.tsv, $OUT/events.tsv, $OUT/screens.txt, $OUT/soak.png"
