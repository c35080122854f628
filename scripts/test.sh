#!/usr/bin/env bash
# The project's test command (see README). As root it installs what is missing with apt,
# starts a private dockerd for the tests (its own data-root, exec-root and socket) and stops
# it at the end, then runs every test target with the locked dependency versions.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need, by the command that shows they are there.
declare -A PACKAGES=(
  [dockerd]=docker.io
  [tmux]=tmux
  [tar]=tar
)
missing=()
for cmd in "${!PACKAGES[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
done
# The test image needs a *static* busybox (it runs with no libc): the busybox-static package.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" || missing+=(busybox-static)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: missing packages: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A private Docker daemon unless the caller already provides one.
if [ -z "${WATCHFLOOR_TEST_DOCKER_HOST:-}" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: the Docker tests start a private dockerd and need root" >&2
    exit 1
  fi
  dockerd_dir=$(mktemp -d /tmp/wf-dockerd.XXXXXX)
  dockerd --data-root "$dockerd_dir/data" --exec-root "$dockerd_dir/exec" \
    --pidfile "$dockerd_dir/dockerd.pid" -H "unix://$dockerd_dir/docker.sock" \
    --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
    >"$dockerd_dir/dockerd.log" 2>&1 &
  dockerd_pid=$!
  stop_dockerd() {
    local ids
    ids=$(DOCKER_HOST="unix://$dockerd_dir/docker.sock" docker ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && DOCKER_HOST="unix://$dockerd_dir/docker.sock" docker rm -f $ids >/dev/null 2>&1 || true
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$dockerd_pid" 2>/dev/null || true
    rm -rf "$dockerd_dir"
  }
  trap stop_dockerd EXIT
  export WATCHFLOOR_TEST_DOCKER_HOST="unix://$dockerd_dir/docker.sock"
  for _ in $(seq 1 300); do
    DOCKER_HOST="$WATCHFLOOR_TEST_DOCKER_HOST" docker version >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || { cat "$dockerd_dir/dockerd.log" >&2; echo "dockerd died" >&2; exit 1; }
    sleep 0.2
  done
  DOCKER_HOST="$WATCHFLOOR_TEST_DOCKER_HOST" docker version >/dev/null || { cat "$dockerd_dir/dockerd.log" >&2; exit 1; }
fi

cargo test --locked --all-targets "$@"
