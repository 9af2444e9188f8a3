package crdgen

import (
	"fmt"
	"strings"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
)

// The internal CRD that validation sees hoists the only version's schema and
// columns to spec.validation and spec.additionalPrinterColumns.
const specSchemaPath = "spec.validation.openAPIV3Schema.properties[spec]"

// translate rewrites the field paths of CRD validation errors to the
// Framework fields they came from, so an author is told which line to fix.
func translate(errs field.ErrorList, fw *v1alpha1.Framework) field.ErrorList {
	rules := []struct{ from, to string }{
		{"metadata.name", "spec.names"},
		{"spec.group", "spec.names.group"},
		{"spec.names.singular", "spec.names.kind"},
		{"spec.names.listKind", "spec.names.kind"},
		{"spec.version", "spec.names.version"},
		{"spec.versions[0].name", "spec.names.version"},
		{specSchemaPath + ".x-kubernetes-validations", "spec.validations"},
	}
	for i, p := range fw.Spec.Parameters {
		rules = append(rules, struct{ from, to string }{
			fmt.Sprintf("%s.properties[%s]", specSchemaPath, p.Name),
			fmt.Sprintf("spec.parameters[%d]", i),
		})
	}
	// The other versions follow the stored one in the CRD.
	for i, v := range fw.Spec.Versions {
		rules = append(rules, struct{ from, to string }{fmt.Sprintf("spec.versions[%d].name", i+1), fmt.Sprintf("spec.versions[%d].name", i)})
		for j, p := range v.Parameters {
			rules = append(rules, struct{ from, to string }{
				fmt.Sprintf("spec.versions[%d].schema.openAPIV3Schema.properties[spec].properties[%s]", i+1, p.Name),
				fmt.Sprintf("spec.versions[%d].parameters[%d]", i, j),
			})
		}
	}
	for i := range fw.Spec.PrinterColumns {
		rules = append(rules, struct{ from, to string }{
			// operetta's own Ready, Plan and Status columns come first.
			fmt.Sprintf("spec.additionalPrinterColumns[%d]", i+3),
			fmt.Sprintf("spec.printerColumns[%d]", i),
		})
	}
	out := make(field.ErrorList, 0, len(errs))
	for _, e := range errs {
		c := *e
		c.Field = rewrite(c.Field, rules)
		if rule, ok := c.BadValue.(apiextensions.ValidationRule); ok {
			c.BadValue = rule.Rule // the whole struct says nothing more
		}
		out = append(out, &c)
	}
	return out
}

func rewrite(path string, rules []struct{ from, to string }) string {
	best := -1
	for i, r := range rules {
		if (path == r.from || strings.HasPrefix(path, r.from+".") || strings.HasPrefix(path, r.from+"[")) &&
			(best < 0 || len(r.from) > len(rules[best].from)) {
			best = i
		}
	}
	if best < 0 {
		return "generated CRD " + path
	}
	return rules[best].to + strings.TrimPrefix(path, rules[best].from)
}
