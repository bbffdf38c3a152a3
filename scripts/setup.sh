#!/usr/bin/env bash
# scripts/setup.sh - make this checkout ready for tests and the demo (idempotent, quiet on success).
#
# 1. System packages (Debian 12, needs root only when something is missing):
#      Dovecot (IMAP), PHP + MediaWiki without Apache, PostgreSQL, openssl; the test suite starts
#      its own throwaway instances of these servers on 127.0.0.1 (tests/servers.py).
# 2. .venv in the repository root with this project installed editable: pip install -e '.[dev]'.
#    Skipped while pyproject.toml is unchanged since the last successful install (hash stamp).
#
# Env: PYTHON=python3.x  interpreter for the venv (default python3; must be >= 3.11)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VENV=$REPO/.venv
STAMP=$VENV/.setup-stamp
PYTHON=${PYTHON:-python3}

die() { echo "setup.sh: ERROR: $*" >&2; exit 1; }
note() { echo "setup.sh: $*" >&2; }

APT_LOG=$(mktemp /tmp/ewb-setup-apt.XXXXXX)
trap 'rm -f "$APT_LOG"' EXIT

# ---- 1. system packages ---------------------------------------------------------------------------

# Prints the packages among "$@" that dpkg does not report as installed.
missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
  done
}

APT_UPDATED=""
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --no-upgrade "$@" \
    >>"$APT_LOG" 2>&1
}
# Installs "$@"; runs apt-get update (once) only when the first attempt fails, e.g. on a fresh
# image without package lists.
install_packages() {
  note "installing $* ..."
  if apt_install "$@"; then return 0; fi
  if [ -z "$APT_UPDATED" ]; then
    APT_UPDATED=1
    DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$APT_LOG" 2>&1 && apt_install "$@" && return 0
  fi
  tail -n 30 "$APT_LOG" >&2
  die "apt-get install $* failed (output above)"
}

# Each step's package list is installed as a whole, exactly as verified (see the README):
#  - openssl only when missing, because naming an installed package upgrades it.
#  - PHP before MediaWiki, in two commands: with php-cgi and micro-httpd already installed,
#    mediawiki's "apache2 | httpd" and php8.2's "libapache2-mod-php8.2 | ... | php8.2-cgi"
#    dependencies are met, so apt does not pull in Apache.
STEP_IMAP=(dovecot-imapd)
STEP_PHP=(php-cli php-cgi php-sqlite3 php-intl php-mbstring php-xml php-gd micro-httpd)
STEP_WIKI=(mediawiki)
# PostgreSQL for the shared state store's tests: initdb/pg_ctl clusters, never the system's one.
STEP_PG=(postgresql)
# systemd-analyze, for the test that rates the hardened unit (no service manager is started).
STEP_TOOLS=(systemd)

system_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    # Not Debian: accept whatever provides the binaries, install nothing.
    local tool
    for tool in dovecot php openssl; do
      command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] \
        || die "not a Debian system and '$tool' is missing; install Dovecot, PHP, MediaWiki and openssl by hand"
    done
    [ -f /usr/share/mediawiki/maintenance/install.php ] \
      || die "not a Debian system and MediaWiki is not in /usr/share/mediawiki; install it by hand"
    return 0
  fi
  local imap php wiki ssl tools pg
  tools=$(missing_packages "${STEP_TOOLS[@]}")
  [ -z "$tools" ] || [ "$(id -u)" != 0 ] || install_packages "${STEP_TOOLS[@]}"
  pg=$(missing_packages "${STEP_PG[@]}")
  if [ -n "$pg" ]; then
    [ "$(id -u)" = 0 ] || die "missing package postgresql. Run this script as root once, or:
  apt-get install -y --no-install-recommends --no-upgrade postgresql"
    install_packages "${STEP_PG[@]}"
    # On a systemd host the package starts the system-wide cluster on port 5432, which nothing here uses.
    if [ -d /run/systemd/system ]; then systemctl disable --now postgresql.service >/dev/null 2>&1 || true; fi
  fi
  imap=$(missing_packages "${STEP_IMAP[@]}")
  php=$(missing_packages "${STEP_PHP[@]}")
  wiki=$(missing_packages "${STEP_WIKI[@]}")
  ssl=""; command -v openssl >/dev/null 2>&1 || ssl=openssl
  [ -n "$imap$php$wiki$ssl" ] || return 0

  if [ "$(id -u)" != 0 ]; then
    die "missing packages: $(printf '%s\n' "$imap" "$ssl" "$php" "$wiki" | xargs). Run this script as root once, or:
  apt-get install -y --no-install-recommends --no-upgrade dovecot-imapd${ssl:+ $ssl}
  apt-get install -y --no-install-recommends --no-upgrade ${STEP_PHP[*]}
  apt-get install -y --no-install-recommends --no-upgrade mediawiki"
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found"

  if [ -n "$imap$ssl" ]; then
    install_packages "${STEP_IMAP[@]}" $ssl
    # On a systemd host the package also starts the system-wide Dovecot on ports 143/993,
    # which nothing here uses.
    if [ -d /run/systemd/system ]; then systemctl disable --now dovecot.service >/dev/null 2>&1 || true; fi
  fi
  if [ -n "$php" ] || [ -n "$wiki" ]; then
    [ -z "$php" ] || install_packages "${STEP_PHP[@]}"
    # micro-httpd's socket unit would listen on port 80 on a systemd host; switch it off.
    if [ -d /run/systemd/system ]; then systemctl disable --now micro-httpd.socket >/dev/null 2>&1 || true; fi
    [ -z "$wiki" ] || install_packages "${STEP_WIKI[@]}"
  fi
  local still
  still=$(missing_packages "${STEP_IMAP[@]}" "${STEP_PHP[@]}" "${STEP_WIKI[@]}")
  [ -z "$still" ] || die "still missing after apt-get install: $still (apt log above/in $APT_LOG)"
}

# ---- 2. virtualenv ----------------------------------------------------------------------------------

check_python() {
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set PYTHON=/path/to/python3.11+)"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); this project needs Python >= 3.11 (set PYTHON=...)"
}

create_venv() {
  local out
  if out=$("$PYTHON" -m venv "$VENV" 2>&1); then return 0; fi
  rm -rf "$VENV"
  # Debian ships venv/ensurepip separately, in python3-venv.
  if command -v dpkg-query >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
     && [ -n "$(missing_packages python3-venv)" ]; then
    install_packages python3-venv
    out=$("$PYTHON" -m venv "$VENV" 2>&1) && return 0
    rm -rf "$VENV"
  fi
  echo "$out" >&2
  die "'$PYTHON -m venv' failed (output above); on Debian/Ubuntu: apt-get install python3-venv"
}

virtualenv() {
  if [ -e "$VENV" ] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    note "$VENV is broken (its python does not run); recreating it"
    rm -rf "$VENV"
  fi
  if [ ! -e "$VENV" ]; then
    check_python
    create_venv
  fi

  [ -f "$REPO/pyproject.toml" ] || die "$REPO/pyproject.toml not found"
  local want
  want=$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then return 0; fi

  note "installing the project into .venv (pip install -e '.[dev]') ..."
  rm -f "$STAMP"
  if ! (cd "$REPO" && "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e '.[dev]') \
       >"$VENV/pip-install.log" 2>&1; then
    tail -n 40 "$VENV/pip-install.log" >&2
    die "pip install -e '.[dev]' failed (output above, full log: $VENV/pip-install.log)"
  fi
  echo "$want" >"$STAMP"
}

system_packages
virtualenv
