{{- define "legacy.worker" -}}
name: {{ printf "%s-%s" .root.Release.Name .name }}
queue: {{ .spec.queue }}
cpu: {{ .spec.cpu }}
{{- end -}}
