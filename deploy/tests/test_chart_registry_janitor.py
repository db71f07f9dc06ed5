"""The dns01-registry-janitor chart, rendered and linted with Helm's Go SDK: CronJobs whose
arguments are flags of `gc`/`apply`, RBAC equal to registry-janitor/deploy/cronjob.yaml
(whose rules the crate's kube_switch test checks against every request the janitor makes),
the policy from a ConfigMap, mounts where the flags point."""

from __future__ import annotations

import re

import helm_python as helm
import pytest
import yaml

import test_schemas
from companions import (
    args_of,
    check_args_against_clap,
    clap_flags,
    example_values,
    flag,
    kinds,
    lint,
    notes,
    one,
    render,
)
from conftest import REPO, key

CHART = "dns01-registry-janitor"
NS = "platform"
MAIN = REPO / "registry-janitor" / "src" / "main.rs"
MANIFEST = REPO / "registry-janitor" / "deploy" / "cronjob.yaml"
SUBCOMMAND_ARGS = {"gc": ("GcArgs",), "apply": ("PlanArgs",)}


def _cronjob(objs, task):
    (cj,) = [o for o in objs if o["kind"] == "CronJob" and o["metadata"]["name"].endswith(f"-{task}")]
    return cj


def _pod(cj):
    return cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _container(cj):
    (cont,) = _pod(cj)["containers"]
    return cont


@pytest.mark.parametrize("values", [None, "full"], ids=["default", "full"])
def test_chart_lints_clean_in_strict_mode(values):
    assert lint(CHART, example_values(CHART) if values else None) == []


def test_default_render_has_exactly_the_expected_objects():
    assert sorted(key(o) for o in render(CHART)) == sorted([
        ("ConfigMap", NS, f"{CHART}-policy"),
        ("CronJob", NS, f"{CHART}-gc"),
        ("Role", NS, CHART),
        ("RoleBinding", NS, CHART),
        ("ClusterRole", "", f"{CHART}-workloads"),
        ("ClusterRoleBinding", "", f"{CHART}-workloads"),
        ("ServiceAccount", NS, CHART),
    ])


def test_full_values_render_every_optional_object():
    objs = render(CHART, example_values(CHART))
    assert {"NetworkPolicy"} <= kinds(objs)
    _cronjob(objs, "apply")
    _cronjob(objs, "gc")
    # The Role lives where the registry runs; its subject is the janitor's account.
    role = one(objs, "Role")
    binding = one(objs, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "registry"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": CHART, "namespace": NS}]


RENDERINGS = {
    "default": {},
    "full": None,
    "no-policy-no-workloads": {"policy": None, "protectWorkloads": False},
    "apply-only": {"gc": {"enabled": False}, "apply": {"enabled": True}},
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
def test_every_argument_is_a_flag_of_its_subcommand(name):
    cronjobs = [o for o in _rendering(name) if o["kind"] == "CronJob"]
    assert cronjobs
    for cj in cronjobs:
        cont = _container(cj)
        assert "command" not in cont, "the image's ENTRYPOINT is the binary"
        check_args_against_clap(cont, MAIN, SUBCOMMAND_ARGS)
        assert args_of(cont)[0] == cj["metadata"]["name"].rsplit("-", 1)[1]


def _rbac(objs):
    """{(kind, namespace or ""): sorted rules} of the Roles and ClusterRoles."""
    out = {}
    for o in objs:
        if o["kind"] in ("Role", "ClusterRole"):
            rules = [{k: sorted(v) if k == "verbs" else v for k, v in r.items()} for r in o["rules"]]
            out[(o["kind"], o["metadata"].get("namespace", ""))] = sorted(rules, key=repr)
    return out


# The values that reproduce the plain manifest registry-janitor/deploy/cronjob.yaml.
MANIFEST_VALUES = {
    "registry": {"deployment": "registry", "namespace": "registry"},
    "gc": {"leaseName": "registry-janitor"},
}


def test_rbac_is_exactly_the_one_the_janitors_requests_were_checked_against():
    """registry-janitor/tests/integration/kube_switch.rs replays every request of a
    `gc --switch kubernetes --lease` run against cronjob.yaml's rules (and shows a request
    outside them is refused): the chart grants exactly those rules, no more."""
    manifest = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    chart = render(CHART, MANIFEST_VALUES, release="registry-janitor", namespace="registry")
    assert _rbac(chart) == _rbac(manifest)
    # And that test can tell a difference: a widened rule is not equal.
    widened = render(CHART, {**MANIFEST_VALUES, "registry": {"deployment": "other", "namespace": "registry"}},
                     release="registry-janitor", namespace="registry")
    assert _rbac(widened) != _rbac(manifest)


def test_the_crate_test_still_reads_the_manifest_the_chart_is_compared_with():
    test = (REPO / "registry-janitor" / "tests" / "integration" / "kube_switch.rs").read_text()
    assert '"/deploy/cronjob.yaml"' in test


def test_the_gc_arguments_are_the_manifests_and_the_binarys_defaults():
    manifest = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d and d["kind"] == "CronJob"][0]
    (mcont,) = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    chart = render(CHART, MANIFEST_VALUES, release="registry-janitor", namespace="registry")
    cont = _container(_cronjob(chart, "gc"))
    _, want = args_of(mcont)
    sub, got = args_of(cont)
    assert sub == "gc"
    extra = {k: v for k, v in got.items() if k not in want}
    assert {k: got[k] for k in want} == want
    # What the chart adds are the binary's defaults, written out.
    source = MAIN.read_text()
    for name, (value,) in extra.items():
        field = name.replace("-", "_")
        assert re.search(rf'default_value = "{re.escape(value)}"\)\]\s*{field}:', source), (name, value)
    assert manifest["spec"]["schedule"] == _cronjob(chart, "gc")["spec"]["schedule"]


def test_rbac_covers_the_apis_the_janitor_code_uses():
    sources = "\n".join(p.read_text() for p in (REPO / "registry-janitor" / "src").rglob("*.rs"))
    typed = set(re.findall(r"\bApi<(\w+)>", sources)) - {"K"}
    assert typed == {"Deployment", "Job", "Lease", "Pod"}, "a new Api type: grant it and list it here"
    listed = set(re.findall(r"list_all::<(\w+)>", sources))
    assert "Pod" in listed
    objs = render(CHART)
    role = {(g, r) for rule in one(objs, "Role")["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert role == {("apps", "deployments"), ("batch", "jobs"), ("", "pods"), ("", "pods/log"),
                    ("coordination.k8s.io", "leases")}
    cluster = {(g, r): rule["verbs"] for rule in one(objs, "ClusterRole")["rules"]
               for g in rule["apiGroups"] for r in rule["resources"]}
    # The workload kinds kubernetes.rs reads, list only.
    workloads = (REPO / "registry-janitor" / "src" / "kubernetes.rs").read_text()
    for kind, gr in {"Pod": ("", "pods"), "Deployment": ("apps", "deployments"),
                     "StatefulSet": ("apps", "statefulsets"), "DaemonSet": ("apps", "daemonsets"),
                     "Job": ("batch", "jobs"), "CronJob": ("batch", "cronjobs")}.items():
        assert re.search(rf"\b{kind}\b", workloads), kind
        assert cluster.pop(gr) == ["list"]
    assert cluster == {}


def test_without_workload_protection_or_gc_the_rules_go_away():
    objs = render(CHART, {"protectWorkloads": False})
    assert "ClusterRole" not in kinds(objs) and "ClusterRoleBinding" not in kinds(objs)
    assert "kubernetes" not in args_of(_container(_cronjob(objs, "gc")))[1]
    objs = render(CHART, {"gc": {"enabled": False}, "apply": {"enabled": True}})
    assert "Role" not in kinds(objs) and "RoleBinding" not in kinds(objs)
    assert "kubernetes" in args_of(_container(_cronjob(objs, "apply")))[1]


def test_mounts_are_where_the_flags_point():
    objs = render(CHART, example_values(CHART))
    policy = one(objs, "ConfigMap")
    for task in ("gc", "apply"):
        cj = _cronjob(objs, task)
        cont = _container(cj)
        volumes = {v["name"]: v for v in _pod(cj)["volumes"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in cont["volumeMounts"]}
        policy_path = flag(cont, "policy")
        directory, _, file = policy_path.rpartition("/")
        assert mounts[directory]["configMap"]["name"] == policy["metadata"]["name"]
        assert file in policy["data"]
        assert mounts[flag(cont, "storage")]["persistentVolumeClaim"] == {"claimName": "registry-data", "readOnly": True}
        ro = {m["mountPath"]: m.get("readOnly", False) for m in cont["volumeMounts"]}
        assert ro[flag(cont, "storage")] and ro[directory]
    # gc's --state-dir default is writable (an emptyDir): the root filesystem is read-only.
    state = re.search(r'default_value = "([^"]+)"\)\]\s*state_dir:', MAIN.read_text()).group(1)
    cj = _cronjob(objs, "gc")
    mounts = {m["mountPath"]: m for m in _container(cj)["volumeMounts"]}
    assert state in mounts and not mounts[state].get("readOnly")
    assert {v["name"]: v for v in _pod(cj)["volumes"]}[mounts[state]["name"]] == {"name": "state", "emptyDir": {}}
    assert _container(cj)["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_policy_configmap_holds_the_policy_values():
    values = example_values(CHART)
    objs = render(CHART, values)
    assert yaml.safe_load(one(objs, "ConfigMap")["data"]["policy.yaml"]) == values["policy"]
    objs = render(CHART, {"policy": None})
    assert "ConfigMap" not in kinds(objs)
    assert "policy" not in args_of(_container(_cronjob(objs, "gc")))[1]


def test_flags_follow_values():
    cont = _container(_cronjob(render(CHART, example_values(CHART)), "gc"))
    sub, passed = args_of(cont)
    assert passed == {
        "registry": ["http://registry.registry.svc:5000/"],
        "switch": ["kubernetes"],
        "deployment": ["registry/registry"],
        "container": ["registry"],
        "lease": ["registry/registry-janitor"],
        "collector-deadline": ["45m"],
        "rollout-timeout": ["10m"],
        "probe-timeout": ["1m"],
        "no-prune": [None],
        "policy": ["/etc/janitor/policy.yaml"],
        "kubernetes": [None],
        "host": ["registry.registry.svc:5000", "images.customer.com"],
        "storage": ["/var/lib/registry"],
    }
    # The registry URL defaults to the Deployment's Service name.
    assert flag(_container(_cronjob(render(CHART), "gc")), "registry") == "http://registry.platform.svc:5000/"


def test_cronjobs_never_overlap_and_never_retry_a_window():
    for cj in (o for o in render(CHART, example_values(CHART)) if o["kind"] == "CronJob"):
        assert cj["spec"]["concurrencyPolicy"] == "Forbid"
        assert cj["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
        assert _pod(cj)["restartPolicy"] == "Never"
        assert cj["spec"]["timeZone"] == "Europe/Paris"


def _seconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", text)
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_a_sigterm_leaves_time_to_switch_back_to_read_write(name):
    """On SIGTERM the janitor stops the collector, rolls the registry back and probes
    writes: the pod's grace period must outlast one rollout and one probe."""
    for cj in (o for o in _rendering(name) if o["kind"] == "CronJob" and o["metadata"]["name"].endswith("-gc")):
        cont = _container(cj)
        budget = _seconds(flag(cont, "rollout-timeout")) + _seconds(flag(cont, "probe-timeout"))
        assert _pod(cj)["terminationGracePeriodSeconds"] > budget


def test_a_grace_period_shorter_than_a_rollout_is_refused():
    with pytest.raises(helm.HelmError) as err:
        render(CHART, {"gc": {"terminationGracePeriodSeconds": 300, "rolloutTimeout": "5m", "probeTimeout": "30s"}})
    assert "gc.terminationGracePeriodSeconds (300)" in str(err.value)
    render(CHART, {"gc": {"terminationGracePeriodSeconds": 331, "rolloutTimeout": "5m", "probeTimeout": "30s"}})


def test_security_context_is_the_webhooks():
    pod = _pod(_cronjob(render(CHART), "gc"))
    wdep = next(o for o in test_schemas.render_helm() if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["securityContext"] == wdep["containers"][0]["securityContext"]
    assert pod["securityContext"] == wdep["securityContext"]


@pytest.mark.parametrize("values, message", [
    ({"registry": {"deployment": ""}}, "deployment"),
    ({"registry": {"deployment": "registry", "url": "registry:5000"}}, "url"),
    ({"gc": {"collectorDeadline": "30 minutes"}}, "collectorDeadline"),
    ({"apply": {"enabled": True}, "policy": None}, "apply.enabled needs a policy"),
    ({"policy": {"default": {}}}, "default"),
    ({"storage": {"claim": "x"}}, "claim"),
])
def test_bad_values_are_refused_with_a_message(values, message):
    with pytest.raises(helm.HelmError) as err:
        render(CHART, values)
    assert message in str(err.value)


def test_notes_say_how_to_run_one_now():
    assert "create job --from=cronjob/dns01-registry-janitor-gc" in notes(CHART)


def test_clap_reader_sees_the_flattened_retention_flags():
    flags = clap_flags(MAIN, "PlanArgs")
    assert {"registry", "policy", "kubernetes", "storage", "host", "json"} <= flags.keys()
    assert flags["kubernetes"] is False and flags["policy"] is True


def test_credentials_come_from_a_secret_as_the_variables_the_janitor_reads():
    source = MAIN.read_text()
    assert 'env = "JANITOR_USERNAME"' in source and 'env = "JANITOR_PASSWORD_FILE"' in source
    cont = _container(_cronjob(render(CHART), "gc"))
    assert {e["name"] for e in cont["env"]} == {"RUST_LOG"}, "anonymous by default"
    for task in ("gc", "apply"):
        cj = _cronjob(render(CHART, example_values(CHART)), task)
        cont, pod = _container(cj), _pod(cj)
        env = {e["name"]: e for e in cont["env"]}
        assert env["JANITOR_USERNAME"]["valueFrom"]["secretKeyRef"] == {
            "name": "registry-janitor-credentials", "key": "username"}
        path = env["JANITOR_PASSWORD_FILE"]["value"]
        (mount,) = [m for m in cont["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == "registry-janitor-credentials"
        assert [i["path"] for i in volume["secret"]["items"]] == [path.rsplit("/", 1)[1]]
        # The password is a file, never an argument or a plain variable.
        assert "JANITOR_PASSWORD" not in env
        assert not any("password" in a for a in cont["args"])
