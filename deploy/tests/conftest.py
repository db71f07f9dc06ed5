"""Shared helpers for the deployment checks.

Renders the Helm chart with the real Helm Go SDK (helm-python-sdk, no helm binary) and the
kustomize base with `kubectl kustomize`, and turns the output into lists of objects.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent
REPO = DEPLOY.parent
CHART = DEPLOY / "charts" / "dns01-webhook"
KUSTOMIZE = DEPLOY / "kustomize"
EXAMPLES = DEPLOY / "examples"

RELEASE = "dns01-webhook"
NAMESPACE = "cert-manager"

# Non-default values exercising every optional object (kept next to the examples so that
# users can read it; the tests load it from there).
FULL_VALUES_FILE = EXAMPLES / "helm-values.yaml"

Obj = dict[str, Any]


def load_docs(text: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all(text) if d]


def key(obj: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name) identifying an object."""
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace", ""), meta["name"])


@functools.cache
def _render_cached(values_json: str, release: str, namespace: str) -> tuple[str, ...]:
    import helm_python as helm

    values = json.loads(values_json)
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=release, namespace=namespace, is_install=True)
    # Template path -> text; keep only manifests (NOTES.txt is not a manifest).
    return tuple(
        text for path, text in sorted(manifests.items()) if not path.endswith("NOTES.txt")
    )


def render_helm(
    values: dict[str, Any] | None = None, release: str = RELEASE, namespace: str = NAMESPACE
) -> list[Obj]:
    texts = _render_cached(json.dumps(values or {}, sort_keys=True), release, namespace)
    objs: list[Obj] = []
    for text in texts:
        objs.extend(load_docs(text))
    return copy.deepcopy(objs)


def render_notes(values: dict[str, Any] | None = None) -> str:
    import helm_python as helm

    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next(text for path, text in manifests.items() if path.endswith("NOTES.txt"))


@functools.cache
def _kustomize_cached() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed for `kubectl kustomize` (install kubectl >= 1.27)")
    proc = subprocess.run(
        [kubectl, "kustomize", str(KUSTOMIZE)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"kubectl kustomize failed:\n{proc.stderr}"
    return proc.stdout


def render_kustomize() -> list[Obj]:
    return load_docs(_kustomize_cached())


def full_values() -> dict[str, Any]:
    return yaml.safe_load(FULL_VALUES_FILE.read_text())


def example_objects() -> list[Obj]:
    objs: list[Obj] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if path == FULL_VALUES_FILE:
            continue
        objs.extend(load_docs(path.read_text()))
    return objs


# Renderings the consistency checks run against: name -> (objects, values used).
RENDERINGS = {
    "helm-default": lambda: (render_helm(), {}),
    "helm-full": lambda: (render_helm(full_values()), full_values()),
    "helm-release-name-and-namespace": lambda: (
        render_helm(
            {"groupName": "acme.example.com", "securePort": 10250, "service": {"port": 8443},
             "metrics": {"enabled": False}},
            release="edge",
            namespace="dns-system",
        ),
        {},
    ),
    "kustomize": lambda: (render_kustomize(), {}),
}


@pytest.fixture(params=sorted(RENDERINGS))
def rendering(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    objs, _values = RENDERINGS[request.param]()
    return request.param, objs


def only(objs: list[Obj], kind: str) -> Obj:
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, f"expected exactly one {kind}, found {[key(o) for o in found]}"
    return found[0]


def all_of(objs: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def container(deployment: Obj) -> Obj:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the webhook pod has exactly one container"
    return containers[0]


def flags(cont: Obj) -> dict[str, str]:
    """`--name=value` arguments of the container as a dict (the first arg is the subcommand)."""
    args = cont.get("args", [])
    out: dict[str, str] = {}
    for arg in args[1:]:
        assert arg.startswith("--") and "=" in arg, f"argument {arg!r} is not --flag=value"
        name, value = arg[2:].split("=", 1)
        assert name not in out, f"flag --{name} given twice"
        out[name] = value
    return out


def binary_shutdown_default_seconds() -> int:
    """The default of `--shutdown-grace-period`, in seconds, from its clap definition."""
    source = (REPO / "webhook" / "src" / "main.rs").read_text()
    found = re.search(r'default_value = "(\d+)s"[^\]]*\]\s*shutdown_grace_period:', source)
    assert found, "the default of --shutdown-grace-period was not found"
    return int(found.group(1))
