package cli

import (
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// Cluster is what the commands that read or write a cluster talk to.
type Cluster struct {
	Client client.Client
	Mapper meta.RESTMapper
	// Namespace is the one instances are looked for in: -n, else the
	// kubeconfig context's.
	Namespace string
}

type options struct {
	streams genericiooptions.IOStreams
	flags   *genericclioptions.ConfigFlags
	cluster func() (*Cluster, error)
	now     func() time.Time
	colour  bool
	// poll is how often plan trigger --wait looks at the instance.
	poll time.Duration
}

// NewRoot returns `kubectl operetta` talking to the cluster its kubeconfig
// flags name.
func NewRoot(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{streams: streams, flags: genericclioptions.NewConfigFlags(true), now: time.Now, poll: time.Second}
	o.cluster = o.connect
	if f, ok := streams.Out.(*os.File); ok && os.Getenv("NO_COLOR") == "" {
		o.colour = term.IsTerminal(int(f.Fd()))
	}
	return o.root()
}

// NewRootWith returns `kubectl operetta` talking to c, with the clock now
// and no colour: for tests.
func NewRootWith(streams genericiooptions.IOStreams, c *Cluster, now func() time.Time) *cobra.Command {
	o := &options{streams: streams, flags: genericclioptions.NewConfigFlags(true), now: now, poll: 200 * time.Millisecond}
	o.cluster = func() (*Cluster, error) {
		if ns := o.namespaceFlag(); ns != "" {
			copied := *c
			copied.Namespace = ns
			return &copied, nil
		}
		return c, nil
	}
	return o.root()
}

func (o *options) root() *cobra.Command {
	root := &cobra.Command{
		Use: "kubectl-operetta",
		// Help shows the command as users type it.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl operetta"},
		Short:       "Drive operetta's operators: plans, Frameworks checked offline, diagnostics",
		Long: "kubectl operetta shows and triggers the plans of instances of the kinds operetta's Frameworks generate,\n" +
			"checks and renders Frameworks offline with the controller's own compiler, and gathers what a bug report needs.",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetOut(o.streams.Out)
	root.SetErr(o.streams.ErrOut)
	o.flags.AddFlags(root.PersistentFlags())
	root.AddCommand(o.planCommand(), o.rolloutCommand(), o.diffCommand(), o.verifyCommand(), o.renderCommand(), o.crdCommand(), o.newCommand(), o.diagnoseCommand(), o.importCommand())
	return root
}

func (o *options) namespaceFlag() string {
	if o.flags.Namespace == nil {
		return ""
	}
	return *o.flags.Namespace
}

// connect builds clients from the kubeconfig flags.
func (o *options) connect() (*Cluster, error) {
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	// No client-side rate limit: the API server's priority and fairness
	// bounds what one client gets, and diff bounds its requests in flight.
	cfg.QPS = -1
	mapper, err := o.flags.ToRESTMapper()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper})
	if err != nil {
		return nil, err
	}
	ns, _, err := o.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	return &Cluster{Client: c, Mapper: mapper, Namespace: ns}, nil
}
