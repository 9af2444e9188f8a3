package compile

import (
	"fmt"
	"path"
	"regexp"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
)

// pipeFileName is what a piped file's base name may be: it becomes a key of
// the Secret's or ConfigMap's data, which the API server allows only so.
var pipeFileName = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// podKind is the kind a Pipe task's pod resource must render.
var podKind = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}

// checkPipe checks what of a Pipe task can be checked before its pod is
// rendered: its pod resource renders Pods, and each file is a clean
// absolute path whose base name can key a Secret's data, landing in a
// Secret or a ConfigMap under a key templates can read. Where the pod's
// emptyDir is mounted is known only once the pod is rendered: the task
// checks then that every file lies under it.
func checkPipe(t v1alpha1.Task, out *Framework, taskPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Pod != "" {
		res, ok := out.Resources[t.Pod]
		switch {
		case !ok:
			errs = append(errs, field.NotFound(taskPath.Child("pod"), t.Pod))
		case !res.Emits(podKind):
			errs = append(errs, field.Invalid(taskPath.Child("pod"), t.Pod, "the resource does not render a v1 Pod"))
		}
	}
	for i, f := range t.Pipe {
		fp := taskPath.Child("pipe").Index(i)
		switch {
		case !path.IsAbs(f.File) || path.Clean(f.File) != f.File || f.File == "/":
			errs = append(errs, field.Invalid(fp.Child("file"), f.File, "must be a clean absolute path to a file, for example /tmp/tls.crt"))
		case !pipeFileName.MatchString(path.Base(f.File)):
			errs = append(errs, field.Invalid(fp.Child("file"), f.File, "its base name keys the data of a Secret or ConfigMap: letters, digits, '-', '_' and '.' only"))
		}
		if f.Kind != "Secret" && f.Kind != "ConfigMap" {
			errs = append(errs, field.NotSupported(fp.Child("kind"), f.Kind, []string{"Secret", "ConfigMap"}))
		}
		if !IsIdentifier(f.Key) {
			errs = append(errs, field.Invalid(fp.Child("key"), f.Key, fmt.Sprintf("templates read it as .Pipes.%s: letters, digits and _ only, not starting with a digit", f.Key)))
		}
	}
	return errs
}
