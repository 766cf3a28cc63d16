#!/usr/bin/env bash
# Static analysis with slither. Installs slither into .venv/ (ignored) from PyPI on first use,
# compiles the contracts alone (crytic-compile reads Hardhat 3 build-info for `contracts/` but not
# for Solidity test files), and fails on any medium or high finding. A finding that is accepted
# carries a `slither-disable-next-line <detector>` comment with its justification in the source.
set -euo pipefail
cd "$(dirname "$0")/.."

SLITHER_VERSION=0.11.6
CRYTIC_COMPILE_VERSION=0.4.2
if ! .venv/bin/slither --version 2>/dev/null | grep -qx "$SLITHER_VERSION"; then
  echo "slither: installing slither-analyzer $SLITHER_VERSION into .venv/"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check \
    "slither-analyzer==$SLITHER_VERSION" "crytic-compile==$CRYTIC_COMPILE_VERSION"
fi

export HARDHAT_DISABLE_TELEMETRY=true
npx hardhat clean >/dev/null
npx hardhat build --no-tests --quiet
.venv/bin/slither . --config-file slither.config.json --hardhat-ignore-compile
