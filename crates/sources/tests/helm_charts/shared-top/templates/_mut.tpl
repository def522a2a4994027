{{- define "shared-top.mutate" }}{{ $_ := set .Values "x" "from-include" }}{{ end }}
