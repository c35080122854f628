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
