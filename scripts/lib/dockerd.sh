# Sourced by scripts/test.sh and the benchmarks: a private dockerd for tests (its own
# data-root, exec-root, pidfile and unix socket; no iptables, no bridge, vfs storage), so it
# never touches a system Docker. Sets WATCHFLOOR_TEST_DOCKER_HOST; stop_private_dockerd ends it.

start_private_dockerd() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "a private dockerd needs root" >&2
    return 1
  fi
  WF_DOCKERD_DIR=$(mktemp -d /tmp/wf-dockerd.XXXXXX)
  dockerd --data-root "$WF_DOCKERD_DIR/data" --exec-root "$WF_DOCKERD_DIR/exec" \
    --pidfile "$WF_DOCKERD_DIR/dockerd.pid" -H "unix://$WF_DOCKERD_DIR/docker.sock" \
    --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
    >"$WF_DOCKERD_DIR/dockerd.log" 2>&1 &
  WF_DOCKERD_PID=$!
  export WATCHFLOOR_TEST_DOCKER_HOST="unix://$WF_DOCKERD_DIR/docker.sock"
  for _ in $(seq 1 300); do
    DOCKER_HOST="$WATCHFLOOR_TEST_DOCKER_HOST" docker version >/dev/null 2>&1 && return 0
    if ! kill -0 "$WF_DOCKERD_PID" 2>/dev/null; then
      cat "$WF_DOCKERD_DIR/dockerd.log" >&2
      echo "dockerd died at startup" >&2
      return 1
    fi
    sleep 0.2
  done
  cat "$WF_DOCKERD_DIR/dockerd.log" >&2
  echo "dockerd did not answer within 60s" >&2
  return 1
}

stop_private_dockerd() {
  [ -n "${WF_DOCKERD_PID:-}" ] || return 0
  local ids
  ids=$(DOCKER_HOST="$WATCHFLOOR_TEST_DOCKER_HOST" docker ps -aq 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -n "$ids" ] && DOCKER_HOST="$WATCHFLOOR_TEST_DOCKER_HOST" docker rm -f $ids >/dev/null 2>&1
  kill "$WF_DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$WF_DOCKERD_PID" 2>/dev/null || break
    sleep 0.2
  done
  kill -9 "$WF_DOCKERD_PID" 2>/dev/null || true
  wait "$WF_DOCKERD_PID" 2>/dev/null || true
  rm -rf "$WF_DOCKERD_DIR"
  WF_DOCKERD_PID=
}

# Imports a static busybox as image wf-busybox:test (no registry is needed).
ensure_test_image() {
  DOCKER_HOST="$WATCHFLOOR_TEST_DOCKER_HOST" docker image inspect wf-busybox:test >/dev/null 2>&1 && return 0
  local root applet
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  tar -C "$root" -c . | DOCKER_HOST="$WATCHFLOOR_TEST_DOCKER_HOST" docker import - wf-busybox:test >/dev/null
  rm -rf "$root"
}
