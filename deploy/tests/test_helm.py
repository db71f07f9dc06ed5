"""The Helm chart, rendered and linted with Helm's own Go SDK (helm-python-sdk)."""

from __future__ import annotations

import re

import pytest

import helm_python as helm

from conftest import (
    CHART,
    NAMESPACE,
    REPO,
    all_of,
    binary_shutdown_default_seconds,
    container,
    flags,
    full_values,
    key,
    only,
    render_helm,
    render_notes,
)

WARNING = 2  # lint severities: 1 info, 2 warning, 3 error


def lint_findings(values: dict | None) -> list[dict]:
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == [], report
    return [m for m in report["messages"] if m["severity"] >= WARNING]


@pytest.mark.parametrize("values", [None, "full"], ids=["default", "full"])
def test_chart_lints_clean_in_strict_mode(values):
    vals = full_values() if values == "full" else values
    assert lint_findings(vals) == []


def test_chart_metadata_names_the_binary():
    with helm.Chart.load(CHART) as chart:
        meta = chart.metadata
        assert chart.name == "dns01-webhook"
        assert meta["apiVersion"] == "v2"
        assert chart.schema is not None, "values.schema.json is shipped"
        chart.validate_schema(full_values())


def test_default_render_has_exactly_the_expected_objects():
    got = sorted(key(o) for o in render_helm())
    name = "dns01-webhook"
    assert got == sorted(
        [
            ("APIService", "", "v1alpha1.acme.dns01.example"),
            ("Certificate", NAMESPACE, f"{name}-ca"),
            ("Certificate", NAMESPACE, f"{name}-tls"),
            ("ClusterRole", "", f"{name}:domain-solver"),
            ("ClusterRoleBinding", "", f"{name}:auth-delegator"),
            ("ClusterRoleBinding", "", f"{name}:domain-solver"),
            ("Deployment", NAMESPACE, name),
            ("Issuer", NAMESPACE, f"{name}-ca"),
            ("Issuer", NAMESPACE, f"{name}-selfsign"),
            ("Role", NAMESPACE, f"{name}:secret-reader"),
            ("RoleBinding", NAMESPACE, f"{name}:secret-reader"),
            ("RoleBinding", "kube-system", f"{name}:webhook-authentication-reader"),
            ("Service", NAMESPACE, name),
            ("ServiceAccount", NAMESPACE, name),
        ]
    )


def test_default_render_has_no_optional_objects():
    kinds = {o["kind"] for o in render_helm()}
    assert not kinds & {"PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"}


def test_pdb_only_with_more_than_one_replica():
    assert all_of(render_helm({"replicaCount": 1}), "PodDisruptionBudget") == []
    pdb = only(render_helm({"replicaCount": 2}), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in pdb["spec"]
    pdb = only(
        render_helm({"replicaCount": 3, "podDisruptionBudget": {"maxUnavailable": 1}}),
        "PodDisruptionBudget",
    )
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": pdb["spec"]["selector"],
    }
    off = render_helm({"replicaCount": 2, "podDisruptionBudget": {"enabled": False}})
    assert all_of(off, "PodDisruptionBudget") == []


def test_full_values_render_every_optional_object():
    objs = render_helm(full_values())
    assert only(objs, "Deployment")["spec"]["replicas"] == 2
    only(objs, "PodDisruptionBudget")
    only(objs, "NetworkPolicy")
    sm = only(objs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"


def test_secret_access_roles_follow_the_namespace_list_and_names():
    objs = render_helm(full_values())
    roles = [r for r in all_of(objs, "Role") if r["metadata"]["name"].endswith(":secret-reader")]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["cert-manager", "team-a", "team-b"]
    for role in roles:
        assert role["rules"] == [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": ["gandi-credentials"],
                "verbs": ["get"],
            }
        ]
    bindings = [
        b for b in all_of(objs, "RoleBinding") if b["metadata"]["name"].endswith(":secret-reader")
    ]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == [
        "cert-manager",
        "team-a",
        "team-b",
    ]


def test_secret_access_defaults_to_the_cert_manager_namespace():
    objs = render_helm({"certManager": {"namespace": "cm"}})
    roles = [r for r in all_of(objs, "Role") if r["metadata"]["name"].endswith(":secret-reader")]
    assert [r["metadata"]["namespace"] for r in roles] == ["cm"]
    assert "resourceNames" not in roles[0]["rules"][0]


def test_secret_access_namespaces_are_deduplicated():
    objs = render_helm({"secretAccess": {"namespaces": ["a", "a", "b"]}})
    roles = [r for r in all_of(objs, "Role") if r["metadata"]["name"].endswith(":secret-reader")]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["a", "b"]


def test_flags_follow_values():
    values = {
        "groupName": "acme.example.com",
        "securePort": 9443,
        "logFormat": "text",
        "logLevel": "debug",
        "gandi": {
            "apiUrl": "https://api.sandbox.gandi.net/v5/livedns",
            "rateLimitPerMinute": 300,
            "timeout": "5s",
        },
        "metrics": {"port": 9500},
    }
    cont = container(only(render_helm(values), "Deployment"))
    assert cont["args"][0] == "serve"
    assert flags(cont) == {
        "group-name": "acme.example.com",
        "secure-port": "9443",
        "tls-cert-file": "/tls/tls.crt",
        "tls-private-key-file": "/tls/tls.key",
        "metrics-address": "0.0.0.0:9500",
        "log-format": "text",
        "log-level": "debug",
        "gandi-api-url": "https://api.sandbox.gandi.net/v5/livedns",
        "gandi-rate-limit-per-minute": "300",
        "gandi-timeout": "5s",
    }


def test_gandi_flags_are_omitted_by_default():
    passed = flags(container(only(render_helm(), "Deployment")))
    assert not {"gandi-api-url", "gandi-rate-limit-per-minute", "gandi-timeout"} & passed.keys()


def _lease_roles(objs: list) -> list:
    return [
        o for o in objs
        if o["kind"] == "Role" and any("leases" in r.get("resources", []) for r in o["rules"])
    ]


def test_one_replica_takes_no_leases():
    objs = render_helm()
    cont = container(only(objs, "Deployment"))
    assert "rrset-lock" not in flags(cont)
    assert not _lease_roles(objs)


def test_several_replicas_serialise_rrset_writes_with_leases_in_the_release_namespace():
    objs = render_helm({"replicaCount": 2, "rrsetLeaseDuration": "10s"})
    cont = container(only(objs, "Deployment"))
    f = flags(cont)
    assert f["rrset-lock"] == "lease"
    assert f["rrset-lease-duration"] == "10s"
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in cont["env"] if "valueFrom" in e}
    assert env == {"POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}
    (role,) = _lease_roles(objs)
    assert role["metadata"]["namespace"] == only(objs, "Deployment")["metadata"]["namespace"]
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update", "delete"],
        }
    ]
    binding = [o for o in objs if o["kind"] == "RoleBinding" and o["roleRef"]["name"] == role["metadata"]["name"]]
    assert len(binding) == 1
    sa = only(objs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding[0]["subjects"][0]["name"] == sa


def test_extra_env_is_kept_beside_the_lease_env():
    cont = container(only(render_helm({"replicaCount": 3, "extraEnv": [{"name": "X", "value": "1"}]}), "Deployment"))
    names = [e["name"] for e in cont["env"]]
    assert names == ["POD_NAMESPACE", "POD_NAME", "X"]


def test_rrset_lock_none_is_honoured_even_with_several_replicas():
    objs = render_helm({"replicaCount": 2, "rrsetLock": "none"})
    assert "rrset-lock" not in flags(container(only(objs, "Deployment")))
    assert not _lease_roles(objs)


def test_rfc2136_nameservers_are_passed_as_one_comma_separated_flag_and_omitted_by_default():
    values = {"rfc2136": {"nameservers": ["192.0.2.53:53", "ns1.example.com"], "timeout": "5s"}}
    passed = flags(container(only(render_helm(values), "Deployment")))
    assert passed["rfc2136-nameserver"] == "192.0.2.53:53,ns1.example.com"
    assert passed["rfc2136-timeout"] == "5s"
    default = flags(container(only(render_helm(), "Deployment")))
    assert not {"rfc2136-nameserver", "rfc2136-timeout"} & default.keys()


SERVER_VALUES = {
    "logFlushInterval": "0s",
    "server": {
        "maxConnections": 4096,
        "maxRequestBodyBytes": 2097152,
        "requestTimeout": "20s",
        "tlsHandshakeTimeout": "5s",
        "requestReadTimeout": "2500ms",
        "idleTimeout": "2m",
        "shutdownGracePeriod": "20s",
    },
}
SERVER_FLAGS = {
    "log-flush-interval": "0s",
    "max-connections": "4096",
    "max-request-body-bytes": "2097152",
    "request-timeout": "20s",
    "tls-handshake-timeout": "5s",
    "request-read-timeout": "2500ms",
    "idle-timeout": "2m",
    "shutdown-grace-period": "20s",
}


def test_server_limits_and_log_flushing_follow_values_and_default_to_the_binarys():
    cont = container(only(render_helm(SERVER_VALUES), "Deployment"))
    f = flags(cont)
    # Large numbers are written whole, never as 2.097152e+06.
    assert {k: f.get(k) for k in SERVER_FLAGS} == SERVER_FLAGS
    default = flags(container(only(render_helm(), "Deployment")))
    assert not SERVER_FLAGS.keys() & default.keys(), default


def _binary_flags() -> set[str]:
    """The long flags of `dns01-webhook serve`, from its clap definition."""
    source = (REPO / "webhook" / "src" / "main.rs").read_text()
    fields = re.findall(r"#\[arg\(\s*long\b[\s\S]*?\)\]\s*(?:pub\s+)?(\w+):", source)
    assert len(fields) > 10, "the clap fields were not found"
    return {field.replace("_", "-") for field in fields}


def test_every_flag_the_chart_can_pass_is_a_flag_of_the_binary():
    values = {
        **SERVER_VALUES,
        "gandi": {
            "apiUrl": "https://api.gandi.net/v5/livedns",
            "rateLimitPerMinute": 1000000,
            "timeout": "30s",
        },
        "rfc2136": {"nameservers": ["192.0.2.53"], "timeout": "5s"},
        "replicaCount": 2,
        "rrsetLeaseDuration": "10s",
    }
    passed = flags(container(only(render_helm(values), "Deployment")))
    assert set(passed) - _binary_flags() == set()
    # Written whole, never as 1e+06.
    assert passed["gandi-rate-limit-per-minute"] == "1000000"


def _pod(values: dict | None = None) -> dict:
    return only(render_helm(values), "Deployment")["spec"]["template"]["spec"]


def test_termination_grace_period_is_kubernetes_default_unless_set():
    assert "terminationGracePeriodSeconds" not in _pod()
    pod = _pod({"terminationGracePeriodSeconds": 60, "server": {"shutdownGracePeriod": "50s"}})
    assert pod["terminationGracePeriodSeconds"] == 60
    assert flags(pod["containers"][0])["shutdown-grace-period"] == "50s"


@pytest.mark.parametrize(
    "shutdown, termination, refused",
    [
        ("29s", None, False),
        ("30s", None, True),
        ("119999ms", 120, False),
        ("2m", 120, True),
        ("1m", 61, False),
        ("0s", 1, False),
    ],
)
def test_shutdown_grace_period_must_end_before_the_pods(shutdown, termination, refused):
    values = {"server": {"shutdownGracePeriod": shutdown}}
    if termination is not None:
        values["terminationGracePeriodSeconds"] = termination
    if not refused:
        assert flags(_pod(values)["containers"][0])["shutdown-grace-period"] == shutdown
        return
    with pytest.raises(helm.HelmError) as err:
        render_helm(values)
    message = str(err.value)
    assert f"server.shutdownGracePeriod ({shutdown})" in message, message
    assert f"terminationGracePeriodSeconds ({termination or 30})" in message, message


def test_a_short_pod_grace_period_is_checked_against_the_binarys_default():
    default = binary_shutdown_default_seconds()
    assert "terminationGracePeriodSeconds" in _pod({"terminationGracePeriodSeconds": default + 1})
    with pytest.raises(helm.HelmError) as err:
        render_helm({"terminationGracePeriodSeconds": default})
    message = str(err.value)
    assert f"({default}s, the binary's default)" in message, message
    assert "Raise terminationGracePeriodSeconds" in message, message


def test_metrics_disabled_binds_loopback_and_publishes_no_port():
    objs = render_helm({"metrics": {"enabled": False}})
    cont = container(only(objs, "Deployment"))
    assert flags(cont)["metrics-address"] == "127.0.0.1:9402"
    assert [p["name"] for p in cont["ports"]] == ["https"]
    assert [p["name"] for p in only(objs, "Service")["spec"]["ports"]] == ["https"]


def test_image_tag_defaults_to_app_version_and_digest_wins():
    with helm.Chart.load(CHART) as chart:
        app_version = chart.metadata["appVersion"]
    image = container(only(render_helm(), "Deployment"))["image"]
    assert image == f"ghcr.io/dns01/dns01-webhook:{app_version}"
    digest = "sha256:" + "0" * 64
    image = container(only(render_helm({"image": {"digest": digest}}), "Deployment"))["image"]
    assert image == f"ghcr.io/dns01/dns01-webhook@{digest}"


def test_release_name_and_overrides_shape_object_names():
    objs = render_helm(release="edge")
    assert only(objs, "Deployment")["metadata"]["name"] == "edge-dns01-webhook"
    objs = render_helm({"fullnameOverride": "gandi-webhook"})
    assert only(objs, "Deployment")["metadata"]["name"] == "gandi-webhook"
    assert only(objs, "APIService")["spec"]["service"]["name"] == "gandi-webhook"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"groupName": ""}, "groupName"),
        ({"groupName": "Not_A_Group"}, "groupName"),
        ({"logFormat": "xml"}, "logFormat"),
        ({"logFlushInterval": "1 second"}, "logFlushInterval"),
        ({"server": {"requestTimeout": "25"}}, "requestTimeout"),
        ({"server": {"maxConnections": -1}}, "maxConnections"),
        ({"server": {"maxConnection": 10}}, "maxConnection"),
        ({"server": {"shutdownGracePeriod": "20"}}, "shutdownGracePeriod"),
        ({"terminationGracePeriodSeconds": 0}, "terminationGracePeriodSeconds"),
        ({"terminationGracePeriodSeconds": "60"}, "terminationGracePeriodSeconds"),
        ({"gandi": {"timeout": "10"}}, "timeout"),
        ({"gandi": {"timeout": "0s"}}, "timeout"),
        ({"server": {"requestTimeout": "0ms"}}, "requestTimeout"),
        ({"server": {"idleTimeout": "00s"}}, "idleTimeout"),
        ({"gandi": {"rateLimitPerMinute": -1}}, "rateLimitPerMinute"),
        ({"gandi": {"rateLimit": 300}}, "rateLimit"),
        ({"rfc2136": {"nameservers": ["a:53,b:53"]}}, "nameservers"),
        ({"rfc2136": {"timeout": "0s"}}, "timeout"),
        ({"rfc2136": {"nameserver": "a:53"}}, "nameserver"),
        ({"rrsetLock": "etcd"}, "rrsetLock"),
        ({"rrsetLeaseDuration": "0s"}, "rrsetLeaseDuration"),
        ({"serviceMonitor": {"enabled": True}, "metrics": {"enabled": False}}, "metrics.enabled"),
    ],
)
def test_bad_values_are_refused_with_a_message(values, message):
    with pytest.raises(helm.HelmError) as err:
        render_helm(values)
    assert message in str(err.value)


def test_notes_name_the_group_and_warn_about_the_placeholder():
    notes = render_notes()
    assert "v1alpha1.acme.dns01.example" in notes
    assert "placeholder" in notes
    notes = render_notes({"groupName": "acme.example.com"})
    assert "placeholder" not in notes
