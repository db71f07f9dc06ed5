"""deploy/examples: the manifests users copy must fit the chart and the solver contract."""

from __future__ import annotations

from conftest import example_objects, render_helm


def _issuers():
    return [o for o in example_objects() if o["kind"] in ("Issuer", "ClusterIssuer")]


def _webhooks(issuer):
    return [s["dns01"] for s in issuer["spec"]["acme"]["solvers"] if "dns01" in s]


def test_examples_cover_cluster_issuer_namespaced_issuer_secret_and_certificate():
    kinds = sorted(o["kind"] for o in example_objects())
    assert {"ClusterIssuer", "Issuer", "Secret", "Certificate"} <= set(kinds)


def test_issuers_use_the_chart_default_group_and_the_gandi_solver():
    group = next(o for o in render_helm() if o["kind"] == "APIService")["spec"]["group"]
    for issuer in _issuers():
        for dns01 in _webhooks(issuer):
            assert dns01["webhook"]["groupName"] == group
            assert dns01["webhook"]["solverName"] == "gandi"
            assert dns01["cnameStrategy"] == "Follow"
            delegation = dns01["webhook"]["config"]["delegation"]
            assert delegation == {"zone": "acme.platform.example", "mode": "follow"}


def test_credential_secrets_exist_where_each_issuer_reads_them():
    """A ClusterIssuer reads from cert-manager; an Issuer from its own namespace."""
    secrets = {(o["metadata"]["namespace"], o["metadata"]["name"]): o
               for o in example_objects() if o["kind"] == "Secret"}
    for issuer in _issuers():
        ns = "cert-manager" if issuer["kind"] == "ClusterIssuer" else issuer["metadata"]["namespace"]
        for dns01 in _webhooks(issuer):
            ref = dns01["webhook"]["config"]["patSecretRef"]
            secret = secrets.get((ns, ref["name"]))
            assert secret is not None, f"no Secret {ns}/{ref['name']} for {issuer['kind']}"
            assert ref["key"] in secret["stringData"]


def test_secret_values_are_obvious_placeholders():
    for obj in example_objects():
        if obj["kind"] == "Secret":
            for value in obj.get("stringData", {}).values():
                assert value.startswith("REPLACE-ME"), value
            assert "data" not in obj


def test_certificate_covers_apex_and_wildcard_through_a_namespaced_issuer():
    certs = [o for o in example_objects() if o["kind"] == "Certificate"]
    assert certs
    issuers = {(o["metadata"]["namespace"], o["metadata"]["name"])
               for o in example_objects() if o["kind"] == "Issuer"}
    for cert in certs:
        names = cert["spec"]["dnsNames"]
        apex = [n for n in names if not n.startswith("*.")]
        assert apex and all(f"*.{a}" in names for a in apex)
        ref = cert["spec"]["issuerRef"]
        assert ref["kind"] == "Issuer"
        assert (cert["metadata"]["namespace"], ref["name"]) in issuers


def test_namespaced_issuer_namespaces_are_readable_with_the_example_values():
    """helm-values.yaml grants Secret access where the example Issuers live."""
    from conftest import full_values

    objs = render_helm(full_values())
    readable = {r["metadata"]["namespace"] for r in objs
                if r["kind"] == "Role" and r["metadata"]["name"].endswith(":secret-reader")}
    for issuer in _issuers():
        ns = "cert-manager" if issuer["kind"] == "ClusterIssuer" else issuer["metadata"]["namespace"]
        assert ns in readable
