{{/* Chart-local helpers over the common library. */}}
{{- define "webapp.fullname" -}}
{{- include "common.names.fullname" . -}}
{{- end -}}

{{- define "webapp.labels" -}}
{{ include "common.labels.standard" . }}
{{- with .Values.extraLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "webapp.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else -}}
{{- printf "%s-db" (include "webapp.fullname" .) -}}
{{- end -}}
{{- end -}}
