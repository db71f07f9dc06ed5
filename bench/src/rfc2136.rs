//! Figure 4, RFC 2136 rows: UPDATE messages per Present and CleanUp of the `rfc2136` solver,
//! through the webhook's router in-process against a real BIND 9, counted by BIND itself (its
//! statistics channel), not by the client.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use dns01_core::retry::RetryPolicy;
use dns01_testkit::bind::{Bind, BindZone, TsigKeySpec};
use dns01_webhook::secrets::StaticSecrets;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::rfc2136::{self, Rfc2136Settings, Rfc2136Solver};
use dns01_webhook::{AppState, router};
use serde_json::json;

use crate::gandi::{Chal, GROUP, ZONE, send, solver_request};
use crate::table::{Row, Table, Verdict};

const F: &str = "4 RFC 2136 calls";

struct Harness {
    bind: Bind,
    app: Router,
    config: serde_json::Value,
}

impl Harness {
    fn start() -> anyhow::Result<Self> {
        let key = TsigKeySpec::new("bench-update", "hmac-sha256");
        let bind = Bind::builder()
            .key(key.clone())
            .zone(BindZone::new(ZONE).grant(&key.name))
            .start()?;
        let secrets = StaticSecrets::new();
        secrets.insert("bench", "tsig", "tsig-secret-key", key.secret.as_str());
        let settings = Rfc2136Settings {
            nameservers: vec![bind.addr().to_string()],
            timeout: Duration::from_secs(5),
            retry: RetryPolicy::none(),
        };
        let mut solvers = Solvers::new();
        solvers.insert(
            rfc2136::NAME.to_owned(),
            Arc::new(Rfc2136Solver::new(Arc::new(secrets), settings)),
        );
        Ok(Self {
            app: router(AppState::new(GROUP, solvers)),
            config: json!({
                "tsigKeyName": key.name,
                "tsigSecretSecretRef": {"name": "tsig"},
            }),
            bind,
        })
    }

    async fn challenge(&self, action: &str, c: &Chal) -> anyhow::Result<()> {
        let request = solver_request(rfc2136::NAME, action, c, &self.config, false)?;
        send(&self.app, action, &c.fqdn, request).await
    }

    fn updates(&self) -> anyhow::Result<u64> {
        self.bind
            .opcode_count("UPDATE")
            .context("reading BIND's statistics channel")
    }

    /// UPDATEs BIND received while `run` ran, or the failure.
    async fn count<F: Future<Output = anyhow::Result<()>>>(&self, run: F) -> anyhow::Result<u64> {
        let before = self.updates()?;
        run.await?;
        Ok(self.updates()? - before)
    }
}

fn row(measure: &str, result: anyhow::Result<u64>, expected: u64) -> Row {
    match result {
        Ok(n) => Row::info(F, measure, format!("{n} UPDATE"))
            .baseline(
                format!("lower bound {expected}"),
                Some(n as f64 / expected as f64),
            )
            .target(format!("= {expected}"), Verdict::check(n == expected)),
        Err(e) => Row::info(F, measure, format!("failed: {e:#}"))
            .target(format!("= {expected}"), Verdict::check(false)),
    }
}

/// The RFC 2136 rows of figure 4: one UPDATE per Present and per CleanUp, also when the apex
/// and wildcard challenges of one name run at once (no read, no merge, no retry).
///
/// # Errors
/// When BIND cannot start (a failed scenario is a failed row, not an error).
pub async fn figure4(table: &mut Table) -> anyhow::Result<()> {
    let h = Harness::start()?;
    let c = Chal::new("isolated", "isolated-key");
    table.push(row(
        "one Present (zone from resolvedZone)",
        h.count(h.challenge("Present", &c)).await,
        1,
    ));
    table.push(row(
        "one CleanUp",
        h.count(h.challenge("CleanUp", &c)).await,
        1,
    ));
    let apex = Chal::new("pair", "apex-key");
    let wildcard = Chal {
        key: "wildcard-key".to_owned(),
        ..apex.clone()
    };
    let both = |action: &'static str| {
        let (apex, wildcard) = (&apex, &wildcard);
        let h = &h;
        async move {
            let (a, b) = tokio::join!(h.challenge(action, apex), h.challenge(action, wildcard));
            a.and(b)
        }
    };
    table.push(row(
        "apex + wildcard Presents on one name at once",
        h.count(both("Present")).await,
        2,
    ));
    table.push(row(
        "apex + wildcard CleanUps on one name at once",
        h.count(both("CleanUp")).await,
        2,
    ));
    Ok(())
}
