"""Invariants that every rendering (Helm with several value sets, kustomize) must hold.

Each one is a way the webhook breaks in a cluster: the APIService pointing at another group
than the server serves, a Service that misses the container port, probes on paths the server
does not answer, RBAC bound to the wrong account, Secrets readable cluster-wide.
"""

from __future__ import annotations

import re

from conftest import all_of, binary_shutdown_default_seconds, container, flags, key, only

HEALTH_PATHS = {"/livez", "/readyz", "/healthz"}


def _ports_by_name(cont):
    return {p["name"]: p["containerPort"] for p in cont.get("ports", [])}


def _resolve(port, cont):
    """A named or numeric container port to its number."""
    return _ports_by_name(cont)[port] if isinstance(port, str) else port


def test_apiservice_group_matches_the_served_group(rendering):
    _, objs = rendering
    api = only(objs, "APIService")
    group = api["spec"]["group"]
    assert api["metadata"]["name"] == f"v1alpha1.{group}"
    assert api["spec"]["version"] == "v1alpha1"
    assert flags(container(only(objs, "Deployment")))["group-name"] == group
    assert api["spec"]["groupPriorityMinimum"] == 1000
    assert api["spec"]["versionPriority"] == 15


def test_apiservice_points_at_the_service_and_gets_the_serving_ca(rendering):
    _, objs = rendering
    api = only(objs, "APIService")
    svc = only(objs, "Service")
    ref = api["spec"]["service"]
    assert (ref["namespace"], ref["name"]) == (svc["metadata"]["namespace"], svc["metadata"]["name"])
    https = [p for p in svc["spec"]["ports"] if p["name"] == "https"]
    assert len(https) == 1
    assert ref.get("port", 443) == https[0]["port"]

    inject = api["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    ns, name = inject.split("/")
    certs = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in all_of(objs, "Certificate")}
    assert (ns, name) in certs, f"inject-ca-from names {inject}, which is not rendered"
    serving = certs[(ns, name)]
    svc_name, svc_ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
    assert serving["spec"]["dnsNames"] == [svc_name, f"{svc_name}.{svc_ns}", f"{svc_name}.{svc_ns}.svc"]


def test_pki_chain_is_selfsigned_issuer_then_ca_then_serving_certificate(rendering):
    _, objs = rendering
    issuers = {i["metadata"]["name"]: i for i in all_of(objs, "Issuer")}
    certs = {c["metadata"]["name"]: c for c in all_of(objs, "Certificate")}
    selfsigned = [n for n, i in issuers.items() if "selfSigned" in i["spec"]]
    ca_issuers = [n for n, i in issuers.items() if "ca" in i["spec"]]
    assert len(selfsigned) == 1 and len(ca_issuers) == 1
    ca_cert = [c for c in certs.values() if c["spec"].get("isCA")]
    assert len(ca_cert) == 1
    assert ca_cert[0]["spec"]["issuerRef"]["name"] == selfsigned[0]
    assert issuers[ca_issuers[0]]["spec"]["ca"]["secretName"] == ca_cert[0]["spec"]["secretName"]
    serving = [c for c in certs.values() if not c["spec"].get("isCA")]
    assert len(serving) == 1
    assert serving[0]["spec"]["issuerRef"]["name"] == ca_issuers[0]
    # The Deployment mounts the serving Secret, read-only, at /tls.
    dep = only(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = [m for m in container(dep)["volumeMounts"] if m["mountPath"] == "/tls"]
    assert len(mounts) == 1 and mounts[0]["readOnly"] is True
    assert vols[mounts[0]["name"]]["secret"]["secretName"] == serving[0]["spec"]["secretName"]
    f = flags(container(dep))
    assert f["tls-cert-file"] == "/tls/tls.crt"
    assert f["tls-private-key-file"] == "/tls/tls.key"
    # All of it lives in the webhook's namespace.
    ns = dep["metadata"]["namespace"]
    assert {o["metadata"]["namespace"] for o in objs if o["kind"] in ("Issuer", "Certificate")} == {ns}


def test_service_reaches_the_secure_port(rendering):
    _, objs = rendering
    svc = only(objs, "Service")
    dep = only(objs, "Deployment")
    cont = container(dep)
    secure_port = int(flags(cont)["secure-port"])
    https = next(p for p in svc["spec"]["ports"] if p["name"] == "https")
    assert _resolve(https["targetPort"], cont) == secure_port
    assert _ports_by_name(cont)["https"] == secure_port
    # The Service selects the pods.
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # Metrics, when published, reach the metrics listener.
    metrics = [p for p in svc["spec"]["ports"] if p["name"] == "metrics"]
    addr = flags(cont)["metrics-address"]
    if metrics:
        assert addr.startswith("0.0.0.0:")
        assert _resolve(metrics[0]["targetPort"], cont) == int(addr.rsplit(":", 1)[1])
    else:
        assert addr.startswith("127.0.0.1:")


def test_probes_hit_health_paths_over_https_on_the_secure_port(rendering):
    _, objs = rendering
    cont = container(only(objs, "Deployment"))
    secure_port = int(flags(cont)["secure-port"])
    for probe_name, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = cont[probe_name]["httpGet"]
        assert get["path"] == path
        assert get["path"] in HEALTH_PATHS
        assert get["scheme"] == "HTTPS"
        assert _resolve(get["port"], cont) == secure_port


def test_container_runs_serve_with_every_flag(rendering):
    _, objs = rendering
    cont = container(only(objs, "Deployment"))
    assert cont["args"][0] == "serve"
    assert "command" not in cont, "the image's ENTRYPOINT is the binary"
    f = flags(cont)
    required = {"group-name", "secure-port", "tls-cert-file", "tls-private-key-file",
                "metrics-address", "log-format", "log-level"}
    assert required <= f.keys()
    optional = {"gandi-api-url", "gandi-rate-limit-per-minute", "gandi-timeout",
                "log-flush-interval", "max-connections",
                "max-request-body-bytes", "request-timeout", "tls-handshake-timeout",
                "request-read-timeout", "idle-timeout", "shutdown-grace-period",
                "rrset-lock", "rrset-lease-duration", "rfc2136-nameserver", "rfc2136-timeout"}
    assert f.keys() <= required | optional
    assert f["log-format"] in ("json", "text")


def test_several_replicas_always_come_with_leases_their_namespace_and_the_rights(rendering):
    """Replicas without the rrset lock overwrite each other's values; with it, the webhook
    needs POD_NAMESPACE and a Role on leases in that namespace."""
    _, objs = rendering
    deployment = only(objs, "Deployment")
    f = flags(container(deployment))
    if deployment["spec"].get("replicas", 1) > 1:
        assert f.get("rrset-lock") == "lease", "several replicas without --rrset-lock=lease"
    if f.get("rrset-lock") == "lease":
        env = {e["name"] for e in container(deployment).get("env", [])}
        assert {"POD_NAMESPACE", "POD_NAME"} <= env
        roles = [o for o in objs if o["kind"] == "Role"
                 and any("leases" in r.get("resources", []) for r in o["rules"])]
        assert roles, "no Role grants the rrset Leases"


def _seconds(duration: str) -> float:
    """A duration as the binary reads it: a number with ms, s or m."""
    found = re.fullmatch(r"(\d+)(ms|s|m)", duration)
    assert found, f"{duration!r} is not a duration the binary reads"
    return int(found.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[found.group(2)]


def test_the_webhook_shuts_down_before_the_kubelet_kills_it(rendering):
    _, objs = rendering
    pod = only(objs, "Deployment")["spec"]["template"]["spec"]
    # The binary's default and Kubernetes' default when the rendering sets neither.
    f = flags(container(only(objs, "Deployment")))
    shutdown = binary_shutdown_default_seconds()
    if "shutdown-grace-period" in f:
        shutdown = _seconds(f["shutdown-grace-period"])
    assert shutdown < pod.get("terminationGracePeriodSeconds", 30)


def test_security_context_is_hardened(rendering):
    _, objs = rendering
    dep = only(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["seccompProfile"]["type"] == "RuntimeDefault"
    sc = container(dep)["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 65532 and isinstance(sc["runAsUser"], int)
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc.get("privileged", False) is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    res = container(dep)["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"]


def test_rbac_subjects_are_the_webhook_service_account(rendering):
    _, objs = rendering
    sa = only(objs, "ServiceAccount")
    dep = only(objs, "Deployment")
    sa_ref = {"kind": "ServiceAccount", "name": sa["metadata"]["name"],
              "namespace": sa["metadata"]["namespace"]}
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    assert dep["metadata"]["namespace"] == sa["metadata"]["namespace"]

    crbs = {b["roleRef"]["name"]: b for b in all_of(objs, "ClusterRoleBinding")}
    assert crbs["system:auth-delegator"]["subjects"] == [sa_ref]
    assert crbs["system:auth-delegator"]["roleRef"]["kind"] == "ClusterRole"

    auth_readers = [b for b in all_of(objs, "RoleBinding")
                    if b["roleRef"]["name"] == "extension-apiserver-authentication-reader"]
    assert len(auth_readers) == 1
    assert auth_readers[0]["metadata"]["namespace"] == "kube-system"
    assert auth_readers[0]["roleRef"]["kind"] == "Role"
    assert auth_readers[0]["subjects"] == [sa_ref]

    for rb in all_of(objs, "RoleBinding"):
        if rb["roleRef"]["name"].endswith(":secret-reader"):
            assert rb["subjects"] == [sa_ref]


def test_cert_manager_may_create_in_the_group_and_nothing_else(rendering):
    _, objs = rendering
    group = only(objs, "APIService")["spec"]["group"]
    solver_roles = [r for r in all_of(objs, "ClusterRole") if r["metadata"]["name"].endswith(":domain-solver")]
    assert len(solver_roles) == 1
    role = solver_roles[0]
    assert role["rules"] == [{"apiGroups": [group], "resources": ["*"], "verbs": ["create"]}]
    bindings = [b for b in all_of(objs, "ClusterRoleBinding")
                if b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                    "name": role["metadata"]["name"]}]
    assert len(bindings) == 1
    (subject,) = bindings[0]["subjects"]
    assert subject["kind"] == "ServiceAccount"
    # The webhook's own account is not the one allowed to call it.
    assert subject["name"] != only(objs, "ServiceAccount")["metadata"]["name"] or \
        subject["namespace"] != only(objs, "ServiceAccount")["metadata"]["namespace"]


def test_secret_access_is_namespaced_only(rendering):
    _, objs = rendering
    for cr in all_of(objs, "ClusterRole"):
        for rule in cr.get("rules", []):
            assert "secrets" not in rule.get("resources", []), f"{key(cr)} grants secrets"
            assert rule.get("resources") != ["*"] or rule.get("apiGroups") not in ([""], ["*"]), key(cr)
    secret_roles = [r for r in all_of(objs, "Role")
                    if any("secrets" in rule.get("resources", []) for rule in r["rules"])]
    assert secret_roles, "the webhook must be able to read credential Secrets somewhere"
    bound = {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in all_of(objs, "RoleBinding")
             if b["roleRef"]["kind"] == "Role"}
    for role in secret_roles:
        assert (role["metadata"]["namespace"], role["metadata"]["name"]) in bound
        for rule in role["rules"]:
            assert rule["verbs"] == ["get"], "get is enough; list/watch would expose every Secret"
    # No binding of any cluster-wide role that can read secrets.
    for b in all_of(objs, "ClusterRoleBinding") + all_of(objs, "RoleBinding"):
        assert b["roleRef"]["name"] not in ("cluster-admin", "admin", "edit", "view")


def test_optional_objects_select_the_webhook_pods(rendering):
    _, objs = rendering
    dep = only(objs, "Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    cont = container(dep)
    for pdb in all_of(objs, "PodDisruptionBudget"):
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert dep["spec"]["replicas"] > 1
    for np in all_of(objs, "NetworkPolicy"):
        assert np["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        ingress_ports = {_resolve(p["port"], cont) for rule in np["spec"]["ingress"] for p in rule.get("ports", [])}
        assert int(flags(cont)["secure-port"]) in ingress_ports
        egress_ports = {(p.get("protocol", "TCP"), p["port"]) for rule in np["spec"]["egress"] for p in rule.get("ports", [])}
        assert {("UDP", 53), ("TCP", 53), ("TCP", 443)} <= egress_ports
    svc = only(objs, "Service")
    for sm in all_of(objs, "ServiceMonitor"):
        assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
        assert {e["port"] for e in sm["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}


def test_every_namespaced_object_names_its_namespace(rendering):
    _, objs = rendering
    cluster_scoped = {"APIService", "ClusterRole", "ClusterRoleBinding"}
    for obj in objs:
        if obj["kind"] in cluster_scoped:
            assert "namespace" not in obj["metadata"], key(obj)
        else:
            assert obj["metadata"].get("namespace"), f"{key(obj)} has no namespace"
