package importer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"syscall"

	"sigs.k8s.io/yaml"
)

// operatorFile is KUDO's operator.yaml.
type operatorFile struct {
	Name            string              `json:"name"`
	OperatorVersion string              `json:"operatorVersion"`
	AppVersion      string              `json:"appVersion"`
	Tasks           []kudoTask          `json:"tasks"`
	Plans           map[string]kudoPlan `json:"plans"`
}

type kudoTask struct {
	Name string       `json:"name"`
	Kind string       `json:"kind"`
	Spec kudoTaskSpec `json:"spec"`
}

type kudoTaskSpec struct {
	Resources []string `json:"resources"`
	Done      bool     `json:"done"`
	Parameter string   `json:"parameter"` // Toggle
	// Pipe
	Pod  string         `json:"pod"`
	Pipe []kudoPipeFile `json:"pipe"`
	// KudoOperator
	Package         string `json:"package"`
	OperatorVersion string `json:"operatorVersion"`
	InstanceName    string `json:"instanceName"`
	ParameterFile   string `json:"parameterFile"`
}

type kudoPipeFile struct {
	File    string `json:"file"`
	EnvFile string `json:"envFile"`
	Kind    string `json:"kind"`
	Key     string `json:"key"`
}

type kudoPlan struct {
	Strategy string      `json:"strategy"`
	Phases   []kudoPhase `json:"phases"`
}

type kudoPhase struct {
	Name     string     `json:"name"`
	Strategy string     `json:"strategy"`
	Steps    []kudoStep `json:"steps"`
}

type kudoStep struct {
	Name  string   `json:"name"`
	Tasks []string `json:"tasks"`
}

// paramsFile is KUDO's params.yaml.
type paramsFile struct {
	Parameters []kudoParam `json:"parameters"`
}

type kudoParam struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	Default     any    `json:"default"`
	Required    *bool  `json:"required"`
	Trigger     string `json:"trigger"`
	Type        string `json:"type"`
	Immutable   *bool  `json:"immutable"`
	Enum        []any  `json:"enum"`
}

// pkg is a KUDO package as read from its directory.
type pkg struct {
	operator  operatorFile
	params    []kudoParam
	templates map[string]string // file name under templates/ → text
}

// read reads the package directory dir: operator.yaml, params.yaml and the
// files of templates/, each through an os.Root of dir and each refused
// unless it is a regular file within the caps (see readFile).
func read(dir string) (*pkg, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the package directory: %w", err)
	}
	defer root.Close()
	r := &reader{root: root}
	p := &pkg{templates: map[string]string{}}
	b, err := r.readFile("operator.yaml")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("a KUDO package has an operator.yaml: %w", err)
	}
	if err != nil {
		return nil, err
	}
	var shape struct {
		Tasks any `json:"tasks"`
	}
	if err := yaml.Unmarshal(b, &shape); err != nil {
		return nil, fmt.Errorf("operator.yaml: %w", err)
	}
	if _, old := shape.Tasks.(map[string]any); old {
		return nil, fmt.Errorf("operator.yaml: tasks is a map, as in packages for KUDO before 0.8; operetta imports the kudo.dev/v1beta1 format (a list of tasks with kind and spec) of KUDO 0.8 and later")
	}
	// Fields operetta has no use for (kudoVersion, maintainers, ...) are
	// ignored.
	if err := yaml.Unmarshal(b, &p.operator); err != nil {
		return nil, fmt.Errorf("operator.yaml: %w", err)
	}
	if p.operator.Name == "" {
		return nil, fmt.Errorf("operator.yaml: name: the operator's name is required")
	}
	switch b, err := r.readFile("params.yaml"); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		var pf paramsFile
		if err := yaml.Unmarshal(b, &pf); err != nil {
			return nil, fmt.Errorf("params.yaml: %w", err)
		}
		p.params = pf.Parameters
	}
	names, err := r.templateNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		b, err := r.readFile("templates/" + name)
		if err != nil {
			return nil, err
		}
		p.templates[name] = string(b)
	}
	return p, nil
}

// The caps on what the importer reads. The imported Framework carries every
// template's text and is one object, which the API server refuses past about
// 1.5 MiB (etcd's default request limit), so a real package is far below
// both; they exist so that a hostile or broken package (a huge sparse file, a
// generated template) cannot make the importer read without bound.
const (
	// MaxFileBytes caps each file of the package.
	MaxFileBytes = 1 << 20
	// MaxPackageBytes caps all the files read, added up.
	MaxPackageBytes = 8 << 20
	// MaxTemplates caps the entries of templates/ (kafka 1.3.2 has 28).
	MaxTemplates = 1000
)

// reader reads a package's files through an os.Root, so that no path, ".."
// or symbolic link leads outside the package directory, and counts what it
// has read against MaxPackageBytes.
type reader struct {
	root *os.Root
	read int64
}

// readFile reads the regular file name (slash-separated, relative to the
// package). Anything else — a symbolic link, even one to a file inside the
// package, a FIFO, a device, a socket, a directory — is refused, naming
// the path: a package is plain files, and a link or a device could make
// the importer copy something of the machine it runs on into the
// Framework, or block. The mode is checked with Lstat before the file is
// opened, the file opened without blocking (a FIFO swapped in meanwhile
// does not wait for a writer) and checked again, by its descriptor, to be
// the same regular file.
func (r *reader) readFile(name string) ([]byte, error) {
	before, err := r.root.Lstat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := regular(name, before); err != nil {
		return nil, err
	}
	f, err := r.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	after, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := regular(name, after); err != nil {
		return nil, err
	}
	if !os.SameFile(before, after) {
		return nil, fmt.Errorf("%s: replaced while it was read; not read", name)
	}
	if err := r.within(name, after.Size()); err != nil {
		return nil, err
	}
	// The size may have grown since Stat: read one byte past the cap to
	// tell.
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := r.within(name, int64(len(b))); err != nil {
		return nil, err
	}
	r.read += int64(len(b))
	return b, nil
}

// regular refuses what is not a regular file, naming its type.
func regular(name string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	what := "not a regular file"
	switch m := fi.Mode(); {
	case m&fs.ModeSymlink != 0:
		what = "a symbolic link"
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeDevice != 0:
		what = "a device"
	}
	return fmt.Errorf("%s: %s; the importer reads only regular files inside the package directory", name, what)
}

// within refuses a file of size bytes past either cap.
func (r *reader) within(name string, size int64) error {
	if size > MaxFileBytes {
		return fmt.Errorf("%s: larger than %d bytes, the cap on a package file; not read", name, MaxFileBytes)
	}
	if r.read+size > MaxPackageBytes {
		return fmt.Errorf("%s: the package's files come to more than %d bytes, the cap on a package; not read", name, MaxPackageBytes)
	}
	return nil
}

// templateNames lists templates/, sorted; none if there is no templates/.
// templates/ itself must be a directory, not a link to one.
func (r *reader) templateNames() ([]string, error) {
	fi, err := r.root.Lstat("templates")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if !fi.IsDir() {
		what := "not a directory"
		if fi.Mode()&fs.ModeSymlink != 0 {
			what = "a symbolic link"
		}
		return nil, fmt.Errorf("templates: %s; the importer reads only a directory templates/ inside the package directory", what)
	}
	d, err := r.root.Open("templates")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(MaxTemplates + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if len(names) > MaxTemplates {
		return nil, fmt.Errorf("templates: more than %d files, the cap on a package; not read", MaxTemplates)
	}
	sort.Strings(names)
	return names, nil
}
