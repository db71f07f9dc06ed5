//! # dns01-registry
//!
//! The OCI distribution pieces that a registry gateway and a registry janitor share:
//!
//! - [`name`]: validated [`Repository`] names, [`Tag`]s, [`Digest`]s, [`Reference`]s and
//!   full [`ImageRef`]s (`host[:port]/name[:tag][@digest]`), parsed once at the edge.
//! - [`media`]: manifest, index, config and layer media types, and the `Accept` value that
//!   makes registries answer every manifest kind as stored.
//! - [`manifest`]: serde types for OCI image manifests and indexes (and their Docker
//!   twins), an index's children, a manifest's blobs, [`Platform`]s.
//! - [`error`]: the crate's [`Error`], whose kinds a caller can act on, and the OCI wire
//!   error body [`ErrorBody`].
//! - [`auth`]: `WWW-Authenticate` challenges, token scopes and the token endpoint's answer.
//! - [`jwt`]: registry tokens as CNCF Distribution's `auth.token` mode checks them (libtrust
//!   key id, string audience), so a gateway can be Distribution's token server.
//! - [`maintenance`]: the janitor's read-only [`Record`] (until when writes are refused),
//!   which the gateway reads to tell clients.
//! - [`client`]: an async distribution client: ping, the Bearer token dance, manifests,
//!   streamed blobs, tags and catalog pages, deletes, uploads.
//!
//! ```no_run
//! # async fn run() -> dns01_registry::Result<()> {
//! use dns01_registry::{Client, Credentials, Reference, Repository};
//! use futures::StreamExt as _;
//!
//! let client = Client::builder("https://registry.example/")
//!     .credentials(Credentials::new("robot", "token-from-a-secret"))
//!     .build()?;
//! client.ping().await?;
//! let repo = Repository::parse("proj-a/app")?;
//! let manifest = client.manifest_get(&repo, &Reference::parse("v1")?).await?;
//! println!("{} is {} ({})", repo, manifest.digest, manifest.media_type);
//! if let dns01_registry::Manifest::Image(image) = manifest.parse()? {
//!     for layer in &image.layers {
//!         let mut blob = client.blob_get(&repo, &layer.digest).await?;
//!         let mut bytes = 0;
//!         while let Some(chunk) = blob.next().await {
//!             bytes += chunk?.len(); // checked against the digest at the end
//!         }
//!         println!("{}: {bytes} bytes", layer.digest);
//!     }
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod client;
pub mod error;
pub mod jwt;
pub mod maintenance;
pub mod manifest;
pub mod media;
pub mod name;

pub use auth::{Challenge, Scope, TokenResponse};
pub use client::{Blob, Client, ClientBuilder, Credentials, FetchedManifest, ManifestHead, Page};
pub use error::{Error, ErrorBody, ErrorCode, ErrorInfo, Result};
pub use maintenance::Record;
pub use manifest::{Descriptor, ImageIndex, ImageManifest, Manifest, Platform};
pub use name::{Digest, ImageRef, Reference, Repository, Tag};
