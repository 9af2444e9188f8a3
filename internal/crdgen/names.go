package crdgen

import (
	"strings"
	"unicode"

	"operetta.dev/operetta/api/v1alpha1"
)

// NamesOf returns fw's names with the defaults filled in: the plural from the
// kind and the version v1. The API server defaults the version too, but a
// Framework read from a file for `lint` has not been through it.
func NamesOf(fw *v1alpha1.Framework) v1alpha1.Names {
	n := *fw.Spec.Names.DeepCopy()
	if n.Plural == "" {
		n.Plural = Pluralize(n.Kind)
	}
	if n.Version == "" {
		n.Version = "v1"
	}
	return n
}

// CRDName is the name of fw's generated CRD.
func CRDName(fw *v1alpha1.Framework) string {
	n := NamesOf(fw)
	return n.Plural + "." + n.Group
}

// Pluralize lowercases an English kind and makes it plural the way most
// Kubernetes kinds are: Redis → redises, Policy → policies, Kafka → kafkas.
func Pluralize(kind string) string {
	k := strings.ToLower(kind)
	switch {
	case k == "":
		return ""
	case strings.HasSuffix(k, "s"), strings.HasSuffix(k, "x"), strings.HasSuffix(k, "z"),
		strings.HasSuffix(k, "ch"), strings.HasSuffix(k, "sh"):
		return k + "es"
	case strings.HasSuffix(k, "y") && len(k) > 1 && !strings.ContainsRune("aeiou", rune(k[len(k)-2])):
		return k[:len(k)-1] + "ies"
	default:
		return k + "s"
	}
}

// KindOf makes a kind of a name written in lower case with separators:
// first-operator → FirstOperator, key_value → KeyValue.
func KindOf(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		switch {
		case r == '-' || r == '_' || r == '.':
			up = true
		case up:
			b.WriteRune(unicode.ToUpper(r))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
