{{/*
The Store operator's names, permissions and the simulators' side of it (operator.enabled).

The controller (component "controller") reads the Store and Scenario resources of the release's namespace,
writes them into the ConfigMap <fullname>-stores (keys stores.json and scenarios.json) and reports their
status; one replica leads through the Lease <fullname>-controller. Every simulator mounts that ConfigMap as
a directory (not subPath: the kubelet then swaps in each new version) and reads STORES_FILE from it, and
the ones that take scenarios SCENARIO_FILE.
*/}}

{{- define "storesim.controllerName" -}}
{{- include "storesim.componentName" (dict "root" . "component" "controller") }}
{{- end }}

{{- define "storesim.storesConfigMap" -}}
{{- include "storesim.componentName" (dict "root" . "component" "stores") }}
{{- end }}

{{- define "storesim.storesMountPath" -}}
/etc/storesim/stores
{{- end }}

{{/*
The scenarios the simulators run. With the operator: the controller's scenarios.json beside stores.json
(Scenario resources, the values' included). Without: the values' `scenarios`, in a ConfigMap of the
release mounted at storesim.scenariosMountPath; none, no SCENARIO_FILE.
*/}}
{{- define "storesim.scenariosConfigMap" -}}
{{- include "storesim.componentName" (dict "root" . "component" "scenarios") }}
{{- end }}

{{- define "storesim.scenariosMountPath" -}}
/etc/storesim/scenarios
{{- end }}

{{- define "storesim.scenarioFile" -}}
{{- if .Values.operator.enabled }}
{{- printf "%s/scenarios.json" (include "storesim.storesMountPath" .) }}
{{- else if .Values.scenarios }}
{{- printf "%s/scenarios.json" (include "storesim.scenariosMountPath" .) }}
{{- end }}
{{- end }}

{{/*
Everything the controller may do, in its own namespace only (a Role), whatever the values: exactly what
it calls, as src/storesim/operator/_rbac.py lists it (the tests hold this to that list). Creating cannot be
limited to a name (the name is not known when RBAC decides), so create has a rule of its own.
*/}}
{{- define "storesim.controllerRules" -}}
- apiGroups: [storesim.io]
  resources: [stores]
  verbs: [list, watch]
- apiGroups: [storesim.io]
  resources: [stores/status]
  verbs: [patch]
- apiGroups: [storesim.io]
  resources: [scenarios]
  verbs: [list]
- apiGroups: [storesim.io]
  resources: [scenarios/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [{{ include "storesim.storesConfigMap" . }}]
  verbs: [get, update]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ include "storesim.controllerName" . }}]
  verbs: [get, update]
{{- end }}

{{/* The controller's environment (its settings model): no KUBECONFIG (in-cluster), no STORES_FILE. */}}
{{- define "storesim.controllerEnv" -}}
- name: METRICS_PORT
  value: {{ .Values.metricsPort | quote }}
- name: NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: STORES_CONFIGMAP
  value: {{ include "storesim.storesConfigMap" . | quote }}
- name: LEASE_NAME
  value: {{ include "storesim.controllerName" . | quote }}
{{- include "storesim.envMap" .Values.operator.env }}
{{- end }}

{{/* The port of operator.env.PROMETHEUS_URL (its scheme's when the URL names none); empty if unset. */}}
{{- define "storesim.prometheusPort" -}}
{{- with .Values.operator.env.PROMETHEUS_URL }}
{{- $url := urlParse . }}
{{- $hostPort := splitList ":" $url.host }}
{{- if gt (len $hostPort) 1 }}{{ last $hostPort }}{{ else if eq $url.scheme "https" }}443{{ else }}80{{ end }}
{{- end }}
{{- end }}

{{/*
Fails on what values.schema.json cannot say about `stores`: the CRD's CEL rule (opens before closes), and
two items with one storeId (one Store, one name). Renders nothing.
*/}}
{{/* Fails on two scenarios of one name (one Scenario, one name in the answer key). Renders nothing. */}}
{{- define "storesim.checkScenarios" -}}
{{- $seen := dict }}
{{- range $i, $scenario := .Values.scenarios }}
{{- if hasKey $seen $scenario.name }}
{{- fail (printf "scenarios[%d]: name %s is declared twice" $i $scenario.name) }}
{{- end }}
{{- $_ := set $seen $scenario.name true }}
{{- end }}
{{- end }}

{{- define "storesim.checkStores" -}}
{{- $seen := dict }}
{{- range $i, $store := .Values.stores }}
{{- $name := lower $store.storeId }}
{{- if hasKey $seen $name }}
{{- fail (printf "stores[%d]: storeId %s is declared twice" $i $store.storeId) }}
{{- end }}
{{- $_ := set $seen $name true }}
{{- with $store.openingHours }}
{{- if not (lt .opens .closes) }}
{{- fail (printf "stores[%d].openingHours: opens must be before closes (%s-%s)" $i .opens .closes) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
