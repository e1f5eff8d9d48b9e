#!/usr/bin/env bash
# CI for the admin web UI (web/): installs the pinned dependencies, runs the
# component tests, rebuilds web/dist and fails if the committed build is
# stale, builds the Go binary (which embeds web/dist), and runs the browser
# tests in headless Chromium against that binary and a fake upstream.
# Runs as root on a fresh clone; needs node/npm and go on PATH.
set -euo pipefail
cd "$(dirname "$0")"
repo="$(cd .. && pwd)"

echo "== web: npm ci"
npm ci --no-audit --no-fund

echo "== web: component tests (vitest)"
npm test

echo "== web: rebuild dist and check it is committed"
npm run build
stale="$(git -C "$repo" status --porcelain -- web/dist)"
if [ -n "$stale" ]; then
  echo "web/dist differs from the committed build: run 'npm run build' in web/ and commit web/dist." >&2
  echo "$stale" >&2
  exit 1
fi

echo "== web: build the sluice binary"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$repo" && go build -o "$tmp/sluice" .)

echo "== web: browser tests (headless Chromium)"
command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
# CJK glyphs for the language switch and the Chinese UI in screenshots; the
# tests pass without them, so a failed install only warns.
if ! fc-list 2>/dev/null | grep -qiE 'wqy|noto sans cjk|noto serif cjk'; then
  apt-get install -y fonts-wqy-microhei >/dev/null 2>&1 ||
    (apt-get update >/dev/null && apt-get install -y fonts-wqy-microhei >/dev/null) ||
    echo "warning: no CJK font; Chinese text in screenshots shows as boxes" >&2
fi
SLUICE_BIN="$tmp/sluice" npm run test:browser
