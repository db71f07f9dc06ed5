{{/* Chart name, truncated to a DNS label. */}}
{{- define "dns01-registry-janitor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name used for every object. */}}
{{- define "dns01-registry-janitor.fullname" -}}
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

{{- define "dns01-registry-janitor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dns01-registry-janitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dns01-registry-janitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dns01-registry-janitor.labels" -}}
{{ include "dns01-registry-janitor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dns01
app.kubernetes.io/component: registry-janitor
helm.sh/chart: {{ include "dns01-registry-janitor.chart" . }}
{{- end -}}

{{- define "dns01-registry-janitor.serviceAccountName" -}}
{{- default (include "dns01-registry-janitor.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "dns01-registry-janitor.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The registry's namespace: registry.namespace, else the release's. */}}
{{- define "dns01-registry-janitor.registryNamespace" -}}
{{- .Values.registry.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* The Lease that holds the lock and the read-only record, in the registry's namespace. */}}
{{- define "dns01-registry-janitor.leaseName" -}}
{{- .Values.gc.leaseName | default (include "dns01-registry-janitor.fullname" .) -}}
{{- end -}}

{{/* --registry: registry.url, else the Service in front of the Deployment. */}}
{{- define "dns01-registry-janitor.registryUrl" -}}
{{- .Values.registry.url | default (printf "http://%s.%s.svc:5000/" .Values.registry.deployment (include "dns01-registry-janitor.registryNamespace" .)) -}}
{{- end -}}

{{/* The retention flags shared by gc and apply. */}}
{{- define "dns01-registry-janitor.retentionArgs" -}}
{{- if .Values.policy }}
- --policy=/etc/janitor/policy.yaml
{{- end }}
{{- if .Values.protectWorkloads }}
- --kubernetes
{{- end }}
{{- range .Values.registry.hosts }}
- --host={{ . }}
{{- end }}
{{- if .Values.storage.claimName }}
- --storage=/var/lib/registry
{{- end }}
{{- end -}}

{{/* The pod both CronJobs run: $ctx the root context, $args the janitor's arguments. */}}
{{- define "dns01-registry-janitor.jobTemplate" -}}
{{- $ := .ctx -}}
spec:
  backoffLimit: 0
  template:
    metadata:
      labels:
        {{- include "dns01-registry-janitor.labels" $ | nindent 8 }}
        {{- with $.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $.Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "dns01-registry-janitor.serviceAccountName" $ }}
      restartPolicy: Never
      terminationGracePeriodSeconds: {{ int64 .terminationGracePeriodSeconds }}
      {{- with $.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $.Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: janitor
          image: {{ include "dns01-registry-janitor.image" $ | quote }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          args:
            {{- .args | nindent 12 }}
          env:
            - name: RUST_LOG
              value: {{ $.Values.logLevel | quote }}
            {{- with $.Values.registry.credentialsSecret }}
            - name: JANITOR_USERNAME
              valueFrom:
                secretKeyRef:
                  name: {{ . }}
                  key: username
            - name: JANITOR_PASSWORD_FILE
              value: /etc/janitor-credentials/password
            {{- end }}
            {{- with $.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          securityContext:
            {{- toYaml $.Values.securityContext | nindent 12 }}
          resources:
            {{- toYaml $.Values.resources | nindent 12 }}
          volumeMounts:
            # --state-dir: the root filesystem is read-only.
            - name: state
              mountPath: /var/lib/dns01-registry-janitor
            {{- if $.Values.policy }}
            - name: policy
              mountPath: /etc/janitor
              readOnly: true
            {{- end }}
            {{- if $.Values.storage.claimName }}
            - name: storage
              mountPath: /var/lib/registry
              readOnly: true
            {{- end }}
            {{- if $.Values.registry.credentialsSecret }}
            - name: credentials
              mountPath: /etc/janitor-credentials
              readOnly: true
            {{- end }}
      volumes:
        - name: state
          emptyDir: {}
        {{- if $.Values.policy }}
        - name: policy
          configMap:
            name: {{ include "dns01-registry-janitor.fullname" $ }}-policy
        {{- end }}
        {{- with $.Values.storage.claimName }}
        - name: storage
          persistentVolumeClaim:
            claimName: {{ . }}
            readOnly: true
        {{- end }}
        {{- with $.Values.registry.credentialsSecret }}
        - name: credentials
          secret:
            secretName: {{ . }}
            items:
              - key: password
                path: password
        {{- end }}
      {{- with $.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{- define "dns01-registry-janitor.gcArgs" -}}
- gc
- --registry={{ include "dns01-registry-janitor.registryUrl" . }}
- --switch=kubernetes
- --deployment={{ include "dns01-registry-janitor.registryNamespace" . }}/{{ .Values.registry.deployment }}
{{- with .Values.registry.container }}
- --container={{ . }}
{{- end }}
- --lease={{ include "dns01-registry-janitor.registryNamespace" . }}/{{ include "dns01-registry-janitor.leaseName" . }}
- --collector-deadline={{ .Values.gc.collectorDeadline }}
- --rollout-timeout={{ .Values.gc.rolloutTimeout }}
- --probe-timeout={{ .Values.gc.probeTimeout }}
{{- if not .Values.gc.pruneEmptyRepositories }}
- --no-prune
{{- end }}
{{- include "dns01-registry-janitor.retentionArgs" . }}
{{- end -}}

{{- define "dns01-registry-janitor.applyArgs" -}}
- apply
- --registry={{ include "dns01-registry-janitor.registryUrl" . }}
{{- include "dns01-registry-janitor.retentionArgs" . }}
{{- end -}}

{{/* A duration as the janitor reads it (30s, 5m, 1.5h), in seconds. */}}
{{- define "dns01-registry-janitor.seconds" -}}
{{- $amount := regexReplaceAll "^([0-9.]+)(ms|s|m|h|d|w)$" . "${1}" | float64 -}}
{{- $unit := regexReplaceAll "^([0-9.]+)(ms|s|m|h|d|w)$" . "${2}" -}}
{{- mulf $amount (get (dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 "d" 86400.0 "w" 604800.0) $unit) -}}
{{- end -}}
