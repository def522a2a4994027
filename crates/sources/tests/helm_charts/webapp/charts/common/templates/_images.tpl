{{/* registry/repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "common.images.image" -}}
{{- $registry := "" -}}
{{- if and .global .global.imageRegistry -}}
{{- $registry = .global.imageRegistry -}}
{{- else if .imageRoot.registry -}}
{{- $registry = .imageRoot.registry -}}
{{- end -}}
{{- $tag := .imageRoot.tag | default .chart.AppVersion | toString -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .imageRoot.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .imageRoot.repository $tag -}}
{{- end -}}
{{- end -}}
