#!/usr/bin/env bash
# Failover with instances in flight, on a local kwok cluster: two replicas
# of the manager (leader election as in the chart, 15 s Lease), N WebApps
# created, the leader killed with SIGKILL (its Lease not released) once a
# quarter of them are Ready. Prints how long until the standby leads, until
# every instance is Ready, whether the standby started again a run the
# leader had started (it should not), and the PlanComplete events.
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
wait_for() { # what, check...: up to 5 minutes
  local what=$1; shift
  for _ in $(seq 1 1500); do "$@" && return 0; sleep 0.2; done
  echo "timed out waiting for $what" >&2; tail -n 20 "$work"/*.log >&2; exit 1
}
wait_for "the first replica to lead" grep -qi "successfully acquired lease" "$work/leader.log"
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
quarter() { [ "$(ready)" -ge $((n / 4)) ]; }
all() { [ "$(ready)" -ge "$n" ]; }
wait_for "a quarter of the instances to be Ready" quarter
before=$(ready)
uids() { kubectl get webapps -n failover -o jsonpath='{range .items[*]}{.metadata.name} {.status.plans.deploy.uid}{"\n"}{end}' | sort; }
kill -9 "$leader"
killed=$(ms)
uids >"$work/uids-at-kill"
echo "killed the leader at $(((killed - start)))ms, with $before of $n instances Ready"
wait_for "the standby to lead" grep -qi "successfully acquired lease" "$work/standby.log"
elected=$(ms)
wait_for "every instance to be Ready" all
done_at=$(ms)
sleep 2
uids >"$work/uids-after"
# A run under way at the kill that the standby started again has a new uid.
restarted=$(join -a1 -e NONE -o 0,1.2,2.2 "$work/uids-at-kill" "$work/uids-after" | awk '$2 != "NONE" && $2 != $3' | wc -l)
started=$(awk '$2 != ""' "$work/uids-at-kill" | wc -l)
singles=$(kubectl get events.events.k8s.io -n failover -o jsonpath='{range .items[?(@.reason=="PlanComplete")]}{.regarding.name}{"\n"}{end}' | sort | uniq -d | wc -l)
printf 'kill → standby leads     %.2f s (Lease 15 s)\n' "$(echo "($elected - $killed) / 1000" | bc -l)"
printf 'standby leads → all Ready %.2f s\n' "$(echo "($done_at - $elected) / 1000" | bc -l)"
printf 'created → all Ready      %.2f s\n' "$(echo "($done_at - $start) / 1000" | bc -l)"
echo "deploy runs started before the kill: $started; started again by the standby: $restarted"
echo "PlanComplete events: $(kubectl get events.events.k8s.io -n failover --field-selector reason=PlanComplete --no-headers 2>/dev/null | wc -l) for $n instances; instances with more than one: $singles"
