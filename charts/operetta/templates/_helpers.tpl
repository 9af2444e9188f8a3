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
