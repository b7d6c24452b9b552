{{/*
Names, labels, the component list and the checks every template relies on.
*/}}

{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* `<release>-<chart>`, or just the release name when it already contains the chart name. */}}
{{- define "switchboard.fullname" -}}
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

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every resource of the release. */}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: switchboard
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels selecting every pod of the release (gateway and services). */}}
{{- define "switchboard.releaseSelector" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one component. Argument: dict root, c (a component). */}}
{{- define "switchboard.selectorLabels" -}}
{{ include "switchboard.releaseSelector" .root }}
app.kubernetes.io/component: {{ .c.name }}
{{- end -}}

{{/* All labels of one component's resources. Argument: dict root, c. */}}
{{- define "switchboard.componentLabels" -}}
{{ include "switchboard.labels" .root }}
app.kubernetes.io/component: {{ .c.name }}
switchboard/role: {{ .c.role }}
{{- end -}}

{{/* The name of one component's resources: `<fullname>-<component>`. Argument: dict root, c. */}}
{{- define "switchboard.componentFullname" -}}
{{- printf "%s-%s" (include "switchboard.fullname" .root) .c.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Deep merge of two maps given as (list base override), returned as JSON: maps merge key by
key, anything else in `override` replaces the base value. (Sprig's mergeOverwrite cannot be
used: it does not let `false`, 0 or "" override a default.)
*/}}
{{- define "switchboard.merge" -}}
{{- $base := index . 0 | default dict -}}
{{- $over := index . 1 | default dict -}}
{{- $out := deepCopy $base -}}
{{- range $key, $value := $over -}}
{{- $current := index $out $key -}}
{{- if and (kindIs "map" $value) (kindIs "map" $current) -}}
{{- $_ := set $out $key (include "switchboard.merge" (list $current $value) | fromJson) -}}
{{- else -}}
{{- $_ := set $out $key $value -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
The enabled components, gateway first, then the services in name order, as JSON
{"items": [{"name", "role", "v": <componentDefaults merged with its own values>}]}.
Every template ranges over this, so a service is one `services.<name>` entry.
*/}}
{{- define "switchboard.components" -}}
{{- $items := list -}}
{{- $gateway := include "switchboard.merge" (list .Values.componentDefaults (omit (.Values.gateway | default dict) "ingress")) | fromJson -}}
{{- if $gateway.enabled -}}
{{- $items = append $items (dict "name" "gateway" "role" "gateway" "v" $gateway) -}}
{{- end -}}
{{- range $name, $own := .Values.services -}}
{{- $v := include "switchboard.merge" (list $.Values.componentDefaults $own) | fromJson -}}
{{- if $v.enabled -}}
{{- $items = append $items (dict "name" $name "role" "service" "v" $v) -}}
{{- end -}}
{{- end -}}
{{- toJson (dict "items" $items) -}}
{{- end -}}

{{/* The image reference of a component. Argument: dict root, c. */}}
{{- define "switchboard.image" -}}
{{- $image := .c.v.image -}}
{{- $repository := $image.repository | default (printf "switchboard/%s" .c.name) -}}
{{- if .root.Values.image.registry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .root.Values.image.registry) $repository -}}
{{- end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Seconds the kubelet waits before SIGKILL. Argument: a component. */}}
{{- define "switchboard.terminationGrace" -}}
{{- $drain := div (add (int .v.shutdownGraceMs) 999) 1000 -}}
{{- $set := int .v.terminationGracePeriodSeconds -}}
{{- if gt $set 0 -}}
{{- $set -}}
{{- else -}}
{{- add (int .v.preStopSleepSeconds) $drain 10 -}}
{{- end -}}
{{- end -}}

{{/* Names of the Secrets the chart creates or the user brings. */}}
{{- define "switchboard.natsSecret" -}}
{{- .Values.nats.auth.existingSecret | default (printf "%s-nats" (include "switchboard.fullname" .)) -}}
{{- end -}}
{{- define "switchboard.jwtSecret" -}}
{{- .Values.auth.jwt.existingSecret | default (printf "%s-jwt" (include "switchboard.fullname" .)) -}}
{{- end -}}
{{- define "switchboard.mongodbSecret" -}}
{{- .Values.store.mongodb.existingSecret | default (printf "%s-mongodb" (include "switchboard.fullname" .)) -}}
{{- end -}}

{{/* Where store.mongodb.tlsCASecret's CA bundle is mounted: the URI's tlsCAFile. */}}
{{- define "switchboard.mongodbCAFile" -}}
/etc/switchboard/mongodb-tls/ca.crt
{{- end -}}

{{/* The bundled Jaeger (tracing.jaeger): its resources' name, labels and selector. */}}
{{- define "switchboard.jaegerName" -}}
{{- printf "%s-jaeger" (include "switchboard.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "switchboard.jaegerSelector" -}}
app.kubernetes.io/name: jaeger
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: jaeger
{{- end -}}
{{- define "switchboard.jaegerLabels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.jaegerSelector" . }}
app.kubernetes.io/part-of: switchboard
app.kubernetes.io/version: {{ .Values.tracing.jaeger.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
Where the components export traces (OTEL_EXPORTER_OTLP_ENDPOINT): tracing.otlpEndpoint, else
the bundled Jaeger's OTLP port for tracing.protocol, else empty (no export).
*/}}
{{- define "switchboard.otlpEndpoint" -}}
{{- if .Values.tracing.otlpEndpoint -}}
{{- .Values.tracing.otlpEndpoint -}}
{{- else if .Values.tracing.jaeger.enabled -}}
{{- printf "http://%s:%d" (include "switchboard.jaegerName" .) (ternary 4318 4317 (eq .Values.tracing.protocol "http/protobuf")) -}}
{{- end -}}
{{- end -}}

{{/* Whether components export to the bundled Jaeger ("true" or empty). */}}
{{- define "switchboard.toBundledJaeger" -}}
{{- if and .Values.tracing.jaeger.enabled (not .Values.tracing.otlpEndpoint) -}}true{{- end -}}
{{- end -}}

{{/*
Checks across values that values.schema.json cannot express; each fails the install with
one line saying what to change. Included once, by configmap.yaml.
*/}}
{{- define "switchboard.validate" -}}
{{- if hasKey .Values.services "gateway" -}}
{{- fail "services.gateway: `gateway` is the GraphQL gateway's name (configured under `gateway`); give the service another name" -}}
{{- end -}}
{{- if and .Values.tracing.jaeger.enabled (hasKey .Values.services "jaeger") -}}
{{- fail "services.jaeger: with tracing.jaeger.enabled the bundled Jaeger is named `<release>-<chart>-jaeger`, like this service's resources; give the service another name" -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled .Values.metrics.podMonitor.enabled -}}
{{- fail "metrics.serviceMonitor.enabled and metrics.podMonitor.enabled are both true: each scrapes every pod, so every series would be collected twice; enable one" -}}
{{- end -}}
{{- $auth := .Values.nats.auth -}}
{{- $need := dict "userPassword" (list "user" "password") "token" (list "token") "nkey" (list "nkeySeed") "creds" (list "creds") -}}
{{- range $method, $fields := $need -}}
{{- range $field := $fields -}}
{{- $value := index $auth $field -}}
{{- if and (eq $auth.method $method) (not $auth.existingSecret) (not $value) -}}
{{- fail (printf "nats.auth.method=%s needs nats.auth.%s, or nats.auth.existingSecret naming a Secret with key %q" $method $field (index $auth.secretKeys $field)) -}}
{{- end -}}
{{- if and $auth.existingSecret $value -}}
{{- fail (printf "nats.auth.%s is set together with nats.auth.existingSecret=%s: put the value in that Secret (key %q) and leave nats.auth.%s empty" $field $auth.existingSecret (index $auth.secretKeys $field) $field) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.nats.tls.clientCert (not .Values.nats.tls.secretName) -}}
{{- fail "nats.tls.clientCert=true needs nats.tls.secretName: the Secret holding the client certificate and key" -}}
{{- end -}}
{{- $jwt := .Values.auth.jwt -}}
{{- if and (eq $jwt.mode "hs256") (not $jwt.hs256Secret) (not $jwt.existingSecret) -}}
{{- fail (printf "auth.jwt.mode=hs256 needs auth.jwt.hs256Secret, or auth.jwt.existingSecret naming a Secret with key %q" $jwt.secretKeys.hs256Secret) -}}
{{- end -}}
{{- if and (eq $jwt.mode "jwksFile") (not $jwt.jwks) (not $jwt.existingSecret) -}}
{{- fail (printf "auth.jwt.mode=jwksFile needs auth.jwt.jwks (the JWKS JSON), or auth.jwt.existingSecret naming a Secret with key %q" $jwt.secretKeys.jwks) -}}
{{- end -}}
{{- if and (eq $jwt.mode "jwksUrl") (not $jwt.jwksUrl) -}}
{{- fail "auth.jwt.mode=jwksUrl needs auth.jwt.jwksUrl" -}}
{{- end -}}
{{- if and $jwt.existingSecret (or $jwt.hs256Secret $jwt.jwks) -}}
{{- fail (printf "auth.jwt.hs256Secret/jwks are set together with auth.jwt.existingSecret=%s: put them in that Secret and leave them empty here" $jwt.existingSecret) -}}
{{- end -}}
{{- $mongo := .Values.store.mongodb -}}
{{- if and (eq .Values.store.type "mongodb") (not $mongo.uri) (not $mongo.existingSecret) -}}
{{- fail (printf "store.type=mongodb needs store.mongodb.uri, or store.mongodb.existingSecret naming a Secret with key %q" $mongo.secretKey) -}}
{{- end -}}
{{- if and $mongo.existingSecret $mongo.uri -}}
{{- fail (printf "store.mongodb.uri is set together with store.mongodb.existingSecret=%s: put the URI in that Secret and leave store.mongodb.uri empty" $mongo.existingSecret) -}}
{{- end -}}
{{- if and (eq .Values.store.type "mongodb") $mongo.uri -}}
{{- /* The URI itself is checked only when it is a value: the chart cannot read existingSecret. */ -}}
{{- with regexFind `^mongodb(\+srv)?://[^/?#]*/[^?#]+` $mongo.uri -}}
{{- fail (printf "store.mongodb.uri names a database (/%s): each service uses its own database, named after it, unless the URI names one, which every service would then share; remove the path and pass options after `/?` (e.g. `?authSource=admin`, not `/admin`)" (regexReplaceAll `^mongodb(\+srv)?://[^/?#]*/` . "")) -}}
{{- end -}}
{{- $caFile := include "switchboard.mongodbCAFile" . -}}
{{- $namesCA := contains (printf "tlsCAFile=%s" $caFile) $mongo.uri -}}
{{- if and $mongo.tlsCASecret (not $namesCA) -}}
{{- fail (printf "store.mongodb.tlsCASecret=%s mounts the CA bundle at %s, but store.mongodb.uri does not use it: add `tls=true&tlsCAFile=%s` to its options" $mongo.tlsCASecret $caFile $caFile) -}}
{{- end -}}
{{- if and (not $mongo.tlsCASecret) (contains "tlsCAFile=/etc/switchboard/mongodb-tls/" $mongo.uri) -}}
{{- fail "store.mongodb.uri names a tlsCAFile under /etc/switchboard/mongodb-tls/, which only store.mongodb.tlsCASecret mounts: set it to the Secret holding the CA bundle" -}}
{{- end -}}
{{- end -}}
{{- $ingress := .Values.gateway.ingress -}}
{{- if and $ingress.enabled (not $ingress.host) -}}
{{- fail "gateway.ingress.enabled=true needs gateway.ingress.host" -}}
{{- end -}}
{{- if and $ingress.enabled $ingress.tls.enabled (not $ingress.tls.secretName) -}}
{{- fail "gateway.ingress.tls.enabled=true needs gateway.ingress.tls.secretName" -}}
{{- end -}}
{{- /* Development tokens (POST /dev/token signs a token for anyone who asks) are never
       enabled through the chart; what extraEnvFrom sources hold cannot be seen here. */ -}}
{{- if hasKey .Values.extraConfig "GATEWAY_DEV_TOKENS" -}}
{{- fail "extraConfig.GATEWAY_DEV_TOKENS: development tokens let anyone sign in as anyone (POST /dev/token); they are for `cargo xtask dev` only and this chart never sets GATEWAY_DEV_TOKENS" -}}
{{- end -}}
{{- range $c := (include "switchboard.components" . | fromJson).items -}}
{{- $v := $c.v -}}
{{- $where := ternary "gateway" (printf "services.%s" $c.name) (eq $c.role "gateway") -}}
{{- range $env := $v.extraEnv | default list -}}
{{- if eq (toString $env.name) "GATEWAY_DEV_TOKENS" -}}
{{- fail (printf "%s.extraEnv: GATEWAY_DEV_TOKENS: development tokens let anyone sign in as anyone (POST /dev/token); they are for `cargo xtask dev` only and this chart never sets GATEWAY_DEV_TOKENS" $where) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $c.role "service") (eq $.Values.store.type "sqlite") (or $v.autoscaling.enabled (gt (int $v.replicaCount) 1)) -}}
{{- fail (printf "%s: store.type=sqlite keeps the service's data in one SQLite file that only one pod may use (an emptyDir per pod, or one ReadWriteOnce claim); use replicaCount 1 without autoscaling, or store.type=mongodb, which any number of replicas share" $where) -}}
{{- end -}}
{{- if $v.autoscaling.enabled -}}
{{- if gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas) -}}
{{- fail (printf "%s.autoscaling: minReplicas (%d) is greater than maxReplicas (%d)" $where (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- $requests := ($v.resources | default dict).requests | default dict -}}
{{- if not $requests.cpu -}}
{{- fail (printf "%s.autoscaling needs %s.resources.requests.cpu: the CPU target is a share of it" $where $where) -}}
{{- end -}}
{{- if and (gt (int $v.autoscaling.targetMemoryUtilizationPercentage) 0) (not $requests.memory) -}}
{{- fail (printf "%s.autoscaling.targetMemoryUtilizationPercentage needs %s.resources.requests.memory" $where $where) -}}
{{- end -}}
{{- end -}}
{{- with $v.saga -}}
{{- /* The binary's defaults for what is unset (SB_SAGA_LEASE_MS 15000, _STEP_TIMEOUT_MS 5000). */ -}}
{{- $lease := hasKey . "leaseMs" | ternary (int64 (.leaseMs | default 0)) 15000 -}}
{{- $step := hasKey . "stepTimeoutMs" | ternary (int64 (.stepTimeoutMs | default 0)) 5000 -}}
{{- if gt (mul $step 2) $lease -}}
{{- fail (printf "%s.saga.stepTimeoutMs (%d%s) must be at most half of leaseMs (%d%s): an attempt of a step must end well within the replica's hold on the saga, or the binary refuses to start" $where $step (ternary "" ", the default" (hasKey . "stepTimeoutMs")) $lease (ternary "" ", the default" (hasKey . "leaseMs"))) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $c.name "bookings") (has $jwt.mode (list "jwksUrl" "jwksFile")) (not (dig "serviceToken" "secretName" "" $v)) -}}
{{- fail (printf "services.bookings: auth.jwt.mode=%s verifies tokens with a JWKS only, so the bookings service cannot sign its own token for the booking saga's calls to tickets and billing, and refuses to start without one: set services.bookings.serviceToken.secretName to a Secret holding a token with the `service` role from your identity provider (key %q)" $jwt.mode (dig "serviceToken" "key" "token" $v)) -}}
{{- end -}}
{{- $drain := div (add (int $v.shutdownGraceMs) 999) 1000 -}}
{{- $grace := int $v.terminationGracePeriodSeconds -}}
{{- if and (gt $grace 0) (le $grace (add (int $v.preStopSleepSeconds) $drain)) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds=%d must exceed preStopSleepSeconds (%d) + shutdownGraceMs in seconds (%d), or the pod is killed while draining" $where $grace (int $v.preStopSleepSeconds) $drain) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The environment of a service's own keys (services.<name>: saga, holdSecs/sweepMs, faults,
smtp; the schema lets each only on its service), as EnvVar YAML; empty when none is set.
An unset key leaves the binary's default. Argument: a service's merged values.
*/}}
{{- define "switchboard.serviceEnv" -}}
{{- $saga := .saga | default dict -}}
{{- range $key, $var := dict "deadlineMs" "SB_SAGA_DEADLINE_MS" "leaseMs" "SB_SAGA_LEASE_MS" "stepTimeoutMs" "SB_SAGA_STEP_TIMEOUT_MS" "sweepMs" "SB_SAGA_SWEEP_MS" "concurrency" "SB_SAGA_CONCURRENCY" }}
{{- if hasKey $saga $key }}
- name: {{ $var }}
  value: {{ index $saga $key | int64 | toString | quote }}
{{- end }}
{{- end }}
{{- if hasKey . "holdSecs" }}
- name: TICKETS_HOLD_SECS
  value: {{ .holdSecs | int64 | toString | quote }}
{{- end }}
{{- if hasKey . "sweepMs" }}
- name: TICKETS_SWEEP_MS
  value: {{ .sweepMs | int64 | toString | quote }}
{{- end }}
{{- with .faults }}
{{- if gt (float64 (.declineRate | default 0)) 0.0 }}
- name: BILLING_DECLINE_RATE
  value: {{ .declineRate | toString | quote }}
{{- end }}
{{- if gt (int64 (.latencyMs | default 0)) 0 }}
- name: BILLING_LATENCY_MS
  value: {{ .latencyMs | int64 | toString | quote }}
{{- end }}
{{- if .overloaded }}
- name: BILLING_OVERLOADED
  value: "true"
{{- end }}
{{- if .injection }}
- name: BILLING_FAULT_INJECTION
  value: "true"
{{- end }}
{{- end }}
{{- with .smtp }}
{{- if .secretName }}
- name: SMTP_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key | default "url" | quote }}
{{- end }}
{{- with .from }}
- name: SMTP_FROM
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* An IntOrString value: integers unquoted (values arrive as floats), percentages quoted. */}}
{{- define "switchboard.intOrString" -}}
{{- if kindIs "string" . -}}
{{- . | quote -}}
{{- else -}}
{{- int . -}}
{{- end -}}
{{- end -}}
