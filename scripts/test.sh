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
  [pgrep]=procps
  [sshd]=openssh-server
  [ssh-keygen]=openssh-client
  [ip]=iproute2
  [wg]=wireguard-tools
  [wireguard-go]=wireguard-go
  [borg]=borgbackup
  [restic]=restic
  [pgbackrest]=pgbackrest
  [curl]=curl
  [redis-server]=redis-server
  [ssh]=openssh-client
  [nc]=netcat-openbsd
  [openssl]=openssl
)
missing=()
for cmd in "${!PACKAGES[@]}"; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
done
# The test image needs a *static* busybox (it runs with no libc): the busybox-static package.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" || missing+=(busybox-static)
# PostgreSQL's server programs are not on PATH (and the package creates the postgres user).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && id postgres >/dev/null 2>&1 || missing+=(postgresql)
# The probe tests' HTTP server is Debian's python3 (a pyenv shim on PATH can hang).
[ -x /usr/bin/python3 ] || missing+=(python3)

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
  # shellcheck source=scripts/lib/dockerd.sh
  . scripts/lib/dockerd.sh
  trap stop_private_dockerd EXIT
  start_private_dockerd
fi

# Every target runs even after a failure; the end is one summary line and the failed tests.
# `scripts/test.sh --test NAME` runs one target (arguments go to cargo test).
log=$(mktemp)
set +e
# With arguments (`--test NAME`, `--lib`), only what they select: --all-targets would win.
targets=(--all-targets)
[ $# -gt 0 ] && targets=()
cargo test --locked "${targets[@]}" --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ {
       for (i = 1; i <= NF; i++) {
         if ($(i) ~ /^passed;?$/) p += $(i-1)
         if ($(i) ~ /^failed;?$/) f += $(i-1)
       }
     }
     / FAILED$/ && /^test / { failed[n++] = $2 }
     END {
       for (i = 0; i < n; i++) print "failed: " failed[i]
       printf "tests: %d passed, %d failed\n", p, f
     }' "$log"
rm -f "$log"
exit "$status"
