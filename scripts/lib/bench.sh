# Sourced by the benchmark scripts: the release binary, a work directory, a private dockerd
# with the test image, and a 120x40 tmux session whose prompt is "wf-prompt$ ". A script may
# define bench_cleanup; it runs at exit before the session, the daemon and the directory go.

# shellcheck source=scripts/lib/dockerd.sh
. scripts/lib/dockerd.sh

# bench_init NAME [nodocker]: sets BIN, work, TMUX_SOCKET and (without nodocker) DOCKER_HOST. WF_BIN names another binary
# (e.g. a build with debug info for perf) instead of building target/release.
bench_init() {
  if [ -n "${WF_BIN:-}" ]; then
    BIN=$WF_BIN
  else
    cargo build --release --locked -q
    BIN=$PWD/target/release/watchfloor
  fi
  work=$(mktemp -d "/tmp/wf-$1.XXXXXX")
  TMUX_SOCKET=wf-$1-$$
  trap bench_exit EXIT
  [ "${2:-}" != nodocker ] || return 0
  [ -n "${WATCHFLOOR_TEST_DOCKER_HOST:-}" ] || start_private_dockerd
  ensure_test_image
  export DOCKER_HOST=$WATCHFLOOR_TEST_DOCKER_HOST
}

bench_exit() {
  if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
  tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
  if [ -n "${WF_DOCKERD_PID:-}" ]; then stop_private_dockerd; fi
  rm -rf "$work"
}

# bench_tmux HOME: the 120x40 session, with HOME and XDG_STATE_HOME of the console's own.
bench_tmux() {
  printf "PS1='wf-prompt\$ '\n" >"$work/shrc"
  # BENCH_ROWS: a taller pane when every host row must be on screen (50 hosts).
  tmux -L "$TMUX_SOCKET" -f /dev/null new-session -d -x 120 -y "${BENCH_ROWS:-40}" -e "ENV=$work/shrc" \
    -e TERM=xterm-256color -e "HOME=$1" -e "WATCHFLOOR_SSH_HOME=$1" -e "XDG_STATE_HOME=$work/state" sh
  sleep 0.3
}

screen() { tmux -L "$TMUX_SOCKET" capture-pane -p; }

# Quits the console and waits for the prompt, then clears the pane for the next start.
stop_console() {
  tmux -L "$TMUX_SOCKET" send-keys q
  until screen | grep -v '^ *$' | tail -n 1 | grep -q '^wf-prompt\$ *$'; do sleep 0.05; done
  tmux -L "$TMUX_SOCKET" send-keys clear Enter
  sleep 0.2
}

# sshd_fleet HOSTS [PORT]: HOSTS real sshd on 127.0.0.11, .12, …, each with its own host key,
# the admin's key in $work/home/.ssh (made here), known_hosts with every server, and a
# [[host]] per server (h01, h02, …) appended to $work/config.toml that watches $DOCKER_HOST's
# socket through that server. Sets sshd_pids (the listeners); sshd_fleet_cleanup kills them
# and every session below them.
sshd_pids=()
sshd_fleet() {
  local hosts=$1 port=${2:-2222} i addr d
  mkdir -p "$work/home/.ssh" /run/sshd
  [ -f "$work/home/.ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$work/home/.ssh/id_ed25519"
  for i in $(seq 1 "$hosts"); do
    addr=127.0.0.$((10 + i))
    d=$work/sshd$i
    mkdir -p "$d/home" # sessions get an empty home: root's dotfiles must not slow the hosts
    ssh-keygen -q -t ed25519 -N '' -f "$d/host_ed25519"
    cp "$work/home/.ssh/id_ed25519.pub" "$d/authorized_keys"
    cat >"$d/sshd_config" <<EOC
Port $port
ListenAddress $addr
HostKey $d/host_ed25519
AuthorizedKeysFile $d/authorized_keys
PidFile $d/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
SetEnv HOME=$d/home
EOC
    /usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" &
    sshd_pids+=($!)
    disown "$!"
    echo "[$addr]:$port $(cut -d' ' -f1,2 "$d/host_ed25519.pub")" >>"$work/home/.ssh/known_hosts"
    printf '[[host]]\nname = "h%02d"\nssh = "root@%s:%s"\ndocker_socket = "%s"\n\n' \
      "$i" "$addr" "$port" "${DOCKER_HOST#unix://}" >>"$work/config.toml"
  done
  for i in $(seq 1 "$hosts"); do
    until (exec 3<>"/dev/tcp/127.0.0.$((10 + i))/$port") 2>/dev/null; do sleep 0.05; done
  done
}
sshd_fleet_cleanup() {
  local p
  for p in "${sshd_pids[@]}"; do pkill -KILL -P "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done
}

# CPU ticks (user + system) of a process, 0 once it is gone.
ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# remove_labelled LABEL: removes every container labelled LABEL=1.
remove_labelled() {
  local ids
  ids=$(docker ps -aq --filter "label=$1=1")
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
}

# api_replicas N LABEL: N running replicas of compose service shop/api labelled LABEL=1 and
# named LABEL-api-R (earlier ones removed).
api_replicas() {
  local r
  remove_labelled "$2"
  for r in $(seq 1 "$1"); do
    docker run -d --network none --label "$2=1" --label com.docker.compose.project=shop \
      --label com.docker.compose.service=api --label "com.docker.compose.container-number=$r" \
      --name "${2#wf.}-api-$r" wf-busybox:test sleep 1000000 >/dev/null
  done
}

# compose_fleet N LABEL: N running containers labelled LABEL=1 (earlier ones removed), named
# bench-SERVICE-REPLICA: compose services with replicas (shop/api x4, shop/worker x2,
# shop/web x2, blog/app x3, blog/db), then standalone tools/jobK up to N.
compose_fleet() {
  local want=$1 label=$2 n=0 r s
  remove_labelled "$label"
  fleet_run() { # project service replica
    docker rm -f "bench-$2-$3" >/dev/null 2>&1 || true # another script's fleet
    docker run -d --network none --label "$label=1" --label "com.docker.compose.project=$1" \
      --label "com.docker.compose.service=$2" --label "com.docker.compose.container-number=$3" \
      --name "bench-$2-$3" wf-busybox:test sleep 1000000 >/dev/null
    n=$((n + 1))
  }
  for r in 1 2 3 4; do fleet_run shop api $r; done
  for r in 1 2; do fleet_run shop worker $r; fleet_run shop web $r; done
  for r in 1 2 3; do fleet_run blog app $r; done
  fleet_run blog db 1
  s=1
  while [ $n -lt "$want" ]; do fleet_run tools "job$s" 1; s=$((s + 1)); done
}

# pg_cluster PORT SESSIONS: a private PostgreSQL cluster in $work/pg (socket only, trust) with
# SESSIONS client sessions: three running pg_sleep, two idle in transaction, the rest idle.
# Sets pgbin and postmaster; pg_ticks prints the cluster's CPU ticks (the postmaster, its
# reaped children and its live children); pg_cluster_cleanup ends it and the sessions.
pg_cluster() {
  local port=$1 sessions=$2 i
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  mkdir -p "$work/pg"
  chown postgres "$work/pg"
  chmod 755 "$work"
  runuser -u postgres -- "$pgbin/initdb" -D "$work/pg/data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
    -o "-k $work/pg -p $port -c listen_addresses='' -c max_connections=100" start >/dev/null
  psql_bg() { # application_name, then the SQL to send; the session stays open
    (printf '%s\n' "$2"; sleep "86401.$$") |
      PGAPPNAME=$1 runuser -u postgres -- psql -h "$work/pg" -p "$port" -d postgres -q >/dev/null 2>&1 &
  }
  for i in $(seq 1 3); do psql_bg "worker$i" "SELECT pg_sleep(86400);"; done
  for i in 1 2; do psql_bg "txn$i" "BEGIN; SELECT 1;"; done
  for i in $(seq 6 "$sessions"); do psql_bg "idle$i" "SELECT 1;"; done
  until [ "$(runuser -u postgres -- psql -h "$work/pg" -p "$port" -d postgres -Atc \
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")" -gt "$sessions" ]; do
    sleep 0.2
  done
  postmaster=$(head -n 1 "$work/pg/data/postmaster.pid")
}
pg_ticks() {
  {
    awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat"
    for p in $(pgrep -P "$postmaster"); do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true; done
  } | awk '{s += $1} END {print s}'
}
pg_cluster_cleanup() {
  pkill -f "sleep 86401.$$" 2>/dev/null || true
  [ -z "${pgbin:-}" ] || runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
}
