{{/* Chart name, truncated to a DNS label. */}}
{{- define "dns01-domains.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name used for every object. */}}
{{- define "dns01-domains.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "dns01-domains.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dns01-domains.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dns01-domains.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dns01-domains.labels" -}}
{{ include "dns01-domains.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dns01
app.kubernetes.io/component: custom-domains
helm.sh/chart: {{ include "dns01-domains.chart" . }}
{{- end -}}

{{- define "dns01-domains.serviceAccountName" -}}
{{- default (include "dns01-domains.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "dns01-domains.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Leader election: leaderElection.enabled when set, else on exactly when there are several
replicas. Several replicas without it would run several controllers that fight over status.
*/}}
{{- define "dns01-domains.leaderElection" -}}
{{- $replicas := int .Values.replicaCount -}}
{{- $on := .Values.leaderElection.enabled -}}
{{- if kindIs "invalid" $on -}}
{{- $on = gt $replicas 1 -}}
{{- end -}}
{{- if and (not $on) (gt $replicas 1) -}}
{{- fail (printf "replicaCount %d with leaderElection.enabled=false would run %d controllers that fight over every CustomDomain: enable leader election or use one replica" $replicas $replicas) -}}
{{- end -}}
{{- ternary "true" "" $on -}}
{{- end -}}

{{/* The route: ingress, httproute or none, with the flags it needs. */}}
{{- define "dns01-domains.route" -}}
{{- $kind := .Values.route.kind -}}
{{- if not (has $kind (list "ingress" "httproute" "none")) -}}
{{- fail (printf "route.kind must be ingress, httproute or none, not %q" $kind) -}}
{{- end -}}
{{- if and (eq $kind "httproute") (not (regexMatch "^[a-z0-9-]+/[a-z0-9.-]+$" (.Values.route.gateway | default ""))) -}}
{{- fail "route.kind=httproute needs route.gateway: the Gateway the HTTPRoutes attach to, as namespace/name (platform/edge)" -}}
{{- end -}}
{{- $kind -}}
{{- end -}}

{{- define "dns01-domains.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (include "dns01-domains.fullname" .) -}}
{{- end -}}
