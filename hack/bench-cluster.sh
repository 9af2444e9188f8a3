#!/usr/bin/env bash
# operetta against a direct-apply baseline on a local kwok cluster: starts a
# cluster of its own (CLUSTER_NAME, default bench) with room for 500 one-pod
# instances, builds and runs the manager, and runs test/bench, which prints
# every figure beside its target (docs/performance.md). The cluster and the
# manager are removed at the end, whatever happens.
#
#   BENCH_SIZES="200 500"  instances per run; each size runs operetta and direct
#   BENCH_IDLE=60s         how long to count the manager's requests once all is ready
#   BENCH_WORKERS=16       client workers creating instances or children
#   BENCH_TIMEOUT=20m      longest a run may take until everything is ready
#   BENCH_FIRST=3          fresh Frameworks for "Framework applied → first children"
#   CLUSTER_NODES=10       simulated nodes (110 pods each)
#   OPERETTA_SRC           a checkout to build the manager and take the Framework CRD
#                          from (default: this one), e.g. a `git worktree` of a commit
#   MANAGER_FLAGS          extra flags for the manager
#   METRICS_PORT=18480 PROBE_PORT=18481
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CLUSTER_NAME=${CLUSTER_NAME:-bench}
export CLUSTER_NODES=${CLUSTER_NODES:-10}
export OPERETTA_WORKDIR=${OPERETTA_WORKDIR:-$root/.work}
export PATH=$root/bin/k8s:$PATH # kubectl, if the machine has none
work=$OPERETTA_WORKDIR/cluster-$CLUSTER_NAME
metrics_port=${METRICS_PORT:-18480}
probe_port=${PROBE_PORT:-18481}
say() { printf '==> %s\n' "$*" >&2; }

say "building the control plane (cached after the first run), the manager and the benchmark"
hack/control-plane.sh all >/dev/null
src=$(cd "${OPERETTA_SRC:-$root}" && pwd)
manager=$src/bin/manager
(cd "$src" && go build -o "$manager" ./cmd/manager)
go build -tags benchcluster -o bin/bench-cluster ./test/bench

manager_pid=""
cleanup() {
  local code=$?
  if [ -n "$manager_pid" ]; then
    kill "$manager_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$manager_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$manager_pid" 2>/dev/null || true
    cp "$work/manager.log" "$OPERETTA_WORKDIR/bench-manager.log" 2>/dev/null &&
      echo "manager log: $OPERETTA_WORKDIR/bench-manager.log" >&2
  fi
  hack/cluster.sh down || true
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting cluster $CLUSTER_NAME with $CLUSTER_NODES simulated nodes"
hack/cluster.sh down >/dev/null 2>&1 || true # a fresh cluster every time
KUBECONFIG=$(hack/cluster.sh up)
export KUBECONFIG
# The default Service range of a kwokctl cluster holds ~250 Services.
kubectl apply --server-side -f - >/dev/null <<'EOF'
apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata:
  name: bench
spec:
  cidrs: ["10.96.0.0/16"]
EOF
kubectl wait servicecidr/bench --for=condition=Ready --timeout=60s >/dev/null
kubectl wait nodes --all --for=condition=Ready --timeout=120s >/dev/null
kubectl apply --server-side -f "$src/charts/operetta/crds/" >/dev/null
kubectl wait crd/frameworks.operetta.dev --for=condition=Established --timeout=60s >/dev/null

say "starting the manager ($manager)"
# shellcheck disable=SC2086 # MANAGER_FLAGS is a list of flags
"$manager" --kubeconfig "$KUBECONFIG" --leader-elect=false --log-format=console \
  --metrics-bind-address=127.0.0.1:"$metrics_port" --health-probe-bind-address=127.0.0.1:"$probe_port" \
  ${MANAGER_FLAGS:-} >"$work/manager.log" 2>&1 &
manager_pid=$!
ready=""
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$probe_port/readyz" >/dev/null 2>&1 &&
    curl -sf "http://127.0.0.1:$metrics_port/metrics" >/dev/null 2>&1; then
    ready=1; break
  fi
  kill -0 "$manager_pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "the manager did not become ready; its log:" >&2
  tail -n 40 "$work/manager.log" >&2
  exit 1
fi

say "running the benchmark"
bin/bench-cluster --kubeconfig "$KUBECONFIG" \
  --framework examples/webapp/framework.yaml --instance examples/webapp/instance.yaml \
  --sizes "${BENCH_SIZES:-200 500}" --idle "${BENCH_IDLE:-60s}" --workers "${BENCH_WORKERS:-16}" \
  --run-timeout "${BENCH_TIMEOUT:-20m}" --first-repeats "${BENCH_FIRST:-3}" \
  --metrics-url "http://127.0.0.1:$metrics_port/metrics" --manager-pid "$manager_pid"
