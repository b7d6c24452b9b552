#!/usr/bin/env python3
"""Offline checks of rendered manifests (`helm template` output), run by `cargo xtask deploy-check`.

    validate.py -k 1.29 [-k 1.35 ...] [--label NAME] [--policy] [--services a,b] [--quiet] FILE|-

1. Schema: every document is validated against the strict Kubernetes JSON schemas bundled in
   the PyPI package kubernetes-validate (unknown fields are rejected, types are checked), for
   each -k version. Duplicate kind/namespace/name and documents without kind, apiVersion or
   metadata.name fail. A kind without a bundled schema (a CRD) fails too: this chart has none.
2. Policy (--policy): what the chart promises, checked on the rendered objects — per
   Deployment: non-root, read-only root filesystem, no privilege escalation, all
   capabilities dropped, RuntimeDefault seccomp, no service-account token, /healthz liveness
   and /readyz readiness on the container's port, a preStop hook, and
   terminationGracePeriodSeconds > preStop + SB_SHUTDOWN_GRACE_MS; and the wiring: a Service,
   ServiceAccount and PodDisruptionBudget that select it, an HPA when it has no replicas,
   every referenced ConfigMap and chart-made Secret key present, every PersistentVolumeClaim
   a pod mounts rendered (and such a Deployment at one replica, recreated rather than rolled,
   as a ReadWriteOnce volume attaches to one pod); every HPA, Ingress and component
   NetworkPolicy pointing at something that exists.
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
import math
import re
import sys

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kvu


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
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            if "/tmp" not in mounts:
                problems.append("%s: no writable /tmp with a read-only root" % c["name"])
            for src in c.get("envFrom", []):
                ref = (src.get("configMapRef") or {}).get("name")
                if ref and ref not in configmaps:
                    problems.append("%s: envFrom ConfigMap %r is not rendered" % (c["name"], ref))
            for e in env.values():
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["name"] in secrets and ref["key"] not in (secrets[ref["name"]].get("data") or {}):
                    problems.append("%s: env %s wants key %r of Secret %s, which lacks it"
                                    % (c["name"], e["name"], ref["key"], ref["name"]))
                store = e.get("value", "") if e["name"] == "STORE_URL" else ""
                if store.startswith("sqlite:///data/") and "/data" not in mounts:
                    problems.append("%s: STORE_URL is under /data but nothing is mounted there" % c["name"])
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
        if not pdbs:
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
    ap.add_argument("file", nargs="?")
    a = ap.parse_args()

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
                    report.fail(kn + where, "no schema for %s %s in Kubernetes %s" % (res["apiVersion"], res["kind"], v))
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
