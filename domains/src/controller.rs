//! The controller around [`reconcile`]: it watches CustomDomains
//! (and the Certificates and routes they own), gathers what [`Observed`] needs, executes the
//! [`Plan`] with kube-rs, and handles deletion through a finalizer.
//!
//! - **Finalizer** `domains.dns01.dev/cleanup` (kube-runtime's `finalizer` helper): on delete,
//!   the route and the Certificate this domain owns are deleted, and the certificate Secret is
//!   kept, annotated with `domains.dns01.dev/delete-after` (now + the grace period, 7 days by
//!   default) so that re-creating the domain within it reuses the certificate instead of
//!   spending Let's Encrypt's duplicate-certificate limit. Nothing else is touched: objects
//!   are deleted only when their ownerReference names this domain's uid, and the Secret is
//!   annotated only when cert-manager's `cert-manager.io/certificate-name` annotation names
//!   this domain's Certificate.
//! - **Checks** run when due: the first time the controller sees a domain, when its
//!   generation changes (a spec change), when the [`RECHECK_ANNOTATION`] has a value the last
//!   check did not act on (`status.lastRecheck`, so it survives a restart), and when the
//!   backoff schedule's `nextCheck` has come. Other reconciles (a Certificate that became
//!   ready) reuse the last check, so a resync costs no DNS query.
//! - **Writes**: the Certificate and route by server-side apply (field manager
//!   [`Config::field_manager`], forced, ownerReference to the CustomDomain), only when what is
//!   stored lacks a desired field; the status by server-side apply on `/status`, only when
//!   [`needs_patch`](crate::conditions::needs_patch) says so; Kubernetes Events (`events.k8s.io`,
//!   kube-runtime's `Recorder`) on every condition transition.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource as _, ResourceExt as _};
use serde_json::json;

use crate::certmanager::{Certificate, Challenge};
use crate::check::{CheckReport, CheckRequest, Checker};
use crate::conditions::{needs_patch, stale_read};
use crate::crd::{CustomDomain, CustomDomainStatus};
use crate::error::{Error, Result};
use crate::health::Readiness;
use crate::metrics::{CheckOutcome, Metrics};
use crate::reconcile::{
    ChildAction, DELETE_AFTER_ANNOTATION, Observed, Plan, RECHECK_ANNOTATION, RETAINED_LABEL,
    Settings, reconcile, secret_name,
};
use crate::records::{Platform, required_records};

/// The finalizer the controller puts on every CustomDomain.
pub const FINALIZER: &str = "domains.dns01.dev/cleanup";

/// The controller's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The platform's traffic hostname, addresses and validation zone.
    pub platform: Platform,
    /// Route mode and timings the decisions use.
    pub settings: Settings,
    /// The DNS checker (production: [`Bootstrap::System`](crate::check::Bootstrap::System)).
    pub checker: Checker,
    /// The CA's CAA issuer domain (`letsencrypt.org`); CAA is not evaluated without it.
    pub ca: Option<String>,
    /// The server-side apply field manager.
    pub field_manager: String,
    /// How long a deleted domain's certificate Secret is kept.
    pub secret_grace: Duration,
    /// The wait before retrying a reconcile that failed.
    pub error_requeue: Duration,
    /// How often kept Secrets past their delete-after time are looked for.
    pub sweep_interval: Duration,
}

impl Config {
    /// A configuration with the defaults: Ingress routes, field manager `dns01-domains`,
    /// 7-day Secret grace period, retries after 30 s.
    pub fn new(platform: Platform, checker: Checker) -> Self {
        Self {
            platform,
            settings: Settings::default(),
            checker,
            ca: None,
            field_manager: "dns01-domains".to_owned(),
            secret_grace: Duration::from_secs(7 * 24 * 3600),
            error_requeue: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(3600),
        }
    }
}

/// The last DNS check of one CustomDomain.
#[derive(Debug, Clone)]
struct LastCheck {
    generation: Option<i64>,
    recheck: Option<String>,
    result: Arc<Result<CheckReport>>,
    next_due: Option<Timestamp>,
}

/// The most status writes per domain remembered while the watch has not shown them.
const PENDING_WRITES: usize = 8;

/// What every reconcile shares.
pub struct Context {
    client: Client,
    metrics: Arc<Metrics>,
    config: Config,
    domains: Store<CustomDomain>,
    recorder: Recorder,
    checks: Mutex<HashMap<String, LastCheck>>,
    /// Per domain uid, the status before the controller's first status write the store has
    /// not shown yet, then each status written since, until the store shows the last one (see
    /// [`stale_read`](crate::conditions::stale_read)).
    written: Mutex<HashMap<String, Vec<Option<CustomDomainStatus>>>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context; `domains` is the reflector store of every CustomDomain (rivals for a hostname
    /// are looked up in it).
    pub fn new(
        client: Client,
        config: Config,
        domains: Store<CustomDomain>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let reporter = Reporter {
            controller: config.field_manager.clone(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            config,
            domains,
            checks: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
        })
    }

    fn last_check(&self, uid: &str) -> Option<LastCheck> {
        self.checks
            .lock()
            .ok()
            .and_then(|checks| checks.get(uid).cloned())
    }

    fn remember(&self, uid: String, check: LastCheck) {
        if let Ok(mut checks) = self.checks.lock() {
            checks.insert(uid, check);
        }
    }

    fn forget(&self, uid: &str) {
        if let Ok(mut checks) = self.checks.lock() {
            checks.remove(uid);
        }
        if let Ok(mut written) = self.written.lock() {
            written.remove(uid);
        }
    }

    /// Whether `domain` is a stale copy from before this controller's own last status write
    /// and `desired` is what that write set. A copy that shows the write ends the watch.
    fn stale_copy(&self, uid: &str, domain: &CustomDomain, desired: &CustomDomainStatus) -> bool {
        let Ok(mut written) = self.written.lock() else {
            return false;
        };
        let Some(pending) = written.get(uid) else {
            return false;
        };
        let stored = domain.status.as_ref();
        if let Some(Some(last)) = pending.last()
            && stored.is_some_and(|s| !needs_patch(Some(s), last))
        {
            written.remove(uid);
            return false;
        }
        stale_read(pending, stored, desired)
    }

    /// Records a status write: `after` over `before`. Writes the store has not shown yet are
    /// kept in order (the watch may deliver each of them late), at most [`PENDING_WRITES`].
    fn wrote(&self, uid: String, before: Option<CustomDomainStatus>, after: CustomDomainStatus) {
        let Ok(mut written) = self.written.lock() else {
            return;
        };
        let pending = written.entry(uid).or_default();
        let follows = pending.last().is_some_and(|last| match (last, &before) {
            (None, None) => true,
            (Some(last), Some(before)) => !needs_patch(Some(last), before),
            _ => false,
        });
        if !follows && !pending.contains(&before) {
            pending.clear();
        }
        if pending.is_empty() {
            pending.push(before);
        }
        pending.push(Some(after));
        if pending.len() > PENDING_WRITES {
            pending.remove(0);
        }
    }

    /// The last check, or a new one when due; with whether it ran now and whether the
    /// re-check annotation asked for a new schedule. The annotation's value the last check
    /// acted on is in `status.lastRecheck` (so a restart neither loses a request nor acts
    /// on one twice) and, until that status is written back, in memory.
    async fn check(
        &self,
        domain: &CustomDomain,
        namespace: &str,
        now: Timestamp,
    ) -> (LastCheck, bool, bool) {
        let uid = domain.uid().unwrap_or_default();
        let recheck = domain.annotations().get(RECHECK_ANNOTATION).cloned();
        let honoured = domain.status.as_ref().and_then(|s| s.last_recheck.clone());
        let generation = domain.metadata.generation;
        let last = self.last_check(&uid);
        let asked = recheck.is_some()
            && recheck != honoured
            && last.as_ref().is_none_or(|l| l.recheck != recheck);
        if let Some(last) = &last
            && last.generation == generation
            && !asked
            && last.next_due.is_none_or(|due| due > now)
        {
            return (last.clone(), false, false);
        }
        let restart = asked;
        let requirements = required_records(
            &domain.spec.hostname,
            &domain.spec.target,
            namespace,
            &self.config.platform,
        );
        let started = std::time::Instant::now();
        let result = match requirements {
            Ok(requirements) => {
                self.config
                    .checker
                    .check(&CheckRequest {
                        hostname: domain.spec.hostname.fqdn().clone(),
                        requirements,
                        ca: self.config.ca.clone(),
                        wildcard: domain.spec.wildcard,
                    })
                    .await
            }
            Err(e) => Err(e),
        };
        let outcome = match &result {
            Ok(report) if report.all_met() => CheckOutcome::Met,
            Ok(_) => CheckOutcome::Unmet,
            Err(_) => CheckOutcome::Error,
        };
        self.metrics.observe_check(outcome, started.elapsed());
        let check = LastCheck {
            generation,
            recheck,
            result: Arc::new(result),
            next_due: None,
        };
        (check, true, restart)
    }

    /// The reason of a Challenge cert-manager is solving for `hostname` in `namespace`, if
    /// one says why it is stuck.
    async fn challenge_reason(&self, namespace: &str, hostname: &str) -> Result<Option<String>> {
        let challenges: Api<Challenge> = Api::namespaced(self.client.clone(), namespace);
        let list = challenges
            .list(&Default::default())
            .await
            .map_err(kube_error("list Challenges"))?;
        Ok(list
            .items
            .into_iter()
            .filter(|c| c.spec.dns_name == hostname)
            .filter_map(|c| c.status.and_then(|s| s.reason))
            .find(|r| !r.is_empty()))
    }
}

fn kube_error(action: &'static str) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Kube { action, source }
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// Reconciles one CustomDomain: the finalizer, then the checks and actions, or the cleanup on
/// deletion.
///
/// # Errors
/// [`Error::Finalizer`] wrapping what failed (an API call, most often); the controller retries
/// after [`Config::error_requeue`].
pub async fn reconcile_domain(domain: Arc<CustomDomain>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = domain.namespace().ok_or(Error::Incomplete {
        kind: "CustomDomain",
        field: "metadata.namespace",
    })?;
    let api: Api<CustomDomain> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, domain, |event| async {
        match event {
            Finalizer::Apply(domain) => apply(&domain, &namespace, &ctx).await,
            Finalizer::Cleanup(domain) => cleanup(&domain, &namespace, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Checks (when due), decides and acts for a CustomDomain that is not being deleted.
async fn apply(domain: &CustomDomain, namespace: &str, ctx: &Context) -> Result<Action> {
    let name = domain.name_any();
    let now = Timestamp::now();
    let (mut check, checked_now, restart) = ctx.check(domain, namespace, now).await;
    let certificates: Api<Certificate> = Api::namespaced(ctx.client.clone(), namespace);
    let certificate = certificates
        .get_opt(&name)
        .await
        .map_err(kube_error("get Certificate"))?;
    let ready = certificate
        .as_ref()
        .and_then(|c| c.condition("Ready"))
        .is_some_and(|c| c.status == "True");
    let challenge_reason = match &certificate {
        Some(_) if !ready => {
            ctx.challenge_reason(namespace, domain.spec.hostname.as_str())
                .await?
        }
        _ => None,
    };
    let route_api = route_api(ctx, namespace);
    let route = match &route_api {
        Some(api) => api.get_opt(&name).await.map_err(kube_error("get route"))?,
        None => None,
    };
    let hostname = &domain.spec.hostname;
    let others: Vec<CustomDomain> = ctx
        .domains
        .state()
        .iter()
        .filter(|d| &d.spec.hostname == hostname)
        .map(|d| (**d).clone())
        .collect();
    let result = Arc::clone(&check.result);
    let observed = Observed {
        check: result.as_ref().as_ref(),
        checked_now,
        restart_schedule: restart,
        certificate: certificate.as_ref(),
        challenge_reason: challenge_reason.as_deref(),
        route: route.as_ref(),
        others: &others,
    };
    let mut plan = reconcile(domain, &observed, &ctx.config.settings, now);
    let uid = domain.uid().unwrap_or_default();
    if plan.patch_status && ctx.stale_copy(&uid, domain, &plan.status) {
        // Our last write is on its way through the watch: neither it nor its Events again.
        plan.patch_status = false;
        plan.events.clear();
    }
    ctx.metrics
        .set_domain(&domain.uid().unwrap_or_default(), Some(&plan.status));
    if checked_now {
        check.next_due = plan.status.next_check.as_ref().map(|t| t.0);
        ctx.remember(domain.uid().unwrap_or_default(), check);
    }
    execute(
        domain,
        namespace,
        plan,
        certificate.is_some(),
        route_api,
        ctx,
    )
    .await
}

fn route_api(ctx: &Context, namespace: &str) -> Option<Api<DynamicObject>> {
    let resource = ctx.config.settings.route.api_resource()?;
    Some(Api::namespaced_with(
        ctx.client.clone(),
        namespace,
        &resource,
    ))
}

async fn execute(
    domain: &CustomDomain,
    namespace: &str,
    plan: Plan,
    had_certificate: bool,
    route_api: Option<Api<DynamicObject>>,
    ctx: &Context,
) -> Result<Action> {
    let name = domain.name_any();
    let apply = PatchParams::apply(&ctx.config.field_manager).force();
    let certificates: Api<Certificate> = Api::namespaced(ctx.client.clone(), namespace);
    match &plan.certificate {
        ChildAction::Apply(certificate) => {
            if !had_certificate {
                keep_secret(domain, namespace, ctx, None).await?;
            }
            certificates
                .patch(&name, &apply, &Patch::Apply(certificate))
                .await
                .map_err(kube_error("apply Certificate"))?;
        }
        ChildAction::Delete => delete_owned(&certificates, domain).await?,
        ChildAction::Keep => {}
    }
    if let Some(routes) = &route_api {
        match &plan.route {
            ChildAction::Apply(route) => {
                routes
                    .patch(&name, &apply, &Patch::Apply(route))
                    .await
                    .map_err(kube_error("apply route"))?;
            }
            ChildAction::Delete => delete_owned(routes, domain).await?,
            ChildAction::Keep => {}
        }
    }
    if plan.patch_status {
        let api: Api<CustomDomain> = Api::namespaced(ctx.client.clone(), namespace);
        let body = json!({
            "apiVersion": CustomDomain::api_version(&()),
            "kind": CustomDomain::kind(&()),
            "status": plan.status,
        });
        let written = api
            .patch_status(&name, &apply, &Patch::Apply(&body))
            .await
            .map_err(kube_error("patch CustomDomain status"))?;
        // As stored (times in whole seconds), which is how the watch will show it.
        ctx.wrote(
            domain.uid().unwrap_or_default(),
            domain.status.clone(),
            written.status.unwrap_or_else(|| plan.status.clone()),
        );
    }
    let reference = domain.object_ref(&());
    for transition in &plan.events {
        let event = KubeEvent {
            type_: if transition.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: transition.reason.clone(),
            note: Some(transition.note.chars().take(1024).collect()),
            action: transition.condition.clone(),
            secondary: None,
        };
        // Events are informative: a refused one must not stop the reconcile.
        if let Err(error) = ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(%error, domain = %name, "could not publish an event");
        }
    }
    Ok(plan
        .requeue_after
        .map_or_else(Action::await_change, |after| {
            Action::requeue(after.max(Duration::from_secs(1)))
        }))
}

/// Deletes `name` through `api` if its ownerReference names `domain`.
async fn delete_owned<K>(api: &Api<K>, domain: &CustomDomain) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = domain.name_any();
    let Some(object) = api.get_opt(&name).await.map_err(kube_error("get child"))? else {
        return Ok(());
    };
    let ours = object
        .owner_references()
        .iter()
        .any(|o| Some(&o.uid) == domain.metadata.uid.as_ref());
    if !ours {
        return Ok(());
    }
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(source) => Err(Error::Kube {
            action: "delete child",
            source,
        }),
    }
}

/// Sets (with `Some`) or clears the delete-after annotation of the domain's certificate
/// Secret, if cert-manager wrote it for this domain's Certificate.
async fn keep_secret(
    domain: &CustomDomain,
    namespace: &str,
    ctx: &Context,
    delete_after: Option<Timestamp>,
) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret_name = secret_name(domain);
    let Some(secret) = secrets
        .get_opt(&secret_name)
        .await
        .map_err(kube_error("get certificate Secret"))?
    else {
        return Ok(());
    };
    let annotations = secret.annotations();
    if annotations.get("cert-manager.io/certificate-name") != Some(&domain.name_any()) {
        return Ok(());
    }
    let value = delete_after.map(|t| format!("{t:.0}"));
    if annotations.get(DELETE_AFTER_ANNOTATION) == value.as_ref() {
        return Ok(());
    }
    let label = value.as_ref().map(|_| "true");
    let patch = json!({"metadata": {
        "annotations": {DELETE_AFTER_ANNOTATION: value},
        "labels": {RETAINED_LABEL: label},
    }});
    secrets
        .patch(&secret_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_error("annotate certificate Secret"))?;
    Ok(())
}

/// On deletion: the route and Certificate go, the Secret stays for the grace period.
async fn cleanup(domain: &CustomDomain, namespace: &str, ctx: &Context) -> Result<Action> {
    if let Some(routes) = route_api(ctx, namespace) {
        delete_owned(&routes, domain).await?;
    }
    let certificates: Api<Certificate> = Api::namespaced(ctx.client.clone(), namespace);
    delete_owned(&certificates, domain).await?;
    let grace = i64::try_from(ctx.config.secret_grace.as_secs()).unwrap_or(i64::MAX);
    let delete_after = Timestamp::now()
        .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(grace))
        .ok();
    keep_secret(domain, namespace, ctx, delete_after).await?;
    ctx.forget(&domain.uid().unwrap_or_default());
    ctx.metrics
        .set_domain(&domain.uid().unwrap_or_default(), None);
    Ok(Action::await_change())
}

/// What the controller does after a failed reconcile: log, and retry later.
pub fn error_policy(domain: Arc<CustomDomain>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(domain = %domain.name_any(), error = %crate::conditions::error_chain(error), "reconcile failed");
    Action::requeue(ctx.config.error_requeue)
}

/// Deletes the certificate Secrets kept after their CustomDomain was deleted whose
/// delete-after time is past `now` (only those labelled [`RETAINED_LABEL`] and annotated
/// [`DELETE_AFTER_ANNOTATION`]; the delete carries their uid and resourceVersion, so a Secret
/// reclaimed meanwhile by a re-created domain is not deleted). Returns how many went.
///
/// # Errors
/// [`Error::Kube`] when the Secrets cannot be listed, or one cannot be deleted for another
/// reason than having changed or gone.
pub async fn sweep_retained_secrets(client: &Client, now: Timestamp) -> Result<usize> {
    let secrets: Api<Secret> = Api::all(client.clone());
    let listed = secrets
        .list(&ListParams::default().labels(&format!("{RETAINED_LABEL}=true")))
        .await
        .map_err(kube_error("list retained Secrets"))?;
    let mut deleted = 0;
    for secret in listed.items {
        let due = secret
            .annotations()
            .get(DELETE_AFTER_ANNOTATION)
            .and_then(|t| t.parse::<Timestamp>().ok())
            .is_some_and(|after| after <= now);
        let Some(namespace) = secret.namespace().filter(|_| due) else {
            continue;
        };
        let params = DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                resource_version: secret.resource_version(),
                uid: secret.uid(),
            }),
            ..DeleteParams::default()
        };
        let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        match api.delete(&secret.name_any(), &params).await {
            Ok(_) => deleted += 1,
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
            Err(source) => {
                return Err(Error::Kube {
                    action: "delete a retained Secret",
                    source,
                });
            }
        }
    }
    Ok(deleted)
}

/// Runs the controller until `shutdown` completes: CustomDomains in every namespace, the
/// Certificates and routes they own, and the rivals of a hostname when one of them changes.
/// `ready` is set once the API server lists CustomDomains for the controller.
pub async fn run(
    client: Client,
    config: Config,
    ready: Readiness,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let domains: Api<CustomDomain> = Api::all(client.clone());
    let controller = Controller::new(domains.clone(), watcher::Config::default());
    let store = controller.store();
    // Ready once the API server lists CustomDomains for this controller (the CRD is served and
    // RBAC allows it). Not `store.wait_until_ready()`: kube-runtime 5's DelayedInit keeps one
    // waker, so a second task waiting on it steals the controller's wake-up or loses its own.
    let probe = domains.clone();
    tokio::spawn(async move {
        loop {
            match probe.list_metadata(&ListParams::default().limit(1)).await {
                Ok(_) => {
                    ready.set();
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot list CustomDomains yet");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    });
    let route = config.settings.route.api_resource();
    let sweeper = {
        let client = client.clone();
        let interval = config.sweep_interval;
        tokio::spawn(async move {
            loop {
                match sweep_retained_secrets(&client, Timestamp::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        deleted = n,
                        "deleted kept certificate Secrets past their grace period"
                    ),
                    Err(error) => {
                        tracing::warn!(error = %crate::conditions::error_chain(&error), "sweep of kept Secrets failed")
                    }
                }
                tokio::time::sleep(interval).await;
            }
        })
    };
    let ctx = Context::new(client.clone(), config, store.clone(), metrics);
    let mut controller = controller.owns(
        Api::<Certificate>::all(client.clone()),
        watcher::Config::default(),
    );
    if let Some(resource) = route {
        controller = controller.owns_with(
            Api::<DynamicObject>::all_with(client.clone(), &resource),
            resource,
            watcher::Config::default(),
        );
    }
    controller
        .watches(
            domains,
            watcher::Config::default(),
            move |changed: CustomDomain| {
                store
                    .state()
                    .iter()
                    .filter(|d| {
                        d.spec.hostname == changed.spec.hostname && d.uid() != changed.uid()
                    })
                    .map(|d| ObjectRef::from_obj(&**d))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile_domain, error_policy, ctx)
        .for_each(|result| {
            match result {
                Ok((object, _)) => tracing::debug!(domain = %object, "reconciled"),
                Err(error) => tracing::warn!(%error, "reconcile error"),
            }
            futures::future::ready(())
        })
        .await;
    sweeper.abort();
}
