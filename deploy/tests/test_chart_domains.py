"""The dns01-domains chart (the CustomDomain controller), rendered and linted with Helm's
Go SDK: objects, flags against the binary's clap definition, RBAC against the README's table
and the Rust code's API types, the CRD against deploy/crds, leader election, routes."""

from __future__ import annotations

import re

import helm_python as helm
import pytest
import yaml

import test_schemas
from companions import (
    CHARTS,
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

CHART = "dns01-domains"
NS = "platform"
MAIN = REPO / "domains" / "src" / "main.rs"
SUBCOMMAND_ARGS = {"controller": ("ControllerArgs",)}


def _deployment(values=None):
    return one(render(CHART, values), "Deployment")


def _container(values=None):
    (cont,) = _deployment(values)["spec"]["template"]["spec"]["containers"]
    return cont


def _rules(objs, kind):
    """{(apiGroup, resource): verbs} of every rule in objects of `kind`."""
    out = {}
    for obj in objs:
        if obj["kind"] != kind:
            continue
        for rule in obj["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    assert (group, resource) not in out, f"{group}/{resource} granted twice"
                    out[(group, resource)] = sorted(rule["verbs"])
    return out


@pytest.mark.parametrize("values", [None, "full"], ids=["default", "full"])
def test_chart_lints_clean_in_strict_mode(values):
    assert lint(CHART, example_values(CHART) if values else None) == []


def test_default_render_has_exactly_the_expected_objects():
    assert sorted(key(o) for o in render(CHART)) == sorted([
        ("ClusterRole", "", "dns01-domains:controller"),
        ("ClusterRoleBinding", "", "dns01-domains:controller"),
        ("Deployment", NS, "dns01-domains"),
        ("Service", NS, "dns01-domains"),
        ("ServiceAccount", NS, "dns01-domains"),
    ])


def test_full_values_render_every_optional_object():
    objs = render(CHART, example_values(CHART))
    assert {"PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "Role", "RoleBinding"} <= kinds(objs)
    sm = one(objs, "ServiceMonitor")
    svc = one(objs, "Service")
    assert sm["spec"]["endpoints"][0]["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()


RENDERINGS = {
    "default": {},
    "full": None,  # the example values file
    "httproute": {"route": {"kind": "httproute", "gateway": "platform/edge"}, "metrics": {"enabled": False}},
    "none-text": {"route": {"kind": "none"}, "logFormat": "text", "replicaCount": 3,
                  "networkPolicy": {"enabled": True}, "podDisruptionBudget": {"maxUnavailable": "50%"}},
}


def _rendering(name):
    values = RENDERINGS[name]
    return render(CHART, example_values(CHART) if values is None else values)


@pytest.mark.parametrize("version", test_schemas.KUBE_VERSIONS)
@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_every_object_is_valid_for_kubernetes(name, version):
    for obj in _rendering(name):
        test_schemas.validate(obj, version)


def test_the_crd_in_the_chart_is_the_one_in_deploy_crds():
    """helm installs crds/ before the templates; it must be the CRD the binary generates
    (deploy/crds is kept equal to `dns01-domains crd` by the crate's own test)."""
    chart_copy = CHARTS / CHART / "crds" / "customdomains.domains.dns01.dev.yaml"
    source = REPO / "deploy" / "crds" / "customdomains.domains.dns01.dev.yaml"
    assert chart_copy.read_bytes() == source.read_bytes(), \
        f"copy {source.relative_to(REPO)} to {chart_copy.relative_to(REPO)}"
    with helm.Chart.load(CHARTS / CHART) as chart:
        assert len(chart.crds) == 1
    (crd,) = [d for d in yaml.safe_load_all(chart_copy.read_text()) if d]
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "customdomains.domains.dns01.dev"
    for version in test_schemas.KUBE_VERSIONS:
        test_schemas.validate(crd, version)


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_every_argument_is_a_flag_of_dns01_domains_controller(name):
    cont = _container_of(_rendering(name))
    assert "command" not in cont, "the image's ENTRYPOINT is the binary"
    check_args_against_clap(cont, MAIN, SUBCOMMAND_ARGS)


def _container_of(objs):
    (cont,) = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return cont


def test_the_flag_check_can_fail():
    cont = _container()
    cont["args"].append("--validation-zones=x")
    with pytest.raises(AssertionError, match="validation-zones"):
        check_args_against_clap(cont, MAIN, SUBCOMMAND_ARGS)
    cont = _container()
    cont["args"].append("--json-logs=true")
    with pytest.raises(AssertionError, match="switch"):
        check_args_against_clap(cont, MAIN, SUBCOMMAND_ARGS)


def test_flags_follow_values():
    cont = _container_of(render(CHART, example_values(CHART)))
    sub, passed = args_of(cont)
    assert sub == "controller"
    assert passed == {
        "validation-zone": ["acme.example.com"],
        "traffic-hostname": ["edge.example.com"],
        "address": ["192.0.2.10", "2001:db8::10"],
        "route": ["ingress"],
        "ingress-class": ["nginx"],
        "ca": ["letsencrypt.org"],
        "secret-grace-days": ["14"],
        "resolver": ["10.96.0.10"],
        "apex-alias-target": ["apex.edge.example.com"],
        "nameserver-port": ["5353"],
        "dns-timeout-ms": ["2000"],
        "health-addr": ["0.0.0.0:8080"],
        "json-logs": [None],
        "leader-election": [None],
        "lease-namespace": [NS],
        "lease-name": ["custom-domains"],
    }
    env = {e["name"]: e for e in cont["env"]}
    assert env["RUST_LOG"]["value"] == "info,dns01_domains=debug"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


# The README's table ("The controller" section) is the contract: the chart grants exactly it.
def _readme_table():
    text = (REPO / "README.md").read_text()
    start = text.index("| API group | resource | verbs |")
    block = text[start:text.index("\n\n", start)]
    rows = [r for r in re.findall(r"^\| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", block, re.M) if r[0] != "API group"]
    assert len(rows) >= 8, rows

    def alternatives(cell):
        # "`a` or `b` (note)" -> ["a", "b"]; "core" -> [""]
        return [(re.findall(r"`([^`]+)`", part) or [""])[0] for part in cell.split(" or ")]

    table = {}
    for group, resource, verbs in rows:
        groups, resources = alternatives(group), alternatives(resource)
        assert len(groups) == len(resources) or len(groups) == 1, (group, resource)
        verbs = sorted(v.strip() for v in verbs.split(","))
        for g, r in zip(groups * len(resources) if len(groups) == 1 else groups, resources):
            table[(g, r)] = verbs
    return table


def test_the_readme_table_is_read_whole():
    table = _readme_table()
    assert table[("networking.k8s.io", "ingresses")] == table[("gateway.networking.k8s.io", "httproutes")]
    assert table[("", "secrets")] == ["delete", "get", "list", "patch"]
    assert ("coordination.k8s.io", "leases") in table


@pytest.mark.parametrize("route, routed", [
    ("ingress", ("networking.k8s.io", "ingresses")),
    ("httproute", ("gateway.networking.k8s.io", "httproutes")),
    ("none", None),
])
def test_rbac_is_exactly_the_readme_table_for_the_route_kind(route, routed):
    values = {"route": {"kind": route, "gateway": "platform/edge"}, "replicaCount": 2}
    objs = render(CHART, values)
    table = _readme_table()
    lease = ("coordination.k8s.io", "leases")
    other_routes = {("networking.k8s.io", "ingresses"), ("gateway.networking.k8s.io", "httproutes")} - {routed}
    want_cluster = {k: v for k, v in table.items() if k != lease and k not in other_routes}
    assert _rules(objs, "ClusterRole") == want_cluster
    assert _rules(objs, "Role") == {lease: table[lease]}
    role = one(objs, "Role")
    assert role["metadata"]["namespace"] == flag(_container_of(objs), "lease-namespace") == NS


# The kube-rs types the controller's code builds `Api`s of, and the resource each is.
_API_TYPES = {
    "CustomDomain": ("domains.dns01.dev", "customdomains"),
    "Certificate": ("cert-manager.io", "certificates"),
    "Challenge": ("acme.cert-manager.io", "challenges"),
    "Secret": ("", "secrets"),
    "Lease": ("coordination.k8s.io", "leases"),
}


def test_rbac_covers_each_api_the_controller_code_uses_and_nothing_else():
    sources = "\n".join(p.read_text() for p in (REPO / "domains" / "src").glob("*.rs"))
    used = set(re.findall(r"\bApi(?:::)?<(\w+)>", sources)) - {"K", "DynamicObject"}
    unknown = used - _API_TYPES.keys()
    assert not unknown, f"the controller uses Api<{unknown}>: add its RBAC to the chart and here"
    granted = set(_rules(render(CHART, {"replicaCount": 2}), "ClusterRole")) | \
        set(_rules(render(CHART, {"replicaCount": 2}), "Role"))
    needed = {_API_TYPES[t] for t in used}
    # Beyond the typed Apis: status patches, the route (DynamicObject), the event Recorder.
    assert "patch_status" in sources and "Recorder::new" in sources and "Api::<DynamicObject>" in sources
    needed |= {("domains.dns01.dev", "customdomains/status"), ("events.k8s.io", "events"),
               ("networking.k8s.io", "ingresses")}
    assert granted == needed


def test_one_replica_runs_without_leader_election_and_recreates_on_update():
    objs = render(CHART)
    dep = one(objs, "Deployment")
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert "leader-election" not in args_of(_container_of(objs))[1]
    assert "Role" not in kinds(objs) and "PodDisruptionBudget" not in kinds(objs)
    assert _container_of(objs)["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_several_replicas_elect_a_leader_and_followers_count_as_ready():
    objs = render(CHART, {"replicaCount": 2})
    dep = one(objs, "Deployment")
    assert "strategy" not in dep["spec"]
    cont = _container_of(objs)
    assert "leader-election" in args_of(cont)[1]
    assert flag(cont, "lease-name") == "dns01-domains"
    # /readyz is ready on the leader only; a rolling update needs followers ready.
    assert cont["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert one(objs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    # Leader election can be asked for with one replica too.
    assert "leader-election" in args_of(_container_of(render(CHART, {"leaderElection": {"enabled": True}})))[1]


def test_probe_paths_are_served_by_the_binary():
    health = (REPO / "domains" / "src" / "health.rs").read_text()
    for values in ({}, {"replicaCount": 2}):
        cont = _container(values)
        for probe in ("livenessProbe", "readinessProbe"):
            assert f'"{cont[probe]["httpGet"]["path"]}"' in health
            assert cont[probe]["httpGet"]["port"] == "http"
        assert flag(cont, "health-addr").endswith(f":{cont['ports'][0]['containerPort']}")


def test_security_context_is_the_webhooks():
    cont = _container()
    pod = _deployment()["spec"]["template"]["spec"]
    webhook = test_schemas.render_helm()
    wdep = next(o for o in webhook if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert cont["securityContext"] == wdep["containers"][0]["securityContext"]
    assert pod["securityContext"] == wdep["securityContext"]


@pytest.mark.parametrize("values, message", [
    ({"replicaCount": 2, "leaderElection": {"enabled": False}}, "leader election"),
    ({"route": {"kind": "httproute"}}, "route.gateway"),
    ({"route": {"kind": "gateway"}}, "kind"),
    ({"validationZone": "Not A Zone"}, "validationZone"),
    ({"validationZone": ""}, "validationZone is required"),
    ({"addresses": ["edge.example.com"]}, "addresses"),
    ({"logFormat": "xml"}, "logFormat"),
    ({"leaderElection": {"enable": True}}, "enable"),
    ({"serviceMonitor": {"enabled": True}, "metrics": {"enabled": False}}, "metrics.enabled"),
])
def test_bad_values_are_refused_with_a_message(values, message):
    with pytest.raises(helm.HelmError) as err:
        render(CHART, values)
    assert message in str(err.value)


def test_notes_warn_about_the_placeholder_zone():
    assert "placeholder" in notes(CHART)
    assert "placeholder" not in notes(CHART, example_values(CHART))


def test_httproutes_attach_to_the_chosen_gateway_listener():
    values = {"route": {"kind": "httproute", "gateway": "platform/edge",
                        "gatewayListener": "https-customers"}}
    cont = _container(values)
    check_args_against_clap(cont, MAIN, SUBCOMMAND_ARGS)
    _, passed = args_of(cont)
    assert passed["gateway"] == ["platform/edge"]
    assert passed["gateway-listener"] == ["https-customers"]
    # Without a listener the flag is absent (every listener), and never with Ingresses.
    values["route"].pop("gatewayListener")
    assert "gateway-listener" not in args_of(_container(values))[1]
    assert "gateway-listener" not in args_of(_container())[1]
