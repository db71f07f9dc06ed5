"""Static checks of the Dockerfile and of the flags the manifests pass to the binary.

No Docker engine runs in CI, so the image is not built here; these checks keep the
Dockerfile in line with the workspace and the manifests.
"""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from conftest import REPO, container, flags, only, render_helm

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def _instructions():
    """(INSTRUCTION, argument) pairs, continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _final_stage():
    ins = _instructions()
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    return ins[last_from:]


def test_multi_stage_build_of_the_one_binary():
    ins = _instructions()
    froms = [a for w, a in ins if w == "FROM"]
    assert len(froms) == 2
    assert re.match(r"docker\.io/library/rust:\$\{RUST_VERSION\}-slim-bookworm AS build$", froms[0])
    assert froms[1] == "gcr.io/distroless/cc-debian12:nonroot"
    runs = " ".join(a for w, a in ins if w == "RUN")
    assert "cargo build --release --locked -p dns01-webhook" in runs


def test_binary_name_matches_the_workspace():
    manifest = tomllib.loads((REPO / "webhook" / "Cargo.toml").read_text())
    assert manifest["package"]["name"] == "dns01-webhook"
    bins = [b["name"] for b in manifest.get("bin", [])] or [manifest["package"]["name"]]
    assert "dns01-webhook" in bins


def test_runtime_stage_is_non_root_with_the_binary_as_entrypoint():
    final = _final_stage()
    users = [a for w, a in final if w == "USER"]
    assert users == ["65532:65532"]
    assert [json.loads(a) for w, a in final if w == "ENTRYPOINT"] == [["/dns01-webhook"]]
    assert [json.loads(a) for w, a in final if w == "CMD"] == [["serve"]]
    copies = [a for w, a in final if w == "COPY"]
    assert copies == ["--from=build /out/dns01-webhook /dns01-webhook"]
    assert not [a for w, a in final if w == "RUN"], "distroless has no shell"


def test_image_user_matches_the_pod_security_context():
    sc = container(only(render_helm(), "Deployment"))["securityContext"]
    assert f"{sc['runAsUser']}:{sc['runAsGroup']}" == "65532:65532"


def test_dockerignore_keeps_build_output_and_venvs_out():
    entries = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {"target", ".git", ".venv*"} <= entries


def test_flags_passed_by_the_manifests_exist_in_the_binary():
    """Each --flag the Deployment passes is defined by the CLI (clap derive or builder).

    Skipped until webhook/src defines the `serve` command.
    """
    src = REPO / "webhook" / "src"
    if "serve" not in (src / "main.rs").read_text().lower():
        pytest.skip("webhook/src/main.rs does not define the serve command yet")
    sources = "\n".join(p.read_text() for p in src.rglob("*.rs"))
    used = flags(container(only(render_helm({"gandi": {"apiUrl": "https://x.example"}}),
                                "Deployment")))
    for flag in used:
        field = flag.replace("-", "_")
        assert flag in sources or re.search(rf"\b{field}\b", sources), \
            f"--{flag} is passed by the chart but not defined in webhook/src"


def test_probe_paths_are_served_by_the_binary():
    src = REPO / "webhook" / "src"
    if "serve" not in (src / "main.rs").read_text().lower():
        pytest.skip("webhook/src/main.rs does not define the serve command yet")
    sources = "\n".join(p.read_text() for p in src.rglob("*.rs"))
    cont = container(only(render_helm(), "Deployment"))
    for probe in ("livenessProbe", "readinessProbe"):
        path = cont[probe]["httpGet"]["path"]
        assert path in sources or f'"{path.strip("/")}"' in sources, \
            f"{probe} path {path} is not served by webhook/src"
