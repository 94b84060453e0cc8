#!/usr/bin/env bash
# Install everything the test suite needs, then run it. This is the README's test command
# (`bash tests/run.sh`) and what .ci/run calls verbatim. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: promtool + prometheus (alert rule tests, scrape e2e), amtool
# (alertmanager config check), docker-compose (`docker-compose config` only; no engine here),
# chromium + its driver (the board's browser tests drive /usr/bin/chromium through playwright;
# no browser is downloaded).
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

# Python: a project virtualenv with the package and its dev extras.
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
