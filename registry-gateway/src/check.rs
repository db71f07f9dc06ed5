//! `dns01-registry-gateway test <image>`: pulls the way a client does (ping → token →
//! manifest HEAD → manifest GET → the platform's manifest for an index → config → first
//! layer HEAD) with [`dns01_registry::Client`], and says which step failed, with the
//! registry's code and message and what to fix.

use std::fmt;

use dns01_registry::{Client, Credentials, Digest, ImageRef, Manifest, Platform, Reference};

/// One step of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What was tried (`manifest GET app:1`).
    pub name: String,
    /// What came back: a short result, or the error with the fix.
    pub outcome: Result<String, String>,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Ok(what) => write!(f, "ok    {}: {what}", self.name),
            Err(why) => write!(f, "FAIL  {}: {why}", self.name),
        }
    }
}

/// What to try next for an error of the client.
fn fix(e: &dns01_registry::Error) -> &'static str {
    use dns01_registry::Error as E;
    match e {
        E::Unauthorized { .. } => "check the credentials (`--creds principal:token`)",
        E::Denied { .. } => {
            "the message says which rule refused it: the principal's projects or the route's allow-list"
        }
        E::NotFound { .. } => {
            "check the name and tag (and that the route maps the name where it is stored)"
        }
        E::RateLimited { .. } => "the upstream is rate limiting: retry later",
        E::Unreachable { .. } => {
            "check the address, the scheme (`--plain-http`) and that the gateway runs"
        }
        _ => "see the message",
    }
}

/// Runs the steps against `image`; stops at the first failure.
pub async fn check_image(
    image: &ImageRef,
    plain_http: bool,
    credentials: Option<Credentials>,
    platform: &Platform,
) -> Vec<Step> {
    let scheme = if plain_http { "http" } else { "https" };
    let mut steps = Vec::new();
    let mut builder = Client::builder(&format!("{scheme}://{}/", image.registry));
    if let Some(c) = credentials {
        builder = builder.credentials(c);
    }
    let fail = |e: &dns01_registry::Error| Err(format!("{e}; {}", fix(e)));
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            steps.push(Step {
                name: "client".into(),
                outcome: fail(&e),
            });
            return steps;
        }
    };
    let repo = &image.repository;
    let reference = image.reference();
    macro_rules! step {
        ($name:expr, $call:expr, $ok:expr) => {{
            let name: String = $name;
            match $call.await {
                Ok(v) => {
                    steps.push(Step {
                        name,
                        outcome: Ok($ok(&v)),
                    });
                    v
                }
                Err(e) => {
                    steps.push(Step {
                        name,
                        outcome: fail(&e),
                    });
                    return steps;
                }
            }
        }};
    }
    step!("ping".into(), client.ping(), |_: &()| "the API answers"
        .to_owned());
    // A HEAD answer has no body, so a refusal there carries no message: the GET that
    // follows says why.
    let name = format!("manifest HEAD {repo}:{reference}");
    match client.manifest_head(repo, &reference).await {
        Ok(h) => steps.push(Step {
            name,
            outcome: Ok(format!("{} ({})", h.digest, h.media_type)),
        }),
        Err(head) => {
            let outcome = match client.manifest_get(repo, &reference).await {
                Err(get) => fail(&get),
                Ok(_) => fail(&head),
            };
            steps.push(Step { name, outcome });
            return steps;
        }
    }
    let mut fetched = step!(
        format!("manifest GET {repo}:{reference}"),
        client.manifest_get(repo, &reference),
        |m: &dns01_registry::FetchedManifest| format!("{} bytes", m.bytes.len())
    );
    let mut manifest = match fetched.parse() {
        Ok(m) => m,
        Err(e) => {
            steps.push(Step {
                name: "manifest parse".into(),
                outcome: fail(&e),
            });
            return steps;
        }
    };
    if let Manifest::Index(index) = &manifest {
        let Some(child) = index.find(platform) else {
            let built: Vec<String> = index.platforms().map(ToString::to_string).collect();
            steps.push(Step {
                name: format!("platform {platform}"),
                outcome: Err(format!(
                    "the index has no entry for {platform}; it is built for {}",
                    built.join(", ")
                )),
            });
            return steps;
        };
        let child: Reference = child.digest.clone().into();
        fetched = step!(
            format!("manifest GET {repo}@{child} ({platform})"),
            client.manifest_get(repo, &child),
            |m: &dns01_registry::FetchedManifest| format!("{} bytes", m.bytes.len())
        );
        manifest = match fetched.parse() {
            Ok(m) => m,
            Err(e) => {
                steps.push(Step {
                    name: "manifest parse".into(),
                    outcome: fail(&e),
                });
                return steps;
            }
        };
    }
    let Manifest::Image(image_manifest) = manifest else {
        steps.push(Step {
            name: "manifest".into(),
            outcome: Err("an index inside an index: not an image".into()),
        });
        return steps;
    };
    let blobs: Vec<(String, Digest)> = std::iter::once(("config", &image_manifest.config))
        .chain(image_manifest.layers.first().map(|l| ("first layer", l)))
        .map(|(what, d)| (what.to_owned(), d.digest.clone()))
        .collect();
    for (what, digest) in blobs {
        step!(
            format!("{what} HEAD {digest}"),
            client.blob_head(repo, &digest),
            |size: &Option<u64>| size
                .map_or_else(|| "present".to_owned(), |s| format!("{s} bytes"))
        );
    }
    steps
}
