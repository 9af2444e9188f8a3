// Command manager runs operetta: the Framework controller and one reconcile
// loop per generated kind, behind leader election.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	operetta "operetta.dev/operetta/internal/manager"
	"operetta.dev/operetta/internal/shard"
	"operetta.dev/operetta/internal/tasks"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "operetta:", err)
		os.Exit(1)
	}
}

// watchListGate is client-go's feature gate for informers that start with a
// streaming watch instead of a list.
const watchListGate = "KUBE_FEATURE_WatchListClient"

func run() error {
	// A loop starts its informer the moment its CRD is established, when the
	// API server's watch cache for the new kind is not ready yet: a
	// watch-list informer then backs off for a second or more before its
	// first sync, a plain list syncs at once. A user's own setting wins.
	if _, set := os.LookupEnv(watchListGate); !set {
		if err := os.Setenv(watchListGate, "false"); err != nil {
			return err
		}
	}
	var (
		metricsAddr, probeAddr, pprofAddr, leaderNS, logFormat, logLevel, shardName, pipeImage string
		leaderElect, requireSA, userRoles, metricsSecure                                       bool
		workers                                                                                int
		qps                                                                                    float64
		burst                                                                                  int
		resync, maxBackoff                                                                     time.Duration
		webhookPort                                                                            int
		webhookCertDir, conversionService, conversionURL, conversionCAFile                     string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes")
	flag.BoolVar(&metricsSecure, "metrics-secure", false, "serve metrics over HTTPS, only to clients the API server authenticates and allows get on /metrics")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "address of Go's pprof endpoints, for profiling; 0 disables them")
	flag.BoolVar(&leaderElect, "leader-elect", true, "elect one active manager; the others stand by")
	flag.StringVar(&leaderNS, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	flag.IntVar(&workers, "workers-per-kind", 4, "concurrent reconciles of each generated kind")
	flag.BoolVar(&requireSA, "require-service-account", false, "refuse Frameworks without spec.serviceAccountName (least-privilege installs, where operetta itself may only read children)")
	flag.BoolVar(&userRoles, "user-roles", true, "grant each generated kind to namespace users: ClusterRoles operetta:<framework>:view and :edit, aggregated into the built-in view, edit and admin roles")
	flag.Float64Var(&qps, "kube-api-qps", 50, "queries per second to the API server, per kind (client-go keeps a budget per REST client, one per kind)")
	flag.IntVar(&burst, "kube-api-burst", 100, "burst of queries to the API server, per kind")
	flag.DurationVar(&resync, "resync", operetta.DefaultResync, "how long an instance whose plan waits goes without an event before it looks again (a safety net: what it waits for wakes it)")
	flag.DurationVar(&maxBackoff, "max-backoff", operetta.DefaultMaxBackoff, "the longest wait between retries of an instance whose plan hit an error (exponential from 100ms)")
	flag.StringVar(&shardName, "shard", "", "run only the Frameworks labelled operetta.dev/shard=NAME, with a leader election of their own (default: the unlabelled ones); see docs/scaling.md")
	flag.StringVar(&pipeImage, "pipe-image", tasks.DefaultPipeImage, "image of the container a Pipe task's pod keeps running for its files to be read out of (it needs sh, sleep and cat)")
	flag.IntVar(&webhookPort, "webhook-port", 0, "port of the HTTPS webhook server that converts the kinds Frameworks serve in several versions; 0: none (such Frameworks are refused)")
	flag.StringVar(&webhookCertDir, "webhook-cert-dir", "", "directory of the webhook server's tls.crt and tls.key")
	flag.StringVar(&conversionService, "conversion-service", "", "NAMESPACE/NAME:PORT of the Service the API server reaches the webhook server through")
	flag.StringVar(&conversionURL, "conversion-url", "", "instead of --conversion-service: the URL the API server reaches the webhook server at, https://host:port")
	flag.StringVar(&conversionCAFile, "conversion-ca-file", "", "PEM file of the CA that signed the webhook server's certificate, given to the API server")
	flag.StringVar(&logFormat, "log-format", "json", "log format: json or console")
	flag.StringVar(&logLevel, "log-level", "info", "log level: info, debug, or a number for more detail (2, 3...)")
	flag.Parse() // --kubeconfig is registered by controller-runtime

	level, err := parseLevel(logLevel)
	if err != nil {
		return err
	}
	if err := shard.Validate(shardName); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(false), zap.Level(level), func(o *zap.Options) {
		if logFormat == "console" {
			o.Encoder = zapcore.NewConsoleEncoder(zapcore.EncoderConfig{
				TimeKey: "ts", LevelKey: "level", NameKey: "logger", MessageKey: "msg",
				EncodeTime: zapcore.ISO8601TimeEncoder, EncodeLevel: zapcore.CapitalLevelEncoder, EncodeDuration: zapcore.StringDurationEncoder,
			})
		}
	}))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	scheme, err := operetta.NewScheme()
	if err != nil {
		return err
	}
	conversion, err := conversionConfig(webhookPort, conversionService, conversionURL, conversionCAFile)
	if err != nil {
		return err
	}
	lease := 15 * time.Second
	options := ctrl.Options{
		Scheme:                        scheme,
		Cache:                         operetta.CacheOptions(),
		Metrics:                       operetta.MetricsOptions(metricsAddr, metricsSecure),
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              pprofAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              shard.LeaderElectionID(shardName),
		LeaderElectionNamespace:       leaderNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &lease,
	}
	if webhookPort > 0 {
		options.WebhookServer = webhook.NewServer(webhook.Options{Port: webhookPort, CertDir: webhookCertDir})
	}
	mgr, err := ctrl.NewManager(cfg, options)
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if _, err := operetta.Setup(mgr, operetta.Options{
		WorkersPerKind: workers, RequireServiceAccount: requireSA, SkipUserRoles: !userRoles,
		Resync: resync, MaxBackoff: maxBackoff, Shard: shardName, PipeImage: pipeImage, Conversion: conversion,
	}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting operetta", "leaderElection", leaderElect, "workersPerKind", workers, "shard", shardName)
	return mgr.Start(ctrl.SetupSignalHandler())
}

// conversionConfig is how the API server reaches the conversion webhook,
// from the flags; nil without --webhook-port.
func conversionConfig(port int, service, url, caFile string) (*apiextensionsv1.WebhookClientConfig, error) {
	if port <= 0 {
		if service != "" || url != "" {
			return nil, fmt.Errorf("--conversion-service and --conversion-url need --webhook-port")
		}
		return nil, nil
	}
	cc := &apiextensionsv1.WebhookClientConfig{}
	switch {
	case (service == "") == (url == ""):
		return nil, fmt.Errorf("--webhook-port needs exactly one of --conversion-service and --conversion-url")
	case url != "":
		cc.URL = &url
	default:
		ns, rest, ok := strings.Cut(service, "/")
		name, portText, hasPort := strings.Cut(rest, ":")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("--conversion-service %q: want NAMESPACE/NAME[:PORT]", service)
		}
		cc.Service = &apiextensionsv1.ServiceReference{Namespace: ns, Name: name}
		if hasPort {
			p, err := strconv.ParseInt(portText, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--conversion-service %q: port: %w", service, err)
			}
			cc.Service.Port = ptr.To(int32(p))
		}
	}
	if caFile == "" {
		return nil, fmt.Errorf("--webhook-port needs --conversion-ca-file: the API server must trust the webhook's certificate")
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--conversion-ca-file: %w", err)
	}
	cc.CABundle = ca
	return cc, nil
}

func parseLevel(s string) (zapcore.Level, error) {
	switch s {
	case "info":
		return zapcore.InfoLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 {
		return 0, fmt.Errorf("--log-level %q: want info, debug or a number", s)
	}
	return zapcore.Level(-n), nil
}
