#!/usr/bin/env bash
# What a restore drill costs the host: a private PostgreSQL cluster with a `shop` database of
# ROWS orders (default 2,000,000), dumped with pg_dump -Fc, restored by `watchfloor drill run`
# (release binary, the host is this machine) into wf_drill_shop with two checks. Prints: the
# dump's size, the drill's RTO and each step, the restored size, and the CPU the whole machine
# spent during the run (user + system, all cores: pg_restore, the server backends, watchfloor)
# against the same length of idle. Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-2000000}
PORT=${PORT:-54392}

# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
bench_cleanup() {
  [ -z "${pgbin:-}" ] || runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
}
bench_init bench-drill nodocker

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
mkdir -p "$work/pg" "$work/dumps"
chown postgres "$work/pg"
chmod 755 "$work"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-k $work/pg -p $PORT -c listen_addresses='' -c fsync=off" start >/dev/null
q() { psql -h "$work/pg" -p "$PORT" -U postgres -X -q -At "$@"; }
q -d postgres -c "CREATE ROLE root SUPERUSER LOGIN" -c "CREATE DATABASE shop"
q -d shop -c "CREATE TABLE orders (id int PRIMARY KEY, customer int, total numeric, note text, created_at timestamptz)" \
  -c "INSERT INTO orders SELECT i, i % 5000, i * 1.5, md5(i::text), now() - (${ROWS} - i) * interval '1 second' FROM generate_series(1, ${ROWS}) i" \
  -c "CREATE INDEX ON orders (customer)"
pg_dump -Fc -h "$work/pg" -p "$PORT" -U postgres -f "$work/dumps/shop-1.dump" shop
touch -d '1 hour ago' "$work/dumps/shop-1.dump"

cat >"$work/config.toml" <<EOF
[[host]]
name = "local"
docker = false

[[host.postgres]]
name = "main"
socket = "$work/pg/.s.PGSQL.$PORT"
user = "postgres"

[[host.backup]]
name = "dumps"
kind = "files"
path = "$work/dumps/shop-*.dump"

[[drill]]
name = "shop"
host = "local"
source = "dumps"
restore = "pg_restore"
cluster = "main"
database = "shop"

[[drill.check]]
name = "orders"
sql = "select count(*) from orders"
within_pct = 0

[[drill.check]]
name = "newest order"
sql = "select max(created_at) from orders"
newest = true
EOF

cpu() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
hz=$(getconf CLK_TCK)
c0=$(cpu); t0=$(date +%s%N)
XDG_STATE_HOME=$work/state "$BIN" --config "$work/config.toml" drill run shop --json >"$work/run.json" 2>"$work/progress"
c1=$(cpu); t1=$(date +%s%N)
sleep_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
sleep "$sleep_s"
c2=$(cpu)

python3 - "$work/run.json" "$work/dumps/shop-1.dump" "$c0" "$c1" "$c2" "$hz" "$sleep_s" "$ROWS" <<'PY'
import json, os, sys
run = json.load(open(sys.argv[1]))
c0, c1, c2, hz = (int(x) for x in sys.argv[3:7])
wall, rows = float(sys.argv[7]), int(sys.argv[8])
steps = ", ".join(f"{s['step']} {s['secs']:.1f}s" for s in run["steps"])
print(f"rows:            {rows}")
print(f"dump:            {os.path.getsize(sys.argv[2]) / 1e6:.1f} MB (pg_dump -Fc)")
print(f"outcome:         {run['outcome']}")
print(f"RTO:             {run['rto_s']:.1f} s  ({steps})")
print(f"restored:        {run.get('restored_bytes', 0) / 1e6:.1f} MB (the scratch database)")
print(f"machine CPU:     {(c1 - c0) / hz:.1f} s during the {wall} s run (idle: {(c2 - c1) / hz:.1f} s)")
PY
