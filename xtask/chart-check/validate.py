#!/usr/bin/env python3
"""Offline checks of rendered manifests (`helm template` output), run by `cargo xtask deploy-check`.

    validate.py -k 1.29 [-k 1.35 ...] [--label NAME] [--policy] [--services a,b] [--quiet] FILE|-
    validate.py --check-schemas

1. Schema: every document is validated against the strict Kubernetes JSON schemas bundled in
   the PyPI package kubernetes-validate (unknown fields are rejected, types are checked), for
   each -k version. Duplicate kind/namespace/name and documents without kind, apiVersion or
   metadata.name fail. A kind kubernetes-validate has no schema for (a CRD) is validated
   against schemas/<group>/<kind>_<version>.json (strict schemas made by crd_schema.py from
   the CRD: the Prometheus Operator's ServiceMonitor and PodMonitor), and fails when there is
   none there either: nothing is skipped. --check-schemas checks those bundled schemas
   instead: each must accept a valid sample and reject every breakage of it in BREAKAGES.
2. Policy (--policy): what the chart promises, checked on the rendered objects — per
   Deployment: non-root, read-only root filesystem, no privilege escalation, all
   capabilities dropped, RuntimeDefault seccomp, no service-account token, /healthz liveness
   and /readyz readiness on the container's port, a preStop hook, and
   terminationGracePeriodSeconds > preStop + SB_SHUTDOWN_GRACE_MS; and the wiring: a Service,
   ServiceAccount and PodDisruptionBudget that select it, an HPA when it has no replicas,
   every referenced ConfigMap and chart-made Secret key present, every PersistentVolumeClaim
   a pod mounts rendered (and such a Deployment at one replica, recreated rather than rolled,
   as a ReadWriteOnce volume attaches to one pod); every *_FILE variable (SB_SERVICE_TOKEN_FILE,
   JWT_JWKS_FILE, NATS_*_FILE) naming a file a mounted volume provides; every service with
   SB_INSTANCE_ID = its pod's name and SB_SAGA_STEP_TIMEOUT_MS at most half of
   SB_SAGA_LEASE_MS (the binaries' defaults for what is unset); every HPA, Ingress and component
   NetworkPolicy pointing at something that exists. A Deployment that is not a component
   (no switchboard/role label: the bundled Jaeger) gets the same pod and container hardening,
   liveness and readiness probes on its ports, a memory limit and a Service. Traces: when the
   ConfigMap sets OTEL_EXPORTER_OTLP_ENDPOINT, every component reads that ConfigMap, the
   sampler settings are well-formed, and an endpoint that is a Service of the rendering has
   that port, in the configured protocol, backed by a container port, with every
   NetworkPolicy letting each component through (egress from it, ingress to the target).
   ServiceMonitor/PodMonitor: each selects the Services/pods of every component and nothing
   else, on a port they have, at /metrics, with the job label they carry.
3. Services (--services a,b): the rendered service Deployments (label switchboard/role:
   service) are exactly these components, so each service crate gets one from its values
   block alone.

One line per check (`ok   - ...` or `FAIL - ...`; with --quiet only failures) and a last line
    RESULT passed=N failed=N skipped=N
Exit 1 if anything failed, 2 on usage error.

Lives in xtask/chart-check/ (tooling, not chart); its pinned packages are requirements.txt next
to it.
"""
import argparse
import copy
import json
import math
import os
import re
import sys

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kvu

# Strict JSON schemas of the CRD kinds the chart renders (the Prometheus Operator's
# ServiceMonitor and PodMonitor), made by crd_schema.py: <group>/<kind>_<version>.json.
SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")


def bundled_schema(resource):
    """(path relative to SCHEMAS, schema) of a kind without a schema in kubernetes-validate, or None."""
    group, _, version = resource["apiVersion"].rpartition("/")
    rel = "%s/%s_%s.json" % (group or "core", resource["kind"].lower(), version)
    path = os.path.join(SCHEMAS, rel)
    if not group or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return rel, json.load(f)


def schema_errors(schema, resource):
    """Every error of `resource` against a bundled schema, as `path: message` lines."""
    validator = jsonschema.validators.Draft202012Validator(schema)
    errs = sorted(validator.iter_errors(resource), key=lambda e: list(e.path))
    return ["%s: %s" % (".".join(str(p) for p in e.path) or "<root>", e.message) for e in errs]


# For --check-schemas: one smallest valid object per bundled kind, and edits that each must
# make it invalid (so a schema that accepts anything cannot pass unnoticed).
SAMPLES = {
    "ServiceMonitor": {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                       "metadata": {"name": "x", "labels": {"release": "prom"}},
                       "spec": {"selector": {"matchLabels": {"a": "b"}},
                                "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}]}},
    "PodMonitor": {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
                   "metadata": {"name": "x"},
                   "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]},
                            "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "scheme": "http"}]}},
}
BREAKAGES = [
    ("an unknown top-level field", lambda r, eps: r.__setitem__("extra", 1)),
    ("an unknown field in spec", lambda r, eps: r["spec"].__setitem__("selectr", {})),
    ("an unknown field in an endpoint", lambda r, eps: r["spec"][eps][0].__setitem__("intervall", "30s")),
    ("an unknown field in metadata", lambda r, eps: r["metadata"].__setitem__("label", {})),
    ("a number where a string belongs", lambda r, eps: r["spec"][eps][0].__setitem__("port", 8080)),
    ("a malformed duration", lambda r, eps: r["spec"][eps][0].__setitem__("interval", "30 seconds")),
    ("a scheme out of the enum", lambda r, eps: r["spec"][eps][0].__setitem__("scheme", "ftp")),
    ("a missing spec", lambda r, eps: r.pop("spec")),
    ("another apiVersion", lambda r, eps: r.__setitem__("apiVersion", "monitoring.coreos.com/v2")),
]


def check_schemas(report):
    """Every bundled schema accepts its sample and rejects each breakage of it."""
    found = sorted(os.path.join(d, f)[len(SCHEMAS) + 1:] for d, _, fs in os.walk(SCHEMAS) for f in fs if f.endswith(".json"))
    if not found:
        report.fail("bundled CRD schemas", "none in %s" % SCHEMAS)
    for rel in found:
        with open(os.path.join(SCHEMAS, rel), encoding="utf-8") as f:
            schema = json.load(f)
        kind = schema["properties"]["kind"]["enum"][0]
        what = "bundled schema %s" % rel
        if kind not in SAMPLES:
            report.fail(what, "no sample %s in validate.py to check it with" % kind)
            continue
        sample = SAMPLES[kind]
        eps = "endpoints" if "endpoints" in sample["spec"] else "podMetricsEndpoints"
        problems = ["rejects the valid sample: %s" % e for e in schema_errors(schema, sample)]
        for name, breakage in BREAKAGES:
            broken = copy.deepcopy(sample)
            breakage(broken, eps)
            if not schema_errors(schema, broken):
                problems.append("accepts %s" % name)
        if problems:
            report.fail(what, problems[0], problems[1:])
        else:
            report.ok("%s: accepts a valid %s, rejects %d kinds of error" % (what, kind, len(BREAKAGES)))


def split_docs(text):
    """Split a YAML stream on '---' lines, keeping helm's '# Source:' comment per document."""
    docs, cur = [], []
    for line in text.splitlines():
        if re.match(r"^---\s*(#.*)?$", line):
            docs.append("\n".join(cur))
            cur = []
        else:
            cur.append(line)
    docs.append("\n".join(cur))
    out = []
    for d in docs:
        m = re.search(r"^# Source: (.+)$", d, re.M)
        out.append((m.group(1).strip() if m else "", d))
    return out


def all_errors(resource, version):
    """Every schema error (kubernetes_validate reports only the best match); best effort."""
    try:
        from referencing import Registry, Resource
        api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", resource["apiVersion"])
        full = [v for v in kvu.all_versions() if kvu.major_minor(v) == version][0]
        d = "kubernetes-json-schema/v%s-local-strict" % full
        schema = kvu.schema_contents("%s/%s-%s.json" % (d, resource["kind"].lower(), api_version), version)
        defs = kvu.schema_contents("%s/_definitions.json" % d, version)
        reg = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
        v = jsonschema.validators.Draft202012Validator(schema, registry=reg)
        errs = sorted(v.iter_errors(resource), key=lambda e: list(e.path))
        return ["%s: %s" % (".".join(str(p) for p in e.path) or "<root>", e.message) for e in errs]
    except Exception:  # noqa: BLE001 - purely diagnostic
        return []


class Report:
    def __init__(self, label, quiet):
        self.label = (label + " ") if label else ""
        self.quiet = quiet
        self.passed = self.failed = self.skipped = 0

    def ok(self, what):
        self.passed += 1
        if not self.quiet:
            print("ok   - %s%s" % (self.label, what))

    def fail(self, what, why, more=()):
        self.failed += 1
        print("FAIL - %s%s: %s" % (self.label, what, why))
        for extra in more:
            print("         also: %s" % extra)


def matches(selector, labels):
    """Whether a matchLabels-only selector selects these labels."""
    want = (selector or {}).get("matchLabels") or {}
    return bool(want) and all(labels.get(k) == v for k, v in want.items())


def blocks_eviction(pdb, replicas):
    """Whether a PodDisruptionBudget spec allows no voluntary eviction at `replicas` pods."""
    def count(value):
        if isinstance(value, str) and value.endswith("%"):
            return math.ceil(replicas * int(value[:-1]) / 100)
        return int(value)
    if "minAvailable" in pdb:
        return count(pdb["minAvailable"]) >= replicas
    if "maxUnavailable" in pdb:
        return count(pdb["maxUnavailable"]) == 0
    return False


def policy(resources, report, version):
    """The chart's promises, checked on one rendering (see the module doc)."""
    by_kind = {}
    for r in resources:
        by_kind.setdefault(r["kind"], []).append(r)
    names = lambda kind: {r["metadata"]["name"]: r for r in by_kind.get(kind, [])}  # noqa: E731
    configmaps, secrets, deployments = names("ConfigMap"), names("Secret"), names("Deployment")
    claims = names("PersistentVolumeClaim")
    accounts = names("ServiceAccount")
    if not deployments:
        report.fail("policy [k8s %s]" % version, "no Deployment rendered")
    for name, dep in sorted(deployments.items()):
        what = "policy Deployment/%s [k8s %s]" % (name, version)
        problems = []
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        pod_labels = spec["template"]["metadata"].get("labels", {})
        # The gateway and the services carry switchboard/role; anything else the chart runs
        # (the bundled Jaeger) gets the same hardening but its own probes and no drain rules.
        component = "switchboard/role" in pod_labels
        psc = pod.get("securityContext") or {}
        if pod.get("automountServiceAccountToken") is not False:
            problems.append("automountServiceAccountToken is not false")
        if psc.get("runAsNonRoot") is not True:
            problems.append("pod securityContext.runAsNonRoot is not true")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append("pod seccompProfile is not RuntimeDefault")
        if pod.get("serviceAccountName") not in accounts:
            problems.append("ServiceAccount %r is not rendered" % pod.get("serviceAccountName"))
        for c in pod["containers"]:
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append("%s: readOnlyRootFilesystem is not true" % c["name"])
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append("%s: allowPrivilegeEscalation is not false" % c["name"])
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                problems.append("%s: capabilities do not drop ALL" % c["name"])
            ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            if "/tmp" not in mounts:
                problems.append("%s: no writable /tmp with a read-only root" % c["name"])
            for src in c.get("envFrom", []):
                ref = (src.get("configMapRef") or {}).get("name")
                if ref and ref not in configmaps:
                    problems.append("%s: envFrom ConfigMap %r is not rendered" % (c["name"], ref))
            if not component:
                for probe in ("livenessProbe", "readinessProbe"):
                    handler = c.get(probe) or {}
                    port = (handler.get("httpGet") or handler.get("tcpSocket") or handler.get("grpc") or {}).get("port")
                    if port is None:
                        problems.append("%s: no %s on a port" % (c["name"], probe))
                    elif port not in ports:
                        problems.append("%s: %s port %r is not a container port" % (c["name"], probe, port))
                limits = (c.get("resources") or {}).get("limits") or {}
                if "memory" not in limits:
                    problems.append("%s: no memory limit" % c["name"])
                continue
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = (c.get(probe) or {}).get("httpGet") or {}
                if get.get("path") != path:
                    problems.append("%s: %s is not an httpGet of %s" % (c["name"], probe, path))
                elif get.get("port") not in ports:
                    problems.append("%s: %s port %r is not a container port" % (c["name"], probe, get.get("port")))
            env = {e["name"]: e for e in c.get("env", [])}
            grace_ms = int((env.get("SB_SHUTDOWN_GRACE_MS") or {}).get("value", "10000"))
            pre_stop = (c.get("lifecycle") or {}).get("preStop")
            if not pre_stop:
                problems.append("%s: no preStop hook" % c["name"])
                wait = 0
            elif "sleep" in pre_stop:
                wait = pre_stop["sleep"]["seconds"]
            else:
                wait = int(pre_stop["exec"]["command"][-1])
            tgps = pod.get("terminationGracePeriodSeconds", 30)
            if tgps <= wait + math.ceil(grace_ms / 1000):
                problems.append("%s: terminationGracePeriodSeconds %d <= preStop %ds + drain %ds"
                                % (c["name"], tgps, wait, math.ceil(grace_ms / 1000)))
            for e in env.values():
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["name"] in secrets and ref["key"] not in (secrets[ref["name"]].get("data") or {}):
                    problems.append("%s: env %s wants key %r of Secret %s, which lacks it"
                                    % (c["name"], e["name"], ref["key"], ref["name"]))
                store = e.get("value", "") if e["name"] == "STORE_URL" else ""
                if store.startswith("sqlite:///data/") and "/data" not in mounts:
                    problems.append("%s: STORE_URL is under /data but nothing is mounted there" % c["name"])
                if e["name"].endswith("_FILE") and "value" in e:
                    missing = file_not_mounted(e["value"], mounts, pod.get("volumes", []))
                    if missing:
                        problems.append("%s: %s=%s, but %s" % (c["name"], e["name"], e["value"], missing))
            if pod_labels.get("switchboard/role") == "service":
                instance = ((env.get("SB_INSTANCE_ID") or {}).get("valueFrom") or {}).get("fieldRef") or {}
                if instance.get("fieldPath") != "metadata.name":
                    problems.append("%s: SB_INSTANCE_ID is not the pod's name (fieldRef metadata.name)" % c["name"])
                lease = int((env.get("SB_SAGA_LEASE_MS") or {}).get("value", "15000"))
                step = int((env.get("SB_SAGA_STEP_TIMEOUT_MS") or {}).get("value", "5000"))
                if 2 * step > lease:
                    problems.append("%s: SB_SAGA_STEP_TIMEOUT_MS %d is more than half of SB_SAGA_LEASE_MS %d "
                                    "(the binary refuses it)" % (c["name"], step, lease))
        claimed = [v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", []) if v.get("persistentVolumeClaim")]
        for claim in claimed:
            if claim not in claims:
                problems.append("mounts PersistentVolumeClaim %s, which is not rendered" % claim)
            elif "ReadWriteMany" in claims[claim]["spec"].get("accessModes", []):
                problems.append("PersistentVolumeClaim %s is ReadWriteMany: one SQLite file for several pods" % claim)
        if claimed:
            if spec.get("replicas") != 1:
                problems.append("mounts a volume claim but does not run exactly 1 replica")
            if (spec.get("strategy") or {}).get("type") != "Recreate":
                problems.append("mounts a volume claim but rolls updates (a surge pod cannot attach it): use Recreate")
        for v in pod.get("volumes", []):
            sec = (v.get("secret") or {})
            if sec.get("secretName") in secrets:
                for item in sec.get("items", []):
                    if item["key"] not in (secrets[sec["secretName"]].get("data") or {}):
                        problems.append("volume %s wants key %r of Secret %s, which lacks it"
                                        % (v["name"], item["key"], sec["secretName"]))
        if not any(matches({"matchLabels": s["spec"].get("selector")}, pod_labels) for s in by_kind.get("Service", [])):
            problems.append("no Service selects its pods")
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", []) if matches(p["spec"].get("selector"), pod_labels)]
        if not pdbs and component:
            problems.append("no PodDisruptionBudget selects its pods")
        for pdb in pdbs:
            if "replicas" in spec and blocks_eviction(pdb["spec"], spec["replicas"]):
                problems.append("PodDisruptionBudget %s admits no eviction of its %d replica(s): node drains would hang"
                                % (pdb["metadata"]["name"], spec["replicas"]))
        hpas = [h for h in by_kind.get("HorizontalPodAutoscaler", []) if h["spec"]["scaleTargetRef"]["name"] == name]
        if "replicas" not in spec and not hpas:
            problems.append("no replicas and no HorizontalPodAutoscaler")
        if "replicas" in spec and hpas:
            problems.append("both replicas and a HorizontalPodAutoscaler (they would fight)")
        if problems:
            report.fail(what, problems[0], problems[1:])
        else:
            report.ok(what)
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        target = hpa["spec"]["scaleTargetRef"]
        what = "policy HorizontalPodAutoscaler/%s [k8s %s]" % (hpa["metadata"]["name"], version)
        if target["kind"] != "Deployment" or target["name"] not in deployments:
            report.fail(what, "scales %s/%s, which is not rendered" % (target["kind"], target["name"]))
        elif hpa["spec"]["minReplicas"] > hpa["spec"]["maxReplicas"]:
            report.fail(what, "minReplicas > maxReplicas")
        else:
            report.ok(what)
    services = names("Service")
    for ing in by_kind.get("Ingress", []):
        what = "policy Ingress/%s [k8s %s]" % (ing["metadata"]["name"], version)
        problems = []
        for rule in ing["spec"].get("rules", []):
            for p in rule.get("http", {}).get("paths", []):
                svc = p["backend"]["service"]
                if svc["name"] not in services:
                    problems.append("backend Service %s is not rendered" % svc["name"])
                elif svc["port"].get("name") not in {x.get("name") for x in services[svc["name"]]["spec"]["ports"]}:
                    problems.append("Service %s has no port %r" % (svc["name"], svc["port"].get("name")))
        report.fail(what, problems[0], problems[1:]) if problems else report.ok(what)
    for np in by_kind.get("NetworkPolicy", []):
        if np["metadata"].get("namespace"):
            continue  # a policy on NATS/MongoDB pods in their own namespace
        selector = np["spec"]["podSelector"]
        if "app.kubernetes.io/component" not in (selector.get("matchLabels") or {}):
            continue  # a policy on the NATS/MongoDB pods of the release namespace
        what = "policy NetworkPolicy/%s [k8s %s]" % (np["metadata"]["name"], version)
        if any(matches(selector, d["spec"]["template"]["metadata"].get("labels", {})) for d in deployments.values()):
            report.ok(what)
        else:
            report.fail(what, "selects no rendered pods")
    components = {n: d for n, d in deployments.items() if "switchboard/role" in pod_labels_of(d)}
    check_traces(by_kind, components, deployments, report, version)
    check_monitors(by_kind, components, report, version)


def file_not_mounted(path, mounts, volumes):
    """Why the file `path` (an env var's *_FILE) is not provided by a volume, or None: it must
    lie under a volumeMount, and when that volume's Secret/ConfigMap lists items, be one of them."""
    for mount_path, volume_name in mounts.items():
        prefix = mount_path.rstrip("/") + "/"
        if not path.startswith(prefix):
            continue
        volume = next((v for v in volumes if v["name"] == volume_name), None)
        if volume is None:
            return "volume %s is not in the pod" % volume_name
        source = volume.get("secret") or volume.get("configMap") or {}
        items = [i["path"] for i in source.get("items", [])]
        if items and path[len(prefix):] not in items:
            return "volume %s holds only %s" % (volume_name, ", ".join(items))
        return None
    return "no volume is mounted above it"


def pod_labels_of(deployment):
    return deployment["spec"]["template"]["metadata"].get("labels", {})


def selects(selector, labels):
    """Whether a LabelSelector (matchLabels and matchExpressions) selects these labels."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key, None) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def container_port(deployment, port):
    """The container port (number, name) that a Service targetPort or a NetworkPolicy port names."""
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        for p in c.get("ports", []):
            if port in (p["containerPort"], p.get("name")):
                return p["containerPort"], p.get("name")
    return None


def admits(rules, peer_key, peer_labels, port):
    """Whether NetworkPolicy rules (ingress `from` / egress `to`) let a pod with `peer_labels`
    (in the same namespace) through on `port`, the (number, name) of the destination
    container port. Only same-namespace podSelector peers count: a namespaceSelector or
    ipBlock peer is not evaluated here."""
    for rule in rules or []:
        ports = rule.get("ports") or []
        port_ok = not ports or any(p.get("port") in (None,) + tuple(x for x in port if x is not None)
                                   and p.get("protocol", "TCP") == "TCP" for p in ports)
        peers = rule.get(peer_key)
        peer_ok = not peers or any(
            "podSelector" in peer and "namespaceSelector" not in peer and "ipBlock" not in peer
            and selects(peer["podSelector"], peer_labels) for peer in peers)
        if port_ok and peer_ok:
            return True
    return False


def check_traces(by_kind, components, deployments, report, version):
    """Trace export: every component reads the OTEL_* settings from the ConfigMap, they are
    well-formed, and when the endpoint is a Service of the rendering (the bundled Jaeger),
    that Service has the port, a pod listens on it in the configured protocol, and the
    NetworkPolicies let every component reach it."""
    maps = [m for m in by_kind.get("ConfigMap", []) if "OTEL_EXPORTER_OTLP_ENDPOINT" in (m.get("data") or {})]
    if not maps:
        return
    what = "policy traces [k8s %s]" % version
    problems = []
    data, cm = maps[0]["data"], maps[0]["metadata"]["name"]
    endpoint = data["OTEL_EXPORTER_OTLP_ENDPOINT"]
    protocol = data.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    for name, dep in sorted(components.items()):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            if cm not in [(src.get("configMapRef") or {}).get("name") for src in c.get("envFrom", [])]:
                problems.append("Deployment/%s does not read ConfigMap %s (OTEL_EXPORTER_OTLP_ENDPOINT)" % (name, cm))
    if protocol not in ("grpc", "http/protobuf"):
        problems.append("OTEL_EXPORTER_OTLP_PROTOCOL %r is neither grpc nor http/protobuf" % protocol)
    if data.get("OTEL_TRACES_SAMPLER", "parentbased_traceidratio") != "parentbased_traceidratio":
        problems.append("OTEL_TRACES_SAMPLER is %r, not parentbased_traceidratio" % data["OTEL_TRACES_SAMPLER"])
    try:
        ratio = float(data.get("OTEL_TRACES_SAMPLER_ARG", "1"))
        if not 0 <= ratio <= 1:
            problems.append("OTEL_TRACES_SAMPLER_ARG %s is not a ratio from 0 to 1" % ratio)
    except ValueError:
        problems.append("OTEL_TRACES_SAMPLER_ARG %r is not a number" % data["OTEL_TRACES_SAMPLER_ARG"])
    m = re.match(r"^http://([^/:?#]+)(?::([0-9]+))?(/.*)?$", endpoint)
    if not m:
        problems.append("OTEL_EXPORTER_OTLP_ENDPOINT %r is not an http:// URL" % endpoint)
    services = {r["metadata"]["name"]: r for r in by_kind.get("Service", [])}
    host = m.group(1).split(".")[0] if m else ""
    if m and host in services:
        svc, port = services[host], int(m.group(2) or 80)
        sp = [p for p in svc["spec"]["ports"] if p["port"] == port]
        if not sp:
            problems.append("the endpoint's Service %s has no port %d" % (host, port))
        else:
            want = {"otlp-grpc": "grpc", "otlp-http": "http/protobuf"}.get(sp[0].get("name"))
            if want and want != protocol:
                problems.append("port %d of Service %s is %s, but OTEL_EXPORTER_OTLP_PROTOCOL is %s"
                                % (port, host, want, protocol))
            targets = [d for d in deployments.values() if selects({"matchLabels": svc["spec"].get("selector") or {"-": "-"}}, pod_labels_of(d))]
            if not targets:
                problems.append("Service %s selects no rendered pods" % host)
            policies = [n for n in by_kind.get("NetworkPolicy", []) if not n["metadata"].get("namespace")]
            for target in targets:
                cport = container_port(target, sp[0].get("targetPort", port))
                if not cport:
                    problems.append("Deployment/%s has no container port %r (Service %s)"
                                    % (target["metadata"]["name"], sp[0].get("targetPort"), host))
                    continue
                for name, dep in sorted(components.items()):
                    for np in policies:
                        spec = np["spec"]
                        if selects(spec["podSelector"], pod_labels_of(dep)) and "Egress" in spec.get("policyTypes", []) \
                                and not admits(spec.get("egress"), "to", pod_labels_of(target), cport):
                            problems.append("NetworkPolicy/%s keeps %s from %s:%d" % (np["metadata"]["name"], name, host, port))
                        if selects(spec["podSelector"], pod_labels_of(target)) and "Ingress" in spec.get("policyTypes", ["Ingress"]) \
                                and not admits(spec.get("ingress"), "from", pod_labels_of(dep), cport):
                            problems.append("NetworkPolicy/%s keeps %s out of %s:%d" % (np["metadata"]["name"], name, host, port))
    report.fail(what, problems[0], problems[1:]) if problems else report.ok(what)


def check_monitors(by_kind, components, report, version):
    """ServiceMonitor / PodMonitor: each selects the gateway and every service (and nothing
    else), on a port that exists, at /metrics, with a job label they carry."""
    services = by_kind.get("Service", [])
    for mon in by_kind.get("ServiceMonitor", []) + by_kind.get("PodMonitor", []):
        kind, spec = mon["kind"], mon["spec"]
        what = "policy %s/%s [k8s %s]" % (kind, mon["metadata"]["name"], version)
        problems = []
        if spec.get("namespaceSelector"):
            problems.append("has a namespaceSelector: the components are in the monitor's namespace")
        endpoints = spec.get("endpoints" if kind == "ServiceMonitor" else "podMetricsEndpoints") or []
        if not endpoints:
            problems.append("no endpoints")
        for ep in endpoints:
            if ep.get("path", "/metrics") != "/metrics":
                problems.append("scrapes %s, not /metrics" % ep.get("path"))
        if kind == "ServiceMonitor":
            targets = [s for s in services if selects(spec["selector"], s["metadata"].get("labels", {}))]
            for name, dep in sorted(components.items()):
                if not any(selects({"matchLabels": s["spec"].get("selector") or {"-": "-"}}, pod_labels_of(dep)) for s in targets):
                    problems.append("selects no Service of Deployment/%s" % name)
            for s in targets:
                labels, sname = s["metadata"].get("labels", {}), s["metadata"]["name"]
                backs = [d for d in components.values() if selects({"matchLabels": s["spec"].get("selector") or {"-": "-"}}, pod_labels_of(d))]
                if not backs:
                    problems.append("selects Service %s, which fronts no component" % sname)
                for ep in endpoints:
                    sp = [p for p in s["spec"]["ports"] if p.get("name") == ep.get("port")]
                    if not sp:
                        problems.append("Service %s has no port %r" % (sname, ep.get("port")))
                    elif any(not container_port(d, sp[0].get("targetPort", sp[0]["port"])) for d in backs):
                        problems.append("Service %s port %r targets no container port" % (sname, ep.get("port")))
                if spec.get("jobLabel") and spec["jobLabel"] not in labels:
                    problems.append("Service %s lacks the jobLabel %s" % (sname, spec["jobLabel"]))
        else:
            targets = {n: d for n, d in by_kind_deployments(by_kind).items() if selects(spec["selector"], pod_labels_of(d))}
            for name in sorted(set(components) - set(targets)):
                problems.append("selects no pods of Deployment/%s" % name)
            for name, dep in sorted(targets.items()):
                if name not in components:
                    problems.append("selects the pods of Deployment/%s, which is no component" % name)
                for ep in endpoints:
                    if not container_port(dep, ep.get("port")):
                        problems.append("the pods of Deployment/%s have no container port %r" % (name, ep.get("port")))
                if spec.get("jobLabel") and spec["jobLabel"] not in pod_labels_of(dep):
                    problems.append("the pods of Deployment/%s lack the jobLabel %s" % (name, spec["jobLabel"]))
        report.fail(what, problems[0], problems[1:]) if problems else report.ok(what)


def by_kind_deployments(by_kind):
    return {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}


def check_services(resources, report, expected):
    """The service Deployments rendered are exactly `expected` (component names)."""
    rendered = sorted(
        r["metadata"].get("labels", {}).get("app.kubernetes.io/component", "?")
        for r in resources
        if r["kind"] == "Deployment" and r["metadata"].get("labels", {}).get("switchboard/role") == "service"
    )
    what = "services: one Deployment per service crate (%s)" % ", ".join(sorted(expected))
    if rendered == sorted(expected):
        report.ok(what)
    else:
        missing = sorted(set(expected) - set(rendered))
        extra = sorted(set(rendered) - set(expected))
        report.fail(what, "rendered %s; no values block for %s; no crate for %s"
                    % (", ".join(rendered) or "none", ", ".join(missing) or "-", ", ".join(extra) or "-"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", "--kube-version", action="append", default=[],
                    help="Kubernetes minor version to validate against (repeatable). Default: newest bundled")
    ap.add_argument("--label", default="", help="prefix printed on every line (e.g. the values set)")
    ap.add_argument("--policy", action="store_true", help="also check the chart's promises (see above)")
    ap.add_argument("--services", default=None,
                    help="comma-separated service names whose Deployments must be rendered, exactly")
    ap.add_argument("--quiet", action="store_true", help="print only failures and the RESULT line")
    ap.add_argument("--list-versions", action="store_true", help="print the bundled Kubernetes versions and exit")
    ap.add_argument("--check-schemas", action="store_true",
                    help="check the bundled CRD schemas against their samples instead of a FILE")
    ap.add_argument("file", nargs="?")
    a = ap.parse_args()
    if a.check_schemas:
        report = Report(a.label, a.quiet)
        check_schemas(report)
        print("RESULT passed=%d failed=%d skipped=%d" % (report.passed, report.failed, report.skipped))
        return 1 if report.failed else 0

    supported = []
    for v in kvu.all_versions():  # -local and -local-strict dirs give each version twice
        if kvu.major_minor(v) not in supported:
            supported.append(kvu.major_minor(v))
    if a.list_versions:
        print(" ".join(supported))
        return 0
    if not a.file:
        ap.error("FILE (or - for stdin) is required")
    versions = [kvu.major_minor(v.lstrip("v")) for v in a.kube_version] or [supported[-1]]
    for v in versions:
        if v not in supported:
            print("FATAL kubernetes-validate %s has no schemas for Kubernetes %s (has: %s)"
                  % (kubernetes_validate.__version__, v, " ".join(supported)))
            print("RESULT passed=0 failed=1 skipped=0")
            return 2

    text = sys.stdin.read() if a.file == "-" else open(a.file, encoding="utf-8").read()
    report = Report(a.label, a.quiet)
    seen = {}
    resources = []
    for src, doc in split_docs(text):
        where = " (%s)" % src if src else ""
        try:
            items = [x for x in yaml.safe_load_all(doc) if x is not None]
        except yaml.YAMLError as e:
            report.fail("unparseable YAML document%s" % where, str(e).replace("\n", " "))
            continue
        for res in items:
            if not isinstance(res, dict) or not res.get("kind") or not res.get("apiVersion") \
                    or not isinstance(res.get("metadata"), dict) or not res["metadata"].get("name"):
                report.fail("document%s" % where, "no kind, apiVersion or metadata.name")
                continue
            kn = "%s/%s" % (res["kind"], res["metadata"]["name"])
            key = (res["apiVersion"].split("/")[0] if "/" in res["apiVersion"] else "", res["kind"],
                   res["metadata"].get("namespace", ""), res["metadata"]["name"])
            if key in seen:
                report.fail(kn + where, "duplicate of the resource from %s" % (seen[key] or "?"))
                continue
            seen[key] = src
            resources.append(res)
            for v in versions:
                try:
                    kubernetes_validate.validate(res, v, strict=True)
                    report.ok("%s [k8s %s]%s" % (kn, v, where))
                except kubernetes_validate.ValidationError as e:
                    errs = all_errors(res, v) or ["%s: %s" % (".".join(str(p) for p in e.path) or "<root>", e.message)]
                    report.fail("%s [k8s %s]%s" % (kn, v, where), errs[0], errs[1:])
                except kubernetes_validate.SchemaNotFoundError:
                    bundled = bundled_schema(res)
                    if bundled is None:
                        report.fail(kn + where, "no schema for %s %s in Kubernetes %s, nor in %s"
                                    % (res["apiVersion"], res["kind"], v, SCHEMAS))
                        continue
                    rel, schema = bundled
                    errs = schema_errors(schema, res)
                    if errs:
                        report.fail("%s [k8s %s, %s]%s" % (kn, v, rel, where), errs[0], errs[1:])
                    else:
                        report.ok("%s [k8s %s, %s]%s" % (kn, v, rel, where))
    if not resources:
        report.fail("rendering", "no resources rendered")
    elif a.policy:
        for v in versions:
            try:
                policy(resources, report, v)
            except (KeyError, TypeError, ValueError, IndexError) as e:
                report.fail("policy [k8s %s]" % v, "a manifest lacks what the policy reads: %r" % (e,))
    if resources and a.services is not None:
        check_services(resources, report, [s for s in a.services.split(",") if s])
    print("RESULT passed=%d failed=%d skipped=%d" % (report.passed, report.failed, report.skipped))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
