package importer

import (
	"fmt"
	"io/fs"
	"path"
	"sort"

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

// read reads a package directory.
func read(fsys fs.FS) (*pkg, error) {
	p := &pkg{templates: map[string]string{}}
	b, err := fs.ReadFile(fsys, "operator.yaml")
	if err != nil {
		return nil, fmt.Errorf("a KUDO package has an operator.yaml: %w", err)
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
	if b, err := fs.ReadFile(fsys, "params.yaml"); err == nil {
		var pf paramsFile
		if err := yaml.Unmarshal(b, &pf); err != nil {
			return nil, fmt.Errorf("params.yaml: %w", err)
		}
		p.params = pf.Parameters
	}
	files, err := fs.Glob(fsys, "templates/*")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		p.templates[path.Base(f)] = string(b)
	}
	return p, nil
}
