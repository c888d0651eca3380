# shellcheck shell=bash
# Long-running local services that a script starts and stops (scripts/stack's Kafka nodes, S3
# server and Prometheus). Each runs detached in a session of its own (setsid), with its pid in a pid
# file and its output appended to a log file. A recorded pid counts as the service only while that
# process's command line holds the service's marker, so a recycled pid is never taken for it.
# Needs lib/common.sh (log, die); source this after it.
#
#   service_define NAME LABEL PIDFILE LOGFILE MARKER
#                             a service: LABEL names it in messages ("Kafka node 1", "s3s-fs")
#   service_pid NAME          print its pid if it runs (fails otherwise)
#   service_up NAME PORT      it runs and PORT on 127.0.0.1 accepts connections
#   service_ports_free NAME PORT...
#                             die unless it runs or each PORT is free (not taken by another process;
#                             the message names SERVICE_OWNER, default "this script", and the state
#                             dir SERVICE_STATE if set)
#   service_spawn NAME COMMAND...
#                             start COMMAND as the service, stdin from /dev/null, output to its log
#   service_wait NAME DEADLINE INTERVAL TIMEOUT_MESSAGE READY...
#                             every INTERVAL seconds until the command READY succeeds: fail with
#                             "LABEL exited" once the process is gone, with TIMEOUT_MESSAGE once
#                             $SECONDS reaches DEADLINE. Failing calls SERVICE_FAIL[NAME] with the
#                             name and the message (default service_fail: its log's tail, then die).
#   service_stop SIGNAL GRACE LEFT NAME...
#                             signal those that run and return once at most LEFT of them run;
#                             SIGKILL the rest if that takes longer than GRACE seconds
#   service_status NAME TITLE PORT UP [HALF]
#                             one line: `TITLE: running (pid P), UP` when it is up (status 0);
#                             else `TITLE: not running` (status 1), or `TITLE: running (pid P), HALF`
#                             when HALF is given and it runs without PORT accepting connections

declare -gA SERVICE_LABEL=() SERVICE_PIDFILE=() SERVICE_LOG=() SERVICE_MARKER=() SERVICE_FAIL=()

service_define() {
  SERVICE_LABEL[$1]=$2
  SERVICE_PIDFILE[$1]=$3
  SERVICE_LOG[$1]=$4
  SERVICE_MARKER[$1]=$5
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

service_pid() {
  local pid
  pid=$(cat "${SERVICE_PIDFILE[$1]}" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "${SERVICE_MARKER[$1]}" && echo "$pid"
}

service_up() { service_pid "$1" >/dev/null && port_open "$2"; }

service_ports_free() {
  local name=$1 port
  shift
  service_pid "$name" >/dev/null && return 0
  for port in "$@"; do
    ! port_open "$port" \
      || die "port $port is taken by a process ${SERVICE_OWNER:-this script} did not start${SERVICE_STATE:+ (state dir $SERVICE_STATE)}"
  done
}

service_spawn() {
  local name=$1
  shift
  setsid "$@" >>"${SERVICE_LOG[$name]}" 2>&1 </dev/null &
  echo $! >"${SERVICE_PIDFILE[$name]}"
}

# Liveness by pid only: right after the start, /proc/PID/cmdline can read empty while the process
# execs, and service_pid's marker check would take it for gone.
service_started() {
  local pid
  pid=$(cat "${SERVICE_PIDFILE[$1]}" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

service_fail() {
  tail -n 20 "${SERVICE_LOG[$1]}" >&2
  die "$2"
}

service_wait() {
  local name=$1 deadline=$2 interval=$3 timeout_message=$4 fail=${SERVICE_FAIL[$1]:-service_fail}
  shift 4
  until "$@"; do
    sleep "$interval"
    service_started "$name" || "$fail" "$name" "${SERVICE_LABEL[$name]} exited"
    (( SECONDS < deadline )) || "$fail" "$name" "$timeout_message"
  done
}

# The pids of the named services that run; the pid files of the others are removed.
service_pids() {
  local name
  for name in "$@"; do service_pid "$name" || rm -f "${SERVICE_PIDFILE[$name]}"; done
}

service_stop() {
  local signal=$1 grace=$2 left=$3 deadline=$((SECONDS + $2)) pids
  shift 3
  mapfile -t pids < <(service_pids "$@")
  (( ${#pids[@]} > left )) || return 0
  log "SIG$signal to pid(s) ${pids[*]}"
  kill "-$signal" "${pids[@]}" 2>/dev/null || true
  while mapfile -t pids < <(service_pids "$@"); (( ${#pids[@]} > left )); do
    if (( SECONDS >= deadline )); then
      log "still running after ${grace}s: SIGKILL to pid(s) ${pids[*]}"
      kill -KILL "${pids[@]}" 2>/dev/null || true
      deadline=$((SECONDS + 10))
    fi
    sleep 0.25
  done
}

service_status() {
  local name=$1 title=$2 port=$3 up=$4 half=${5:-} pid
  if ! pid=$(service_pid "$name"); then echo "$title: not running"; return 1
  elif port_open "$port"; then echo "$title: running (pid $pid), $up"
  elif [[ -n $half ]]; then echo "$title: running (pid $pid), $half"; return 1
  else echo "$title: not running"; return 1
  fi
}
