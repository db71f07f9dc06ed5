"""The dns01-registry-gateway chart, rendered and linted with Helm's Go SDK: objects, flags
against the binary's clap definition, the configuration file against the gateway's serde
structs, TokenReview RBAC only with Kubernetes auth, the shared signing key with replicas."""

from __future__ import annotations

import re

import helm_python as helm
import pytest
import yaml

import test_schemas
from companions import (
    args_of,
    check_args_against_clap,
    example_values,
    flag,
    kinds,
    lint,
    notes,
    one,
    render,
)
from conftest import REPO, key

CHART = "dns01-registry-gateway"
NS = "platform"
SRC = REPO / "registry-gateway" / "src"
MAIN = SRC / "main.rs"
SUBCOMMAND_ARGS = {"serve": ("Serve",)}
KEY_SECRET = {"auth": {"signingKey": {"existingSecret": "gw-key"}}}


def _container_of(objs):
    (cont,) = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return cont


def _config(objs):
    return yaml.safe_load(one(objs, "ConfigMap")["data"]["config.yaml"])


@pytest.mark.parametrize("values", [None, "full"], ids=["default", "full"])
def test_chart_lints_clean_in_strict_mode(values):
    assert lint(CHART, example_values(CHART) if values else None) == []


def test_default_render_has_exactly_the_expected_objects():
    assert sorted(key(o) for o in render(CHART)) == sorted([
        ("ConfigMap", NS, CHART),
        ("Deployment", NS, CHART),
        ("Secret", NS, f"{CHART}-tokens"),
        ("Service", NS, CHART),
        ("ServiceAccount", NS, CHART),
    ])


def test_full_values_render_every_optional_object():
    objs = render(CHART, example_values(CHART))
    assert {"Ingress", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "ClusterRole",
            "ClusterRoleBinding"} <= kinds(objs)


RENDERINGS = {
    "default": {},
    "full": None,
    "anonymous": {"auth": {"enabled": False}, "ingress": {"enabled": True, "hosts": ["images.example.com"]}},
    "existing-tokens": {"auth": {"tokens": {"existingSecret": "my-tokens", "key": "t.yaml"}},
                        "replicaCount": 3, **KEY_SECRET, "networkPolicy": {"enabled": True},
                        "podDisruptionBudget": {"maxUnavailable": "50%"}},
    "maintenance-leases": {"config": {"routes": [
        {"name": "a", "host": "a.example", "upstream": "http://registry:5000",
         "maintenance": {"lease": "registry/dns01-registry-janitor"}},
        {"name": "b", "host": "b.example", "upstream": "http://registry:5000",
         "maintenance": {"record_file": "/var/lib/dns01-registry-janitor/readonly-record.json"}}]}},
}


def _rendering(name):
    values = RENDERINGS[name]
    return render(CHART, example_values(CHART) if values is None else values)


@pytest.mark.parametrize("version", test_schemas.KUBE_VERSIONS)
@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_every_object_is_valid_for_kubernetes(name, version):
    for obj in _rendering(name):
        test_schemas.validate(obj, version)


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_every_argument_is_a_flag_of_serve(name):
    cont = _container_of(_rendering(name))
    assert "command" not in cont, "the image's ENTRYPOINT is the binary"
    check_args_against_clap(cont, MAIN, SUBCOMMAND_ARGS)
    sub, passed = args_of(cont)
    assert sub == "serve"
    assert set(passed) == {"config", "listen", "metrics-addr"}


def _serde_fields(struct: str) -> set[str]:
    """Field names of a `#[serde(deny_unknown_fields)]` struct in registry-gateway/src."""
    text = "\n".join(p.read_text() for p in SRC.glob("*.rs"))
    found = re.search(rf"struct {struct}\s*\{{(.*?)\n\}}", text, re.S)
    assert found, struct
    return set(re.findall(r"^\s*(?:pub\s+)?(\w+):", found.group(1), re.M))


def test_the_configuration_has_only_keys_the_gateway_reads():
    """The gateway refuses unknown keys at start; the chart must write only known ones."""
    for name in sorted(RENDERINGS):
        config = _config(_rendering(name))
        assert set(config) <= _serde_fields("RawConfig"), name
        auth = config.get("auth")
        if auth is None:
            continue
        assert set(auth) <= _serde_fields("RawAuth"), name
        assert set(auth["failed_logins"]) <= _serde_fields("RawFailedLogins")
        if "kubernetes" in auth:
            assert set(auth["kubernetes"]) <= _serde_fields("RawKubernetes")
        for route in config["routes"]:
            assert set(route) <= _serde_fields("RawRoute"), route
    assert {"record_file", "lease"} == _serde_fields("RawMaintenance")


def test_the_files_the_configuration_names_are_mounted():
    objs = render(CHART, example_values(CHART))
    cont = _container_of(objs)
    config = _config(objs)
    mounts = [m["mountPath"] for m in cont["volumeMounts"]]
    files = [flag(cont, "config"), config["auth"]["tokens_file"], config["auth"]["signing_key_file"]]
    files += [r["credentials"].get(k) for r in config["routes"] for k in ("password_file", "key_file")]
    for path in filter(None, files):
        assert any(path.startswith(m.rstrip("/") + "/") for m in mounts), f"{path} is not under a mount: {mounts}"
    # Each mount is a volume of the pod, from the right object.
    volumes = {v["name"]: v for v in one(objs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    by_path = {m["mountPath"]: volumes[m["name"]] for m in cont["volumeMounts"]}
    assert by_path[flag(cont, "config").rsplit("/", 1)[0]]["configMap"]["name"] == one(objs, "ConfigMap")["metadata"]["name"]
    assert by_path[config["auth"]["tokens_file"].rsplit("/", 1)[0]]["secret"]["secretName"] == one(objs, "Secret")["metadata"]["name"]
    assert by_path[config["auth"]["signing_key_file"].rsplit("/", 1)[0]]["secret"]["secretName"] == "gateway-signing-key"
    # Mounted as directories (no subPath): the kubelet's updates reach the reloading gateway.
    assert not any("subPath" in m for m in cont["volumeMounts"])


def test_values_become_the_auth_section():
    config = _config(render(CHART, example_values(CHART)))
    assert config["auth"] == {
        "tokens_file": "/etc/gateway/tokens/tokens.yaml",
        "token_lifetime_seconds": 300,
        "kubernetes": {"permissions": ["pull"]},
        "signing_key_file": "/etc/gateway/signing-key/key",
        "failed_logins": {"max_failures": 5, "window_seconds": 600, "client_address_header": "x-forwarded-for"},
    }
    assert config["timeouts"] == {"upstream_connect_seconds": 5, "upstream_read_seconds": 120}
    assert "auth" not in _config(render(CHART, {"auth": {"enabled": False}}))


def test_the_token_file_secret_holds_hashes_in_the_gateways_format():
    objs = render(CHART, example_values(CHART))
    text = one(objs, "Secret")["stringData"]["tokens.yaml"]
    entries = yaml.safe_load(text)["tokens"]
    assert entries == [{"principal": "ci-proj-a", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                        "projects": {"proj-a": ["pull", "push"]}}]
    assert set(entries[0]) <= _serde_fields("RawEntry")
    # An existing Secret replaces the chart's.
    objs = render(CHART, {"auth": {"tokens": {"existingSecret": "mine", "key": "t.yaml"}}})
    assert "Secret" not in kinds(objs)
    assert _config(objs)["auth"]["tokens_file"].endswith("/t.yaml")


def test_token_review_rbac_only_with_kubernetes_auth_and_exactly_create_tokenreviews():
    """kubernetes.rs posts TokenReviews and calls nothing else."""
    sources = "\n".join(p.read_text() for p in SRC.glob("*.rs"))
    assert set(re.findall(r"\bApi(?:::)?<(\w+)>", sources)) == {"TokenReview", "Lease"}, \
        "the gateway calls another API now: grant it in templates/rbac.yaml and here"
    assert re.findall(r"\.(create|get|list|patch|delete|replace)\(", (SRC / "kubernetes.rs").read_text()) == ["create"]
    for values, want in (({}, False), ({"auth": {"kubernetes": {"enabled": True}}}, True),
                         ({"auth": {"enabled": False, "kubernetes": {"enabled": True}}}, False)):
        objs = render(CHART, values)
        pod = one(objs, "Deployment")["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is want
        roles = [o for o in objs if o["kind"] in ("ClusterRole", "Role")]
        if not want:
            assert roles == [] and "ClusterRoleBinding" not in kinds(objs) and "RoleBinding" not in kinds(objs)
            continue
        (role,) = roles
        assert role["rules"] == [{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}]
        binding = one(objs, "ClusterRoleBinding")
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": NS}]


def _routes_with_leases(*leases):
    return {"config": {"routes": [
        {"name": f"r{i}", "host": f"h{i}.example", "upstream": "http://registry:5000", "maintenance": {"lease": lease}}
        for i, lease in enumerate(leases)
    ]}}


def test_a_maintenance_lease_gets_exactly_get_on_that_lease_in_its_namespace():
    """maintenance.rs reads the janitor's Lease with `get_opt` and calls nothing else."""
    assert re.findall(r"\.(create|get_opt|get|list|patch|delete|replace|watch)\(",
                      (SRC / "maintenance.rs").read_text()) == ["get_opt"]
    # Two routes on one Lease, one on another: a Role and a RoleBinding per Lease.
    objs = render(CHART, _routes_with_leases("registry/dns01-registry-janitor", "registry/dns01-registry-janitor",
                                             "other/janitor"))
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    roles = sorted((o for o in objs if o["kind"] == "Role"), key=lambda o: o["metadata"]["namespace"])
    assert [(r["metadata"]["namespace"], r["rules"]) for r in roles] == [
        ("other", [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                    "resourceNames": ["janitor"], "verbs": ["get"]}]),
        ("registry", [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                       "resourceNames": ["dns01-registry-janitor"], "verbs": ["get"]}]),
    ]
    bindings = {o["metadata"]["namespace"]: o for o in objs if o["kind"] == "RoleBinding"}
    assert set(bindings) == {"other", "registry"}
    for role in roles:
        binding = bindings[role["metadata"]["namespace"]]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": NS}]
    # The routes reach the gateway's configuration as given.
    assert [r["maintenance"] for r in _config(objs)["routes"]] == [
        {"lease": "registry/dns01-registry-janitor"}, {"lease": "registry/dns01-registry-janitor"},
        {"lease": "other/janitor"}]
    # A record file needs no API access.
    objs = render(CHART, {"auth": {"enabled": False}, "config": {"routes": [
        {"name": "a", "upstream": "http://registry:5000",
         "maintenance": {"record_file": "/var/lib/dns01-registry-janitor/readonly-record.json"}}]}})
    assert not {"Role", "RoleBinding", "ClusterRole"} & kinds(objs)
    assert one(objs, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("maintenance", [
    {"lease": "registry"}, {"lease": "Registry/janitor"}, {"record_file": "relative.json"},
    {"lease": "a/b", "record_file": "/x"}, {"leese": "a/b"},
])
def test_a_bad_maintenance_source_is_refused(maintenance):
    with pytest.raises(helm.HelmError) as err:
        render(CHART, {"config": {"routes": [{"name": "a", "upstream": "http://x", "maintenance": maintenance}]}})
    assert "maintenance" in str(err.value)


def test_several_replicas_need_the_shared_signing_key():
    with pytest.raises(helm.HelmError) as err:
        render(CHART, {"replicaCount": 2})
    assert "auth.signingKey.existingSecret" in str(err.value) and "openssl rand" in str(err.value)
    objs = render(CHART, {"replicaCount": 2, **KEY_SECRET})
    assert _config(objs)["auth"]["signing_key_file"] == "/etc/gateway/signing-key/key"
    assert one(objs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    # An anonymous gateway signs nothing.
    render(CHART, {"replicaCount": 2, "auth": {"enabled": False}})


def test_a_configuration_change_reaches_the_running_pods_without_a_roll():
    """The gateway reloads routes and auth from the mounted ConfigMap; nothing in the pod
    template may depend on the configuration (a roll would cut the pulls in flight)."""
    def template(values):
        return one(render(CHART, values), "Deployment")["spec"]["template"]
    base = template({})
    assert template({"config": {"routes": [{"name": "x", "upstream": "http://y:5000"}]}}) == base
    assert template({"auth": {"tokenLifetimeSeconds": 600, "failedLogins": {"maxFailures": 3}}}) == base
    assert "watch_config" in (SRC / "lib.rs").read_text()
    assert "auth: std::sync::RwLock" in (SRC / "lib.rs").read_text(), "auth is reloaded"


def test_the_ingress_routes_the_api_token_and_browser_page_of_every_route_host():
    objs = render(CHART, example_values(CHART))
    ing = one(objs, "Ingress")
    assert [r["host"] for r in ing["spec"]["rules"]] == ["images.customer.com", "mirror.platform.example"]
    svc = one(objs, "Service")
    for rule in ing["spec"]["rules"]:
        paths = {(p["path"], p["pathType"]) for p in rule["http"]["paths"]}
        assert paths == {("/v2", "Prefix"), ("/token", "Exact"), ("/", "Exact")}
        for p in rule["http"]["paths"]:
            backend = p["backend"]["service"]
            assert backend["name"] == svc["metadata"]["name"]
            assert backend["port"]["name"] in {q["name"] for q in svc["spec"]["ports"]}
    # Nothing routes /metrics or /healthz to the outside.
    with pytest.raises(helm.HelmError, match="needs hosts"):
        render(CHART, {"ingress": {"enabled": True}})


def _router_routes(name):
    """The body of `pub fn <name>(` in the gateway's lib.rs."""
    text = (SRC / "lib.rs").read_text()
    start = text.index(f"pub fn {name}(")
    return text[start:text.index("\n}\n", start)]


def test_probes_hit_the_api_listener_and_metrics_their_own():
    """Probes go to the listener --listen binds (router()); Prometheus scrapes the one
    --metrics-addr binds (metrics_router()), which the Service's http port and the Ingress
    never expose."""
    api, metrics = _router_routes("router"), _router_routes("metrics_router")
    assert '.route("/metrics"' not in api, "metrics moved back beside the API: follow in the chart"
    objs = render(CHART, example_values(CHART))
    cont = _container_of(objs)
    ports = {p["name"]: p["containerPort"] for p in cont["ports"]}
    assert flag(cont, "listen") == f"0.0.0.0:{ports['http']}"
    assert flag(cont, "metrics-addr") == f"0.0.0.0:{ports['metrics']}"
    assert ports["http"] != ports["metrics"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert f'.route("{cont[probe]["httpGet"]["path"]}"' in api
        assert cont[probe]["httpGet"]["port"] == "http"
    endpoint = one(objs, "ServiceMonitor")["spec"]["endpoints"][0]
    assert f'.route("{endpoint["path"]}"' in metrics
    svc_port = next(p for p in one(objs, "Service")["spec"]["ports"] if p["name"] == endpoint["port"])
    assert svc_port["targetPort"] == "metrics"
    for rule in one(objs, "Ingress")["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["port"]["name"] == "http"


def test_security_context_is_the_webhooks():
    pod = one(render(CHART), "Deployment")["spec"]["template"]["spec"]
    wdep = next(o for o in test_schemas.render_helm() if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["securityContext"] == wdep["containers"][0]["securityContext"]
    assert pod["securityContext"] == wdep["securityContext"]


@pytest.mark.parametrize("values, message", [
    ({"config": {"routes": []}}, "routes"),
    ({"config": {"routes": [{"name": "a b", "upstream": "http://x"}]}}, "name"),
    ({"config": {"routes": [{"name": "a", "upstream": "ftp://x"}]}}, "upstream"),
    ({"config": {"route": []}}, "route"),
    ({"auth": {"tokens": {"entries": [{"principal": "a", "sha256": "my-token"}]}}}, "sha256"),
    ({"auth": {"tokenLifetimeSeconds": 30}}, "tokenLifetimeSeconds"),
    ({"auth": {"failedLogins": {"maxFailures": 0}}}, "maxFailures"),
    ({"auth": {"failedLogins": {"clientAddressHeader": "x forwarded"}}}, "clientAddressHeader"),
    ({"auth": {"kubernetes": {"permissions": ["admin"]}}}, "permissions"),
    ({"secretMounts": [{"name": "x", "secretName": "y", "mountPath": "relative"}]}, "mountPath"),
])
def test_bad_values_are_refused_with_a_message(values, message):
    with pytest.raises(helm.HelmError) as err:
        render(CHART, values)
    assert message in str(err.value)


def test_notes_warn_about_the_placeholder_route():
    assert "placeholder" in notes(CHART)
    assert "placeholder" not in notes(CHART, example_values(CHART))


GOLDEN = REPO / "testdata" / "registry-gateway" / "chart-config.yaml"


def test_the_rendered_configuration_is_the_one_the_gateways_tests_load():
    """registry-gateway/tests/integration/router.rs loads this file with Config::from_yaml
    (the gateway's own validation); here it must be what the chart renders."""
    rendered = _config(render(CHART, example_values(CHART)))
    assert yaml.safe_load(GOLDEN.read_text()) == rendered, \
        f"render the chart with the example values and write the ConfigMap's config.yaml to {GOLDEN}"
