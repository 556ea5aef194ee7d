#!/usr/bin/env bash
# Install the Node tools the conformance tests need into .tools/ (git-ignored):
#   - Node 22.23.3 from the npm package node-<os>-<cpu> (this machine's Node is 20; the suite needs >= 22)
#   - @modelcontextprotocol/conformance 0.2.0-alpha.12
#   - azurite (its Table service: the OAuth facade's storage in tests and devhost) and @modelcontextprotocol/sdk
#     (the TypeScript client of tests/test_facade_typescript.py)
# Exact versions come from tests/conformance/package.json and its package-lock.json (`npm ci`), so every
# machine gets the same tree. Idempotent: a second run checks a stamp and returns at once, printing nothing.
# Where npm is missing it prints a note and exits 0 (the conformance tests then skip, saying why).
#
# Usage: scripts/install-tools.sh [--env]
#   --env   print CONFORMANCE_NODE=... and CONFORMANCE_CLI=... on stdout (npm's output goes to stderr),
#           e.g. eval "$(scripts/install-tools.sh --env)"
# The tests find the same files by fixed paths: .tools/node_modules/.bin/node and
# .tools/node_modules/@modelcontextprotocol/conformance/dist/index.js.
set -euo pipefail

print_env=false
case "${1:-}" in
  "") ;;
  --env) print_env=true ;;
  *) echo "usage: $0 [--env]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
manifest_dir="$root/tests/conformance"
tools="$root/.tools"
node_bin="$tools/node_modules/.bin/node"
cli="$tools/node_modules/@modelcontextprotocol/conformance/dist/index.js"
azurite_table="$tools/node_modules/azurite/dist/src/table/main.js"
stamp="$tools/.installed"

emit_env() {
  if $print_env; then
    printf 'CONFORMANCE_NODE=%s\nCONFORMANCE_CLI=%s\n' "$node_bin" "$cli"
  fi
}

want="$(cat "$manifest_dir/package.json" "$manifest_dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
installed() {
  [[ -x "$node_bin" && -f "$cli" && -f "$azurite_table" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]
}

if installed; then
  emit_env
  exit 0
fi

mkdir -p "$tools"
# One installer at a time (e.g. `make -j`); the second waits, then finds the stamp.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$tools/.lock"
  flock 9
  if installed; then
    emit_env
    exit 0
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  # Not an error: tests/test_conformance.py then skips, saying why.
  echo "install-tools: note: npm not found, so the conformance tools are not installed and their tests skip;" \
    "install Node.js with npm (any version) and run this again" >&2
  exit 0
fi

echo "install-tools: installing Node 22 and @modelcontextprotocol/conformance into $tools" >&2
rm -f "$stamp"
cp "$manifest_dir/package.json" "$manifest_dir/package-lock.json" "$tools/"
# --ignore-scripts: nothing in the tree needs an install script (the Node binary ships inside its package).
# The system npm may run on Node 20: the engine warnings it prints about Node >= 22 are expected.
npm ci --prefix "$tools" --ignore-scripts --no-audit --no-fund --loglevel=error 1>&2

if [[ ! -x "$node_bin" ]]; then
  echo "install-tools: no Node 22 package for $(uname -s)/$(uname -m) in tests/conformance/package.json" >&2
  exit 1
fi
version="$("$node_bin" --version)"
if [[ "$version" != v22.* ]]; then
  echo "install-tools: $node_bin is $version, expected v22.x" >&2
  exit 1
fi
if [[ ! -f "$cli" ]]; then
  echo "install-tools: conformance entry point missing: $cli" >&2
  exit 1
fi
if [[ ! -f "$azurite_table" ]]; then
  echo "install-tools: Azurite's Table service entry point missing: $azurite_table" >&2
  exit 1
fi
echo "$want" >"$stamp"
echo "install-tools: node $version at $node_bin; conformance $("$node_bin" "$cli" --version) at $cli" >&2
emit_env
