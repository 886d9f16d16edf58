{{/*
What the chart sets for each component beyond its values' env: the variable naming Kafka (the seeds
differ: KAFKA_BROKER or KAFKA_BOOTSTRAP_SERVERS), its topic variables (variable: key in .Values.topics),
whether it reads Postgres, the parquet files at /data, and which variable takes the pod's name. scenarios:
it takes SCENARIO_FILE (settings/_world.py ScenarioRules). replica:
REPLICA_ID is the pod's name (a transactional producer's id, stable across a restart of the replica);
state: that and STATE_DIR, on a volume of its own. rulesFrom: the world's rules (settings/_world.py) that
it follows but other components own (owner: its variables), taken from the owners' env so that they are
set once and cannot differ.
*/}}
{{- define "storesim.componentSpecs" -}}
clock: {}
foot-traffic:
  kafka: KAFKA_BROKER
  topics: {KAFKA_TOPIC: footTraffic, KAFKA_TOPIC_REALISTIC: footTrafficRealistic}
  scenarios: true
shelf:
  kafka: KAFKA_BROKER
  topics: {KAFKA_TOPIC_SHELF: shelfEvents, KAFKA_TOPIC_FOOT: footTraffic, REDIS_STREAM: shelfRedisStream}
  postgres: true
  data: true
  scenarios: true
redis-kafka-bridge:
  kafka: KAFKA_BROKER
  topics: {KAFKA_TOPIC_SHELF: shelfEvents, REDIS_STREAM: shelfRedisStream}
  podName: BRIDGE_CONSUMER
pos:
  kafka: KAFKA_BROKER
  topics: {FOOT_TOPIC: footTraffic, SHELF_TOPIC: shelfEvents, POS_TOPIC: posTransactions}
  postgres: true
  data: true
  state: true
  scenarios: true
register:
  kafka: KAFKA_BOOTSTRAP_SERVERS
  topics: {KAFKA_TOPIC: posEvents, POS_TOPIC: posTransactions}
  state: true
  scenarios: true
ledger:
  kafka: KAFKA_BOOTSTRAP_SERVERS
  topics: {KAFKA_TOPIC: transactions, KAFKA_TOPIC_REFUNDS: refunds, POS_TOPIC: posTransactions}
  state: true
  scenarios: true
truth:
  kafka: KAFKA_BROKER
  topics: {TRUTH_TOPIC: truth}
  postgres: true
  data: true
  replica: true
  scenarios: true
  rulesFrom:
    foot-traffic: [DEFAULT_DAILY_CUSTOMERS, BASE_DAILY_CUSTOMERS, DAILY_CUSTOMERS, DAILY_VARIATION_PCT, DISABLE_DAILY_VARIATION]
    shelf: [PUTBACK_PROB]
    pos: [FORCE_CHECKOUT_IF_EMPTY, MAX_SESSION_AGE_SEC]
    ledger: [REFUND_PROBABILITY, LEDGER_MODE]
{{- end }}

{{/* A service's environment. Arguments: root, component, spec, values (the component's values). */}}
{{- define "storesim.serviceEnv" -}}
{{- $root := .root }}
- name: METRICS_PORT
  value: {{ $root.Values.metricsPort | quote }}
- name: SCHEMA_REGISTRY_URL
  value: {{ include "storesim.registryUrl" $root | quote }}
- name: REDIS_HOST
  value: {{ include "storesim.redisHost" $root | quote }}
- name: REDIS_PORT
  value: {{ include "storesim.redisPort" $root | quote }}
- name: DLQ_TOPIC
  value: {{ $root.Values.topics.deadLetters | quote }}
- name: STORE_CONTROL_TOPIC
  value: {{ $root.Values.topics.storeControl | quote }}
{{- with .spec.kafka }}
- name: {{ . }}
  value: {{ include "storesim.kafkaBootstrap" $root | quote }}
{{- end }}
{{- range $variable, $key := .spec.topics }}
- name: {{ $variable }}
  value: {{ index $root.Values.topics $key | quote }}
{{- end }}
{{- if .spec.postgres }}
{{ include "storesim.postgresEnv" $root }}
{{- end }}
{{- if .spec.data }}
- name: STORE_PARQUET
  value: /data/store_inventory_final.parquet
- name: DISCOUNT_PARQUET_PATH
  value: /data/all_discounts.parquet
{{- end }}
{{- if .spec.state }}
- name: STATE_DIR
  value: {{ $root.Values.stateDir | quote }}
{{- end }}
{{- if or .spec.state .spec.replica }}
- name: REPLICA_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- with .spec.podName }}
- name: {{ . }}
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- if $root.Values.operator.enabled }}
- name: STORES_FILE
  value: {{ printf "%s/stores.json" (include "storesim.storesMountPath" $root) | quote }}
{{- include "storesim.envMap" (omit $root.Values.common.env "STORE_IDS") }}
{{- else }}
{{- include "storesim.envMap" $root.Values.common.env }}
{{- end }}
{{- if and .spec.scenarios (include "storesim.scenarioFile" $root) }}
- name: SCENARIO_FILE
  value: {{ include "storesim.scenarioFile" $root | quote }}
{{- end }}
{{- include "storesim.envMap" .values.env }}
{{- include "storesim.rulesFromEnv" . }}
{{- end }}

{{/*
The env entries of the world's rules a component follows but does not own (its spec's rulesFrom): each
owner's values (the POS's in .Values.pos), rendered as the owner's own are; one the owner's env lacks is
left out, like an empty one. Arguments: root, spec.
*/}}
{{- define "storesim.rulesFromEnv" -}}
{{- $root := .root }}
{{- $rules := dict }}
{{- range $owner, $names := .spec.rulesFrom }}
{{- $env := ternary $root.Values.pos (index $root.Values.components $owner) (eq $owner "pos") | dig "env" dict }}
{{- range $name := $names }}
{{- if hasKey $env $name }}
{{- $_ := set $rules $name (index $env $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- include "storesim.envMap" $rules }}
{{- end }}

{{/*
A simulator's pod template (Deployment and StatefulSet alike). Arguments: root, component, spec, values.
The parquet files come from the data-loader image through an init container into an emptyDir that the
simulator mounts read-only at /data; state lives at stateDir (the POS's claim, or an emptyDir); with the
operator, the Store controller's ConfigMap is mounted read-only at storesim.storesMountPath.
*/}}
{{- define "storesim.podTemplate" -}}
{{- $root := .root }}
metadata:
  labels:
    {{- include "storesim.labels" . | nindent 4 }}
  {{- with $root.Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- include "storesim.podSecurityContext" . | nindent 4 }}
  {{- if .spec.data }}
  initContainers:
    - name: copy-data
      image: {{ include "storesim.image" (dict "root" $root "image" $root.Values.dataLoaderImage) }}
      imagePullPolicy: {{ $root.Values.dataLoaderImage.pullPolicy }}
      command:
        - cp
        - /opt/storesim-data/store_inventory_final.parquet
        - /opt/storesim-data/all_discounts.parquet
        - /data/
      securityContext:
        {{- include "storesim.containerSecurityContext" . | nindent 8 }}
      resources:
        requests: {cpu: 10m, memory: 16Mi}
        limits: {memory: 64Mi}
      volumeMounts:
        - name: data
          mountPath: /data
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "storesim.image" (dict "root" $root "image" $root.Values.image) }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args: [run, {{ .component }}]
      env:
        {{- include "storesim.serviceEnv" . | trim | nindent 8 }}
      ports:
        - name: metrics
          containerPort: {{ $root.Values.metricsPort }}
          protocol: TCP
      readinessProbe:
        httpGet:
          path: /readyz
          port: metrics
        {{- toYaml $root.Values.probes.readiness | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        {{- toYaml $root.Values.probes.liveness | nindent 8 }}
      resources:
        {{- toYaml .values.resources | nindent 8 }}
      securityContext:
        {{- include "storesim.containerSecurityContext" . | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if .spec.data }}
        - name: data
          mountPath: /data
          readOnly: true
        {{- end }}
        {{- if .spec.state }}
        - name: state
          mountPath: {{ $root.Values.stateDir }}
        {{- end }}
        {{- if $root.Values.operator.enabled }}
        - name: stores
          mountPath: {{ include "storesim.storesMountPath" $root }}
          readOnly: true
        {{- else if and .spec.scenarios $root.Values.scenarios }}
        - name: scenarios
          mountPath: {{ include "storesim.scenariosMountPath" $root }}
          readOnly: true
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if .spec.data }}
    - name: data
      emptyDir:
        sizeLimit: 256Mi
    {{- end }}
    {{- if and .spec.state (ne .component "pos") }}
    - name: state
      emptyDir:
        sizeLimit: 1Gi
    {{- end }}
    {{- if $root.Values.operator.enabled }}
    {{- /* Written by the controller after the install: optional; a directory, no subPath. */}}
    - name: stores
      configMap:
        name: {{ include "storesim.storesConfigMap" $root }}
        optional: true
    {{- else if and .spec.scenarios $root.Values.scenarios }}
    {{- /* The release's own: a directory too, so that `helm upgrade` reaches a running pod. */}}
    - name: scenarios
      configMap:
        name: {{ include "storesim.scenariosConfigMap" $root }}
    {{- end }}
  {{- with $root.Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* The admin tasks' environment (AdminSettings): every topic name and the partition settings. */}}
{{- define "storesim.adminEnv" -}}
- name: KAFKA_BROKER
  value: {{ include "storesim.kafkaBootstrap" . | quote }}
- name: SCHEMA_REGISTRY_URL
  value: {{ include "storesim.registryUrl" . | quote }}
- name: TOPIC_PARTITIONS
  value: {{ .Values.topics.partitions | quote }}
- name: TOPIC_REPLICATION_FACTOR
  value: {{ .Values.topics.replicationFactor | quote }}
- name: STORE_SLOTS
  value: {{ .Values.topics.storeSlots | quote }}
- name: FOOT_TOPIC
  value: {{ .Values.topics.footTraffic | quote }}
- name: KAFKA_TOPIC_REALISTIC
  value: {{ .Values.topics.footTrafficRealistic | quote }}
- name: SHELF_TOPIC
  value: {{ .Values.topics.shelfEvents | quote }}
- name: POS_TOPIC
  value: {{ .Values.topics.posTransactions | quote }}
- name: POS_EVENTS_TOPIC
  value: {{ .Values.topics.posEvents | quote }}
- name: TRANSACTIONS_TOPIC
  value: {{ .Values.topics.transactions | quote }}
- name: KAFKA_TOPIC_REFUNDS
  value: {{ .Values.topics.refunds | quote }}
- name: TRUTH_TOPIC
  value: {{ .Values.topics.truth | quote }}
- name: DLQ_TOPIC
  value: {{ .Values.topics.deadLetters | quote }}
- name: STORE_CONTROL_TOPIC
  value: {{ .Values.topics.storeControl | quote }}
{{- end }}
