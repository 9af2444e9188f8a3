{{- define "operetta.selectorLabels" -}}
app.kubernetes.io/name: operetta
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "operetta.labels" -}}
{{ include "operetta.selectorLabels" . }}
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
