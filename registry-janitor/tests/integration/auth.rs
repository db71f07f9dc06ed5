//! A registry with htpasswd auth (real Distribution 2.8, bcrypt from Apache's `htpasswd`):
//! `gc`, `plan`, `apply`, `du` and the write probe authenticate with `--username` and a
//! password from a file or `JANITOR_PASSWORD`; without them they fail clearly, and the
//! password never appears in any output.

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use dns01_registry::{Client, Credentials, Digest, Reference, Repository};
use dns01_registry_janitor::{WriteProbe, Writes};
use dns01_testkit::registry::{OciLayout, Registry, RegistryConfig, layer_bytes};

use crate::support::Served;

const USER: &str = "janitor";
const PASSWORD: &str = "pa55-Wd-9f3k2x";

fn authed_registry() -> Registry {
    Registry::start(RegistryConfig {
        htpasswd: Some((USER.into(), PASSWORD.into())),
        ..RegistryConfig::default()
    })
    .unwrap()
}

fn authed_client(registry: &Registry) -> Client {
    Client::builder(&registry.url())
        .credentials(Credentials::new(USER, PASSWORD))
        .build()
        .unwrap()
}

fn janitor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"));
    // Debug logs include every registry request: the password must not be in them either.
    cmd.env("RUST_LOG", "debug")
        .env_remove("JANITOR_PASSWORD")
        .env_remove("JANITOR_USERNAME");
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_password(out: &Output) {
    let all = text(out);
    assert!(!all.contains(PASSWORD), "the password was printed:\n{all}");
}

async fn exists(client: &Client, repo: &str, digest: &Digest) -> bool {
    match client
        .manifest_head(
            &Repository::parse(repo).unwrap(),
            &Reference::Digest(digest.clone()),
        )
        .await
    {
        Ok(_) => true,
        Err(dns01_registry::Error::NotFound { .. }) => false,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn plan_apply_and_du_authenticate_and_never_print_the_password() {
    let registry = authed_registry();
    let creds = format!("{USER}:{PASSWORD}");
    let layout = OciLayout::new().unwrap();
    for (i, tag) in ["v1", "scratch"].iter().enumerate() {
        layout
            .image(tag, "linux/amd64", &[layer_bytes(700, 300 + i as u64)])
            .unwrap();
        layout
            .push(
                tag,
                &format!("{}/proj-a/app:{tag}", registry.host()),
                Some(&creds),
            )
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let policy = dir.path().join("policy.yml");
    std::fs::write(
        &policy,
        "defaults: {keep_tags: ['^v1$'], delete_tags_older_than: 0s}\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Without credentials: a clear 401, nothing else.
    let out = janitor()
        .args(["du", "--json", "--registry", &registry.url()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).to_lowercase().contains("unauthorized"),
        "{}",
        text(&out)
    );
    // A user name without a password says where the password goes.
    let out = janitor()
        .args(["du", "--registry", &registry.url(), "--username", USER])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--password-file") && text(&out).contains("JANITOR_PASSWORD"),
        "{}",
        text(&out)
    );

    // du with a password file.
    let out = janitor()
        .args(["du", "--json", "--registry", &registry.url()])
        .args(["--username", USER, "--password-file"])
        .arg(&password_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_no_password(&out);
    let du: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(du["repositories"][0]["name"], "proj-a/app", "{du}");
    assert_eq!(du["repositories"][0]["tags"], 2, "{du}");

    // plan, then apply with the password in the environment.
    for sub in ["plan", "apply"] {
        let out = janitor()
            .args([sub, "--json", "--registry", &registry.url()])
            .args(["--username", USER, "--policy"])
            .arg(&policy)
            .env("JANITOR_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(out.status.success(), "{sub}: {}", text(&out));
        assert_no_password(&out);
    }
    let client = authed_client(&registry);
    let digest = |t: &str| Digest::parse(&layout.digest(t).unwrap()).unwrap();
    assert!(!exists(&client, "proj-a/app", &digest("scratch")).await);
    assert!(exists(&client, "proj-a/app", &digest("v1")).await);
}

#[tokio::test]
async fn the_write_probe_authenticates_and_tells_refused_from_unauthorized() {
    let mut registry = authed_registry();
    let anonymous = WriteProbe::new(&registry.url(), Duration::from_secs(1)).unwrap();
    let e = anonymous.once().await.unwrap_err().to_string();
    assert!(e.contains("registry API"), "{e}");
    let probe = WriteProbe::with_credentials(
        &registry.url(),
        Some(Credentials::new(USER, PASSWORD)),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(probe.once().await.unwrap(), Writes::Accepted);
    assert!(!format!("{probe:?}").contains(PASSWORD));
    let wrong = WriteProbe::with_client(
        Arc::new(
            Client::builder(&registry.url())
                .credentials(Credentials::new(USER, "wrong"))
                .build()
                .unwrap(),
        ),
        Duration::from_secs(1),
    )
    .unwrap();
    assert!(matches!(
        wrong.once().await,
        Err(dns01_registry_janitor::Error::Registry(
            dns01_registry::Error::Unauthorized { .. }
        ))
    ));
    registry
        .restart(RegistryConfig {
            read_only: true,
            ..registry.config().clone()
        })
        .unwrap();
    assert_eq!(probe.once().await.unwrap(), Writes::Refused);
}

fn gc_cli(served: &Served) -> Command {
    let mut cmd = janitor();
    cmd.args(["gc", "--probe-timeout", "10s", "--registry"])
        .arg(served.registry.url())
        .arg("--registry-config")
        .arg(served.registry.config_path())
        .arg("--state-dir")
        .arg(served.state.path());
    cmd
}

#[tokio::test]
async fn gc_probes_with_the_credentials_and_refuses_to_open_a_window_without_them() {
    let registry = authed_registry();
    let layout = OciLayout::new().unwrap();
    layout
        .image("v1", "linux/amd64", &[layer_bytes(900, 310)])
        .unwrap();
    layout
        .push(
            "v1",
            &format!("{}/proj-a/app:v1", registry.host()),
            Some(&format!("{USER}:{PASSWORD}")),
        )
        .unwrap();
    let served = Served::new(registry, None).await;
    let probe = WriteProbe::with_credentials(
        &served.registry.url(),
        Some(Credentials::new(USER, PASSWORD)),
        Duration::from_secs(5),
    )
    .unwrap();

    // No credentials: the probe cannot check the window, so none is opened.
    let out = gc_cli(&served).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = summary["error"].as_str().unwrap();
    assert!(
        error.contains("nothing was switched") && error.to_lowercase().contains("unauthorized"),
        "{summary}"
    );
    assert_eq!(summary["left_read_only"], false);
    assert_eq!(probe.once().await.unwrap(), Writes::Accepted);

    // With them: a whole window, probed both ways.
    let out = gc_cli(&served)
        .args(["--username", USER])
        .env("JANITOR_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_no_password(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["error"], serde_json::Value::Null, "{summary}");
    assert!(summary["window_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(probe.once().await.unwrap(), Writes::Accepted);
    assert!(
        authed_client(&served.registry)
            .manifest_head(
                &Repository::parse("proj-a/app").unwrap(),
                &Reference::parse("v1").unwrap()
            )
            .await
            .is_ok()
    );
}
