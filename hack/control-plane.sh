#!/usr/bin/env bash
# Builds the control-plane binaries operetta's tests, demo and e2e run against,
# from the Go module proxy at pinned versions, into a cache outside the work
# tree keyed by version, and links them into bin/k8s. A second run is a cache hit.
#
#   hack/control-plane.sh envtest   etcd, kube-apiserver, kubectl (for `make test`)
#   hack/control-plane.sh all       + kube-controller-manager, kube-scheduler, kwok, kwokctl
set -euo pipefail

K8S_VERSION=v1.37.1   # v1.37.2's module zip is not served by the proxy
ETCD_VERSION=v3.6.6   # 3.6 for RequestWatchProgress; Debian's 3.4 makes watches restart
KWOK_VERSION=v0.8.0

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/operetta
out=$root/bin/k8s
mkdir -p "$out"

log() { echo "control-plane: $*" >&2; }

# build_k8s NAME: one of the k8s.io/kubernetes commands.
build_k8s() {
  local dir=$cache/k8s-$K8S_VERSION
  if [ ! -x "$dir/$1" ]; then
    log "building $1 $K8S_VERSION (first time takes minutes)"
    mkdir -p "$dir"
    (cd "$root/hack/tools/k8s" && go build -trimpath -ldflags "-s -w" -o "$dir/$1.tmp" "k8s.io/kubernetes/cmd/$1")
    mv "$dir/$1.tmp" "$dir/$1"
  fi
  ln -sf "$dir/$1" "$out/$1"
}

build_etcd() {
  local dir=$cache/etcd-$ETCD_VERSION
  if [ ! -x "$dir/etcd" ]; then
    log "building etcd $ETCD_VERSION"
    mkdir -p "$dir"
    (cd "$root/hack/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3)
    mv "$dir/etcd.tmp" "$dir/etcd"
  fi
  ln -sf "$dir/etcd" "$out/etcd"
}

build_kwok() {
  local dir=$cache/kwok-$KWOK_VERSION
  if [ ! -x "$dir/kwokctl" ] || [ ! -x "$dir/kwok" ]; then
    log "building kwok and kwokctl $KWOK_VERSION"
    mkdir -p "$dir"
    GOBIN=$dir go install -trimpath -ldflags "-s -w" \
      "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  fi
  ln -sf "$dir/kwok" "$out/kwok"
  ln -sf "$dir/kwokctl" "$out/kwokctl"
}

# link_kubectl uses the machine's kubectl, or builds the matching one.
link_kubectl() {
  local k
  k=$(PATH=$(tr ':' '\n' <<<"$PATH" | grep -vx "$out" | paste -sd:) command -v kubectl || true)
  if [ -n "$k" ]; then
    ln -sf "$k" "$out/kubectl"
  else
    build_k8s kubectl
  fi
}

case "${1:-envtest}" in
  envtest) build_etcd; build_k8s kube-apiserver; link_kubectl ;;
  all) build_etcd; build_k8s kube-apiserver; build_k8s kube-controller-manager; build_k8s kube-scheduler; build_kwok; link_kubectl ;;
  *) echo "usage: $0 [envtest|all]" >&2; exit 2 ;;
esac
echo "$out"
