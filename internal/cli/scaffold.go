package cli

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"operetta.dev/operetta/internal/crdgen"
)

//go:embed scaffold/*.yaml
var scaffold embed.FS

// Scaffold names what `new` writes.
type Scaffold struct {
	Name, Kind, Group, Plural, Lower, Dir string
}

// NewScaffold derives a kind and group from a Framework's name: "key-value"
// gives KeyValue in key-value.example.com.
func NewScaffold(name, dir string) (Scaffold, error) {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return Scaffold{}, fmt.Errorf("NAME %q: %s", name, strings.Join(errs, "; "))
	}
	if dir == "" {
		dir = name
	}
	k := crdgen.KindOf(name)
	if k == "" || k[0] < 'A' || k[0] > 'Z' {
		return Scaffold{}, fmt.Errorf("NAME %q: must start with a letter, to make a kind of it", name)
	}
	return Scaffold{Name: name, Kind: k, Group: name + ".example.com", Plural: crdgen.Pluralize(k), Lower: strings.ToLower(k), Dir: dir}, nil
}

// Files renders the scaffold's files, by name.
func (s Scaffold) Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := fs.WalkDir(scaffold, "scaffold", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		t, err := template.ParseFS(scaffold, path)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, s); err != nil {
			return err
		}
		out[filepath.Base(path)] = b.Bytes()
		return nil
	})
	return out, err
}

func (o *options) newCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:     "new NAME",
		Short:   "Write a commented Framework and an instance of its kind to start from",
		Example: "  kubectl operetta new key-value      # key-value/framework.yaml and key-value/instance.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := NewScaffold(args[0], dir)
			if err != nil {
				return err
			}
			files, err := s.Files()
			if err != nil {
				return err
			}
			names := make([]string, 0, len(files))
			for name := range files {
				path := filepath.Join(s.Dir, name)
				if _, err := os.Stat(path); err == nil {
					return fmt.Errorf("%s exists; new writes only new files", path)
				} else if !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				names = append(names, name)
			}
			sort.Strings(names)
			if err := os.MkdirAll(s.Dir, 0o755); err != nil {
				return err
			}
			for _, name := range names {
				path := filepath.Join(s.Dir, name)
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					return err
				}
				_, werr := f.Write(files[name])
				if err := errors.Join(werr, f.Close()); err != nil {
					return err
				}
				fmt.Fprintf(o.streams.Out, "wrote %s\n", path)
			}
			fmt.Fprintf(o.streams.Out, "next: kubectl operetta verify %s\n", filepath.Join(s.Dir, "framework.yaml"))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "where to write the files (default: NAME)")
	return cmd
}
