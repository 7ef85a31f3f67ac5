#!/usr/bin/env bash
# Install what the browser (Web Chat) tests need; safe to run again, and quick when all is there.
#   - Debian's chromium at /usr/bin/chromium (apt lists refreshed only when apt doesn't know it yet)
#   - Web Chat's npm packages in tests/e2e/webchat, exactly as package-lock.json pins them (npm ci)
#   - axe-core in tests/e2e/axe (the dashboard's accessibility check), the same way
#   - the Python playwright package in the project's virtualenv (it drives that Chromium; it never
#     downloads a browser of its own)
# Usage: tests/e2e/setup.sh   (PYTHON=path/to/python to choose the interpreter; default .venv/bin/python)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if [ ! -x /usr/bin/chromium ]; then
  echo "e2e setup: installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show chromium >/dev/null 2>&1; then
    $sudo apt-get update -qq
  fi
  $sudo apt-get install -y -qq chromium >/dev/null
fi

webchat="$here/webchat"
stamp="$webchat/node_modules/.servechain-package-lock.json"
if ! cmp -s "$webchat/package-lock.json" "$stamp"; then
  command -v npm >/dev/null || { echo "e2e setup: npm is missing (Node.js 20 is expected on the machine)" >&2; exit 1; }
  echo "e2e setup: npm ci in tests/e2e/webchat"
  (cd "$webchat" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$webchat/package-lock.json" "$stamp"
fi

# axe-core for the dashboard's accessibility check, pinned by tests/e2e/axe/package-lock.json
axe="$here/axe"
stamp="$axe/node_modules/.servechain-package-lock.json"
if ! cmp -s "$axe/package-lock.json" "$stamp"; then
  command -v npm >/dev/null || { echo "e2e setup: npm is missing (Node.js 20 is expected on the machine)" >&2; exit 1; }
  echo "e2e setup: npm ci in tests/e2e/axe"
  (cd "$axe" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$axe/package-lock.json" "$stamp"
fi

if [ ! -x "$python" ]; then
  echo "e2e setup: no $python yet; playwright comes with the dev extras (make test installs them)"
elif ! "$python" -c "import playwright" >/dev/null 2>&1; then
  echo "e2e setup: installing the Python playwright package into $python"
  "$python" -m pip install --quiet "playwright>=1.50,<2"
fi

echo "e2e setup: ready (chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), Web Chat $(node -p "require('$webchat/node_modules/botframework-webchat/package.json').version" 2>/dev/null || echo '?'))"
