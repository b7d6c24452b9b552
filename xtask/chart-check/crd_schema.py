#!/usr/bin/env python3
"""Strict JSON schemas from CustomResourceDefinitions, for validate.py (kubeconform-style).

    crd_schema.py --source 'owner/repo vX.Y.Z path' --out schemas/ CRD.yaml [CRD.yaml ...]

kubernetes-validate bundles schemas for the built-in kinds only. For a CRD the chart renders
(the Prometheus Operator's ServiceMonitor and PodMonitor), validate.py reads a JSON schema
from schemas/<group>/<kind>_<version>.json, written here from the CRD's openAPIV3Schema as
kubeconform's openapi2jsonschema does in strict mode:

- every object that lists `properties` and neither sets `additionalProperties` nor
  `x-kubernetes-preserve-unknown-fields` gets `additionalProperties: false`, so an unknown
  field fails as it does for the built-in kinds;
- `x-kubernetes-int-or-string` becomes `anyOf: [integer, string]`; `nullable` adds "null";
  OpenAPI's boolean `exclusiveMinimum`/`exclusiveMaximum` become JSON Schema's numbers;
- `apiVersion` and `kind` must be this group/version and kind, and `metadata` is checked
  against the fields of ObjectMeta (the CRD only says `type: object` there);
- descriptions and the other `x-kubernetes-*` annotations are dropped (CEL rules in
  `x-kubernetes-validations` cannot be evaluated offline: the script refuses a CRD that has
  any, so nothing is skipped silently).

The output records where the CRD came from (`--source`) and its sha256. To update a schema,
take the CRD at the wanted release and run this again, e.g. for prometheus-operator:

    git -C prometheus-operator show v0.93.0:example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml > sm.yaml
    python3 xtask/chart-check/crd_schema.py --out xtask/chart-check/schemas \\
        --source 'prometheus-operator/prometheus-operator v0.93.0 example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml' sm.yaml
"""
import argparse
import hashlib
import json
import os
import sys

import yaml

# The fields of ObjectMeta a manifest may set (status-like ones included: they are valid).
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 253,
                 "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array", "items": {"type": "object"}},
        "selfLink": {"type": "string"},
    },
    "additionalProperties": False,
}


def strict(node, path="<root>"):
    """The JSON Schema equivalent of one OpenAPI v3 schema node (recursively)."""
    if isinstance(node, list):
        return [strict(x, path) for x in node]
    if not isinstance(node, dict):
        return node
    if "x-kubernetes-validations" in node:
        raise SystemExit("crd_schema.py: %s has CEL rules (x-kubernetes-validations), which "
                         "cannot be checked offline; extend this script before bundling it" % path)
    out = {}
    for key, value in node.items():
        if key == "description" or key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: strict(sub, "%s.%s" % (path, name)) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = strict(value, path + "[]") if isinstance(value, (dict, list)) else value
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = strict(value, path)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in node:
                out[key] = node[bound]
        else:
            out[key] = value
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        bound = "minimum" if key == "exclusiveMinimum" else "maximum"
        if node.get(key) is True:
            out.pop(bound, None)
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else out["type"] + ["null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def schemas(crd, source, digest):
    """(group, kind, version, schema) for every served version of one CRD."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        body = strict(version["schema"]["openAPIV3Schema"], kind)
        body["properties"]["apiVersion"] = {"type": "string", "enum": ["%s/%s" % (group, version["name"])]}
        body["properties"]["kind"] = {"type": "string", "enum": [kind]}
        body["properties"]["metadata"] = OBJECT_META
        body["required"] = sorted(set(body.get("required", [])) | {"apiVersion", "kind", "metadata"})
        body["additionalProperties"] = False
        doc = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "%s %s/%s (strict)" % (kind, group, version["name"]),
            "$comment": "Generated by xtask/chart-check/crd_schema.py from the openAPIV3Schema of the "
                        "CRD %s (%s, sha256 %s). Do not edit: regenerate." % (crd["metadata"]["name"], source, digest),
        }
        doc.update(body)
        yield group, kind, version["name"], doc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory of <group>/<kind>_<version>.json")
    ap.add_argument("--source", required=True, help="where the CRD files come from (recorded in the schema)")
    ap.add_argument("crds", nargs="+")
    a = ap.parse_args()
    for path in a.crds:
        raw = open(path, "rb").read()
        digest = hashlib.sha256(raw).hexdigest()
        for crd in yaml.safe_load_all(raw):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            for group, kind, version, doc in schemas(crd, a.source, digest):
                target = os.path.join(a.out, group, "%s_%s.json" % (kind.lower(), version))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "w", encoding="utf-8") as f:
                    json.dump(doc, f, indent=1, ensure_ascii=False)
                    f.write("\n")
                print("wrote %s" % target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
