#!/usr/bin/env bash
# Installs the Debian packages of the servers the test suite runs privately on loopback.
# As root, missing packages are installed; otherwise the missing ones are named, and
# the tests that need them skip with that reason (or fail, under CI=true).
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v curl >/dev/null || missing+=(curl)
command -v redis-server >/dev/null || missing+=(redis-server)
# The second Celery broker (the RabbitMQ tests start their own node; never skipped).
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null || missing+=(prometheus-node-exporter)
# make test-stress runs the timing-sensitive tests beside stress-ng's CPU hog.
command -v stress-ng >/dev/null || missing+=(stress-ng)
# The browser tests drive Debian's Chromium with Playwright (never a downloaded browser).
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts the system's RabbitMQ (where init allows): the tests run private nodes, so it
# must not hold port 5672, nor start again at boot.
if [[ " ${missing[*]} " == *" rabbitmq-server "* ]]; then
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
  else
    service rabbitmq-server stop >/dev/null 2>&1 || true
    update-rc.d rabbitmq-server disable >/dev/null 2>&1 || true
  fi
fi
