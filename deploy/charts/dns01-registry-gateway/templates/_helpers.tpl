{{/* Chart name, truncated to a DNS label. */}}
{{- define "dns01-registry-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name used for every object. */}}
{{- define "dns01-registry-gateway.fullname" -}}
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

{{- define "dns01-registry-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dns01-registry-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dns01-registry-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dns01-registry-gateway.labels" -}}
{{ include "dns01-registry-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dns01
app.kubernetes.io/component: registry-gateway
helm.sh/chart: {{ include "dns01-registry-gateway.chart" . }}
{{- end -}}

{{- define "dns01-registry-gateway.serviceAccountName" -}}
{{- default (include "dns01-registry-gateway.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "dns01-registry-gateway.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Where the chart mounts what the configuration names. */}}
{{- define "dns01-registry-gateway.configDir" -}}/etc/gateway/config{{- end -}}
{{- define "dns01-registry-gateway.tokensDir" -}}/etc/gateway/tokens{{- end -}}
{{- define "dns01-registry-gateway.signingKeyDir" -}}/etc/gateway/signing-key{{- end -}}

{{/* The Secret holding the token file: the chart's own, or auth.tokens.existingSecret. */}}
{{- define "dns01-registry-gateway.tokensSecret" -}}
{{- .Values.auth.tokens.existingSecret | default (printf "%s-tokens" (include "dns01-registry-gateway.fullname" .)) -}}
{{- end -}}

{{/*
The gateway's configuration file: config.routes and config.timeouts as given, auth built
from auth.* with the paths where the chart mounts the token file and the signing key.
*/}}
{{- define "dns01-registry-gateway.config" -}}
{{- if not .Values.config.routes -}}
{{- fail "config.routes is empty: add at least one {name, upstream} route (see the README's gateway section)" -}}
{{- end -}}
{{- $cfg := dict "routes" .Values.config.routes -}}
{{- with .Values.config.timeouts -}}
{{- $_ := set $cfg "timeouts" . -}}
{{- end -}}
{{- with (include "dns01-registry-gateway.authConfig" . | fromYaml) -}}
{{- $_ := set $cfg "auth" . -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* The `auth` section, from auth.* and the paths where the chart mounts its files. */}}
{{- define "dns01-registry-gateway.authConfig" -}}
{{- if .Values.auth.enabled -}}
{{- $auth := dict
  "tokens_file" (printf "%s/%s" (include "dns01-registry-gateway.tokensDir" .) .Values.auth.tokens.key)
  "token_lifetime_seconds" (int64 .Values.auth.tokenLifetimeSeconds) -}}
{{- if .Values.auth.kubernetes.enabled -}}
{{- $_ := set $auth "kubernetes" (dict "permissions" .Values.auth.kubernetes.permissions) -}}
{{- end -}}
{{- if .Values.auth.signingKey.existingSecret -}}
{{- $_ := set $auth "signing_key_file" (printf "%s/%s" (include "dns01-registry-gateway.signingKeyDir" .) .Values.auth.signingKey.key) -}}
{{- else if gt (int .Values.replicaCount) 1 -}}
{{- fail (printf "replicaCount %d needs auth.signingKey.existingSecret: each replica would sign tokens with its own key and refuse the others'. Create it with: kubectl -n %s create secret generic %s-signing-key --from-literal=key=\"$(openssl rand -base64 48)\"" (int .Values.replicaCount) .Release.Namespace (include "dns01-registry-gateway.fullname" .)) -}}
{{- end -}}
{{- $limits := dict "max_failures" (int64 .Values.auth.failedLogins.maxFailures) "window_seconds" (int64 .Values.auth.failedLogins.windowSeconds) -}}
{{- with .Values.auth.failedLogins.clientAddressHeader -}}
{{- $_ := set $limits "client_address_header" . -}}
{{- end -}}
{{- $_ := set $auth "failed_logins" $limits -}}
{{- toYaml $auth -}}
{{- end -}}
{{- end -}}

{{/* The hosts the Ingress serves: ingress.hosts, else every route's host. */}}
{{- define "dns01-registry-gateway.ingressHosts" -}}
{{- $hosts := .Values.ingress.hosts -}}
{{- if not $hosts -}}
{{- range .Values.config.routes -}}
{{- if .host -}}
{{- $hosts = append $hosts (lower .host) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $hosts -}}
{{- fail "ingress.enabled needs hosts: set ingress.hosts, or give the routes a host" -}}
{{- end -}}
{{- toJson (uniq $hosts) -}}
{{- end -}}

{{/*
The janitor Leases the routes read the read-only record from (`maintenance.lease`,
`namespace/name`), each once, comma-separated and sorted; empty when no route names one.
*/}}
{{- define "dns01-registry-gateway.maintenanceLeases" -}}
{{- $leases := dict -}}
{{- range $i, $route := .Values.config.routes -}}
{{- with (dig "maintenance" "lease" "" $route) -}}
{{- if ne (len (splitList "/" .)) 2 -}}
{{- fail (printf "config.routes[%d].maintenance.lease: `%s` is not `namespace/name` of the janitor's Lease" $i .) -}}
{{- end -}}
{{- $_ := set $leases . true -}}
{{- end -}}
{{- end -}}
{{- keys $leases | sortAlpha | join "," -}}
{{- end -}}
