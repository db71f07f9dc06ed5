//! Status conditions from what the controller observed, and the desired status of a
//! CustomDomain.
//!
//! Five conditions, in the order a domain goes through them:
//!
//! | type | True when | reasons when not |
//! |---|---|---|
//! | `DelegationVerified` | the `_acme-challenge` CNAME points at this namespace's name at every server | `RecordNotFound`, `RecordMismatch`, `NameserversDisagree`, `WildcardShadowsDelegation`, `NameserverUnreachable`, `Conflict`, `CheckFailed`, `Expired` |
//! | `CertificateReady` | cert-manager issued the certificate | `CAAForbidsIssuer`, `WaitingForDelegation`, `Requesting`, `Issuing`, `IssuanceFailed` |
//! | `Routed` | the route exists (or the platform routes itself) | `WaitingForCertificate`, `Routing`, `RouteNotOwned` |
//! | `DNSConfigured` | the traffic records are right at every server | `RecordNotFound`, `RecordMismatch`, `NameserversDisagree`, `StrayRecord`, `AddressMismatch`, `NameserverUnreachable`, `CheckFailed`, `Expired` |
//! | `Ready` | all of the above | the reason and message of the first that is not True |
//!
//! The certificate is issued before traffic moves, so `DNSConfigured` comes last: a customer can
//! test with `curl --resolve` while production still points elsewhere, and `Ready` says when to
//! switch. [`merge_conditions`] keeps `lastTransitionTime` when a condition's status did not
//! change, and [`needs_patch`] says whether the status is worth writing, so a resync that finds
//! nothing new writes nothing.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::backoff::{NextCheck, next_check};
use crate::check::{Area, CheckReport};
use crate::crd::{CustomDomainStatus, Purpose};
use crate::error::Error;

/// `DelegationVerified`.
pub const DELEGATION_VERIFIED: &str = "DelegationVerified";
/// `DNSConfigured`.
pub const DNS_CONFIGURED: &str = "DNSConfigured";
/// `CertificateReady`.
pub const CERTIFICATE_READY: &str = "CertificateReady";
/// `Routed`.
pub const ROUTED: &str = "Routed";
/// `Ready`.
pub const READY: &str = "Ready";

/// Where the certificate is, as the controller read it from cert-manager.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateState {
    /// No Certificate yet (it is created once the delegation is verified).
    NotRequested,
    /// cert-manager is issuing; `message` is the stuck Challenge's reason, if any.
    Issuing {
        /// The Challenge's `status.reason` (the webhook's words) or the Certificate's message.
        message: Option<String>,
    },
    /// Issued and valid.
    Ready,
    /// Issuance failed.
    Failed {
        /// cert-manager's message.
        message: String,
    },
}

/// Where the route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteState<'a> {
    /// No route yet (it is created once the certificate is ready).
    NotRouted,
    /// The Ingress or HTTPRoute exists.
    Routed,
    /// Routing is off: the platform has its own router.
    Disabled,
    /// A route of the domain's name exists that the domain does not own: it is never changed
    /// or deleted, so the domain is not routed until someone removes or renames it.
    NotOwned {
        /// `Ingress` or `HTTPRoute`.
        kind: &'a str,
        /// `namespace/name` of the object in the way.
        object: &'a str,
    },
}

/// What the controller observed for one CustomDomain.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The hostname, for messages.
    pub hostname: &'a str,
    /// The DNS check, or why it could not run.
    pub check: Result<&'a CheckReport, &'a Error>,
    /// Another namespace whose CustomDomain for the same hostname is verified: only that one
    /// proceeds.
    pub conflict: Option<&'a str>,
    /// The certificate.
    pub certificate: &'a CertificateState,
    /// The route.
    pub route: RouteState<'a>,
}

/// The conditions for `observation`, all with `now` as their transition time (see
/// [`merge_conditions`]). `expired` comes from [`crate::backoff`]: unmet DNS requirements after
/// 7 days.
pub fn desired_conditions(
    observation: &Observation<'_>,
    expired: bool,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let make = |type_: &str, state: State| Condition {
        type_: type_.to_owned(),
        status: state.status.to_owned(),
        reason: state.reason.to_owned(),
        message: state.message,
        observed_generation: generation,
        last_transition_time: now.clone(),
    };
    let delegation = delegation_state(observation, expired);
    let certificate = certificate_state(observation, &delegation);
    let routed = route_state(observation, &certificate);
    let dns = dns_state(observation, expired);
    let ready = [&delegation, &certificate, &routed, &dns]
        .into_iter()
        .find(|s| s.status != "True")
        .map_or_else(
            || {
                State::ok(
                    "Ready",
                    format!("{} is served with its certificate", observation.hostname),
                )
            },
            |first| State {
                status: if first.status == "Unknown" {
                    "Unknown"
                } else {
                    "False"
                },
                reason: first.reason,
                message: first.message.clone(),
            },
        );
    vec![
        make(DELEGATION_VERIFIED, delegation),
        make(CERTIFICATE_READY, certificate),
        make(ROUTED, routed),
        make(DNS_CONFIGURED, dns),
        make(READY, ready),
    ]
}

/// `new` with the `lastTransitionTime` of `old`'s condition of the same type wherever the
/// status did not change.
pub fn merge_conditions(old: &[Condition], new: Vec<Condition>) -> Vec<Condition> {
    new.into_iter()
        .map(|mut c| {
            if let Some(previous) = old
                .iter()
                .find(|o| o.type_ == c.type_ && o.status == c.status)
            {
                c.last_transition_time = previous.last_transition_time.clone();
            }
            c
        })
        .collect()
}

/// The status a CustomDomain should have after a check at `now`: required records, merged
/// conditions, the first check of this generation, and the next check on the backoff schedule
/// (`None` once expired).
pub fn desired_status(
    old: Option<&CustomDomainStatus>,
    observation: &Observation<'_>,
    generation: Option<i64>,
    now: Timestamp,
) -> CustomDomainStatus {
    // The schedule (and the 7-day expiry) runs from the first check of this generation, and
    // starts again when a domain whose DNS was in place breaks: a regression after months of
    // service gets the short retries first, not an immediate expiry.
    let dns_met = matches!(observation.check, Ok(report) if report.all_met());
    let continuing =
        old.filter(|o| o.observed_generation == generation && (dns_met || !dns_was_met(o)));
    let first_checked = continuing
        .and_then(|o| o.first_checked.clone())
        .unwrap_or(Time(now));
    let since = Duration::from_secs(
        u64::try_from(now.as_second() - first_checked.0.as_second()).unwrap_or(0),
    );
    let next = next_check(since, dns_met);
    let expired = next == NextCheck::Expired;
    let now_time = Time(now);
    let conditions = desired_conditions(observation, expired, generation, &now_time);
    let old_conditions = old.map(|o| o.conditions.as_slice()).unwrap_or_default();
    let required_records = match observation.check {
        Ok(report) => report.required_records(),
        Err(_) => old.map(|o| o.required_records.clone()).unwrap_or_default(),
    };
    let next_check = match next {
        NextCheck::After(delay) => i64::try_from(delay.as_secs())
            .ok()
            .and_then(|d| Timestamp::from_second(now.as_second().saturating_add(d)).ok())
            .map(Time),
        NextCheck::Expired => None,
    };
    CustomDomainStatus {
        required_records,
        conditions: merge_conditions(old_conditions, conditions),
        observed_generation: generation,
        last_checked: Some(now_time),
        next_check,
        first_checked: Some(first_checked),
        last_recheck: old.and_then(|o| o.last_recheck.clone()),
    }
}

/// Whether the DNS part of `status` was all in place: every required record found, delegation
/// and traffic records verified, CAA not in the way.
fn dns_was_met(status: &CustomDomainStatus) -> bool {
    let is = |type_: &str, f: &dyn Fn(&Condition) -> bool| {
        status.conditions.iter().any(|c| c.type_ == type_ && f(c))
    };
    !status.required_records.is_empty()
        && status.required_records.iter().all(|r| r.found)
        && is(DELEGATION_VERIFIED, &|c| c.status == "True")
        && is(DNS_CONFIGURED, &|c| c.status == "True")
        && !is(CERTIFICATE_READY, &|c| c.reason == "CAAForbidsIssuer")
}

/// Whether `new` differs from `old` in anything but `lastChecked` and `nextCheck`: those two
/// move on every check, and writing them alone would cost one API write per domain per check.
pub fn needs_patch(old: Option<&CustomDomainStatus>, new: &CustomDomainStatus) -> bool {
    let Some(old) = old else {
        return true;
    };
    let strip = |s: &CustomDomainStatus| CustomDomainStatus {
        last_checked: None,
        next_check: None,
        ..s.clone()
    };
    strip(old) != strip(new)
}

/// Whether the stored status is a stale copy from before the controller's own last write.
/// `pending` is the status before the first write the store has not shown yet, then each
/// status written since (the last one is the latest write). Stale: the store still shows one
/// of the earlier ones (the watch delivers writes late, and one by one), and the status wanted
/// now is the latest written but for its times (computed from the stale copy a moment later,
/// its transitions carry a later time). Writing it (and its Events) again would be a
/// duplicate.
pub fn stale_read(
    pending: &[Option<CustomDomainStatus>],
    stored: Option<&CustomDomainStatus>,
    desired: &CustomDomainStatus,
) -> bool {
    let same = |a: Option<&CustomDomainStatus>, b: Option<&CustomDomainStatus>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => !needs_patch(Some(a), b),
        _ => false,
    };
    let timeless = |s: &CustomDomainStatus| CustomDomainStatus {
        conditions: s
            .conditions
            .iter()
            .map(|c| Condition {
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
                ..c.clone()
            })
            .collect(),
        last_checked: None,
        next_check: None,
        first_checked: None,
        ..s.clone()
    };
    let Some((Some(latest), earlier)) = pending.split_last() else {
        return false;
    };
    !same(stored, Some(latest))
        && earlier.iter().any(|e| same(stored, e.as_ref()))
        && timeless(latest) == timeless(desired)
}

/// A condition's status, reason and message before it gets its type and times.
#[derive(Debug, Clone)]
struct State {
    status: &'static str,
    reason: &'static str,
    message: String,
}

impl State {
    fn ok(reason: &'static str, message: String) -> Self {
        Self {
            status: "True",
            reason,
            message,
        }
    }

    fn not(reason: &'static str, message: String) -> Self {
        Self {
            status: "False",
            reason,
            message,
        }
    }

    fn unknown(error: &Error) -> Self {
        Self {
            status: "Unknown",
            reason: "CheckFailed",
            message: format!("the DNS check did not run: {}", error_chain(error)),
        }
    }
}

pub(crate) fn error_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The first problem of `area`, or a not-found row of `purpose`.
fn first_problem(report: &CheckReport, area: Area) -> Option<(&'static str, String)> {
    report
        .problems_in(area)
        .next()
        .map(|p| (p.kind.reason(), p.message.clone()))
}

fn expire(state: State, expired: bool) -> State {
    if !expired || state.status == "True" {
        return state;
    }
    State::not(
        "Expired",
        format!(
            "still unmet after 7 days, checks stopped: {}; fix it, then change the spec or \
             annotate the CustomDomain to check again",
            state.message
        ),
    )
}

fn delegation_state(observation: &Observation<'_>, expired: bool) -> State {
    if let Some(namespace) = observation.conflict {
        return State::not(
            "Conflict",
            format!(
                "{} is already verified for namespace {namespace}; only the namespace the \
                 `_acme-challenge` CNAME points at can use it",
                observation.hostname
            ),
        );
    }
    let report = match observation.check {
        Ok(report) => report,
        Err(error) => return State::unknown(error),
    };
    let rows = report
        .records
        .iter()
        .filter(|r| r.requirement.purpose == Purpose::Validation);
    let state = match first_problem(report, Area::Delegation) {
        Some((reason, message)) => State::not(reason, message),
        None => {
            let targets: Vec<String> = rows
                .map(|r| {
                    format!(
                        "`{}` CNAME {}",
                        r.requirement.name.as_str(),
                        r.requirement.value
                    )
                })
                .collect();
            State::ok(
                "Verified",
                format!("{} at every nameserver", targets.join(", ")),
            )
        }
    };
    expire(state, expired)
}

fn dns_state(observation: &Observation<'_>, expired: bool) -> State {
    let report = match observation.check {
        Ok(report) => report,
        Err(error) => return State::unknown(error),
    };
    let state = match first_problem(report, Area::Traffic) {
        Some((reason, message)) => State::not(reason, message),
        None => State::ok(
            "Configured",
            format!(
                "the traffic records of {} are in place at every nameserver",
                observation.hostname
            ),
        ),
    };
    expire(state, expired)
}

fn certificate_state(observation: &Observation<'_>, delegation: &State) -> State {
    if let Ok(report) = observation.check
        && let Some((reason, message)) = first_problem(report, Area::Certificate)
    {
        return State::not(reason, message);
    }
    if delegation.status != "True" {
        return State::not(
            "WaitingForDelegation",
            format!(
                "the certificate is requested once the delegation is verified: {}",
                delegation.message
            ),
        );
    }
    match observation.certificate {
        CertificateState::NotRequested => State::not(
            "Requesting",
            "the delegation is verified; the certificate is being requested".to_owned(),
        ),
        CertificateState::Issuing { message } => State::not(
            "Issuing",
            message
                .clone()
                .unwrap_or_else(|| "cert-manager is issuing the certificate".to_owned()),
        ),
        CertificateState::Failed { message } => State::not("IssuanceFailed", message.clone()),
        CertificateState::Ready => State::ok("Issued", "the certificate is issued".to_owned()),
    }
}

fn route_state(observation: &Observation<'_>, certificate: &State) -> State {
    match observation.route {
        RouteState::Disabled => State::ok(
            "RoutingDisabled",
            "the platform's own router serves the hostname".to_owned(),
        ),
        RouteState::Routed => State::ok(
            "Routed",
            "traffic for the hostname reaches the target".to_owned(),
        ),
        RouteState::NotRouted if certificate.status != "True" => State::not(
            "WaitingForCertificate",
            "traffic is routed once the certificate is issued".to_owned(),
        ),
        RouteState::NotRouted => State::not("Routing", "the route is being created".to_owned()),
        RouteState::NotOwned { kind, object } => State::not(
            "RouteNotOwned",
            format!(
                "the {kind} {object} already exists and is not owned by this CustomDomain (no \
                 ownerReference to it), so it is left alone and {} is not routed by it; delete \
                 that {kind} if it is stale, or rename this CustomDomain so that its {kind} gets \
                 another name",
                observation.hostname
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Problem, ProblemKind, RecordCheck};
    use crate::crd::RecordType;
    use crate::records::Requirement;
    use dns01_core::{Fqdn, ZoneName};

    const CNAME_LINE: &str =
        "_acme-challenge.app.customer.com. CNAME app-customer-com-x.acme.platform.example.";

    fn report(problems: &[(ProblemKind, Area, &str)]) -> CheckReport {
        let row = |name: &str, value: &str, purpose| RecordCheck {
            requirement: Requirement {
                name: Fqdn::parse(name).unwrap(),
                record_type: RecordType::Cname,
                value: value.to_owned(),
                purpose,
            },
            answers: Vec::new(),
            found: !problems.iter().any(|(_, a, _)| {
                *a == if purpose == Purpose::Traffic {
                    Area::Traffic
                } else {
                    Area::Delegation
                }
            }),
            message: None,
        };
        CheckReport {
            zone: ZoneName::parse("customer.com").unwrap(),
            servers: Vec::new(),
            skipped: Vec::new(),
            records: vec![
                row(
                    "app.customer.com",
                    "edge.platform.example.",
                    Purpose::Traffic,
                ),
                row(
                    "_acme-challenge.app.customer.com",
                    "app-customer-com-x.acme.platform.example.",
                    Purpose::Validation,
                ),
            ],
            problems: problems
                .iter()
                .map(|(kind, area, message)| Problem {
                    kind: *kind,
                    area: *area,
                    message: (*message).to_owned(),
                })
                .collect(),
        }
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    /// (type, status, reason) of each condition, and Ready's message.
    fn summary(conditions: &[Condition]) -> (Vec<(String, String, String)>, String) {
        let rows = conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect();
        let ready = conditions
            .iter()
            .find(|c| c.type_ == READY)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        (rows, ready)
    }

    fn rows(spec: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        spec.iter()
            .map(|(t, s, r)| ((*t).to_owned(), (*s).to_owned(), (*r).to_owned()))
            .collect()
    }

    /// What, the check, a conflicting namespace, certificate, route, then the expected
    /// (type, status, reason) rows and Ready's message.
    type Case<'a> = (
        &'a str,
        CheckReport,
        Option<&'a str>,
        CertificateState,
        RouteState<'static>,
        Vec<(&'a str, &'a str, &'a str)>,
        String,
    );

    #[test]
    fn conditions_follow_the_domains_progress_and_ready_names_the_first_unmet_step() {
        let missing =
            format!("`_acme-challenge.app.customer.com` has no CNAME; create `{CNAME_LINE}`");
        let caa = "CAA record at customer.com allows only digicert.com for certificates, not letsencrypt.org";
        let cases: Vec<Case<'_>> = vec![
            (
                "nothing created yet",
                report(&[
                    (ProblemKind::RecordNotFound, Area::Traffic, "`app.customer.com` has no CNAME"),
                    (ProblemKind::RecordNotFound, Area::Delegation, &missing),
                ]),
                None,
                CertificateState::NotRequested,
                RouteState::NotRouted,
                vec![
                    ("DelegationVerified", "False", "RecordNotFound"),
                    ("CertificateReady", "False", "WaitingForDelegation"),
                    ("Routed", "False", "WaitingForCertificate"),
                    ("DNSConfigured", "False", "RecordNotFound"),
                    ("Ready", "False", "RecordNotFound"),
                ],
                missing.clone(),
            ),
            (
                "delegation verified, certificate issuing, traffic still elsewhere",
                report(&[(ProblemKind::RecordMismatch, Area::Traffic, "`app.customer.com` CNAME: expected edge.platform.example., found old.example.")]),
                None,
                CertificateState::Issuing { message: Some("presenting the TXT record at app-customer-com-x.acme.platform.example.".into()) },
                RouteState::NotRouted,
                vec![
                    ("DelegationVerified", "True", "Verified"),
                    ("CertificateReady", "False", "Issuing"),
                    ("Routed", "False", "WaitingForCertificate"),
                    ("DNSConfigured", "False", "RecordMismatch"),
                    ("Ready", "False", "Issuing"),
                ],
                "presenting the TXT record at app-customer-com-x.acme.platform.example.".into(),
            ),
            (
                "certificate and route ready, waiting for the customer to switch traffic",
                report(&[(ProblemKind::StrayRecord, Area::Traffic, "`app.customer.com` has AAAA 2001:db8::1")]),
                None,
                CertificateState::Ready,
                RouteState::Routed,
                vec![
                    ("DelegationVerified", "True", "Verified"),
                    ("CertificateReady", "True", "Issued"),
                    ("Routed", "True", "Routed"),
                    ("DNSConfigured", "False", "StrayRecord"),
                    ("Ready", "False", "StrayRecord"),
                ],
                "`app.customer.com` has AAAA 2001:db8::1".into(),
            ),
            (
                "everything in place",
                report(&[]),
                None,
                CertificateState::Ready,
                RouteState::Disabled,
                vec![
                    ("DelegationVerified", "True", "Verified"),
                    ("CertificateReady", "True", "Issued"),
                    ("Routed", "True", "RoutingDisabled"),
                    ("DNSConfigured", "True", "Configured"),
                    ("Ready", "True", "Ready"),
                ],
                "app.customer.com is served with its certificate".into(),
            ),
            (
                "CAA forbids the CA even with the delegation verified",
                report(&[(ProblemKind::CaaForbidden, Area::Certificate, caa)]),
                None,
                CertificateState::NotRequested,
                RouteState::NotRouted,
                vec![
                    ("DelegationVerified", "True", "Verified"),
                    ("CertificateReady", "False", "CAAForbidsIssuer"),
                    ("Routed", "False", "WaitingForCertificate"),
                    ("DNSConfigured", "True", "Configured"),
                    ("Ready", "False", "CAAForbidsIssuer"),
                ],
                caa.into(),
            ),
            (
                "the hostname is verified in another namespace",
                report(&[]),
                Some("team-b"),
                CertificateState::NotRequested,
                RouteState::NotRouted,
                vec![
                    ("DelegationVerified", "False", "Conflict"),
                    ("CertificateReady", "False", "WaitingForDelegation"),
                    ("Routed", "False", "WaitingForCertificate"),
                    ("DNSConfigured", "True", "Configured"),
                    ("Ready", "False", "Conflict"),
                ],
                "app.customer.com is already verified for namespace team-b; only the namespace the `_acme-challenge` CNAME points at can use it".into(),
            ),
        ];
        for (what, report, conflict, certificate, route, want, ready_message) in cases {
            let observation = Observation {
                hostname: "app.customer.com",
                check: Ok(&report),
                conflict,
                certificate: &certificate,
                route,
            };
            let conditions = desired_conditions(&observation, false, Some(3), &Time(at(0)));
            assert_eq!(summary(&conditions), (rows(&want), ready_message), "{what}");
            assert!(
                conditions.iter().all(|c| c.observed_generation == Some(3)),
                "{what}"
            );
        }
    }

    #[test]
    fn a_failed_check_is_unknown_with_the_whole_error_chain() {
        let error = Error::ZoneNotFound {
            name: "app.customer.com".into(),
        };
        let observation = Observation {
            hostname: "app.customer.com",
            check: Err(&error),
            conflict: None,
            certificate: &CertificateState::NotRequested,
            route: RouteState::NotRouted,
        };
        let conditions = desired_conditions(&observation, false, None, &Time(at(0)));
        let delegation = &conditions[0];
        assert_eq!(
            (delegation.status.as_str(), delegation.reason.as_str()),
            ("Unknown", "CheckFailed")
        );
        assert_eq!(
            delegation.message,
            "the DNS check did not run: no DNS zone found for app.customer.com: no SOA record at it or any parent (is the domain registered, and can the resolver reach its nameservers?)"
        );
        assert_eq!(conditions[4].status, "Unknown");
    }

    #[test]
    fn unmet_requirements_expire_after_seven_days_and_stop_the_checks() {
        let report = report(&[(
            ProblemKind::RecordNotFound,
            Area::Delegation,
            "`_acme-challenge.app.customer.com` has no CNAME",
        )]);
        let observation = Observation {
            hostname: "app.customer.com",
            check: Ok(&report),
            conflict: None,
            certificate: &CertificateState::NotRequested,
            route: RouteState::NotRouted,
        };
        let first = desired_status(None, &observation, Some(1), at(0));
        assert_eq!(first.first_checked, Some(Time(at(0))));
        assert_eq!(first.next_check, Some(Time(at(60))));
        let week = 7 * 24 * 3600;
        let later = desired_status(Some(&first), &observation, Some(1), at(week));
        assert_eq!(
            later.first_checked,
            Some(Time(at(0))),
            "kept for the same generation"
        );
        assert_eq!(later.next_check, None);
        let delegation = &later.conditions[0];
        assert_eq!(delegation.reason, "Expired");
        assert!(delegation.message.starts_with("still unmet after 7 days, checks stopped: `_acme-challenge.app.customer.com` has no CNAME"), "{}", delegation.message);
        let respec = desired_status(Some(&later), &observation, Some(2), at(week));
        assert_eq!(
            respec.first_checked,
            Some(Time(at(week))),
            "a new generation starts over"
        );
        assert_eq!(respec.conditions[0].reason, "RecordNotFound");
    }

    /// A check whose traffic CNAME points at `found` instead of the traffic hostname.
    fn mismatch(found: &str) -> CheckReport {
        report(&[(
            ProblemKind::RecordMismatch,
            Area::Traffic,
            &format!("`app.customer.com` CNAME: expected edge.platform.example., found {found}"),
        )])
    }

    /// `report` for a domain whose certificate is ready and routed.
    fn observe(report: &CheckReport) -> Observation<'_> {
        Observation {
            hostname: "app.customer.com",
            check: Ok(report),
            conflict: None,
            certificate: &CertificateState::Ready,
            route: RouteState::Routed,
        }
    }

    #[test]
    fn a_copy_from_before_the_controllers_own_write_is_stale_and_nothing_else_is() {
        let ok = report(&[]);
        let broken = mismatch("old.example.");
        let unmet = desired_status(None, &observe(&broken), Some(1), at(0));
        let met = desired_status(Some(&unmet), &observe(&ok), Some(1), at(60));
        let met_later = desired_status(Some(&unmet), &observe(&ok), Some(1), at(120));
        assert!(needs_patch(Some(&unmet), &met));
        // The controller wrote `met` over `unmet`; the store still shows `unmet` and the next
        // reconcile wants `met` again (only the check times moved): stale, no second write.
        let pending = [Some(unmet.clone()), Some(met.clone())];
        assert!(stale_read(&pending, Some(&unmet), &met_later));
        // The first write of all: the store showed no status before it.
        assert!(stale_read(&[None, Some(met.clone())], None, &met_later));
        // Two writes the watch has not shown: the store may show the first one's.
        let requesting = desired_status(None, &observe(&ok), Some(1), at(0));
        let chain = [None, Some(requesting.clone()), Some(met.clone())];
        assert!(stale_read(&chain, None, &met_later));
        assert!(stale_read(&chain, Some(&requesting), &met_later));
        // The store shows the write: not stale (and no write is needed anyway).
        assert!(!stale_read(&pending, Some(&met), &met_later));
        // The status wanted now differs from the one written: write it.
        assert!(!stale_read(
            &[Some(met.clone()), Some(unmet.clone())],
            Some(&met),
            &met_later
        ));
        let other = desired_status(
            Some(&unmet),
            &observe(&mismatch("new.example.")),
            Some(1),
            at(120),
        );
        assert!(!stale_read(&pending, Some(&unmet), &other));
        // Someone else changed the status since: not a copy from before our writes.
        assert!(!stale_read(
            &[None, Some(met.clone())],
            Some(&unmet),
            &met_later
        ));
        assert!(!stale_read(&pending, None, &met_later));
        // Nothing written: nothing is stale.
        assert!(!stale_read(&[], Some(&unmet), &met_later));
    }

    #[test]
    fn merging_keeps_transition_times_of_unchanged_statuses_and_resyncs_need_no_patch() {
        let ok = report(&[]);
        let broken = mismatch("old.example.");
        let first = desired_status(None, &observe(&ok), Some(1), at(0));
        assert!(needs_patch(None, &first));
        let resync = desired_status(Some(&first), &observe(&ok), Some(1), at(86_400));
        assert!(
            resync
                .conditions
                .iter()
                .all(|c| c.last_transition_time == Time(at(0)))
        );
        assert_ne!(resync.last_checked, first.last_checked);
        assert!(
            !needs_patch(Some(&first), &resync),
            "only lastChecked/nextCheck moved"
        );
        let regressed = desired_status(Some(&resync), &observe(&broken), Some(1), at(90_000));
        assert!(needs_patch(Some(&resync), &regressed));
        let changed: Vec<(&str, bool)> = regressed
            .conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.last_transition_time == Time(at(90_000))))
            .collect();
        assert_eq!(
            changed,
            [
                ("DelegationVerified", false),
                ("CertificateReady", false),
                ("Routed", false),
                ("DNSConfigured", true),
                ("Ready", true),
            ]
        );
        assert_eq!(
            regressed.first_checked,
            Some(Time(at(90_000))),
            "a regression starts the schedule again"
        );
        assert_eq!(regressed.next_check, Some(Time(at(90_000 + 60))));
        let still_broken = desired_status(Some(&regressed), &observe(&broken), Some(1), at(90_060));
        assert_eq!(still_broken.first_checked, Some(Time(at(90_000))));
        assert_eq!(still_broken.next_check, Some(Time(at(90_060 + 63))));
    }
}
