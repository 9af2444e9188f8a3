// Command manager runs operetta: the Framework controller and one reconcile
// loop per generated kind, behind leader election.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	operetta "operetta.dev/operetta/internal/manager"
	"operetta.dev/operetta/internal/servingcert"
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
		webhooks                                                                               webhookFlags
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
	webhooks.register(flag.CommandLine)
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
	conversion, err := webhooks.clientConfig()
	if err != nil {
		return err
	}
	var (
		certificate certificateSource
		served      *servingcert.Source
	)
	if conversion != nil {
		served = &servingcert.Source{}
		if certificate, err = webhooks.certificate(conversion); err != nil {
			return err
		}
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
	if conversion != nil {
		// The certificate comes from memory at each handshake: see
		// internal/servingcert.
		options.WebhookServer = webhook.NewServer(webhook.Options{Port: webhooks.port, TLSOpts: []func(*tls.Config){served.TLS}})
	}
	mgr, err := ctrl.NewManager(cfg, options)
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if _, err := operetta.Setup(mgr, operetta.Options{
		WorkersPerKind: workers, RequireServiceAccount: requireSA, SkipUserRoles: !userRoles,
		Resync: resync, MaxBackoff: maxBackoff, Shard: shardName, PipeImage: pipeImage, Conversion: conversion, Certificate: served,
	}); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	if certificate != nil {
		if err := certificate.AddTo(ctx, mgr, served); err != nil {
			return fmt.Errorf("the conversion webhook's certificate: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if conversion != nil {
		// The webhook's Service sends conversions only to a replica that
		// serves them: its server started, its certificate at hand.
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("webhook-certificate", func(*http.Request) error {
			_, err := served.GetCertificate(nil)
			return err
		}); err != nil {
			return err
		}
	}
	ctrl.Log.WithName("setup").Info("starting operetta", "leaderElection", leaderElect, "workersPerKind", workers, "shard", shardName)
	return mgr.Start(ctx)
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
