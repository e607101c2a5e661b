#!/usr/bin/env bash
# Start or stop N OpenSSH servers on loopback that stand in for the hosts playbooks reach.
#   scripts/test-hosts.sh start DIR N   start N sshd processes; write DIR/inventory.json
#   scripts/test-hosts.sh stop DIR      stop the sshd processes recorded in DIR (by PID)
# Each host has its own host key and listens on its own random 127.x.y.z address and port, so
# several test runs (each with its own DIR) can run at once. Logins: one test user with one
# test key (DIR/client_ed25519), key only, UsePAM no. As root the user is alertflow-test
# (created once); otherwise sshd runs as, and only lets in, the calling user.
# inventory.json: {"user", "key_path", "hosts": [{"name", "address", "port",
#   "host_public_key", "user", "key_path", "root", "pid"}]}; "root" is a directory the test
# user owns on that host, for file tests.
set -euo pipefail

SSHD=${SSHD:-/usr/sbin/sshd}
TEST_USER_AS_ROOT=alertflow-test

die() { echo "test-hosts.sh: $*" >&2; exit 1; }

ensure_user() {
  if [ "$(id -u)" != 0 ]; then id -un; return; fi
  # Concurrent runs may both try to create the user; serialise that.
  exec 9>/run/lock/alertflow-test-hosts.lock
  flock 9
  if ! id -u "$TEST_USER_AS_ROOT" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$TEST_USER_AS_ROOT"
    usermod -p '*' "$TEST_USER_AS_ROOT"   # '*' not '!': with UsePAM no a locked account is refused
  fi
  flock -u 9
  exec 9>&-
  echo "$TEST_USER_AS_ROOT"
}

listening() { timeout 1 bash -c "</dev/tcp/$1/$2" 2>/dev/null; }

start_host() {  # start_host DIR NAME USER -> prints "address port pid" or fails
  local dir=$1 name=$2 user=$3 hdir="$1/$2" attempt addr port pid
  mkdir -p "$hdir/files"
  [ -f "$hdir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$hdir/host_ed25519"
  chmod 600 "$hdir/host_ed25519"
  [ "$(id -u)" = 0 ] && chown "$user" "$hdir/files"
  for attempt in 1 2 3 4 5; do
    addr="127.$((RANDOM % 200 + 20)).$((RANDOM % 256)).$((RANDOM % 253 + 2))"
    port=$((RANDOM % 30000 + 20000))
    listening "$addr" "$port" && continue
    cat >"$hdir/sshd_config" <<EOF
ListenAddress $addr
Port $port
HostKey $hdir/host_ed25519
PidFile $hdir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $user
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PrintMotd no
MaxStartups 200:30:400
MaxSessions 50
Subsystem sftp internal-sftp
EOF
    "$SSHD" -t -f "$hdir/sshd_config" || die "sshd rejected $hdir/sshd_config"
    setsid "$SSHD" -D -f "$hdir/sshd_config" -E "$hdir/sshd.log" </dev/null >/dev/null 2>&1 &
    pid=$!
    echo "$pid" >"$hdir/sshd.mypid"
    for _ in $(seq 100); do
      listening "$addr" "$port" && { echo "$addr $port $pid"; return 0; }
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    rm -f "$hdir/sshd.mypid"
  done
  die "sshd for $name did not come up; see $hdir/sshd.log"
}

start() {
  local dir=$1 n=$2 user key i addr port pid hostkey sep=""
  [ -x "$SSHD" ] || die "$SSHD missing: install openssh-server (bash scripts/services.sh up)"
  command -v ssh-keygen >/dev/null || die "ssh-keygen missing: install openssh-client"
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || die "N must be a positive number, got '$n'"
  [ "$(id -u)" = 0 ] && mkdir -p /run/sshd   # sshd's privilege-separation directory
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 755 "$dir"   # the test user reads authorized_keys and owns host*/files below it
  user=$(ensure_user)
  key="$dir/client_ed25519"
  [ -f "$key" ] || ssh-keygen -q -t ed25519 -N '' -C alertflow-test-client -f "$key"
  cp "$key.pub" "$dir/authorized_keys"
  chmod 644 "$dir/authorized_keys"
  {
    printf '{"user": "%s", "key_path": "%s", "hosts": [' "$user" "$key"
    for i in $(seq "$n"); do
      read -r addr port pid < <(start_host "$dir" "host$i" "$user")
      hostkey=$(cut -d' ' -f1,2 "$dir/host$i/host_ed25519.pub")
      printf '%s\n  {"name": "host%s", "address": "%s", "port": %s, "host_public_key": "%s", "user": "%s", "key_path": "%s", "root": "%s", "pid": %s}' \
        "$sep" "$i" "$addr" "$port" "$hostkey" "$user" "$key" "$dir/host$i/files" "$pid"
      sep=","
    done
    printf '\n]}\n'
  } >"$dir/inventory.json.tmp"
  mv "$dir/inventory.json.tmp" "$dir/inventory.json"
  echo "test-hosts.sh: $n sshd hosts up; inventory in $dir/inventory.json"
}

stop() {
  local dir=$1 f pid stopped=0
  [ -d "$dir" ] || die "no such directory: $dir"
  for f in "$dir"/host*/sshd.mypid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # Only a PID that is still our sshd (its command line names our config) is signalled.
    if grep -qF "$(dirname "$f")/sshd_config" "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid" 2>/dev/null && stopped=$((stopped + 1))
    fi
    rm -f "$f"
  done
  echo "test-hosts.sh: stopped $stopped sshd hosts in $dir"
}

case "${1:-}" in
  start) [ $# -eq 3 ] || die "usage: $0 start DIR N"; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 start DIR N | stop DIR" ;;
esac
