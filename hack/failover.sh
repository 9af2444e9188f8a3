#!/usr/bin/env bash
# Failover with instances in flight, on a local kwok cluster: two replicas
# of the manager (leader election as in the chart, 15 s Lease), N WebApps
# created, the leader killed with SIGKILL (its Lease not released) once a
# quarter of them are Ready. Prints how long until the standby leads, until
# every instance is Ready, and how many deploy runs completed (N: none lost,
# none run twice).
#
#   FAILOVER_N=200   instances
#   CLUSTER_NODES=4  simulated nodes (110 pods each)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${FAILOVER_N:-200}
export CLUSTER_NAME=failover CLUSTER_NODES=${CLUSTER_NODES:-4} OPERETTA_WORKDIR=${OPERETTA_WORKDIR:-$root/.work}
export PATH=$root/bin/k8s:$PATH
work=$OPERETTA_WORKDIR/cluster-$CLUSTER_NAME
ms() { date +%s%3N; }
hack/control-plane.sh all >/dev/null
go build -o bin/manager ./cmd/manager
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  hack/cluster.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT
hack/cluster.sh down >/dev/null 2>&1 || true
KUBECONFIG=$(hack/cluster.sh up)
export KUBECONFIG
kubectl wait nodes --all --for=condition=Ready --timeout=120s >/dev/null
kubectl apply --server-side -f charts/operetta/crds/ >/dev/null
replica() { # name port
  bin/manager --kubeconfig "$KUBECONFIG" --leader-elect=true --leader-election-namespace=kube-system --log-format=console \
    --metrics-bind-address=127.0.0.1:"$2" --health-probe-bind-address=127.0.0.1:$(($2 + 1)) >"$work/$1.log" 2>&1 &
  pids+=($!)
}
replica leader 18580
leader=${pids[0]}
until grep -q "successfully acquired lease" "$work/leader.log"; do sleep 0.2; done
replica standby 18590
kubectl apply -f examples/webapp/framework.yaml >/dev/null
kubectl wait framework/webapp --for=condition=Ready --timeout=60s >/dev/null
kubectl create namespace failover >/dev/null
for i in $(seq -w 0 $((n - 1))); do
  printf -- '---\napiVersion: apps.example.com/v1\nkind: WebApp\nmetadata: {name: app-%s, namespace: failover}\nspec: {greeting: hello}\n' "$i"
done >"$work/instances.yaml"
ready() { kubectl get webapps -n failover -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true; }
start=$(ms)
kubectl apply -f "$work/instances.yaml" >/dev/null
until [ "$(ready)" -ge $((n / 4)) ]; do sleep 0.2; done
before=$(ready)
kill -9 "$leader"
killed=$(ms)
echo "killed the leader at $(((killed - start)))ms, with $before of $n instances Ready"
until grep -q "successfully acquired lease" "$work/standby.log"; do sleep 0.1; done
elected=$(ms)
until [ "$(ready)" -ge "$n" ]; do sleep 0.2; done
done_at=$(ms)
sleep 2
singles=$(kubectl get events.events.k8s.io -n failover -o jsonpath='{range .items[?(@.reason=="PlanComplete")]}{.regarding.name}{"\n"}{end}' | sort | uniq -d | wc -l)
printf 'kill → standby leads     %.2f s (Lease 15 s)\n' "$(echo "($elected - $killed) / 1000" | bc -l)"
printf 'standby leads → all Ready %.2f s\n' "$(echo "($done_at - $elected) / 1000" | bc -l)"
printf 'created → all Ready      %.2f s\n' "$(echo "($done_at - $start) / 1000" | bc -l)"
echo "PlanComplete events: $(kubectl get events.events.k8s.io -n failover --field-selector reason=PlanComplete --no-headers 2>/dev/null | wc -l) for $n instances; instances with more than one: $singles"
