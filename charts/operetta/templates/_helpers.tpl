{{- define "operetta.labels" -}}
app.kubernetes.io/name: operetta
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
