#!/usr/bin/env bash
# Install (Debian packages) and start the services the integration tests talk to, all on loopback.
# Idempotent: a service already running is left alone. Exits non-zero when one does not come up.
#   scripts/services.sh up        install what is missing, start MariaDB and ActiveMQ (STOMP 127.0.0.1:61613)
#   scripts/services.sh status    print what answers
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# apache2 + libapache2-mod-security2 + modsecurity-crs, libnginx-mod-http-modsecurity: the live
# ModSecurity tests start their own Apache and nginx instances; openscap-scanner + ssg-debian:
# the live OpenSCAP test evaluates a few OVAL definitions of this machine; prometheus: the metrics
# test starts its own Prometheus (temporary config and storage, a free loopback port);
# rsyslog + rsyslog-gnutls: the syslog forwarder tests start their own rsyslogd (TCP and TLS);
# chromium: the console's browser tests drive it with Playwright (/usr/bin/chromium, no download);
# nginx: `alertflow cluster` balances its Prefect API servers with it.
PACKAGES=(mariadb-server mariadb-client activemq openssh-server openssh-client nmap
  apache2 libapache2-mod-security2 modsecurity-crs libnginx-mod-http-modsecurity
  openscap-scanner ssg-debian prometheus chromium rsyslog rsyslog-gnutls nginx)

need_root() { [ "$(id -u)" = 0 ] || { echo "services.sh: run as root (installs Debian packages)" >&2; exit 1; }; }

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root
  echo "services.sh: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

port_open() { timeout 1 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_for() {  # wait_for NAME SECONDS COMMAND...
  local name=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "services.sh: $name did not come up within ${secs}s" >&2; return 1
}

mariadb_up() {
  if ! mariadb-admin ping >/dev/null 2>&1; then
    install -d -o mysql -g root -m 755 /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    wait_for MariaDB 30 mariadb-admin ping
  fi
  # Debian's root is socket-only; the tests connect over TCP as root with no password.
  if ! mariadb -h127.0.0.1 -uroot -e 'select 1' >/dev/null 2>&1; then
    mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;"
  fi
  mariadb -h127.0.0.1 -uroot -e 'select 1' >/dev/null
  echo "MariaDB   127.0.0.1:3306 up"
}

activemq_up() {
  local conf=/etc/activemq/instances-available/main/activemq.xml
  grep -q 'name="stomp"' "$conf" || sed -i 's#<transportConnector name="openwire" uri="tcp://127.0.0.1:61616"/>#&\n            <transportConnector name="stomp" uri="stomp://127.0.0.1:61613"/>#' "$conf"
  grep -q 'name="stomp"' "$conf" || { echo "services.sh: could not add the STOMP connector to $conf" >&2; return 1; }
  ln -sfn /etc/activemq/instances-available/main /etc/activemq/instances-enabled/main
  if ! port_open 61613; then
    /etc/init.d/activemq start >/dev/null
    wait_for "ActiveMQ STOMP" 90 port_open 61613
  fi
  echo "ActiveMQ  127.0.0.1:61613 (STOMP) up"
}

suricata_present() {
  # Suricata is only in bookworm-backports; install it from a private source list so the
  # system's apt sources stay untouched (shared SERVICES.md section 7).
  if command -v suricata >/dev/null; then echo "suricata present"; return 0; fi
  need_root
  local apt_dir
  apt_dir=$(mktemp -d)
  {
    echo "deb http://deb.debian.org/debian bookworm main"
    echo "deb http://deb.debian.org/debian bookworm-updates main"
    echo "deb http://deb.debian.org/debian-security bookworm-security main"
    echo "deb http://deb.debian.org/debian bookworm-backports main"
  } >"$apt_dir/bpo.list"
  mkdir -p "$apt_dir/lists/partial"
  local opts=(-o "Dir::Etc::SourceList=$apt_dir/bpo.list" -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::State::Lists=$apt_dir/lists")
  echo "services.sh: installing suricata from bookworm-backports"
  apt-get "${opts[@]}" update -qq
  apt-get "${opts[@]}" install -y -qq --no-install-recommends -t bookworm-backports suricata >/dev/null
  rm -rf "$apt_dir"
  command -v suricata >/dev/null || { echo "services.sh: suricata did not install" >&2; return 1; }
  echo "suricata installed"
}

tools_present() {
  command -v nmap >/dev/null || { echo "services.sh: nmap missing" >&2; return 1; }
  [ -x /usr/sbin/sshd ] || { echo "services.sh: /usr/sbin/sshd missing" >&2; return 1; }
  mkdir -p /run/sshd   # sshd's privilege-separation dir; test hosts are started by scripts/test-hosts.sh
  echo "nmap $(nmap --version | head -1 | awk '{print $3}'), sshd present"
}

modsecurity_present() {
  # The live ModSecurity tests run their own Apache and nginx instances (own directories,
  # loopback ports); the system's apache2 and nginx services are not used.
  local f
  for f in /usr/sbin/apache2 /usr/lib/apache2/modules/mod_security2.so /etc/modsecurity/modsecurity.conf-recommended \
    /etc/modsecurity/crs/crs-setup.conf /usr/share/modsecurity-crs/rules \
    /usr/sbin/nginx /usr/lib/nginx/modules/ngx_http_modsecurity_module.so /etc/nginx/modsecurity.conf; do
    [ -e "$f" ] || { echo "services.sh: $f missing (apache2, libapache2-mod-security2, modsecurity-crs, libnginx-mod-http-modsecurity)" >&2; return 1; }
  done
  local v='${Version}'
  echo "apache2 $(dpkg-query -W -f="$v" apache2) + mod_security2 $(dpkg-query -W -f="$v" libapache2-mod-security2)," \
    "nginx $(dpkg-query -W -f="$v" nginx) + libmodsecurity3 $(dpkg-query -W -f="$v" libmodsecurity3), CRS $(dpkg-query -W -f="$v" modsecurity-crs) present"
}

openscap_present() {
  local content=/usr/share/xml/scap/ssg/content
  command -v oscap >/dev/null || { echo "services.sh: oscap missing (openscap-scanner)" >&2; return 1; }
  [ -f $content/ssg-debian11-oval.xml ] && [ -f $content/ssg-debian11-xccdf.xml ] ||
    { echo "services.sh: $content lacks the Debian 11 content (ssg-debian)" >&2; return 1; }
  echo "oscap $(oscap --version | head -1 | awk '{print $NF}'), ssg-debian $(dpkg-query -W -f='${Version}' ssg-debian) present"
}

prometheus_present() {
  # The tests run their own Prometheus; a system daemon (started by the package where an init
  # system runs) would only hold 127.0.0.1:9090, so it is stopped and left disabled.
  command -v prometheus >/dev/null || { echo "services.sh: prometheus missing (Debian package prometheus)" >&2; return 1; }
  if [ -x /etc/init.d/prometheus ] && /etc/init.d/prometheus status >/dev/null 2>&1; then
    /etc/init.d/prometheus stop >/dev/null
  fi
  command -v update-rc.d >/dev/null && update-rc.d prometheus disable >/dev/null 2>&1 || true
  echo "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') present (not running as a service)"
}

chromium_present() {
  [ -x /usr/bin/chromium ] || { echo "services.sh: /usr/bin/chromium missing (chromium)" >&2; return 1; }
  /usr/bin/chromium --headless --no-sandbox --version >/dev/null 2>&1 ||
    { echo "services.sh: /usr/bin/chromium does not start" >&2; return 1; }
  echo "$(/usr/bin/chromium --version 2>/dev/null) present"
}

rsyslog_present() {
  # The tests run their own rsyslogd (own config, pid file, port); the system's syslog is not used.
  command -v rsyslogd >/dev/null || { echo "services.sh: rsyslogd missing (rsyslog)" >&2; return 1; }
  local lib
  for lib in imtcp.so lmnsd_gtls.so; do
    [ -e "/usr/lib/x86_64-linux-gnu/rsyslog/$lib" ] || [ -n "$(find /usr/lib -path "*/rsyslog/$lib" -print -quit)" ] ||
      { echo "services.sh: rsyslog module $lib missing (rsyslog, rsyslog-gnutls)" >&2; return 1; }
  done
  echo "rsyslog $(dpkg-query -W -f='${Version}' rsyslog) + gnutls present"
}

case "${1:-up}" in
  up) install_missing; mariadb_up; activemq_up; tools_present; suricata_present; modsecurity_present; openscap_present
      prometheus_present; chromium_present; rsyslog_present ;;
  status) mariadb-admin ping; port_open 61613 && echo "ActiveMQ STOMP answers" ;;
  *) echo "usage: $0 up|status" >&2; exit 2 ;;
esac
