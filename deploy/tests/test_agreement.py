"""The kustomize base is the chart with default values: same objects, same key fields."""

from __future__ import annotations

import copy

import pytest

from conftest import key, render_helm, render_kustomize

# Labels differ on purpose (Helm adds managed-by: Helm and helm.sh/chart); everything else
# in these objects must be identical.
IGNORED_LABELS = {"app.kubernetes.io/managed-by", "helm.sh/chart"}


def _normalise(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    for meta in (obj["metadata"], obj.get("spec", {}).get("template", {}).get("metadata", {})):
        labels = meta.get("labels")
        if labels is not None:
            for label in IGNORED_LABELS:
                labels.pop(label, None)
            # kustomize writes the version label unquoted; YAML reads it back as a string.
            if "app.kubernetes.io/version" in labels:
                labels["app.kubernetes.io/version"] = str(labels["app.kubernetes.io/version"])
    return obj


def _by_key(objs):
    return {key(o): _normalise(o) for o in objs}


def test_same_objects():
    helm = _by_key(render_helm())
    kust = _by_key(render_kustomize())
    assert sorted(helm) == sorted(kust)


@pytest.mark.parametrize("obj_key", sorted(key(o) for o in render_helm()), ids=lambda k: "/".join(filter(None, k)))
def test_same_content(obj_key):
    helm = _by_key(render_helm())[obj_key]
    kust = _by_key(render_kustomize()).get(obj_key)
    assert kust is not None, f"{obj_key} is missing from the kustomize base"
    assert helm == kust
