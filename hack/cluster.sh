#!/usr/bin/env bash
# A local Kubernetes cluster with simulated nodes: kwokctl's binary runtime runs
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok as
# local processes (no Docker), and kwok moves pods to Running and Ready.
# With CLUSTER_EXEC=1, kwok serves exec into a pod as an Exec or ClusterExec
# object (kwok.x-k8s.io) says: a command run on this host, in a directory of its
# choosing, standing in for the container (the KUDO Pipe tasks of test/e2e
# and hack/kudo-try.sh read their files so).
#
#   hack/cluster.sh up     start it (idempotent); prints the kubeconfig path
#   hack/cluster.sh down   delete it and stop a manager started by the demo
#   hack/cluster.sh env    print the exports to use it from a shell
#
# CLUSTER_NAME (default operetta) and OPERETTA_WORKDIR (default ./.work) let
# tests and the demo run separate clusters.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
name=${CLUSTER_NAME:-operetta}
work=${OPERETTA_WORKDIR:-$root/.work}/cluster-$name
export KWOK_WORKDIR=$work/kwok
export KUBECONFIG=$work/kubeconfig
bin=$root/bin/k8s
export PATH=$bin:$PATH # kubectl, if the machine has none
nodes=${CLUSTER_NODES:-3}
# CLUSTER_EXEC=1 lets kwok serve exec (its Exec and ClusterExec objects).
# Only what needs it asks: with them on, a manager applying 500 instances'
# children took twice as long (make bench-cluster, docs/performance.md).
exec_crds=()
[ -n "${CLUSTER_EXEC:-}" ] && exec_crds=(--enable-crds Exec,ClusterExec)

up() {
  "$root/hack/control-plane.sh" all >/dev/null
  mkdir -p "$work"
  if "$bin/kwokctl" get clusters 2>/dev/null | grep -qx "$name" && kubectl get --raw /readyz >/dev/null 2>&1; then
    echo "cluster $name is already up" >&2
  else
    "$bin/kwokctl" delete cluster --name "$name" >/dev/null 2>&1 || true
    echo "starting cluster $name (kwok, binary runtime)" >&2
    "$bin/kwokctl" create cluster --name "$name" --runtime binary \
      --etcd-binary "$bin/etcd" \
      --kube-apiserver-binary "$bin/kube-apiserver" \
      --kube-controller-manager-binary "$bin/kube-controller-manager" \
      --kube-scheduler-binary "$bin/kube-scheduler" \
      --kwok-controller-binary "$bin/kwok" \
      ${exec_crds[@]+"${exec_crds[@]}"} \
      --kubeconfig "$KUBECONFIG" --wait 120s >"$work/kwokctl.log" 2>&1 ||
      { cat "$work/kwokctl.log" >&2; echo "cluster $name did not start" >&2; exit 1; }
    "$bin/kwokctl" --name "$name" scale node --replicas "$nodes" >>"$work/kwokctl.log" 2>&1 ||
      { cat "$work/kwokctl.log" >&2; exit 1; }
    volumes >>"$work/kwokctl.log" 2>&1 || { cat "$work/kwokctl.log" >&2; exit 1; }
  fi
  echo "$KUBECONFIG"
}

# volumes lets StatefulSets with volumeClaimTemplates run: a default
# StorageClass and PersistentVolumes made in advance, which the
# controller-manager binds to claims (kwok's pods mount nothing). Claims
# naming the class, none (the default), or "" all find one. A released
# volume is not reused: CLUSTER_VOLUMES (default 40) bounds the claims a
# cluster's life may make.
volumes() {
  local n=${CLUSTER_VOLUMES:-40} i class
  {
    cat <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
YAML
    for i in $(seq 1 "$n"); do
      class=standard
      [ $((i % 4)) -eq 0 ] && class='""'
      printf -- '---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-%03d}\nspec:\n  storageClassName: %s\n  capacity: {storage: 100Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /tmp/kwok-pv-%03d}\n' "$i" "$class" "$i"
    done
  } | kubectl apply -f -
}

down() {
  if [ -f "$work/manager.pid" ]; then
    kill "$(cat "$work/manager.pid")" 2>/dev/null || true
    rm -f "$work/manager.pid"
  fi
  "$bin/kwokctl" delete cluster --name "$name" >/dev/null 2>&1 || true
  echo "cluster $name deleted" >&2
  rm -rf "$work"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  env) echo "export KUBECONFIG=$KUBECONFIG KWOK_WORKDIR=$KWOK_WORKDIR" ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
