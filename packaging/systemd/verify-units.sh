#!/usr/bin/env bash
# Checks the units with `systemd-analyze verify`, on copies whose ExecStart
# points at the built daemons (verify needs the binaries to exist).
# usage: verify-units.sh BIN_DIR. Exit 77 (skipped) without systemd-analyze.
set -euo pipefail
bin=${1:?usage: verify-units.sh BIN_DIR}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v systemd-analyze > /dev/null; then
  echo "SKIP: systemd-analyze not installed (Debian package systemd)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in sluice-allotter.service sluice-forwarder.service; do
  sed "s|/usr/local/bin/|$bin/|" "$here/$unit" > "$tmp/$unit"
  grep -q "ExecStart=$bin/" "$tmp/$unit"
done
# Any output is a finding (verify exits 0 on some warnings).
out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
  "$tmp/sluice-allotter.service" "$tmp/sluice-forwarder.service" 2>&1) || {
  echo "$out"
  exit 1
}
if [ -n "$out" ]; then
  echo "$out"
  exit 1
fi
echo "units verified: sluice-allotter.service sluice-forwarder.service"
