{{- define "operetta.selectorLabels" -}}
app.kubernetes.io/name: operetta
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "operetta.labels" -}}
{{ include "operetta.selectorLabels" . }}
app.kubernetes.io/part-of: operetta
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "operetta.metricsPort" -}}
{{- if .Values.metrics.secure }}8443{{ else }}8080{{ end }}
{{- end }}

{{- /* 90 % of a memory limit given in Mi or Gi, in MiB; nothing otherwise. */ -}}
{{- define "operetta.goMemLimit" -}}
{{- $limit := "" }}{{ with .Values.resources.limits }}{{ $limit = toString (.memory | default "") }}{{ end }}
{{- if regexMatch "^[0-9]+Mi$" $limit }}{{ div (mul (trimSuffix "Mi" $limit | int) 9) 10 }}MiB
{{- else if regexMatch "^[0-9]+Gi$" $limit }}{{ div (mul (trimSuffix "Gi" $limit | int) 9216) 10 }}MiB
{{- end }}
{{- end }}

{{/*
The Deployment of one shard, its name and its pods' selector, from a dict
with root (the chart's context) and shard ("" for the unsharded manager,
which keeps the names and selector of a chart without shards).
*/}}
{{- define "operetta.shardName" -}}
{{- if .shard }}{{ printf "%s-%s" .root.Release.Name .shard }}{{ else }}{{ .root.Release.Name }}{{ end }}
{{- end }}

{{- define "operetta.shardSelectorLabels" -}}
{{- if .shard }}
{{- /* Not operetta's name: the unsharded Deployment's selector must not match these pods. */}}
app.kubernetes.io/name: operetta-shard
app.kubernetes.io/instance: {{ .root.Release.Name }}
operetta.dev/shard: {{ .shard | quote }}
{{- else }}
{{ include "operetta.selectorLabels" .root }}
{{- end }}
{{- end }}

{{/* A shard's pod labels: its selector's and the common ones. */}}
{{- define "operetta.shardPodLabels" -}}
{{ include "operetta.shardSelectorLabels" . }}
app.kubernetes.io/part-of: operetta
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}
