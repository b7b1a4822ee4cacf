#!/usr/bin/env bash
# Installs the peer engines that `npm run bench:peers` compares mitoscan with into .peers/ (git-ignored),
# never into the project's own dependencies: @tensorflow/tfjs-core and @tensorflow/tfjs-backend-webgpu
# (and what they pull in: tfjs-backend-cpu, seedrandom, long, ...). Skips when the pinned versions are
# already there. Needs network access to the npm registry on the first run.
set -euo pipefail
VERSION=4.22.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="$ROOT/.peers"

installed() {
  local pkg="$PEERS/node_modules/@tensorflow/$1/package.json"
  [ -f "$pkg" ] && node -e "process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)" "$pkg" "$VERSION"
}

if installed tfjs-core && installed tfjs-backend-webgpu; then
  echo "install-peers: @tensorflow/tfjs-core and @tensorflow/tfjs-backend-webgpu $VERSION already in .peers/"
  exit 0
fi

mkdir -p "$PEERS"
rm -f "$PEERS/tfjs-webgpu.bundle.mjs" # bench/peers.ts rebuilds it from the new install
cat > "$PEERS/package.json" <<JSON
{
  "name": "mitoscan-bench-peers",
  "private": true,
  "description": "Peer engines for npm run bench:peers (installed by scripts/install-peers.sh; not a project dependency)",
  "dependencies": {
    "@tensorflow/tfjs-core": "$VERSION",
    "@tensorflow/tfjs-backend-webgpu": "$VERSION"
  }
}
JSON
echo "install-peers: installing @tensorflow/tfjs-core and @tensorflow/tfjs-backend-webgpu $VERSION into .peers/ ..."
if ! npm install --prefix "$PEERS" --no-audit --no-fund --ignore-scripts --loglevel=error; then
  echo "install-peers: npm install failed (no network, or the registry is unreachable)." >&2
  echo "  bench:peers needs @tensorflow/tfjs-core@$VERSION and @tensorflow/tfjs-backend-webgpu@$VERSION in $PEERS;" >&2
  echo "  run \`bash scripts/install-peers.sh\` again where the npm registry can be reached." >&2
  exit 1
fi
if ! installed tfjs-core || ! installed tfjs-backend-webgpu; then
  echo "install-peers: npm finished but the packages are not in $PEERS/node_modules" >&2
  exit 1
fi
echo "install-peers: done ($(du -sh "$PEERS" | cut -f1) in .peers/)"
