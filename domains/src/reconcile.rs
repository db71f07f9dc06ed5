//! The controller's decisions, as a pure function: from a CustomDomain and what was observed
//! (the DNS check, the Certificate, the route, the other CustomDomains claiming the same
//! hostname) to the desired status and the actions to take. [`crate::controller`] gathers the
//! observations and executes the [`Plan`]; everything that can be decided without I/O is
//! decided here, and table-tested.
//!
//! The rules:
//! - **Proof of control first.** A Certificate is applied only once the `_acme-challenge`
//!   delegation is verified (it names this namespace), the CA is not forbidden by CAA, and no
//!   other namespace holds the hostname.
//! - **Certificate before traffic.** The route (Ingress or HTTPRoute, for a `service` target)
//!   is applied only once the Certificate is `Ready`.
//! - **One tenant per hostname.** When another CustomDomain for the same hostname has its
//!   delegation verified, this one gets `Conflict`, unless this one is verified now and is the
//!   older (creation time, then namespace and name, decide). A domain in conflict gets its
//!   Certificate and route deleted.
//! - **A regression is reported, not enforced.** Once created, the Certificate and route stay
//!   while the DNS check regresses (a transient DNS fault must not take a serving domain down);
//!   the status shows the problem. Only a conflict or the deletion of the domain removes them.
//! - **Only its own objects.** A Certificate or route of the domain's name whose
//!   ownerReference does not carry the domain's uid is never applied over or deleted; a
//!   foreign Certificate in the way shows as `IssuanceFailed`.
//! - **Writes only on change.** Children are applied only when what is stored does not already
//!   carry the desired fields, and the status is patched only when
//!   [`needs_patch`] says so.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Resource as _, ResourceExt as _};
use serde_json::{Value, json};

use crate::certmanager::{Certificate, CertificateSpec};
use crate::check::{Area, CheckReport};
use crate::conditions::{
    CertificateState, DELEGATION_VERIFIED, Observation, RouteState, desired_status, needs_patch,
};
use crate::crd::{CustomDomain, CustomDomainStatus, Purpose, Target};
use crate::error::Error;

/// The label put on every object the controller creates for a CustomDomain (its name).
pub const DOMAIN_LABEL: &str = "domains.dns01.dev/custom-domain";
/// Set this annotation on a CustomDomain to a new value (a timestamp, say) to check its DNS
/// at once and start a new backoff schedule (after an `Expired`, for instance).
pub const RECHECK_ANNOTATION: &str = "domains.dns01.dev/recheck";
/// On a certificate Secret kept after its CustomDomain was deleted: when it may be deleted
/// (RFC 3339).
pub const DELETE_AFTER_ANNOTATION: &str = "domains.dns01.dev/delete-after";
/// The label (value `true`) on such a Secret, so that the sweep can list them.
pub const RETAINED_LABEL: &str = "domains.dns01.dev/retained";

/// How traffic reaches a `service` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMode {
    /// A `networking.k8s.io/v1` Ingress with the certificate's Secret.
    Ingress {
        /// `spec.ingressClassName`, if the platform names one.
        class: Option<String>,
    },
    /// A `gateway.networking.k8s.io/v1` HTTPRoute attached to the platform's Gateway, on one
    /// of its listeners when `section` names it.
    ///
    /// The Gateway terminates TLS; the HTTPRoute cannot name a certificate. The platform's
    /// HTTPS listener references the certificate Secret (`<CustomDomain name>-tls` in the
    /// tenant's namespace) in `tls.certificateRefs`, and a ReferenceGrant in the tenant's
    /// namespace lets the Gateway's namespace read Secrets there. The controller writes neither
    /// (the Gateway is the platform's); see the README.
    HttpRoute {
        /// The Gateway's name.
        gateway: String,
        /// The Gateway's namespace.
        namespace: String,
        /// The listener (`parentRefs[].sectionName`), e.g. `https`; all listeners when `None`.
        section: Option<String>,
    },
    /// No route: the platform's own router serves the hostname.
    None,
}

impl RouteMode {
    /// The API resource of the route, if any.
    pub fn api_resource(&self) -> Option<ApiResource> {
        let (group, kind, plural) = match self {
            Self::Ingress { .. } => ("networking.k8s.io", "Ingress", "ingresses"),
            Self::HttpRoute { .. } => ("gateway.networking.k8s.io", "HTTPRoute", "httproutes"),
            Self::None => return None,
        };
        Some(ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, "v1", kind),
            plural,
        ))
    }
}

/// The controller's settings that decisions depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How traffic is routed.
    pub route: RouteMode,
    /// While a certificate is issuing, look again this often (Challenges are not watched).
    pub issuing_poll: Duration,
    /// No scheduled check waits longer than this (tests shorten the schedule with it).
    pub check_delay_cap: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            route: RouteMode::Ingress { class: None },
            issuing_poll: Duration::from_secs(30),
            check_delay_cap: None,
        }
    }
}

/// What was observed for one CustomDomain.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The DNS check (this reconcile's, or the last one when none was due), or why it failed.
    pub check: Result<&'a CheckReport, &'a Error>,
    /// Whether the check ran in this reconcile (otherwise `lastChecked` and `nextCheck` stay).
    pub checked_now: bool,
    /// Whether the re-check annotation asked for a new backoff schedule (its value differs
    /// from `status.lastRecheck`).
    pub restart_schedule: bool,
    /// The Certificate as stored, if any.
    pub certificate: Option<&'a Certificate>,
    /// The reason of a Challenge for the hostname, while issuance is stuck.
    pub challenge_reason: Option<&'a str>,
    /// The route as stored, if any.
    pub route: Option<&'a DynamicObject>,
    /// Every CustomDomain (this one included or not) that may claim the same hostname.
    pub others: &'a [CustomDomain],
}

/// What to do with a child object.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildAction<T> {
    /// Nothing: it is as desired (or absent and not wanted).
    Keep,
    /// Apply it (server-side apply, the controller's field manager).
    Apply(T),
    /// Delete it.
    Delete,
}

/// A Kubernetes Event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The condition type (the Event's `action`, so that kube-runtime's Recorder keeps one
    /// series per condition and reason).
    pub condition: String,
    /// A Warning (else Normal).
    pub warning: bool,
    /// The condition's new reason.
    pub reason: String,
    /// `<type> <status>: <message>`.
    pub note: String,
}

/// What the controller does for one CustomDomain.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The status it should have.
    pub status: CustomDomainStatus,
    /// Whether that status differs from the stored one in anything worth a write.
    pub patch_status: bool,
    /// The cert-manager Certificate.
    pub certificate: ChildAction<Certificate>,
    /// The route (Ingress or HTTPRoute).
    pub route: ChildAction<DynamicObject>,
    /// Events for the conditions that changed.
    pub events: Vec<Transition>,
    /// When to reconcile again without a change (`None`: only on a change).
    pub requeue_after: Option<Duration>,
}

/// The Secret the certificate is written to.
pub fn secret_name(domain: &CustomDomain) -> String {
    format!("{}-tls", domain.name_any())
}

/// The names the certificate covers.
pub fn dns_names(domain: &CustomDomain) -> Vec<String> {
    let host = domain.spec.hostname.as_str();
    let mut names = vec![host.to_owned()];
    if domain.spec.wildcard {
        names.push(format!("*.{host}"));
    }
    names
}

fn child_meta(domain: &CustomDomain) -> ObjectMeta {
    ObjectMeta {
        name: Some(domain.name_any()),
        namespace: domain.namespace(),
        owner_references: domain.controller_owner_ref(&()).map(|o| vec![o]),
        labels: Some(BTreeMap::from([(
            DOMAIN_LABEL.to_owned(),
            domain.name_any(),
        )])),
        ..ObjectMeta::default()
    }
}

/// The Certificate for `domain`, owned by it.
pub fn desired_certificate(domain: &CustomDomain) -> Certificate {
    Certificate {
        metadata: child_meta(domain),
        spec: CertificateSpec {
            secret_name: secret_name(domain),
            dns_names: dns_names(domain),
            issuer_ref: domain.spec.issuer_ref.clone(),
        },
        status: None,
    }
}

/// The route for `domain` under `mode`, owned by it; `None` when there is none to make (mode
/// `None`, or a target that is not a Service).
pub fn desired_route(domain: &CustomDomain, mode: &RouteMode) -> Option<DynamicObject> {
    let Target::Service(service) = &domain.spec.target else {
        return None;
    };
    let resource = mode.api_resource()?;
    let host = domain.spec.hostname.as_str();
    let spec = match mode {
        RouteMode::Ingress { class } => {
            let mut spec = json!({
                "tls": [{"hosts": dns_names(domain), "secretName": secret_name(domain)}],
                "rules": [{"host": host, "http": {"paths": [{
                    "path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": service.name, "port": {"number": service.port}}},
                }]}}],
            });
            if let Some(class) = class {
                spec["ingressClassName"] = json!(class);
            }
            spec
        }
        RouteMode::HttpRoute {
            gateway,
            namespace,
            section,
        } => {
            let mut parent = json!({
                "group": "gateway.networking.k8s.io", "kind": "Gateway",
                "name": gateway, "namespace": namespace,
            });
            if let Some(section) = section {
                parent["sectionName"] = json!(section);
            }
            json!({
                "parentRefs": [parent],
                "hostnames": [host],
                "rules": [{
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": service.name, "port": service.port}],
                }],
            })
        }
        RouteMode::None => return None,
    };
    let mut route = DynamicObject::new(&domain.name_any(), &resource).data(json!({"spec": spec}));
    route.metadata = child_meta(domain);
    Some(route)
}

/// Whether `stored` carries every field of `desired` with the same value (fields the API
/// server or another manager added do not count as a difference).
pub fn covers(stored: &Value, desired: &Value) -> bool {
    match (stored, desired) {
        (Value::Object(s), Value::Object(d)) => d
            .iter()
            .all(|(k, v)| v.is_null() || s.get(k).is_some_and(|sv| covers(sv, v))),
        _ => stored == desired,
    }
}

/// The namespace of the CustomDomain that holds `domain`'s hostname instead of it, if any.
pub fn conflict_with<'a>(
    domain: &CustomDomain,
    others: &'a [CustomDomain],
    verified_now: bool,
) -> Option<&'a CustomDomain> {
    let age = |d: &CustomDomain| {
        (
            d.metadata.creation_timestamp.clone().map(|t| t.0),
            d.namespace().unwrap_or_default(),
            d.name_any(),
        )
    };
    let mine = age(domain);
    others
        .iter()
        .filter(|o| {
            o.spec.hostname == domain.spec.hostname
                && o.uid() != domain.uid()
                && o.metadata.deletion_timestamp.is_none()
                && o.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == DELEGATION_VERIFIED && c.status == "True")
                })
        })
        .filter(|o| !verified_now || age(o) < mine)
        .min_by_key(|o| age(o))
}

/// Whether the check verified the `_acme-challenge` delegation.
pub fn delegation_verified(report: &CheckReport) -> bool {
    report.problems_in(Area::Delegation).next().is_none()
        && report
            .records
            .iter()
            .filter(|r| r.requirement.purpose == Purpose::Validation)
            .all(|r| r.found)
}

fn certificate_state(
    certificate: Option<&Certificate>,
    challenge: Option<&str>,
) -> CertificateState {
    let Some(certificate) = certificate else {
        return CertificateState::NotRequested;
    };
    if certificate
        .condition("Ready")
        .is_some_and(|c| c.status == "True")
    {
        return CertificateState::Ready;
    }
    if let Some(failed) = certificate
        .condition("Issuing")
        .filter(|c| c.status == "False" && c.reason.as_deref() == Some("Failed"))
    {
        return CertificateState::Failed {
            message: failed
                .message
                .clone()
                .unwrap_or_else(|| "cert-manager could not issue the certificate".to_owned()),
        };
    }
    let message = challenge.map(ToOwned::to_owned).or_else(|| {
        certificate
            .condition("Ready")
            .and_then(|c| c.message.clone())
    });
    CertificateState::Issuing { message }
}

/// Reasons worth a Warning event (the others are the normal course of a domain).
const WARNINGS: &[&str] = &[
    "Conflict",
    "RouteNotOwned",
    "Expired",
    "IssuanceFailed",
    "CAAForbidsIssuer",
    "CheckFailed",
    "WildcardShadowsDelegation",
];

fn transitions(old: &[Condition], new: &[Condition]) -> Vec<Transition> {
    new.iter()
        .filter(|c| {
            !old.iter()
                .any(|o| o.type_ == c.type_ && o.status == c.status && o.reason == c.reason)
        })
        .map(|c| Transition {
            condition: c.type_.clone(),
            warning: WARNINGS.contains(&c.reason.as_str()),
            reason: c.reason.clone(),
            note: format!("{} {}: {}", c.type_, c.status, c.message),
        })
        .collect()
}

fn until(now: Timestamp, then: &Time) -> Duration {
    Duration::from_secs(u64::try_from(then.0.as_second() - now.as_second()).unwrap_or(0))
}

/// The decisions for `domain` at `now`.
pub fn reconcile(
    domain: &CustomDomain,
    observed: &Observed<'_>,
    settings: &Settings,
    now: Timestamp,
) -> Plan {
    let verified_now = matches!(observed.check, Ok(report) if delegation_verified(report));
    let caa_ok = matches!(observed.check, Ok(report) if report.problems_in(Area::Certificate).next().is_none());
    let rival = conflict_with(domain, observed.others, verified_now);
    let rival_namespace = rival.map(|r| r.namespace().unwrap_or_default());

    // Objects of the domain's name that it does not own are never written or deleted.
    let owned = |meta: &ObjectMeta| {
        meta.owner_references
            .iter()
            .flatten()
            .any(|o| Some(&o.uid) == domain.metadata.uid.as_ref())
    };
    let stored_certificate = observed.certificate.filter(|c| owned(&c.metadata));
    let foreign_certificate = observed.certificate.is_some() && stored_certificate.is_none();
    let stored_route = observed.route.filter(|r| owned(&r.metadata));
    let foreign_route = observed.route.is_some() && stored_route.is_none();

    // The Certificate: wanted once verified (and kept through a regression), never in conflict.
    let wanted_certificate = desired_certificate(domain);
    let certificate = match (rival, stored_certificate) {
        _ if foreign_certificate => ChildAction::Keep,
        (Some(_), Some(_)) => ChildAction::Delete,
        (Some(_), None) => ChildAction::Keep,
        (None, Some(stored)) => {
            let stored = serde_json::to_value(stored).unwrap_or_default();
            let wanted = serde_json::to_value(&wanted_certificate).unwrap_or_default();
            if covers(&stored["spec"], &wanted["spec"])
                && covers(
                    &stored["metadata"],
                    &json!({"ownerReferences": wanted["metadata"]["ownerReferences"]}),
                )
            {
                ChildAction::Keep
            } else {
                ChildAction::Apply(wanted_certificate)
            }
        }
        (None, None) if verified_now && caa_ok => ChildAction::Apply(wanted_certificate),
        (None, None) => ChildAction::Keep,
    };
    let cert_state = match &certificate {
        _ if foreign_certificate => CertificateState::Failed {
            message: format!(
                "a Certificate named {} that this CustomDomain does not own is in the way; \
                 delete or rename it",
                domain.name_any()
            ),
        },
        ChildAction::Delete => CertificateState::NotRequested,
        _ => certificate_state(stored_certificate, observed.challenge_reason),
    };

    // The route: wanted once the certificate is ready (and kept after), never in conflict.
    let wanted_route = desired_route(domain, &settings.route);
    let routable = wanted_route.is_some();
    let route = match (rival, stored_route, wanted_route) {
        _ if foreign_route => ChildAction::Keep,
        (Some(_), Some(_), _) | (_, Some(_), None) => ChildAction::Delete,
        (None, Some(stored), Some(wanted)) => {
            if covers(&stored.data["spec"], &wanted.data["spec"]) {
                ChildAction::Keep
            } else {
                ChildAction::Apply(wanted)
            }
        }
        (None, None, Some(wanted)) if cert_state == CertificateState::Ready => {
            ChildAction::Apply(wanted)
        }
        _ => ChildAction::Keep,
    };
    let route_kind = settings
        .route
        .api_resource()
        .map(|r| r.kind)
        .unwrap_or_default();
    let route_object = format!(
        "{}/{}",
        domain.namespace().unwrap_or_default(),
        domain.name_any()
    );
    let route_state = match (&route, stored_route) {
        _ if !routable => RouteState::Disabled,
        _ if foreign_route => RouteState::NotOwned {
            kind: &route_kind,
            object: &route_object,
        },
        (ChildAction::Apply(_), _) | (ChildAction::Keep, Some(_)) => RouteState::Routed,
        _ => RouteState::NotRouted,
    };

    let observation = Observation {
        hostname: domain.spec.hostname.as_str(),
        check: observed.check,
        conflict: rival_namespace.as_deref(),
        certificate: &cert_state,
        route: route_state,
    };
    let old = domain.status.as_ref();
    let restarted = old.map(|o| CustomDomainStatus {
        first_checked: None,
        ..o.clone()
    });
    let basis = if observed.restart_schedule {
        restarted.as_ref()
    } else {
        old
    };
    let mut status = desired_status(basis, &observation, domain.metadata.generation, now);
    if observed.checked_now {
        // This check answered whatever the re-check annotation asks now.
        status.last_recheck = domain.annotations().get(RECHECK_ANNOTATION).cloned();
        if let (Some(cap), Some(next)) = (settings.check_delay_cap, &status.next_check)
            && until(now, next) > cap
            && let Ok(capped) = now.checked_add(cap)
        {
            status.next_check = Some(Time(capped));
        }
    } else if let Some(old) = old {
        status.last_checked.clone_from(&old.last_checked);
        status.next_check.clone_from(&old.next_check);
    }
    let patch_status = needs_patch(old, &status);
    let events = transitions(
        old.map(|o| o.conditions.as_slice()).unwrap_or_default(),
        &status.conditions,
    );
    // While a Certificate exists (or is being applied) and is not issued, look again soon:
    // the Challenge that says why is not watched.
    let certificate_exists = match &certificate {
        ChildAction::Apply(_) => true,
        ChildAction::Delete => false,
        ChildAction::Keep => stored_certificate.is_some(),
    };
    let issuing = certificate_exists && cert_state != CertificateState::Ready;
    let scheduled = status.next_check.as_ref().map(|next| until(now, next));
    let requeue_after = match (scheduled, issuing) {
        (Some(s), true) => Some(s.min(settings.issuing_poll)),
        (None, true) => Some(settings.issuing_poll),
        (s, false) => s,
    };
    Plan {
        status,
        patch_status,
        certificate,
        route,
        events,
        requeue_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certmanager::{CertificateCondition, CertificateStatus};
    use crate::check::{Problem, ProblemKind, RecordCheck};
    use crate::crd::{CustomDomainSpec, Hostname, IssuerRef, RecordType, ServiceTarget};
    use crate::records::Requirement;
    use dns01_core::{Fqdn, ZoneName};

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn domain(namespace: &str, created: i64) -> CustomDomain {
        let mut d = CustomDomain::new(
            "app",
            CustomDomainSpec {
                hostname: Hostname::parse("app.customer.com").unwrap(),
                target: Target::Service(ServiceTarget {
                    name: "web".into(),
                    port: 8080,
                }),
                issuer_ref: IssuerRef {
                    name: "letsencrypt".into(),
                    kind: "Issuer".into(),
                    group: None,
                },
                wildcard: false,
            },
        );
        d.metadata.namespace = Some(namespace.to_owned());
        d.metadata.uid = Some(format!("uid-{namespace}"));
        d.metadata.generation = Some(1);
        d.metadata.creation_timestamp = Some(Time(at(created)));
        d
    }

    /// A check report; `delegation` and `traffic` say whether each record is in place.
    fn report(delegation: bool, traffic: bool, extra: &[(ProblemKind, Area, &str)]) -> CheckReport {
        let row = |name: &str, value: &str, purpose, found: bool| RecordCheck {
            requirement: Requirement {
                name: Fqdn::parse(name).unwrap(),
                record_type: RecordType::Cname,
                value: value.to_owned(),
                purpose,
            },
            answers: Vec::new(),
            found,
            message: (!found).then(|| format!("`{name}` has no CNAME")),
        };
        let mut problems: Vec<Problem> = extra
            .iter()
            .map(|(kind, area, message)| Problem {
                kind: *kind,
                area: *area,
                message: (*message).to_owned(),
            })
            .collect();
        if !delegation {
            problems.push(Problem {
                kind: ProblemKind::RecordNotFound,
                area: Area::Delegation,
                message: "`_acme-challenge.app.customer.com` has no CNAME; create it".into(),
            });
        }
        if !traffic {
            problems.push(Problem {
                kind: ProblemKind::RecordNotFound,
                area: Area::Traffic,
                message: "`app.customer.com` has no CNAME".into(),
            });
        }
        CheckReport {
            zone: ZoneName::parse("customer.com").unwrap(),
            servers: Vec::new(),
            skipped: Vec::new(),
            records: vec![
                row(
                    "app.customer.com",
                    "edge.platform.example.",
                    Purpose::Traffic,
                    traffic,
                ),
                row(
                    "_acme-challenge.app.customer.com",
                    "x.acme.platform.example.",
                    Purpose::Validation,
                    delegation,
                ),
            ],
            problems,
        }
    }

    fn certificate(d: &CustomDomain, ready: Option<(&str, Option<&str>)>) -> Certificate {
        let mut c = desired_certificate(d);
        c.status = ready.map(|(status, message)| CertificateStatus {
            conditions: vec![CertificateCondition {
                type_: "Ready".into(),
                status: status.into(),
                reason: None,
                message: message.map(ToOwned::to_owned),
                observed_generation: None,
            }],
            not_after: None,
        });
        c
    }

    fn verified(d: &CustomDomain) -> CustomDomain {
        let mut d = d.clone();
        d.status = Some(CustomDomainStatus {
            conditions: vec![Condition {
                type_: DELEGATION_VERIFIED.into(),
                status: "True".into(),
                reason: "Verified".into(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: Time(at(0)),
            }],
            ..CustomDomainStatus::default()
        });
        d
    }

    fn observed<'a>(check: &'a CheckReport) -> Observed<'a> {
        Observed {
            check: Ok(check),
            checked_now: true,
            restart_schedule: false,
            certificate: None,
            challenge_reason: None,
            route: None,
            others: &[],
        }
    }

    fn condition<'a>(plan: &'a Plan, type_: &str) -> (&'a str, &'a str, &'a str) {
        let c = plan
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap();
        (c.status.as_str(), c.reason.as_str(), c.message.as_str())
    }

    fn kind<T>(action: &ChildAction<T>) -> &'static str {
        match action {
            ChildAction::Keep => "keep",
            ChildAction::Apply(_) => "apply",
            ChildAction::Delete => "delete",
        }
    }

    #[test]
    fn decisions_follow_proof_of_control_then_certificate_then_traffic() {
        let d = domain("team-a", 0);
        let none = report(false, false, &[]);
        let delegated = report(true, false, &[]);
        let all = report(true, true, &[]);
        let caa = report(
            true,
            true,
            &[(
                ProblemKind::CaaForbidden,
                Area::Certificate,
                "CAA record at customer.com allows only digicert.com",
            )],
        );
        let issuing = certificate(
            &d,
            Some((
                "False",
                Some("Issuing certificate as Secret does not exist"),
            )),
        );
        let ready = certificate(&d, Some(("True", None)));
        let route = desired_route(&d, &RouteMode::Ingress { class: None }).unwrap();
        // (what, check, certificate, route, challenge) → (certificate action, route action,
        // CertificateReady (status, reason), Routed reason, Ready reason)
        type Case<'a> = (
            &'a str,
            &'a CheckReport,
            Option<&'a Certificate>,
            Option<&'a DynamicObject>,
            Option<&'a str>,
            (&'a str, &'a str, &'a str, &'a str, &'a str),
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "nothing in DNS yet",
                &none,
                None,
                None,
                None,
                (
                    "keep",
                    "keep",
                    "WaitingForDelegation",
                    "WaitingForCertificate",
                    "RecordNotFound",
                ),
            ),
            (
                "delegation verified: the certificate is requested",
                &delegated,
                None,
                None,
                None,
                (
                    "apply",
                    "keep",
                    "Requesting",
                    "WaitingForCertificate",
                    "Requesting",
                ),
            ),
            (
                "CAA forbids the CA: no certificate",
                &caa,
                None,
                None,
                None,
                (
                    "keep",
                    "keep",
                    "CAAForbidsIssuer",
                    "WaitingForCertificate",
                    "CAAForbidsIssuer",
                ),
            ),
            (
                "issuing: the challenge's reason shows",
                &delegated,
                Some(&issuing),
                None,
                Some("DNS record not yet propagated"),
                (
                    "keep",
                    "keep",
                    "Issuing",
                    "WaitingForCertificate",
                    "Issuing",
                ),
            ),
            (
                "certificate ready: the route is applied",
                &delegated,
                Some(&ready),
                None,
                None,
                ("keep", "apply", "Issued", "Routed", "RecordNotFound"),
            ),
            (
                "all in place: nothing to write",
                &all,
                Some(&ready),
                Some(&route),
                None,
                ("keep", "keep", "Issued", "Routed", "Ready"),
            ),
            (
                "a regression keeps the certificate and route",
                &none,
                Some(&ready),
                Some(&route),
                None,
                (
                    "keep",
                    "keep",
                    "WaitingForDelegation",
                    "Routed",
                    "RecordNotFound",
                ),
            ),
        ];
        for (what, check, cert, route, challenge, want) in cases {
            let obs = Observed {
                certificate: cert,
                route,
                challenge_reason: challenge,
                ..observed(check)
            };
            let plan = reconcile(&d, &obs, &Settings::default(), at(100));
            let got = (
                kind(&plan.certificate),
                kind(&plan.route),
                condition(&plan, "CertificateReady").1,
                condition(&plan, "Routed").1,
                condition(&plan, "Ready").1,
            );
            assert_eq!(got, want, "{what}");
            if challenge.is_some() {
                assert_eq!(
                    condition(&plan, "CertificateReady").2,
                    "DNS record not yet propagated",
                    "{what}"
                );
            }
        }
    }

    #[test]
    fn the_certificate_and_ingress_carry_the_hostname_secret_owner_and_backend() {
        let mut d = domain("team-a", 0);
        d.spec.wildcard = true;
        let cert = serde_json::to_value(desired_certificate(&d)).unwrap();
        assert_eq!(cert["apiVersion"], "cert-manager.io/v1");
        assert_eq!(
            cert["spec"],
            json!({"secretName": "app-tls", "dnsNames": ["app.customer.com", "*.app.customer.com"],
                   "issuerRef": {"name": "letsencrypt", "kind": "Issuer"}})
        );
        let owner = &cert["metadata"]["ownerReferences"][0];
        assert_eq!(
            (
                owner["kind"].as_str(),
                owner["uid"].as_str(),
                owner["controller"].as_bool()
            ),
            (Some("CustomDomain"), Some("uid-team-a"), Some(true))
        );
        let ingress = desired_route(
            &d,
            &RouteMode::Ingress {
                class: Some("edge".into()),
            },
        )
        .unwrap();
        let ingress = serde_json::to_value(&ingress).unwrap();
        assert_eq!(ingress["kind"], "Ingress");
        assert_eq!(ingress["spec"]["ingressClassName"], "edge");
        assert_eq!(ingress["spec"]["tls"][0]["secretName"], "app-tls");
        assert_eq!(ingress["spec"]["rules"][0]["host"], "app.customer.com");
        assert_eq!(
            ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"],
            json!({"name": "web", "port": {"number": 8080}})
        );
        let gateway = RouteMode::HttpRoute {
            gateway: "edge".into(),
            namespace: "platform".into(),
            section: Some("https".into()),
        };
        let route = serde_json::to_value(desired_route(&d, &gateway).unwrap()).unwrap();
        assert_eq!(route["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(route["kind"], "HTTPRoute");
        assert_eq!(
            route["spec"],
            json!({
                "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                "name": "edge", "namespace": "platform", "sectionName": "https"}],
                "hostnames": ["app.customer.com"],
                "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                           "backendRefs": [{"name": "web", "port": 8080}]}],
            })
        );
        assert_eq!(
            route["metadata"]["ownerReferences"][0]["uid"], "uid-team-a",
            "owned by the domain"
        );
        let all_listeners = RouteMode::HttpRoute {
            gateway: "edge".into(),
            namespace: "platform".into(),
            section: None,
        };
        let route = serde_json::to_value(desired_route(&d, &all_listeners).unwrap()).unwrap();
        assert!(
            route["spec"]["parentRefs"][0].get("sectionName").is_none(),
            "{route}"
        );
        assert!(desired_route(&d, &RouteMode::None).is_none());
        let mut fixed = d.clone();
        fixed.spec.target = Target::Addresses(vec!["203.0.113.7".parse().unwrap()]);
        assert!(
            desired_route(&fixed, &RouteMode::Ingress { class: None }).is_none(),
            "no Service, no route"
        );
    }

    #[test]
    fn one_namespace_holds_a_hostname_the_verified_then_the_oldest() {
        let older = domain("team-a", 0);
        let newer = domain("team-b", 10);
        let verified_check = report(true, true, &[]);
        let unverified = report(false, true, &[]);
        // (what, this, its check, rivals, this has a certificate) → conflict namespace, certificate action
        type Case<'a> = (
            &'a str,
            &'a CustomDomain,
            &'a CheckReport,
            Vec<CustomDomain>,
            bool,
            Option<&'a str>,
            &'a str,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "a verified rival holds it against an unverified claim",
                &newer,
                &unverified,
                vec![verified(&older)],
                false,
                Some("team-a"),
                "keep",
            ),
            (
                "a verified rival holds it even against an older unverified claim",
                &older,
                &unverified,
                vec![verified(&newer)],
                false,
                Some("team-b"),
                "keep",
            ),
            (
                "both verified: the older proceeds",
                &older,
                &verified_check,
                vec![verified(&newer)],
                false,
                None,
                "apply",
            ),
            (
                "both verified: the newer is in conflict and its certificate goes",
                &newer,
                &verified_check,
                vec![verified(&older)],
                true,
                Some("team-a"),
                "delete",
            ),
            (
                "an unverified rival does not block",
                &newer,
                &verified_check,
                vec![older.clone()],
                false,
                None,
                "apply",
            ),
            (
                "itself in the list is no rival",
                &older,
                &verified_check,
                vec![verified(&older)],
                false,
                None,
                "apply",
            ),
        ];
        for (what, this, check, rivals, has_cert, want_conflict, want_cert) in cases {
            let cert = certificate(this, None);
            let obs = Observed {
                others: &rivals,
                certificate: has_cert.then_some(&cert),
                ..observed(check)
            };
            let plan = reconcile(this, &obs, &Settings::default(), at(100));
            let (status, reason, message) = condition(&plan, DELEGATION_VERIFIED);
            match want_conflict {
                Some(ns) => {
                    assert_eq!((status, reason), ("False", "Conflict"), "{what}");
                    assert!(
                        message.contains(&format!("namespace {ns}")),
                        "{what}: {message}"
                    );
                    assert!(
                        plan.events
                            .iter()
                            .any(|e| e.warning && e.reason == "Conflict"),
                        "{what}"
                    );
                }
                None => assert_eq!((status, reason), ("True", "Verified"), "{what}"),
            }
            assert_eq!(kind(&plan.certificate), want_cert, "{what}");
        }
    }

    #[test]
    fn a_steady_domain_writes_nothing_and_a_change_writes_once_with_events() {
        let d = domain("team-a", 0);
        let all = report(true, true, &[]);
        let ready = certificate(&d, Some(("True", None)));
        let route = desired_route(&d, &RouteMode::Ingress { class: None }).unwrap();
        let obs = Observed {
            certificate: Some(&ready),
            route: Some(&route),
            ..observed(&all)
        };
        let first = reconcile(&d, &obs, &Settings::default(), at(100));
        assert!(first.patch_status);
        assert_eq!(
            first.events.len(),
            5,
            "every condition is new: {:?}",
            first.events
        );
        assert_eq!(first.requeue_after, Some(crate::backoff::READY_RECHECK));
        let mut stored = d.clone();
        stored.status = Some(first.status.clone());
        // A day later, the daily check finds the same: no write, no event.
        let again = reconcile(&stored, &obs, &Settings::default(), at(86_500));
        assert!(!again.patch_status, "{:?}", again.status);
        assert!(again.events.is_empty());
        assert_eq!(
            (kind(&again.certificate), kind(&again.route)),
            ("keep", "keep")
        );
        // A reconcile without a new check keeps the check times.
        let not_checked = Observed {
            checked_now: false,
            ..obs
        };
        let between = reconcile(&stored, &not_checked, &Settings::default(), at(200));
        assert_eq!(between.status.last_checked, first.status.last_checked);
        assert_eq!(between.status.next_check, first.status.next_check);
        // The customer breaks the delegation: one write, Warning-free transitions named.
        let broken = report(false, true, &[]);
        let regress = reconcile(
            &stored,
            &Observed {
                check: Ok(&broken),
                ..obs
            },
            &Settings::default(),
            at(90_000),
        );
        assert!(regress.patch_status);
        let reasons: Vec<&str> = regress.events.iter().map(|e| e.reason.as_str()).collect();
        // DelegationVerified, CertificateReady (renewal needs the delegation) and Ready.
        assert_eq!(
            reasons,
            ["RecordNotFound", "WaitingForDelegation", "RecordNotFound"]
        );
        assert!(
            regress.events[0]
                .note
                .starts_with("DelegationVerified False: ")
        );
        assert_eq!(
            regress.requeue_after,
            Some(Duration::from_secs(60)),
            "the schedule starts again"
        );
    }

    #[test]
    fn the_delay_cap_shortens_the_schedule_and_issuing_polls() {
        let d = domain("team-a", 0);
        let none = report(false, false, &[]);
        let settings = Settings {
            check_delay_cap: Some(Duration::from_secs(2)),
            ..Settings::default()
        };
        let plan = reconcile(&d, &observed(&none), &settings, at(100));
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(2)));
        assert_eq!(plan.status.next_check, Some(Time(at(102))));
        let delegated = report(true, true, &[]);
        let issuing = certificate(&d, None);
        let obs = Observed {
            certificate: Some(&issuing),
            ..observed(&delegated)
        };
        let plan = reconcile(&d, &obs, &Settings::default(), at(100));
        assert_eq!(
            plan.requeue_after,
            Some(Duration::from_secs(30)),
            "issuing polls for the Challenge"
        );
    }

    #[test]
    fn objects_of_the_same_name_the_domain_does_not_own_are_left_alone() {
        let d = domain("team-a", 0);
        let all = report(true, true, &[]);
        let mut cert = certificate(&d, Some(("True", None)));
        cert.metadata.owner_references = None;
        let mut route = desired_route(&d, &RouteMode::Ingress { class: None }).unwrap();
        route.metadata.owner_references = None;
        route.data["spec"] = json!({"rules": [{"host": "other.example"}]});
        let obs = Observed {
            certificate: Some(&cert),
            route: Some(&route),
            ..observed(&all)
        };
        let plan = reconcile(&d, &obs, &Settings::default(), at(100));
        assert_eq!(
            (kind(&plan.certificate), kind(&plan.route)),
            ("keep", "keep")
        );
        let (status, reason, message) = condition(&plan, "CertificateReady");
        assert_eq!((status, reason), ("False", "IssuanceFailed"));
        assert!(message.contains("does not own"), "{message}");
        let (status, reason, message) = condition(&plan, "Routed");
        assert_eq!((status, reason), ("False", "RouteNotOwned"));
        assert!(
            message.starts_with(
                "the Ingress team-a/app already exists and is not owned by this CustomDomain"
            ) && message.contains("delete that Ingress"),
            "{message}"
        );
        assert!(
            plan.events
                .iter()
                .any(|e| e.warning && e.reason == "RouteNotOwned"),
            "{:?}",
            plan.events
        );
        // The same objects owned by the domain are its own: kept, and the route corrected.
        let mut mine = route.clone();
        mine.metadata.owner_references = d.controller_owner_ref(&()).map(|o| vec![o]);
        let obs = Observed {
            route: Some(&mine),
            certificate: None,
            ..observed(&all)
        };
        let plan = reconcile(&d, &obs, &Settings::default(), at(100));
        assert_eq!(kind(&plan.route), "apply");
    }

    #[test]
    fn covers_ignores_fields_the_server_added() {
        let cases = [
            (
                json!({"a": 1, "b": {"c": 2, "d": 3}}),
                json!({"b": {"c": 2}}),
                true,
            ),
            (json!({"a": 1}), json!({"a": 2}), false),
            (json!({"a": [1, 2]}), json!({"a": [1]}), false),
            (json!({}), json!({"a": null}), true),
            (json!({}), json!({"a": {}}), false),
        ];
        for (stored, desired, want) in cases {
            assert_eq!(covers(&stored, &desired), want, "{stored} ⊇ {desired}");
        }
    }
}
