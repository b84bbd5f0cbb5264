#!/usr/bin/env bash
# Quick start, command 1: the seed's journey on the embedded defaults.
#
#   ./scripts/start.sh            install what is missing, build, start hubd (two
#                                 hubs) and dpsd in the background, link the hubs,
#                                 enroll a group, provision a simulated device and
#                                 show it in its hub with its telemetry; the
#                                 services keep running
#   ./scripts/start.sh stop       stop both services (SIGTERM, bounded wait)
#   ./scripts/start.sh restart    stop, then start and run the journey again
#   ./scripts/start.sh status     say what runs where
#
# Everything lives under var/ in the checkout (data, logs, pid files). Run it
# again at any time: running services are reused (restarted when their binary
# was rebuilt), data is kept, the hubs are linked and the group enrolled once.
#
# Environment (all optional):
#   OPENDPS_VAR=DIR             use DIR instead of <checkout>/var
#   OPENDPS_BIN_DIR=DIR         use the binaries in DIR; no set-up, no build
#   OPENDPS_PORTS=auto          let every listener pick a free port
#   OPENDPS_DPSD_PORT=8443      dpsd HTTPS (service, admin and device APIs)
#   OPENDPS_DPSD_MQTT_PORT=8883 dpsd device API over MQTT
#   OPENDPS_HUBD_PORT=8444      hubd REST (registry, twin, methods, telemetry)
#   OPENDPS_HUBD_MQTT_PORT=8884 hubd device MQTT endpoint
#   OPENDPS_START_TIMEOUT=30    seconds to wait for a service's "ready" line
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
action=${1:-start}
case "$action" in
  start | stop | restart | status) ;;
  -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "start.sh: unknown command '$action' (start, stop, restart, status)" >&2; exit 2 ;;
esac

var=${OPENDPS_VAR:-"$root/var"}
mkdir -p "$var"
var=$(cd "$var" && pwd)
start_timeout=${OPENDPS_START_TIMEOUT:-30}
stop_timeout=20
hubs=(hub1.opendps.local hub2.opendps.local)
group_id=quickstart
device_id=sensor-0001

# Paths are printed relative to the working directory when they lie below it.
show() {
  case "$1" in "$PWD") printf . ;; "$PWD"/*) printf '%s' "${1#"$PWD"/}" ;; *) printf '%s' "$1" ;; esac
}
section() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
die() { printf 'start.sh: %s\n' "$*" >&2; exit 1; }
indent() { sed 's/^/   /'; }

# ---------------------------------------------------------------------------
# services: pid files, logs, exit codes

pidfile() { printf '%s/%s.pid' "$var" "$1"; }
logfile() { printf '%s/%s.log' "$var" "$1"; }
rcfile() { printf '%s/%s.rc' "$var" "$1"; }

# The pid of a running service of this var/ directory, or nothing.
running_pid() {
  local f pid
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # The pid must still be our daemon on our data directory (pids get reused).
  local cmdline
  cmdline=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [ "$(basename "$(head -n 1 <<<"$cmdline")")" = "$1" ] || return 1
  grep -qxF -- "$var/$1" <<<"$cmdline" || return 1
  printf '%s' "$pid"
}

stop_service() {
  local name=$1 pid rc i
  if ! pid=$(running_pid "$name"); then
    rm -f "$(pidfile "$name")"
    say "$name: not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < stop_timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    say "$name: did not stop within ${stop_timeout}s of SIGTERM; killed (pid $pid)"
    rm -f "$(pidfile "$name")"
    return 1
  fi
  # The wrapper that started the daemon records its exit status.
  for ((i = 0; i < 50; i++)); do [ -s "$(rcfile "$name")" ] && break; sleep 0.1; done
  rc=$(cat "$(rcfile "$name")" 2>/dev/null || echo '?')
  rm -f "$(pidfile "$name")"
  say "$name: stopped (pid $pid, exit status $rc; log $(show "$(logfile "$name")"))"
  [ "$rc" = 0 ]
}

stop_all() {
  local rc=0
  stop_service dpsd || rc=1 # dpsd first: it calls hubd, not the other way round
  stop_service hubd || rc=1
  return $rc
}

# Starts "$@" (a daemon) detached in its own session, stdout and stderr to
# var/NAME.log; a small wrapper waits for it and writes its exit status to
# var/NAME.rc, so that `stop` can report it.
spawn() {
  local name=$1 log pidf rcf
  shift
  log=$(logfile "$name"); pidf=$(pidfile "$name"); rcf=$(rcfile "$name")
  [ -f "$log" ] && mv -f "$log" "$log.1"
  rm -f "$rcf" "$pidf"
  setsid bash -c 'log=$1 pidf=$2 rcf=$3; shift 3
                  "$@" </dev/null >"$log" 2>&1 &
                  echo $! >"$pidf.tmp" && mv "$pidf.tmp" "$pidf"
                  wait $!; echo $? >"$rcf"' \
    _ "$log" "$pidf" "$rcf" "$@" </dev/null >/dev/null 2>&1 &
}

# Waits (bounded) for the "ready" line of a service just spawned.
wait_ready() {
  local name=$1 log pid="" i limit
  log=$(logfile "$name")
  limit=$((start_timeout * 10))
  for ((i = 0; i < limit; i++)); do
    [ -z "$pid" ] && [ -s "$(pidfile "$name")" ] && pid=$(cat "$(pidfile "$name")")
    if grep -qx ready "$log" 2>/dev/null; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then break; fi
    if [ -z "$pid" ] && [ -s "$(rcfile "$name")" ]; then break; fi
    sleep 0.1
  done
  echo "start.sh: $name did not start; the end of $(show "$log"):" >&2
  tail -n 15 "$log" 2>/dev/null | sed 's/^/  | /' >&2
  if grep -qi 'address already in use' "$log" 2>/dev/null; then
    echo "start.sh: a port $name needs is taken; see the port variables in '$0 --help'" >&2
  elif [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "start.sh: no 'ready' within ${start_timeout}s; stopping it" >&2
    stop_service "$name" >/dev/null || true
  fi
  exit 1
}

# A port must be free before a service is started on it.
check_port() { # port what variable
  [ "$1" = 0 ] && return 0
  if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then
    die "port $1 ($2) on 127.0.0.1 is taken by another program.
   Stop that program, or pick other ports: $3=<port> $0   (or OPENDPS_PORTS=auto $0).
   To see who listens there: ss -ltnp 'sport = :$1'"
  fi
}

# start-up lines (docs/config.md, docs/hubd.md) read back from the logs
field() { sed -n "s/^$2: //p" "$(logfile "$1")" | head -n 1; }
listen_port() { # name scheme
  sed -n "s#^$2: listening on $2://[^ ]*:\\([0-9][0-9]*\\) .*#\\1#p" "$(logfile "$1")" | head -n 1
}

# Ports: the documented defaults, OPENDPS_PORTS=auto (0: the daemon picks a
# free one), or one variable per listener.
read_ports() {
  local auto="" p
  [ "${OPENDPS_PORTS:-}" = auto ] && auto=1
  dpsd_port=${OPENDPS_DPSD_PORT:-${auto:+0}}; dpsd_port=${dpsd_port:-8443}
  dpsd_mqtt_port=${OPENDPS_DPSD_MQTT_PORT:-${auto:+0}}; dpsd_mqtt_port=${dpsd_mqtt_port:-8883}
  hubd_port=${OPENDPS_HUBD_PORT:-${auto:+0}}; hubd_port=${hubd_port:-8444}
  hubd_mqtt_port=${OPENDPS_HUBD_MQTT_PORT:-${auto:+0}}; hubd_mqtt_port=${hubd_mqtt_port:-8884}
  for p in "$dpsd_port" "$dpsd_mqtt_port" "$hubd_port" "$hubd_mqtt_port"; do
    [[ "$p" =~ ^[0-9]{1,5}$ ]] && ((10#$p <= 65535)) || die "'$p' is not a port number (0..65535)"
  done
}

start_services() {
  section "services"
  # Reuse what runs (unless its binary was rebuilt since); check every port
  # needed before starting anything.
  local need_hubd=1 need_dpsd=1 hubd_pid="" dpsd_pid="" mqtt_args=()
  if hubd_pid=$(running_pid hubd); then
    if [ "$bin/hubd" -nt "$(pidfile hubd)" ]; then
      say "hubd: binary rebuilt since it started; restarting"
      stop_service hubd || true
    else
      need_hubd=""
    fi
  fi
  if dpsd_pid=$(running_pid dpsd); then
    if [ "$bin/dpsd" -nt "$(pidfile dpsd)" ]; then
      say "dpsd: binary rebuilt since it started; restarting"
      stop_service dpsd || true
    else
      need_dpsd=""
    fi
  fi
  if [ -n "$need_hubd" ]; then
    check_port "$hubd_port" "hubd REST" OPENDPS_HUBD_PORT
    check_port "$hubd_mqtt_port" "hubd device MQTT" OPENDPS_HUBD_MQTT_PORT
  fi
  if [ -n "$need_dpsd" ]; then
    check_port "$dpsd_port" "dpsd HTTPS" OPENDPS_DPSD_PORT
    check_port "$dpsd_mqtt_port" "dpsd device MQTT" OPENDPS_DPSD_MQTT_PORT
    mqtt_args=(--mqtt-listen "127.0.0.1:$dpsd_mqtt_port")
  fi

  # hubd first: dpsd trusts hubd's CA for its registry calls.
  if [ -n "$need_hubd" ]; then
    local hub_args=() h
    for h in "${hubs[@]}"; do hub_args+=(--hub "$h"); done
    spawn hubd "$bin/hubd" --data-dir "$var/hubd" "${hub_args[@]}" \
      --rest-listen "127.0.0.1:$hubd_port" --mqtt-listen "127.0.0.1:$hubd_mqtt_port"
    wait_ready hubd
    say "hubd: started (pid $(cat "$(pidfile hubd)"))"
  else
    say "hubd: already running (pid $hubd_pid), reused"
  fi
  if [ -n "$need_dpsd" ]; then
    spawn dpsd "$bin/dpsd" --data-dir "$var/dpsd" --listen "127.0.0.1:$dpsd_port" \
      "${mqtt_args[@]}" --hub-ca-file "$var/hubd/pki/ca.pem"
    wait_ready dpsd
    say "dpsd: started (pid $(cat "$(pidfile dpsd)"))"
  else
    say "dpsd: already running (pid $dpsd_pid), reused"
  fi
  say "logs: $(show "$var")/dpsd.log, $(show "$var")/hubd.log"

  # What the journey needs, from the start-up output.
  HUBD_PORT=$(listen_port hubd https)
  HUBD_MQTT_PORT=$(listen_port hubd mqtts)
  HUBD_CA=$(field hubd 'ca certificate')
  DPSD_PORT=$(listen_port dpsd https)
  DPSD_MQTT_PORT=$(listen_port dpsd mqtts)
  DPSD_CA=$(field dpsd 'ca certificate')
  ID_SCOPE=$(field dpsd 'id scope')
  DPS_CS=$(field dpsd 'service connection string')
  [ -n "$HUBD_PORT" ] && [ -n "$HUBD_MQTT_PORT" ] && [ -n "$DPSD_PORT" ] && [ -n "$ID_SCOPE" ] ||
    die "cannot read the start-up lines in $(show "$var")/*.log"
  case "$DPS_CS" in HostName=*) ;; *) die "dpsd printed no service connection string: '$DPS_CS'" ;; esac
  HUB_URL="https://127.0.0.1:$HUBD_PORT"
}

hub_cs() { field hubd "hub $1"; }

# ---------------------------------------------------------------------------
# the journey

dpsctl() { "$bin/dpsctl" --timeout 15 "$@"; }
hubctl() { # hub command...
  local hub=$1
  shift
  DPSCTL_HUB_CONNECTION_STRING=$(hub_cs "$hub") DPSCTL_HUB_CA_FILE=$HUBD_CA \
    "$bin/dpsctl" "$@" --hub-endpoint "$HUB_URL"
}

journey_pids=()
journey_cleanup() {
  local p
  for p in "${journey_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}

link_hubs() {
  section "linked hubs (dpsd assigns devices to them)"
  local listing hub url
  listing=$(dpsctl linked-hub list -o tsv) || die "dpsctl linked-hub list failed"
  for hub in "${hubs[@]}"; do
    url=$(printf '%s\n' "$listing" | awk -F'\t' -v h="$hub" 'tolower($1) == h { print $5 }')
    if [ "$url" = "$HUB_URL" ]; then
      say "$hub: already linked"
    elif [ -n "$url" ]; then
      dpsctl linked-hub update --linked-hub "$hub" --connection-string "$(hub_cs "$hub")" \
        --registry-url "$HUB_URL" >/dev/null
      say "$hub: linked before; registry URL now $HUB_URL"
    else
      dpsctl linked-hub create --connection-string "$(hub_cs "$hub")" \
        --registry-url "$HUB_URL" --allocation-weight 1 >/dev/null
      say "$hub: linked (registry $HUB_URL, weight 1)"
    fi
  done
  dpsctl linked-hub list -o table | indent
}

enroll() {
  section "enrollment group '$group_id' (symmetric key, initial twin)"
  if dpsctl enrollment-group show --group-id "$group_id" >/dev/null 2>&1; then
    say "already enrolled"
  else
    dpsctl enrollment-group create --group-id "$group_id" --attestation-type symmetrickey \
      --initial-twin-tags '{"site":"quickstart"}' \
      --initial-twin-properties '{"sampleSeconds":15}' >/dev/null
    say "created"
  fi
  GROUP_KEY=$(dpsctl enrollment-group show --group-id "$group_id" --show-keys -o json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["attestation"]["symmetricKey"]["primaryKey"])') ||
    die "cannot read the group key of '$group_id'"
  dpsctl enrollment-group list -o table | indent
}

device_cmd() { # registration-id, then extra options
  local id=$1
  shift
  printf '%s\n' "$bin/dps-device" register --id-scope "$ID_SCOPE" --registration-id "$id" \
    --group-key "$GROUP_KEY" --provisioning-host "localhost:$DPSD_PORT" \
    --connect-address 127.0.0.1 --ca-file "$DPSD_CA" \
    --hub-gateway "127.0.0.1:$HUBD_MQTT_PORT" --hub-ca-file "$HUBD_CA" "$@"
}

run_device() {
  section "device '$device_id': HTTPS to dpsd, then MQTT to its hub"
  local dir="$var/journey" hub mon dev_pid i line rc n_msgs=3
  mkdir -p "$dir"
  rm -f "$dir"/*
  # The telemetry stream shows only what comes after it opened, and the hub is
  # known only once the device is assigned: follow both hubs from the start
  # (registering takes at least one retry-after second).
  declare -A mon_pid
  for hub in "${hubs[@]}"; do
    hubctl "$hub" hub monitor-events --device-id "$device_id" --max-events "$n_msgs" \
      --timeout 30 -o table >"$dir/telemetry-$hub.txt" 2>&1 &
    mon_pid[$hub]=$!
    journey_pids+=($!)
  done
  local cmd=()
  mapfile -t cmd < <(device_cmd "$device_id" --messages "$n_msgs" --interval-ms 500 --run-seconds 60)
  "${cmd[@]}" >"$dir/device.txt" 2>&1 &
  dev_pid=$!
  journey_pids+=("$dev_pid")

  # Wait (bounded) for the assignment line.
  hub=""
  for ((i = 0; i < 300; i++)); do
    line=$(grep -m1 ': assigned to ' "$dir/device.txt" 2>/dev/null || true)
    if [ -n "$line" ]; then hub=$(sed 's/.*assigned to \([^ ]*\) as device.*/\1/' <<<"$line"); break; fi
    kill -0 "$dev_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$hub" ]; then
    indent <"$dir/device.txt"
    die "the device was not assigned (dpsd log: $(show "$var")/dpsd.log)"
  fi
  ASSIGNED_HUB=$hub
  for mon in "${hubs[@]}"; do
    [ "$mon" = "$hub" ] || kill -TERM "${mon_pid[$mon]}" 2>/dev/null || true
  done
  # Its telemetry: the monitor ends after $n_msgs events (or its 30 s timeout,
  # or at once when the device gives up).
  for ((i = 0; i < 320; i++)); do
    kill -0 "${mon_pid[$hub]}" 2>/dev/null || break
    kill -0 "$dev_pid" 2>/dev/null || { kill -TERM "${mon_pid[$hub]}" 2>/dev/null || true; break; }
    sleep 0.1
  done
  wait "${mon_pid[$hub]}" || true
  indent <"$dir/device.txt"

  section "the device in $hub's device list (dpsctl hub device list)"
  # The header and this device's row; other devices only counted.
  hubctl "$hub" hub device list -o table |
    awk -v id="$device_id" 'NR <= 2 || $1 == id { print; next } { n++ }
                            END { if (n) printf "(and %d other device%s)\n", n, n > 1 ? "s" : "" }' | indent
  section "its twin (initial twin from the group, reported by the device)"
  hubctl "$hub" hub twin show --device-id "$device_id" -o table | indent
  section "its telemetry, as seen by $hub (dpsctl hub monitor-events)"
  if [ -s "$dir/telemetry-$hub.txt" ]; then
    indent <"$dir/telemetry-$hub.txt"
  else
    say "(no telemetry seen within 30 s; see $(show "$dir")/device.txt)"
  fi
  section "a direct method, answered by the device"
  hubctl "$hub" hub invoke-method --device-id "$device_id" --method-name echo \
    --method-payload '{"hello":"opendps"}' -o json | indent || true

  # The demo device leaves now (SIGTERM ends its session cleanly).
  kill -TERM "$dev_pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$dev_pid" 2>/dev/null && kill -KILL "$dev_pid" 2>/dev/null
  rc=0
  wait "$dev_pid" || rc=$?
  say "$(tail -n 1 "$dir/device.txt") (exit status $rc)"
  [ "$rc" = 0 ] || die "dps-device failed; its output is in $(show "$dir")/device.txt"
}

write_env() {
  local f="$var/env.sh"
  umask 077
  cat >"$f" <<EOF
# opendps quick start: source this file to use dpsctl with the running services.
export DPSCTL_CONNECTION_STRING='$DPS_CS'
export DPSCTL_CA_FILE='$DPSD_CA'
export DPSCTL_HUB_CONNECTION_STRING='$(hub_cs "$ASSIGNED_HUB")'
export DPSCTL_HUB_CA_FILE='$HUBD_CA'
export DPSCTL_HUB_ENDPOINT='$HUB_URL'
export OPENDPS_ID_SCOPE='$ID_SCOPE'
export OPENDPS_GROUP_KEY='$GROUP_KEY'
EOF
  umask 022
}

print_summary() {
  local b v h dev hubopts
  b=$(show "$bin"); v=$(show "$var")
  section "services (running in the background)"
  say "dpsd  https://localhost:$DPSD_PORT    service, admin and device APIs (ID scope $ID_SCOPE)"
  [ -n "$DPSD_MQTT_PORT" ] && say "dpsd  mqtts://localhost:$DPSD_MQTT_PORT    device API over MQTT"
  say "hubd  https://127.0.0.1:$HUBD_PORT    REST API of ${hubs[*]}"
  say "hubd  mqtts://127.0.0.1:$HUBD_MQTT_PORT    device MQTT endpoint of both hubs"
  say "data, logs and pid files in $v/"

  section "dpsctl: these exports, or: source $v/env.sh"
  say "export DPSCTL_CONNECTION_STRING='$DPS_CS'"
  say "export DPSCTL_CA_FILE=$DPSD_CA"
  say "export DPSCTL_HUB_CONNECTION_STRING='$(hub_cs "$ASSIGNED_HUB")'"
  say "export DPSCTL_HUB_CA_FILE=$HUBD_CA"
  say "export DPSCTL_HUB_ENDPOINT=$HUB_URL"
  for h in "${hubs[@]}"; do say "# $h: $(hub_cs "$h")"; done
  say "$b/dpsctl registration list --group-id $group_id -o table"
  say "$b/dpsctl hub device list -o table"
  say "$b/dpsctl hub monitor-events -o table"

  section "more devices"
  dev="$b/dps-device register --id-scope $ID_SCOPE"
  hubopts="--ca-file $(show "$DPSD_CA") --hub-gateway 127.0.0.1:$HUBD_MQTT_PORT --hub-ca-file $(show "$HUBD_CA")"
  say "# another member of group '$group_id' (its key: dpsctl enrollment-group show --group-id $group_id --show-keys)"
  say "export OPENDPS_GROUP_KEY='$GROUP_KEY'"
  say "$dev --registration-id sensor-0002 --group-key \"\$OPENDPS_GROUP_KEY\" \\"
  say "    --provisioning-host localhost:$DPSD_PORT --connect-address 127.0.0.1 $hubopts"
  if [ -n "$DPSD_MQTT_PORT" ]; then
    say "# the same over MQTT"
    say "$dev --registration-id sensor-0003 --group-key \"\$OPENDPS_GROUP_KEY\" --transport mqtt \\"
    say "    --provisioning-host localhost:$DPSD_MQTT_PORT --connect-address 127.0.0.1 $hubopts"
  fi
  say "# a fleet of 20 (fleet-0001 .. fleet-0020), spread over both hubs"
  say "$dev --registration-id fleet --count 20 --parallel 4 --messages 2 --group-key \"\$OPENDPS_GROUP_KEY\" \\"
  say "    --provisioning-host localhost:$DPSD_PORT --connect-address 127.0.0.1 $hubopts"
  say "# an individual enrollment with its own key"
  say "KEY=\$(head -c 32 /dev/urandom | base64)"
  say "$b/dpsctl enrollment create --enrollment-id pump-1 --attestation-type symmetrickey --primary-key \"\$KEY\""
  say "$dev --registration-id pump-1 --symmetric-key \"\$KEY\" \\"
  say "    --provisioning-host localhost:$DPSD_PORT --connect-address 127.0.0.1 $hubopts"

  section "stop"
  say "${OPENDPS_VAR:+OPENDPS_VAR=$v }$(show "$root")/scripts/start.sh stop    (start again later with the same command: the data in $v/ is kept)"
}

print_status() {
  local name pid
  for name in hubd dpsd; do
    if pid=$(running_pid "$name"); then
      say "$name: running (pid $pid)"
      grep -E '^(https|mqtts): listening' "$(logfile "$name")" | indent
    else
      say "$name: not running"
    fi
  done
}

# ---------------------------------------------------------------------------

# All in a function, called on the last line: bash has read the whole file
# before anything runs, so editing the script during a run is harmless.
main() {
  case "$action" in
    stop)
      section "stopping"
      stop_all
      exit $?
      ;;
    status)
      section "status ($(show "$var"))"
      print_status
      exit 0
      ;;
    restart)
      section "stopping"
      stop_all || true
      ;;
  esac

  read_ports
  if [ -n "${OPENDPS_BIN_DIR:-}" ]; then
    bin=$(cd "$OPENDPS_BIN_DIR" 2>/dev/null && pwd) || die "OPENDPS_BIN_DIR=$OPENDPS_BIN_DIR: no such directory"
    for b in dpsd hubd dpsctl dps-device; do
      [ -x "$bin/$b" ] || die "$bin/$b is missing (OPENDPS_BIN_DIR)"
    done
  else
    section "set-up and build"
    "$root/scripts/setup.sh" "$root/build"
    bin="$root/build/bin"
  fi
  for tool in python3 setsid timeout; do
    command -v "$tool" >/dev/null || die "'$tool' is missing (scripts/setup.sh installs it)"
  done

  start_services
  trap journey_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  trap 'exit 141' PIPE
  export DPSCTL_CONNECTION_STRING=$DPS_CS DPSCTL_CA_FILE=$DPSD_CA
  link_hubs
  enroll
  run_device
  write_env
  print_summary
}

main "$@"
exit $?
