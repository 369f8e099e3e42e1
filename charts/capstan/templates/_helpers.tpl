{{/* The chart's name, or nameOverride. */}}
{{- define "capstan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-capstan, or the release name when it contains the chart's name. */}}
{{- define "capstan.fullname" -}}
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

{{- define "capstan.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "capstan.labels" -}}
helm.sh/chart: {{ include "capstan.chart" . }}
app.kubernetes.io/name: {{ include "capstan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of a component: (dict "root" $ "component" "scheduler"). */}}
{{- define "capstan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "capstan.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of a component's objects. */}}
{{- define "capstan.componentLabels" -}}
{{ include "capstan.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The image reference; the tag defaults to the chart's appVersion. */}}
{{- define "capstan.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Namespace of the components' leader-election Leases. */}}
{{- define "capstan.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/* The ServiceAccount of a component: (dict "root" $ "component" "scheduler" "values" .Values.scheduler). */}}
{{- define "capstan.serviceAccountName" -}}
{{- if .values.serviceAccount.create }}
{{- default (printf "%s-%s" (include "capstan.fullname" .root) .component) .values.serviceAccount.name }}
{{- else }}
{{- default "default" .values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Whether controller-manager's `--controllers` list enables a controller, as
`ControllerSelection::enables` (upstream's `IsControllerEnabled`): the first entry naming
it (`name` or `-name`, full or short alias) decides, else `*` turns it on when it is on
by default. Entries may be comma lists. Renders "true" or nothing.
(dict "controllers" .Values.controllerManager.controllers "controller" <an entry of files/controllers.yaml>)
*/}}
{{- define "capstan.controllerEnabled" -}}
{{- $c := .controller }}
{{- $decided := "" }}
{{- $star := false }}
{{- range splitList "," (join "," .controllers) }}
{{- $e := trim . }}
{{- if not $decided }}
{{- if or (eq $e $c.name) (eq $e $c.alias) }}{{ $decided = "on" }}
{{- else if or (eq $e (printf "-%s" $c.name)) (eq $e (printf "-%s" $c.alias)) }}{{ $decided = "off" }}
{{- else if eq $e "*" }}{{ $star = true }}
{{- end }}
{{- end }}
{{- end }}
{{- if or (eq $decided "on") (and (eq $decided "") $star $c.enabledByDefault) }}true{{ end }}
{{- end }}

{{/*
The controllers capstan can run (`capstan controllers`, generated from the controller
table): a list of {name, alias, enabledByDefault, concurrentSyncs, informers, rules}.
*/}}
{{- define "capstan.controllerTable" -}}
{{- (.Files.Get "files/controllers.yaml" | fromYaml).controllers | toJson }}
{{- end }}

{{/*
The pod spec of a component: (dict "root" $ "component" "scheduler" "values" .Values.scheduler
"args" (list ...) "volumes" (list ...) "volumeMounts" (list ...)).
Every component serves /healthz, /readyz and /metrics on `values.port`, bound to all
addresses so the kubelet's probes reach it.
*/}}
{{- define "capstan.podSpec" -}}
{{- $root := .root -}}
serviceAccountName: {{ include "capstan.serviceAccountName" . }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
containers:
  - name: {{ .component }}
    image: {{ include "capstan.image" $root }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args:
      - {{ .component }}
      - --bind-address=0.0.0.0:{{ .values.port }}
      {{- range .args }}
      - {{ . | quote }}
      {{- end }}
      {{- range .values.extraArgs }}
      - {{ . | quote }}
      {{- end }}
    env:
      - name: RUST_LOG
        value: {{ $root.Values.logLevel | quote }}
      {{- with .env }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    ports:
      - name: http-metrics
        containerPort: {{ .values.port }}
        protocol: TCP
      {{- with .ports }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    livenessProbe:
      httpGet:
        path: /healthz
        port: http-metrics
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 5
      failureThreshold: 6
    readinessProbe:
      httpGet:
        path: /readyz
        port: http-metrics
      periodSeconds: 5
      timeoutSeconds: 5
      failureThreshold: 3
    securityContext:
      {{- toYaml $root.Values.securityContext | nindent 6 }}
    {{- with .values.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      {{- with .volumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  {{- with .volumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
A component's Deployment: (dict "root" $ "component" ... "values" ... "args" ... and
optionally "podAnnotations", "volumes", "volumeMounts").
*/}}
{{- define "capstan.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "capstan.fullname" .root }}-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "capstan.componentLabels" . | nindent 4 }}
spec:
  replicas: {{ .values.replicas }}
  selector:
    matchLabels:
      {{- include "capstan.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "capstan.selectorLabels" . | nindent 8 }}
        {{- with .values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with (merge (dict) (default (dict) .podAnnotations) .values.podAnnotations) }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- include "capstan.podSpec" . | nindent 6 }}
{{- end }}

{{/* Leader-election flags of controller-manager and node-agent. */}}
{{- define "capstan.leaderElectArgs" -}}
{{- $le := .root.Values.leaderElection }}
{{- if $le.enabled }}
{{- list "--leader-elect=true" (printf "--leader-elect-resource-namespace=%s" (include "capstan.leaseNamespace" .root)) (printf "--leader-elect-resource-name=%s-%s" (include "capstan.fullname" .root) .component) (printf "--leader-elect-lease-duration=%s" $le.leaseDuration) (printf "--leader-elect-renew-deadline=%s" $le.renewDeadline) (printf "--leader-elect-retry-period=%s" $le.retryPeriod) | toJson }}
{{- else }}
{{- list "--leader-elect=false" | toJson }}
{{- end }}
{{- end }}

{{/* The scheduler's KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1). */}}
{{- define "capstan.schedulerConfig" -}}
{{- $le := .Values.leaderElection -}}
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: {{ $le.enabled }}
  resourceNamespace: {{ include "capstan.leaseNamespace" . }}
  resourceName: {{ include "capstan.fullname" . }}-scheduler
  leaseDuration: {{ $le.leaseDuration }}
  renewDeadline: {{ $le.renewDeadline }}
  retryPeriod: {{ $le.retryPeriod }}
profiles:
  {{- toYaml .Values.scheduler.profiles | nindent 2 }}
{{- end }}
