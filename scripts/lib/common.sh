# shellcheck shell=bash
# The helpers that netchaos's shell scripts share. A script sources it by its own path:
#
#   LOG_NAME=stack                     # the prefix of its messages (default: the script's file name)
#   DIE_STATUS=2                       # die's exit code (default 1)
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
#   log MESSAGE...            `LOG_NAME: MESSAGE` on stderr
#   die MESSAGE...            `LOG_NAME: error: MESSAGE` on stderr, then exit DIE_STATUS
#   have COMMAND              COMMAND is on PATH
#   as_root COMMAND...        run COMMAND as root: directly when root already, else through sudo
#   apt_install PACKAGE...    install Debian packages without recommends (apt's output on stderr)
#   use_rustup_env            source ~/.cargo/env when cargo is not on PATH (a fresh rustup install)
#   at_exit COMMAND ARGS...   run COMMAND with ARGS (as given now) when the script exits, the last
#                             registered first (what was set up later is undone first); a failing
#                             one does not stop the others, and the script's exit code stays its own
#   machine_summary           the `machine: ...` line of a benchmark report (cores, CPU, memory, kernel)
#   bench_setup               for a benchmark, from the repository's root: build netchaos in release
#                             mode and set bin to the binary (under CARGO_TARGET_DIR when set), and
#                             work to a new temporary directory, removed at exit
#   stack_down_at_exit        unless the service stack (scripts/stack) runs, take it down at exit;
#                             sets STACK_WAS_RUNNING to yes (used as it is, left running) or no
#
# NETCHAOS_SCRIPTS is the scripts/ directory, wherever the script was called from.

NETCHAOS_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_NAME="${LOG_NAME:-$(basename "$0")}"
DIE_STATUS="${DIE_STATUS:-1}"

log() { echo "$LOG_NAME: $*" >&2; }
die() { log "error: $*"; exit "$DIE_STATUS"; }
have() { command -v "$1" >/dev/null 2>&1; }

as_root() {
  if (( EUID == 0 )); then "$@"; else sudo "$@"; fi
}

apt_install() {
  log "installing $* with apt"
  as_root apt-get update -qq >&2 \
    && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

use_rustup_env() {
  if ! have cargo && [[ -f $HOME/.cargo/env ]]; then
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
  fi
}

AT_EXIT=()   # each a command line, quoted for eval
at_exit() {
  AT_EXIT+=("$(printf '%q ' "$@")")
  trap run_at_exit EXIT
}
run_at_exit() {
  local index
  for (( index = ${#AT_EXIT[@]} - 1; index >= 0; index-- )); do eval "${AT_EXIT[index]}" || true; done
}

machine_summary() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
}

# shellcheck disable=SC2034  # bin is for the caller
bench_setup() {
  cargo build --release --quiet
  bin="${CARGO_TARGET_DIR:-$PWD/target}/release/netchaos"
  work=$(mktemp -d)
  at_exit rm -rf "$work"
}

# shellcheck disable=SC2034  # STACK_WAS_RUNNING is for the caller
stack_down_at_exit() {
  if "$NETCHAOS_SCRIPTS/stack" status >/dev/null 2>&1; then
    STACK_WAS_RUNNING=yes
  else
    STACK_WAS_RUNNING=no
    at_exit stack_down
  fi
}
stack_down() {
  log "scripts/stack down"
  "$NETCHAOS_SCRIPTS/stack" down
}
