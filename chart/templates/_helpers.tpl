{{/* Names, labels, images and endpoints shared by every template. */}}

{{- define "storesim.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "storesim.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<component>", cut to leave room for a StatefulSet's pod suffix. */}}
{{- define "storesim.componentName" -}}
{{- printf "%s-%s" (include "storesim.fullname" .root) .component | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/*
The setup Job's name: "<fullname>-setup-<revision>-<hash>", the hash the first 8 hex digits of the Job's
spec (its argument `spec`), the prefix cut to keep the whole a label value (63 characters).
*/}}
{{- define "storesim.setupJobName" -}}
{{- $suffix := printf "-%d-%s" (int .root.Release.Revision) (sha256sum .spec | trunc 8) }}
{{- $prefix := include "storesim.componentName" (dict "root" .root "component" "setup") }}
{{- printf "%s%s" ($prefix | trunc (int (sub 63 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{/* Selector labels: stable across upgrades, so never the chart version. */}}
{{- define "storesim.selectorLabels" -}}
app.kubernetes.io/name: {{ include "storesim.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "storesim.labels" -}}
{{ include "storesim.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: storesim
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "storesim.image" -}}
{{- $tag := .image.tag | default .root.Chart.AppVersion -}}
{{- if hasPrefix "sha256:" $tag }}{{ printf "%s@%s" .image.repository $tag }}{{ else }}{{ printf "%s:%s" .image.repository $tag }}{{ end }}
{{- end }}

{{/* The restricted Pod Security Standard, for storesim's own containers. */}}
{{- define "storesim.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "storesim.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Endpoints: the bundled service's, or the external one from values (required then). */}}
{{- define "storesim.kafkaBootstrap" -}}
{{- if .Values.kafka.bundled }}{{ include "storesim.fullname" . }}-kafka:9092
{{- else }}{{ required "kafka.external.bootstrapServers is required when kafka.bundled is false" .Values.kafka.external.bootstrapServers }}
{{- end }}
{{- end }}

{{- define "storesim.registryUrl" -}}
{{- if .Values.schemaRegistry.bundled }}http://{{ include "storesim.fullname" . }}-schema-registry:8080/apis/ccompat/v7
{{- else }}{{ required "schemaRegistry.external.url is required when schemaRegistry.bundled is false" .Values.schemaRegistry.external.url }}
{{- end }}
{{- end }}

{{- define "storesim.redisHost" -}}
{{- if .Values.redis.bundled }}{{ include "storesim.fullname" . }}-redis
{{- else }}{{ required "redis.external.host is required when redis.bundled is false" .Values.redis.external.host }}
{{- end }}
{{- end }}

{{- define "storesim.redisPort" -}}
{{- if .Values.redis.bundled }}6379{{ else }}{{ .Values.redis.external.port }}{{ end }}
{{- end }}

{{- define "storesim.postgresHost" -}}
{{- if .Values.postgres.bundled }}{{ include "storesim.fullname" . }}-postgres
{{- else }}{{ required "postgres.external.host is required when postgres.bundled is false" .Values.postgres.external.host }}
{{- end }}
{{- end }}

{{- define "storesim.postgresPort" -}}
{{- if .Values.postgres.bundled }}5432{{ else }}{{ .Values.postgres.external.port }}{{ end }}
{{- end }}

{{- define "storesim.postgresSecret" -}}
{{- .Values.postgres.existingSecret | default (printf "%s-postgres" (include "storesim.fullname" .)) }}
{{- end }}

{{/* The shelf seed's PG_* variables (PostgresSettings). */}}
{{- define "storesim.postgresEnv" -}}
- name: PG_HOST
  value: {{ include "storesim.postgresHost" . | quote }}
- name: PG_PORT
  value: {{ include "storesim.postgresPort" . | quote }}
- name: PG_DB
  value: {{ .Values.postgres.database | quote }}
- name: PG_USER
  value: {{ .Values.postgres.user | quote }}
- name: PG_PASS
  valueFrom:
    secretKeyRef:
      name: {{ include "storesim.postgresSecret" . }}
      key: password
- name: DAILY_DISCOUNT_TABLE
  value: {{ .Values.postgres.dailyDiscountTable | quote }}
{{- end }}

{{/* Each `name: value` of a map as an env entry, skipping empty values (the setting's default holds). */}}
{{- define "storesim.envMap" -}}
{{- range $name, $value := . }}
{{- if ne (toString $value) "" }}
- name: {{ $name }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The bundled infrastructure's security context: the restricted profile except readOnlyRootFilesystem,
since the official images write their configuration and runtime files into the image's own paths.
Argument: the image's numeric user (its image may name a user, which runAsNonRoot cannot verify).
*/}}
{{- define "storesim.infraPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "storesim.infraContainerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}
