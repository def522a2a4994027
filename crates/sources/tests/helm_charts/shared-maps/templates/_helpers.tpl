{{- define "shared-maps.mutate" -}}
{{- $_ := set .ctx.Values "fromInclude" "yes" -}}
{{- $_ := set .v "addedInInclude" true -}}
{{- end -}}
{{- define "shared-maps.touch" -}}
{{- $_ := set .Values.override "touchedBy" .Template.Name -}}
{{- end -}}
