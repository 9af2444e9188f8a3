# operetta's build. `make test` and `make demo` work on a fresh machine with
# Go and kubectl: everything else is built from the Go module proxy.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO ?= go
BIN := $(CURDIR)/bin
CONTROLLER_GEN_VERSION := v0.23.0
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
HELM_VERSION := v3.22.0
HELM := $(BIN)/helm-$(HELM_VERSION)
GENERATED := api/v1alpha1/zz_generated.deepcopy.go charts/operetta/crds internal/cli/operetta.dev_frameworks.yaml
export KUBEBUILDER_ASSETS := $(BIN)/k8s

.PHONY: all
all: build

##@ Build

.PHONY: build
build: ## Build the manager into bin/.
	$(GO) build -o $(BIN)/manager ./cmd/manager

VERSION ?= $(shell awk '/^appVersion:/ {gsub(/"/, "", $$2); print $$2}' charts/operetta/Chart.yaml)
IMAGE ?= operetta/manager:$(VERSION)
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)

.PHONY: image
image: ## Build the manager's OCI image without Docker: bin/image.tar and the layout bin/image/.
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)/image-manager ./cmd/manager
	$(GO) run ./hack/image -binary $(BIN)/image-manager -arch $(IMAGE_ARCH) -ref $(IMAGE) -version $(VERSION) \
	  -tarball $(BIN)/image.tar -layout $(BIN)/image
	@echo "$(IMAGE): $(BIN)/image.tar (docker load, kind load image-archive, crane push) and $(BIN)/image/ (OCI layout)"

.PHONY: plugin
plugin: ## Build the kubectl plugin, static: bin/kubectl-operetta (kubectl operetta, once on the PATH).
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/kubectl-operetta ./cmd/kubectl-operetta

.PHONY: plugin-dist
plugin-dist: ## Archives of the plugin for linux and darwin, and its krew manifest: bin/dist/ (VERSION, BASE_URL).
	hack/krew/dist.sh $(or $(PLUGIN_VERSION),v$(VERSION)) $(or $(BASE_URL),https://github.com/operetta-dev/operetta/releases/download/v$(VERSION))

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for api/.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the Framework CRD into charts/operetta/crds (and the plugin's copy).
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./api/... output:crd:artifacts:config=charts/operetta/crds
	@# kubectl-operetta admits Frameworks offline against the same schema.
	cp charts/operetta/crds/operetta.dev_frameworks.yaml internal/cli/operetta.dev_frameworks.yaml

.PHONY: verify
verify: ## Fail if generated files are stale (regenerating them on the way).
	@before=$$(find $(GENERATED) -type f | sort | xargs cat | sha256sum); \
	$(MAKE) --no-print-directory generate manifests; \
	after=$$(find $(GENERATED) -type f | sort | xargs cat | sha256sum); \
	if [ "$$before" != "$$after" ]; then \
	  echo "generated files were stale and have been regenerated: review and commit them" >&2; \
	  git status --short -- $(GENERATED) >&2; exit 1; fi

.PHONY: fmt
fmt: ## Fail on Go files gofmt would change.
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change: $$out (run gofmt -w)" >&2; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

##@ Test

.PHONY: envtest
envtest: ## Build etcd and kube-apiserver for the integration tests.
	hack/control-plane.sh envtest >/dev/null

.PHONY: test
test: verify fmt vet envtest ## Unit and integration tests (a real kube-apiserver), then a brief fuzz.
	$(GO) test ./... -count=1
	$(MAKE) --no-print-directory fuzz

# A count of inputs, not a duration: with a duration, Go's fuzz coordinator can
# report its own deadline as a failure ("context deadline exceeded") when a
# loaded machine delays the workers' stop; a count sets no deadline at all.
FUZZTIME ?= 20000x
.PHONY: fuzz
fuzz: ## Fuzz the template renderer, crdgen, KUDO values and conversion round trips (mappings, and objects through the webhook handler) for FUZZTIME inputs each (seed corpora in testdata/fuzz).
	$(GO) test ./internal/expr -run '^$$' -fuzz FuzzTemplate -fuzztime $(FUZZTIME)
	$(GO) test ./internal/crdgen -run '^$$' -fuzz FuzzGenerate -fuzztime $(FUZZTIME)
	$(GO) test ./internal/kudo -run '^$$' -fuzz FuzzValueFillsOneScalar -fuzztime $(FUZZTIME)
	$(GO) test ./internal/convert -run '^$$' -fuzz FuzzRoundTrip -fuzztime $(FUZZTIME)
	$(GO) test ./internal/conversion -run '^$$' -fuzz FuzzTheHandlerLosesNothing -fuzztime $(FUZZTIME)

.PHONY: e2e
e2e: build plugin $(HELM) ## End-to-end tests: the manager, the examples and the chart on a local kwok cluster.
	hack/control-plane.sh all >/dev/null
	PATH=$(BIN)/k8s:$$PATH HELM=$(HELM) $(GO) test -tags e2e ./test/e2e/ -count=1 -v -timeout 15m

.PHONY: lint-chart
lint-chart: $(HELM) ## Lint the Helm chart and render both RBAC modes.
	$(HELM) lint charts/operetta
	$(HELM) template operetta charts/operetta >/dev/null
	$(HELM) template operetta charts/operetta --set rbac.leastPrivilege=true --set 'rbac.instanceGroups={apps.example.com}' | grep -q -- --require-service-account
	$(HELM) template operetta charts/operetta --set metrics.serviceMonitor.enabled=true | grep -q 'kind: ServiceMonitor'
	$(HELM) template operetta charts/operetta --set replicas=1 | { ! grep -q 'kind: PodDisruptionBudget'; }
	$(HELM) template operetta charts/operetta --set 'shards={,kafka}' | grep -q -- --shard=kafka
	@# A shard named like a number or a boolean stays a string label.
	$(HELM) template operetta charts/operetta --set-string 'shards={,1,yes}' | grep -q 'operetta.dev/shard: "yes"'
	out=$$($(HELM) template operetta charts/operetta --set 'shards={Kafka}' 2>&1 || true); \
	  grep -q "'/shards/0': 'Kafka' does not match pattern" <<<"$$out"
	@# The conversion webhook: a Service per shard, the manager's own certificate or cert-manager's.
	$(HELM) template operetta charts/operetta --set 'shards={,kafka}' | grep -q 'conversion-service=default/operetta-kafka-webhook:443'
	$(HELM) template operetta charts/operetta | grep -q -- '--webhook-cert-secret=default/operetta-webhook-cert'
	$(HELM) template operetta charts/operetta --set conversion.certificate.source=cert-manager | grep -q 'secretName: operetta-webhook-tls'
	$(HELM) template operetta charts/operetta --set conversion.enabled=false | { ! grep -q -- '--webhook-port'; }
	@# The schema refuses a misspelt value, naming it.
	out=$$($(HELM) template operetta charts/operetta --set manager.workersPerKnd=2 2>&1 || true); \
	  grep -q "additional properties 'workersPerKnd' not allowed" <<<"$$out"

.PHONY: bench
bench: ## Benchmarks of the pure core, with allocations.
	$(GO) test ./internal/... -run '^$$' -bench . -benchmem

.PHONY: bench-cluster
bench-cluster: ## operetta against direct apply on a local kwok cluster (BENCH_SIZES, BENCH_IDLE; docs/performance.md).
	hack/bench-cluster.sh

##@ Run

.PHONY: cluster
cluster: ## Start a local kwok cluster; prints its kubeconfig path.
	@hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Delete the local cluster and stop a manager the demo started.
	@hack/cluster.sh down

.PHONY: install
install: ## Install the Framework CRD into $$KUBECONFIG's cluster.
	kubectl apply --server-side -f charts/operetta/crds/

.PHONY: run
run: install ## Run the manager against $$KUBECONFIG.
	$(GO) run ./cmd/manager --leader-election-namespace=kube-system --log-format=console

.PHONY: demo
demo: ## Local cluster, operetta, the ZooKeeper example, deploy plan to COMPLETE.
	hack/demo.sh

$(HELM):
	GOBIN=$(BIN) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/helm $@

$(CONTROLLER_GEN):
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/controller-gen $@

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-z-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2} /^##@/ {printf "\n%s\n", substr($$0, 5)}' $(MAKEFILE_LIST)
