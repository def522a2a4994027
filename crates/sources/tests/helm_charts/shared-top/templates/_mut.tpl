{{- define "shared-top.mut" }}{{ $_ := set . "m" "from-include" }}{{ $_ := set .Values "m" "v" }}{{ end }}
