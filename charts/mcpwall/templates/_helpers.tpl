{{/* The chart's name, or nameOverride. */}}
{{- define "mcpwall.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's objects' name: fullnameOverride, else RELEASE-mcpwall (or RELEASE when it
already names the chart). */}}
{{- define "mcpwall.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mcpwall.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcpwall.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mcpwall.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mcpwall.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mcpwall.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mcpwall.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mcpwall.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* "postgresql" when a database URL is given (in values or in existingSecret), else "sqlite". */}}
{{- define "mcpwall.mode" -}}
{{- if or .Values.database.url .Values.existingSecret -}}postgresql{{- else -}}sqlite{{- end -}}
{{- end -}}

{{/* The Secret holding the database URL, the secret key and the Redis URL. */}}
{{- define "mcpwall.secretName" -}}
{{- default (include "mcpwall.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* Whether the pods read a Redis URL, and whether they read a secret key, from the Secret. */}}
{{- define "mcpwall.hasRedis" -}}
{{- if or .Values.redis.url (and .Values.existingSecret .Values.redisFromExistingSecret) -}}true{{- end -}}
{{- end -}}
{{- define "mcpwall.hasSecretKey" -}}
{{- if or .Values.secretKey .Values.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* Every rule across values that values.schema.json cannot state; the release fails with the
rule's message. */}}
{{- define "mcpwall.validate" -}}
{{- $mode := include "mcpwall.mode" . -}}
{{- if and .Values.existingSecret (or .Values.database.url .Values.redis.url .Values.secretKey) -}}
{{- fail "existingSecret is set: leave database.url, redis.url and secretKey empty, and put them in that Secret" -}}
{{- end -}}
{{- if eq $mode "sqlite" -}}
{{- if ne (int .Values.replicaCount) 1 -}}
{{- fail (printf "replicaCount is %v, but without database.url (or existingSecret) mcpwall runs on SQLite, which one replica alone can use: set replicaCount=1, or give a PostgreSQL database.url" .Values.replicaCount) -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- fail "autoscaling.enabled needs PostgreSQL (database.url or existingSecret): SQLite serves one replica" -}}
{{- end -}}
{{- else if not (include "mcpwall.hasSecretKey" .) -}}
{{- fail "secretKey is required with PostgreSQL: every replica needs the same key for upstream secrets (32 random bytes, URL-safe base64; see values.yaml)" -}}
{{- end -}}
{{- if and .Values.database.url (not (regexMatch "^postgresql(\\+psycopg)?://" .Values.database.url)) -}}
{{- fail "database.url must be a postgresql:// URL (SQLite: leave it empty)" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.serviceMonitor.tokenSecret.name) -}}
{{- fail "serviceMonitor.enabled needs serviceMonitor.tokenSecret.name: a Secret holding a viewer admin token, since /metrics asks for one" -}}
{{- end -}}
{{- if eq (int .Values.adminService.metricsPort) (int .Values.adminService.port) -}}
{{- fail "adminService.metricsPort and adminService.port must differ (one Service, two ports)" -}}
{{- end -}}
{{- if eq (int .Values.ports.data) (int .Values.ports.admin) -}}
{{- fail "ports.data and ports.admin must differ" -}}
{{- end -}}
{{- end -}}

{{/* Where the Secret's files are mounted in every mcpwall container. */}}
{{- define "mcpwall.secretsPath" -}}/etc/mcpwall/secrets{{- end -}}

{{/* Whether the pods read any secret at all (SQLite without a secretKey reads none). */}}
{{- define "mcpwall.hasSecrets" -}}
{{- if or (eq (include "mcpwall.mode" .) "postgresql") (include "mcpwall.hasSecretKey" .) (include "mcpwall.hasRedis" .) -}}true{{- end -}}
{{- end -}}

{{/* The environment every mcpwall container of the release gets, besides the ConfigMap's
settings: for each secret, the path of its file (MCPWALL_*_FILE), never the secret itself
(not in an environment variable, a ConfigMap or an argument). */}}
{{- define "mcpwall.env" -}}
{{- $path := include "mcpwall.secretsPath" . -}}
- name: MCPWALL_HOME
  value: /data
{{- if eq (include "mcpwall.mode" .) "postgresql" }}
- name: MCPWALL_DATABASE_URL_FILE
  value: {{ $path }}/database-url
{{- end }}
{{- if include "mcpwall.hasSecretKey" . }}
- name: MCPWALL_SECRET_KEY_FILE
  value: {{ $path }}/secret-key
{{- end }}
{{- if include "mcpwall.hasRedis" . }}
- name: MCPWALL_REDIS_URL_FILE
  value: {{ $path }}/redis-url
{{- end }}
{{- end -}}

{{/* The Secret named secretName as a read-only volume of files: each key the pods read, under
a fixed file name whatever existingSecretKeys calls it; mode 0440 (octal), so only root and the
pod's fsGroup read them. Called with (dict "root" $ "secretName" NAME). */}}
{{- define "mcpwall.secretVolume" -}}
{{- $root := .root -}}
{{- $keys := $root.Values.existingSecretKeys -}}
- name: secrets
  secret:
    secretName: {{ .secretName }}
    defaultMode: 288
    items:
      {{- if eq (include "mcpwall.mode" $root) "postgresql" }}
      - key: {{ $keys.databaseUrl }}
        path: database-url
      {{- end }}
      {{- if include "mcpwall.hasSecretKey" $root }}
      - key: {{ $keys.secretKey }}
        path: secret-key
      {{- end }}
      {{- if include "mcpwall.hasRedis" $root }}
      - key: {{ $keys.redisUrl }}
        path: redis-url
      {{- end }}
{{- end -}}

{{/* The Secret's data: what the chart was given, under the keys existingSecretKeys names. */}}
{{- define "mcpwall.secretData" -}}
{{- if .Values.database.url }}
{{ .Values.existingSecretKeys.databaseUrl }}: {{ .Values.database.url | b64enc | quote }}
{{- end }}
{{- if .Values.secretKey }}
{{ .Values.existingSecretKeys.secretKey }}: {{ .Values.secretKey | trim | b64enc | quote }}
{{- end }}
{{- if .Values.redis.url }}
{{ .Values.existingSecretKeys.redisUrl }}: {{ .Values.redis.url | b64enc | quote }}
{{- end }}
{{- end -}}

{{- define "mcpwall.volumes" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if eq (include "mcpwall.mode" .) "sqlite" }}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "mcpwall.fullname" . }}-data
{{- else }}
- name: data
  emptyDir:
    sizeLimit: 16Mi
{{- end }}
{{- if include "mcpwall.hasSecrets" . }}
{{ include "mcpwall.secretVolume" (dict "root" . "secretName" (include "mcpwall.secretName" .)) }}
{{- end }}
{{- end -}}

{{- define "mcpwall.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- if include "mcpwall.hasSecrets" . }}
- name: secrets
  mountPath: {{ include "mcpwall.secretsPath" . }}
  readOnly: true
{{- end }}
{{- end -}}
