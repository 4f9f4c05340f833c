{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "ses-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart's name unless the release has it already. */}}
{{- define "ses-exporter.fullname" -}}
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

{{/*
The label matchers with which the PrometheusRule selects the exporter's series:
prometheusRule.selector, else the job the ServiceMonitor gives them (its jobLabel names the
Service's app.kubernetes.io/name label, ses-exporter.name, as in selectorLabels below) and
the release's namespace, the only one the ServiceMonitor scrapes: two releases never
select each other's series, whatever their names. Without the ServiceMonitor the chart
cannot know the job, so it asks.
*/}}
{{- define "ses-exporter.ruleSelector" -}}
{{- if .Values.prometheusRule.selector }}
{{- .Values.prometheusRule.selector }}
{{- else if .Values.serviceMonitor.enabled }}
{{- printf "job=%q, namespace=%q" (include "ses-exporter.name" .) .Release.Namespace }}
{{- else }}
{{- fail "prometheusRule.selector: set it to the label matchers of the job that scrapes the exporter (e.g. job=\"ses-exporter\"): serviceMonitor.enabled is false, so the chart cannot know that job" }}
{{- end }}
{{- end }}

{{- define "ses-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ses-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ses-exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ses-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ses-exporter
{{- end }}

{{- define "ses-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ses-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Whether the web config asks for basic auth: probes cannot send it. */}}
{{- define "ses-exporter.basicAuth" -}}
{{- if (.Values.webConfig).basic_auth_users }}true{{ end }}
{{- end }}

{{- define "ses-exporter.scheme" -}}
{{- if (.Values.webConfig).tls_server_config }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}
