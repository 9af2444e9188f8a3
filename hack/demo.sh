#!/usr/bin/env bash
# The main job end to end on a fresh machine: build what is needed, start a
# local cluster, run operetta, register the ZooKeeper Framework, create an
# instance and follow its deploy plan until it is COMPLETE.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=$root/bin/k8s:$PATH # kubectl, if the machine has none
say() { printf '\n==> %s\n' "$*"; }

say "building the control plane (cached after the first run) and the manager"
hack/control-plane.sh all >/dev/null
go build -o bin/manager ./cmd/manager

say "starting a local cluster with 3 simulated nodes"
KUBECONFIG=$(hack/cluster.sh up)
export KUBECONFIG
work=$(dirname "$KUBECONFIG")

say "installing the Framework CRD and starting operetta"
kubectl apply --server-side -f charts/operetta/crds/ >/dev/null
if [ -f "$work/manager.pid" ] && kill -0 "$(cat "$work/manager.pid")" 2>/dev/null; then
  kill "$(cat "$work/manager.pid")"; sleep 1
fi
# The conversion webhook (docs/versions.md): the API server, a process on
# this host, reaches it by URL; the manager makes its own certificate.
bin/manager --leader-election-namespace=kube-system --log-format=console \
  --metrics-bind-address=127.0.0.1:18080 --health-probe-bind-address=127.0.0.1:18081 \
  --webhook-port=18443 --conversion-url=https://localhost:18443 --webhook-cert-secret=kube-system/operetta-webhook-cert \
  >"$work/manager.log" 2>&1 &
echo $! >"$work/manager.pid"
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18081/readyz >/dev/null 2>&1 && break; sleep 0.2; done

say "applying the ZooKeeper Framework (examples/zookeeper/framework.yaml)"
kubectl apply -f examples/zookeeper/framework.yaml
kubectl wait framework/zookeeper --for=condition=Ready --timeout=60s
kubectl get framework zookeeper

say "creating a ZooKeeper (examples/zookeeper/instance.yaml) and following its deploy plan"
kubectl apply -f examples/zookeeper/instance.yaml
last="" status=""
for _ in $(seq 1 240); do
  line=$(kubectl get zookeeper zk -n default -o jsonpath='{.status.activePlan} {.status.activePlanStatus} {.status.plans.deploy.message}' 2>/dev/null || true)
  if [ -n "$line" ] && [ "$line" != "$last" ]; then echo "  plan: $line"; last=$line; fi
  status=$(echo "$line" | awk '{print $2}')
  [ "$status" = COMPLETE ] || [ "$status" = FATAL_ERROR ] && break
  sleep 0.5
done

say "what operetta made"
kubectl get zookeepers -n default
kubectl get statefulsets,services,configmaps -n default -l operetta.dev/instance=zk
kubectl get pods -n default -l app.kubernetes.io/instance=zk -o wide
if [ "$status" != COMPLETE ]; then
  echo "the deploy plan did not complete (status: ${status:-none}); manager log: $work/manager.log" >&2
  exit 1
fi
cat <<MSG

==> done: the deploy plan is COMPLETE and the ZooKeeper is Ready.

Look around:
  export KUBECONFIG=$KUBECONFIG
  kubectl get operetta                  # every instance of every generated kind
  kubectl explain zookeeper.spec        # the schema generated from the Framework
  kubectl get zookeeper zk -o yaml      # status.plans.deploy: phases and steps
  kubectl patch zookeeper zk --type=merge -p '{"spec":{"replicas":5}}'   # the plan runs again
  less $work/manager.log   # operetta's log

Tear it all down (cluster and manager):
  make cluster-down
MSG
