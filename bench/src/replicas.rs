//! Figure 4, two-replica rows: two webhook routers in-process (two Gandi solvers, as two pods)
//! sharing rrset Leases through the fake Kubernetes API, against the emulator. Gandi calls are
//! read from the emulator's counters and Lease calls from the fake API's request log.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use dns01_testkit::emulator::{Emulator, Token};
use dns01_testkit::kubefake::KubeFake;
use dns01_webhook::lease::LeaseLock;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::gandi::{self, AmbientCredentials, GandiSettings, GandiSolver};
use dns01_webhook::{AppState, router};

use crate::gandi::{Chal, GROUP, TOKEN, ZONE, challenge};
use crate::table::{Row, Table, Verdict};

const F: &str = "4 two replicas";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/dns01/leases";

fn replica(emu: &Emulator, client: &kube::Client, identity: &str) -> anyhow::Result<Router> {
    let url = url::Url::parse(&emu.api_url()).context("emulator URL")?;
    let lock = LeaseLock::new(client.clone(), "dns01", identity, Duration::from_secs(15));
    let solver = GandiSolver::new(
        Arc::new(dns01_webhook::secrets::StaticSecrets::new()),
        AmbientCredentials::new(Some(TOKEN.to_owned()), None),
        GandiSettings {
            production_url: url.clone(),
            sandbox_url: url,
            ..GandiSettings::default()
        },
    )
    .with_rrset_lock(Arc::new(lock));
    let mut solvers = Solvers::new();
    solvers.insert(gandi::NAME.to_owned(), Arc::new(solver));
    Ok(router(AppState::new(GROUP, solvers)))
}

/// The two-replica rows: a Present on one replica and its CleanUp on the other cost the Gandi
/// lower bound (3 calls) and at most 4 Lease calls per batch.
///
/// # Errors
/// When the emulator or the fake API cannot start (a failed scenario is a failed row).
pub async fn figure4(table: &mut Table) -> anyhow::Result<()> {
    let emu = Emulator::builder()
        .zone(ZONE)
        .token(Token::pat(TOKEN))
        .start()
        .await?;
    let kube = KubeFake::start().await;
    let client = kube::Client::try_from(kube::Config::new(kube.url().as_str().parse()?))?;
    let a = replica(&emu, &client, "replica-a")?;
    let b = replica(&emu, &client, "replica-b")?;
    // Warm both clients (zone discovery happens once per client, outside the lock).
    let warm = Chal::new("warm", "warm-key");
    for app in [&a, &b] {
        challenge(app, "Present", &warm).await?;
        challenge(app, "CleanUp", &warm).await?;
    }

    let c = Chal::new("pair", "pair-key");
    emu.reset_counters();
    let leases_before = kube.request_count(LEASES);
    let run = async {
        challenge(&a, "Present", &c).await?;
        challenge(&b, "CleanUp", &c).await
    }
    .await;
    let gandi_calls = emu.total_requests();
    let lease_calls = (kube.request_count(LEASES) - leases_before) as u64;
    match run {
        Ok(()) => {
            table.push(
                Row::info(
                    F,
                    "Gandi calls for Present on one replica + CleanUp on the other",
                    format!("{gandi_calls} calls"),
                )
                .baseline("lower bound 3", Some(gandi_calls as f64 / 3.0))
                .target("<= 3", Verdict::check(gandi_calls <= 3)),
            );
            table.push(
                Row::info(
                    F,
                    "Lease calls for the same pair (2 batches)",
                    format!("{lease_calls} calls"),
                )
                .target("<= 4 per batch (8)", Verdict::check(lease_calls <= 8)),
            );
        }
        Err(e) => table.push(
            Row::info(
                F,
                "Present on one replica + CleanUp on the other",
                format!("failed: {e:#}"),
            )
            .target("success", Verdict::check(false)),
        ),
    }
    Ok(())
}
