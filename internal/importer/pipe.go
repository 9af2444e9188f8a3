package importer

import (
	"fmt"
	"strings"

	"operetta.dev/operetta/api/v1alpha1"
)

// placeholder makes a Pipe task's placeholder resource: for each file the
// task's pod would have written, an empty Secret or ConfigMap under the
// name KUDO gave it (.Pipes.<key>), annotated as a placeholder. It returns
// the resource's id.
func (im *importer) placeholder(kt kudoTask) string {
	id := im.newID("pipe_" + kt.Name)
	im.ids["\x00pipe "+kt.Name] = id // reserved: no template file is named so
	im.pipePods[kt.Spec.Pod] = true
	im.pipeTasks = append(im.pipeTasks, kt.Name)

	var text strings.Builder
	kinds := map[string]bool{}
	for _, f := range kt.Spec.Pipe {
		file := f.File
		if file == "" {
			file = f.EnvFile
		}
		im.pipes = append(im.pipes, v1alpha1.KUDOPipe{Key: f.Key, Task: kt.Name, Kind: f.Kind, File: file})
		kinds[f.Kind] = true
		fmt.Fprintf(&text, "---\napiVersion: v1\nkind: %s\nmetadata:\n  name: {{ .Pipes.%s }}\n  annotations:\n", f.Kind, f.Key)
		fmt.Fprintf(&text, "    operetta.dev/pipe-placeholder: %q\n", fmt.Sprintf(
			"empty: KUDO's Pipe task %s would run the pod of templates/%s and copy its file %s here; operetta does not run it", kt.Name, kt.Spec.Pod, file))
	}
	res := v1alpha1.Resource{ID: id, GoTemplate: &v1alpha1.GoTemplate{File: "pipe task " + kt.Name, Text: text.String()}}
	for _, k := range []string{"ConfigMap", "Secret"} {
		if kinds[k] {
			res.GoTemplate.Kinds = append(res.GoTemplate.Kinds, v1alpha1.ChildKind{APIVersion: "v1", Kind: k})
		}
	}
	im.placeholders = append(im.placeholders, res)
	im.note("operator.yaml: task %s: a Pipe task, imported as a placeholder (--pipe-placeholders): it applies empty %s instead of running templates/%s; every instance's status.pipePlaceholders says so",
		kt.Name, strings.Join(keysOf(kinds), " and "), kt.Spec.Pod)
	return id
}

func keysOf(m map[string]bool) []string {
	var out []string
	for _, k := range []string{"ConfigMap", "Secret"} {
		if m[k] {
			out = append(out, k+"s")
		}
	}
	return out
}
