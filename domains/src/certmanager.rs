//! The few cert-manager fields the controller uses, typed here (no crate with cert-manager
//! types tracks kube 5): `cert-manager.io/v1` `Certificate` (written by server-side apply) and
//! `acme.cert-manager.io/v1` `Challenge` (read, for the reason a stuck issuance gives).

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use crate::crd::IssuerRef;

/// What the controller asks cert-manager for.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[kube(
    group = "cert-manager.io",
    version = "v1",
    kind = "Certificate",
    namespaced,
    status = "CertificateStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    /// The Secret cert-manager writes the key pair to.
    pub secret_name: String,
    /// The names the certificate covers.
    pub dns_names: Vec<String>,
    /// The issuer.
    pub issuer_ref: IssuerRef,
}

/// What cert-manager says about a Certificate.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// `Ready`, `Issuing`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<CertificateCondition>,
    /// When the current certificate expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
}

/// One cert-manager condition (its own type: cert-manager's has optional reason and message).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CertificateCondition {
    /// `Ready`, `Issuing`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The Certificate generation the condition describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// An ACME challenge cert-manager is solving.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[kube(
    group = "acme.cert-manager.io",
    version = "v1",
    kind = "Challenge",
    namespaced,
    status = "ChallengeStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeSpec {
    /// The name being validated (without `*.`).
    #[serde(default)]
    pub dns_name: String,
    /// Whether it validates the wildcard.
    #[serde(default)]
    pub wildcard: bool,
}

/// Where a Challenge is.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeStatus {
    /// The solver's last message (our webhook's words when DNS-01 fails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `pending`, `valid`, `invalid`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl Certificate {
    /// cert-manager's condition of `type_`, if it describes the current generation.
    pub fn condition(&self, type_: &str) -> Option<&CertificateCondition> {
        let generation = self.metadata.generation;
        self.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .filter(|c| {
                c.observed_generation.is_none()
                    || generation.is_none()
                    || c.observed_generation == generation
            })
    }
}
