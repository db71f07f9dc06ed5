{{/* Chart name, truncated to a DNS label. */}}
{{- define "dns01-webhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name used for every namespaced object. Kept short (52 characters) so that
suffixes such as "-selfsign" still fit in 63.
*/}}
{{- define "dns01-webhook.fullname" -}}
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

{{- define "dns01-webhook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dns01-webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dns01-webhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dns01-webhook.labels" -}}
{{ include "dns01-webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dns01
helm.sh/chart: {{ include "dns01-webhook.chart" . }}
{{- end -}}

{{- define "dns01-webhook.serviceAccountName" -}}
{{- default (include "dns01-webhook.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The group name, validated: required, a DNS subdomain with at least one dot. */}}
{{- define "dns01-webhook.groupName" -}}
{{- $g := required "groupName is required (the API group your Issuers name in solvers[].dns01.webhook.groupName)" .Values.groupName -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$" $g) -}}
{{- fail (printf "groupName %q must be a lowercase DNS name with at least one dot, e.g. acme.example.com" $g) -}}
{{- end -}}
{{- $g -}}
{{- end -}}

{{- define "dns01-webhook.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Names of the cert-manager objects for the serving certificate. */}}
{{- define "dns01-webhook.selfSignedIssuer" -}}
{{- printf "%s-selfsign" (include "dns01-webhook.fullname" .) -}}
{{- end -}}
{{- define "dns01-webhook.rootCACertificate" -}}
{{- printf "%s-ca" (include "dns01-webhook.fullname" .) -}}
{{- end -}}
{{- define "dns01-webhook.rootCAIssuer" -}}
{{- printf "%s-ca" (include "dns01-webhook.fullname" .) -}}
{{- end -}}
{{- define "dns01-webhook.servingCertificate" -}}
{{- printf "%s-tls" (include "dns01-webhook.fullname" .) -}}
{{- end -}}

{{/* Namespaces where Secrets may be read: secretAccess.namespaces, or [certManager.namespace]. */}}
{{- define "dns01-webhook.secretNamespaces" -}}
{{- $ns := .Values.secretAccess.namespaces | default (list .Values.certManager.namespace) -}}
{{- toJson (uniq $ns) -}}
{{- end -}}

{{/* The --rrset-lock mode: rrsetLock, else lease when there are several replicas. */}}
{{- define "dns01-webhook.rrsetLock" -}}
{{- .Values.rrsetLock | default (ternary "lease" "none" (gt (int .Values.replicaCount) 1)) -}}
{{- end -}}

{{/* Metrics listen address: all interfaces when enabled, loopback otherwise. */}}
{{- define "dns01-webhook.metricsAddress" -}}
{{- if .Values.metrics.enabled -}}
{{- printf "0.0.0.0:%d" (int .Values.metrics.port) -}}
{{- else -}}
{{- printf "127.0.0.1:%d" (int .Values.metrics.port) -}}
{{- end -}}
{{- end -}}
