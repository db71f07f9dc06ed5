"""Every rendered object against Kubernetes' OpenAPI schemas (kubernetes-validate, strict).

kubernetes-validate ships the schemas of built-in kinds (APIService included) inside the
package, so this works offline. It has no schemas for CRDs (cert-manager's Certificate,
Issuer, ClusterIssuer; prometheus-operator's ServiceMonitor): those get the structural
schemas below, written from the fields of cert-manager.io/v1 and monitoring.coreos.com/v1
that these manifests use, closed against unknown keys so that typos fail.
"""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import pytest

from conftest import example_objects, full_values, key, render_helm, render_kustomize

# Oldest Kubernetes the chart supports (Chart.yaml kubeVersion), the kubectl used here, newest
# the package knows.
KUBE_VERSIONS = ["1.25", "1.32", kubernetes_validate.latest_version()]

_CRD_KINDS = {
    ("cert-manager.io/v1", "Certificate"),
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "ClusterIssuer"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}


def _closed(properties: dict, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


_STR = {"type": "string", "minLength": 1}
_STRS = {"type": "array", "items": _STR, "minItems": 1}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _STR, "namespace": _STR, "labels": {"type": "object"},
                   "annotations": {"type": "object"}},
}
_SECRET_KEY_REF = _closed({"name": _STR, "key": _STR}, ["name"])
# The gandi solver's config (webhook/src/solver/config.rs: unknown keys are refused there too).
_WEBHOOK_CONFIG = _closed(
    {
        "patSecretRef": _closed({"name": _STR, "key": _STR}, ["name"]),
        "apiKeySecretRef": _closed({"name": _STR, "key": _STR}, ["name"]),
        "sharingId": _STR,
        "ttl": {"type": "integer", "minimum": 300},
        "endpoint": {"enum": ["production", "sandbox"]},
        "delegation": _closed(
            {"zone": _STR, "mode": {"enum": ["follow", "map"]}, "tenantBinding": {"type": "boolean"}},
            ["zone"],
        ),
    }
)
_SOLVER = _closed(
    {
        "selector": {"type": "object"},
        "dns01": _closed(
            {
                "cnameStrategy": {"enum": ["None", "Follow"]},
                "webhook": _closed(
                    {"groupName": _STR, "solverName": _STR, "config": _WEBHOOK_CONFIG},
                    ["groupName", "solverName"],
                ),
            }
        ),
        "http01": {"type": "object"},
    }
)
_ISSUER_SPEC = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "selfSigned": _closed({"crlDistributionPoints": _STRS}),
        "ca": _closed({"secretName": _STR, "crlDistributionPoints": _STRS,
                       "issuingCertificateURLs": _STRS, "ocspServers": _STRS}, ["secretName"]),
        "acme": _closed(
            {
                "server": {"type": "string", "pattern": "^https://"},
                "email": _STR,
                "privateKeySecretRef": _SECRET_KEY_REF,
                "solvers": {"type": "array", "items": _SOLVER, "minItems": 1},
                "preferredChain": {"type": "string"},
                "profile": _STR,
                "skipTLSVerify": {"type": "boolean"},
                "caBundle": _STR,
                "externalAccountBinding": {"type": "object"},
                "disableAccountKeyGeneration": {"type": "boolean"},
                "enableDurationFeature": {"type": "boolean"},
            },
            ["server", "privateKeySecretRef", "solvers"],
        ),
    },
    "additionalProperties": False,
}
_DURATION = {"type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(h|m|s|ms))+$"}
_CERT_SPEC = _closed(
    {
        "secretName": _STR,
        "issuerRef": _closed({"name": _STR, "kind": {"enum": ["Issuer", "ClusterIssuer"]},
                              "group": _STR}, ["name"]),
        "commonName": {"type": "string", "maxLength": 64},
        "dnsNames": _STRS,
        "duration": _DURATION,
        "renewBefore": _DURATION,
        "isCA": {"type": "boolean"},
        "privateKey": {"type": "object"},
        "usages": _STRS,
        "secretTemplate": {"type": "object"},
        "subject": {"type": "object"},
        "revisionHistoryLimit": {"type": "integer"},
    },
    ["secretName", "issuerRef"],
)
_CRD_SCHEMAS = {
    "Issuer": _ISSUER_SPEC,
    "ClusterIssuer": _ISSUER_SPEC,
    "Certificate": _CERT_SPEC,
    "ServiceMonitor": _closed(
        {
            "selector": {"type": "object"},
            "namespaceSelector": {"type": "object"},
            "jobLabel": _STR,
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": _closed(
                    {"port": _STR, "path": _STR, "scheme": {"enum": ["http", "https"]},
                     "interval": _DURATION, "scrapeTimeout": _DURATION},
                    ["port"],
                ),
            },
        },
        ["selector", "endpoints"],
    ),
}


def validate_crd(obj: dict) -> None:
    schema = _closed(
        {"apiVersion": _STR, "kind": _STR, "metadata": _METADATA, "spec": _CRD_SCHEMAS[obj["kind"]]},
        ["apiVersion", "kind", "metadata", "spec"],
    )
    jsonschema.validate(obj, schema)


def validate(obj: dict, version: str) -> None:
    if (obj["apiVersion"], obj["kind"]) in _CRD_KINDS:
        validate_crd(obj)
        return
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        pytest.fail(f"{key(obj)} is invalid for Kubernetes {version}: {err.message} "
                    f"at {'/'.join(map(str, err.absolute_path))}")
    except kubernetes_validate.SchemaNotFoundError as err:
        pytest.fail(f"{key(obj)}: {err.message}")


SOURCES = {
    "helm-default": lambda: render_helm(),
    "helm-full": lambda: render_helm(full_values()),
    "helm-metrics-off": lambda: render_helm({"metrics": {"enabled": False}, "replicaCount": 3,
                                             "networkPolicy": {"enabled": True},
                                             "podDisruptionBudget": {"maxUnavailable": "50%"}}),
    "kustomize": render_kustomize,
    "examples": example_objects,
}


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_object_is_valid(source, version):
    objs = SOURCES[source]()
    assert objs
    for obj in objs:
        validate(obj, version)


def test_builtin_kinds_are_validated_by_the_package_not_skipped():
    """APIService, PodDisruptionBudget and NetworkPolicy have real schemas in the package."""
    kinds = {(o["apiVersion"], o["kind"]) for o in render_helm(full_values())}
    builtin = kinds - _CRD_KINDS
    assert ("apiregistration.k8s.io/v1", "APIService") in builtin
    for api_version, kind in builtin:
        kubernetes_validate.validate(
            next(o for o in render_helm(full_values()) if o["kind"] == kind), "1.32", strict=True
        )


def test_strict_validation_rejects_unknown_fields():
    dep = next(o for o in render_helm() if o["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, "1.32", strict=True)


def test_crd_schemas_reject_typos():
    issuer = next(o for o in example_objects() if o["kind"] == "ClusterIssuer")
    issuer["spec"]["acme"]["solvers"][0]["dns01"]["webhook"]["config"]["patSecretRef"]["nme"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        validate_crd(issuer)
