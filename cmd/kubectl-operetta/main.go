// Command kubectl-operetta is operetta's kubectl plugin: installed on the
// PATH (or with krew), it runs as `kubectl operetta`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"operetta.dev/operetta/internal/cli"
)

func main() {
	root := cli.NewRoot(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	if err := root.Execute(); err != nil {
		os.Exit(cli.ExitCode(err))
	}
}
