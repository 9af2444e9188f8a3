#!/usr/bin/env bash
# Builds kubectl-operetta for each platform of the krew manifest into
# bin/dist/, one archive each holding the binary, and
# writes the manifest with their checksums. Usage:
#   hack/krew/dist.sh VERSION BASE_URL
# e.g. hack/krew/dist.sh v0.1.0 https://github.com/operetta-dev/operetta/releases/download/v0.1.0
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:?VERSION}
base=${2:?BASE_URL}
out=bin/dist
rm -rf "$out" && mkdir -p "$out"
manifest=$(sed -e "s|VERSION|$version|" -e "s|BASE_URL|$base|" hack/krew/operetta.yaml | grep -v '^#')
for platform in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
  os=${platform%/*} arch=${platform#*/}
  work=$(mktemp -d)
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags '-s -w' -o "$work/kubectl-operetta" ./cmd/kubectl-operetta
  archive=$out/kubectl-operetta_${os}_${arch}.tar.gz
  tar -C "$work" -czf "$archive" kubectl-operetta
  rm -rf "$work"
  sum=$(sha256sum "$archive" | cut -d' ' -f1)
  manifest=${manifest//SHA256_${os}_${arch}/$sum}
done
printf '%s\n' "$manifest" > "$out/operetta.yaml"
echo "$out/operetta.yaml and its archives"
