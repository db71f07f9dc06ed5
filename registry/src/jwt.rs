//! Registry tokens: the JWTs CNCF Distribution accepts in `auth.token` mode, signed here so
//! that a gateway can be the token server.
//!
//! Distribution 2.8 checks: the signature (RS256, RS512 or ES256; PS256 is refused), a header
//! `kid` equal to the **libtrust key id** ([`libtrust_key_id`]) of a key whose certificate is
//! in its `rootcertbundle`, `iss` equal to its `issuer`, `aud` a **plain string** equal to its
//! `service` (an array is refused), `exp` in the future, and `access` covering the request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use dns01_core::Secret;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use serde::{Deserialize, Serialize};

use crate::auth::Scope;
use crate::error::{Error, Result};

/// The libtrust key id of a public key given as DER `SubjectPublicKeyInfo`: SHA-256 of the
/// DER, its first 30 bytes in base32 without padding (48 characters), in 12 groups of 4
/// joined by `:`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let b32 = BASE32_NOPAD.encode(&hash.as_ref()[..30]);
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// One entry of the `access` claim: what the token lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The repository name, or `catalog`.
    pub name: String,
    /// `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

impl From<&Scope> for Access {
    fn from(s: &Scope) -> Self {
        Self {
            resource_type: s.resource_type.clone(),
            name: s.name.clone(),
            actions: s.actions.clone(),
        }
    }
}

/// The claims of a registry token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: Distribution's `auth.token.issuer`.
    pub iss: String,
    /// Subject: the principal (an account name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
    /// Audience: Distribution's `auth.token.service`, a plain string.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Not before, seconds since the epoch.
    pub nbf: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// A unique id.
    pub jti: String,
    /// What the token grants.
    pub access: Vec<Access>,
}

impl Claims {
    /// Claims valid from now (less 10 s, for clock skew) for `lifetime`.
    pub fn new(
        issuer: &str,
        audience: &str,
        subject: &str,
        access: Vec<Access>,
        lifetime: Duration,
    ) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut jti = [0u8; 16];
        let _ = ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut jti);
        Self {
            iss: issuer.to_owned(),
            sub: subject.to_owned(),
            aud: audience.to_owned(),
            exp: now + lifetime.as_secs(),
            nbf: now.saturating_sub(10),
            iat: now,
            jti: BASE64URL_NOPAD.encode(&jti),
            access,
        }
    }
}

enum Algorithm {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

/// A key that signs registry tokens: ECDSA P-256 (ES256) or RSA (RS256), from PKCS#8.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg_name())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// DER prefix of a P-256 `SubjectPublicKeyInfo` (id-ecPublicKey, prime256v1, a 66-byte bit
/// string), followed by the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// DER `AlgorithmIdentifier` of rsaEncryption with NULL parameters.
const RSA_ALGORITHM_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

fn der_header(tag: u8, len: usize, out: &mut Vec<u8>) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// `SubjectPublicKeyInfo` for an RSA public key given as DER `RSAPublicKey`.
fn rsa_spki(rsa_public_key: &[u8]) -> Vec<u8> {
    let mut bit_string = Vec::with_capacity(rsa_public_key.len() + 8);
    der_header(0x03, rsa_public_key.len() + 1, &mut bit_string);
    bit_string.push(0);
    bit_string.extend_from_slice(rsa_public_key);
    let mut out = Vec::with_capacity(bit_string.len() + 24);
    der_header(0x30, RSA_ALGORITHM_ID.len() + bit_string.len(), &mut out);
    out.extend_from_slice(&RSA_ALGORITHM_ID);
    out.extend_from_slice(&bit_string);
    out
}

impl SigningKey {
    /// Reads a PKCS#8 DER private key: ECDSA P-256 signs ES256, RSA (2048 bits or more)
    /// signs RS256.
    ///
    /// # Errors
    /// [`Error::Key`] when the key is neither.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let rng = SystemRandom::new();
        if let Ok(k) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
        {
            let mut spki = P256_SPKI_PREFIX.to_vec();
            spki.extend_from_slice(k.public_key().as_ref());
            return Ok(Self {
                kid: libtrust_key_id(&spki),
                alg: Algorithm::Es256(k),
                rng,
            });
        }
        match RsaKeyPair::from_pkcs8(der) {
            Ok(k) => Ok(Self {
                kid: libtrust_key_id(&rsa_spki(k.public().as_ref())),
                alg: Algorithm::Rs256(k),
                rng,
            }),
            Err(e) => Err(Error::Key {
                message: format!(
                    "not a PKCS#8 ECDSA P-256 or RSA private key ({e}); convert it with \
                     `openssl pkcs8 -topk8 -nocrypt -outform DER`"
                ),
            }),
        }
    }

    /// The libtrust key id put in the `kid` header.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// `ES256` or `RS256`.
    pub fn alg_name(&self) -> &'static str {
        match self.alg {
            Algorithm::Es256(_) => "ES256",
            Algorithm::Rs256(_) => "RS256",
        }
    }

    /// Signs `claims` into a compact JWT.
    ///
    /// # Errors
    /// [`Error::Key`] when signing fails (ring refuses the key at signing time).
    pub fn sign(&self, claims: &Claims) -> Result<Secret> {
        let header = serde_json::json!({"typ": "JWT", "alg": self.alg_name(), "kid": self.kid});
        let claims = serde_json::to_vec(claims).map_err(|e| Error::Key {
            message: format!("claims do not serialise: {e}"),
        })?;
        let mut jwt = format!(
            "{}.{}",
            BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
            BASE64URL_NOPAD.encode(&claims)
        );
        let failed = |_| Error::Key {
            message: "signing failed".into(),
        };
        let sig = match &self.alg {
            Algorithm::Es256(k) => k
                .sign(&self.rng, jwt.as_bytes())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Algorithm::Rs256(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    jwt.as_bytes(),
                    &mut sig,
                )
                .map_err(failed)?;
                sig
            }
        };
        jwt.push('.');
        jwt.push_str(&BASE64URL_NOPAD.encode(&sig));
        Ok(Secret::new(jwt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> String {
        let path = format!("{}/../testdata/registry/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn pkcs8_der(pem: &str) -> Vec<u8> {
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        data_encoding::BASE64.decode(b64.as_bytes()).unwrap()
    }

    // The expected ids come from openssl, independently of this code:
    //   openssl pkey -in KEY.pem -pubout -outform DER | openssl dgst -sha256 -binary \
    //     | head -c 30 | base32 | tr -d '=\n' | fold -w4 | paste -sd:
    // (testdata/registry/README.md has the commands that made the keys.)

    #[test]
    fn es256_key_id_matches_the_libtrust_id_openssl_computes() {
        let key = SigningKey::from_pkcs8_der(&pkcs8_der(&golden("jwt-p256.pem"))).unwrap();
        assert_eq!(key.alg_name(), "ES256");
        assert_eq!(key.key_id(), golden("jwt-p256.kid").trim());
        assert_eq!(key.key_id().split(':').count(), 12);
    }

    #[test]
    fn rs256_key_id_matches_the_libtrust_id_openssl_computes() {
        let key = SigningKey::from_pkcs8_der(&pkcs8_der(&golden("jwt-rsa2048.pem"))).unwrap();
        assert_eq!(key.alg_name(), "RS256");
        assert_eq!(key.key_id(), golden("jwt-rsa2048.kid").trim());
    }

    #[test]
    fn a_signed_token_verifies_and_carries_a_string_audience() {
        let der = pkcs8_der(&golden("jwt-p256.pem"));
        let key = SigningKey::from_pkcs8_der(&der).unwrap();
        let scope: Scope = "repository:proj-a/app:pull,push".parse().unwrap();
        let claims = Claims::new(
            "issuer",
            "registry",
            "alice",
            vec![(&scope).into()],
            Duration::from_secs(300),
        );
        let jwt = key.sign(&claims).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[0].as_bytes()).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], key.key_id());
        let body: serde_json::Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap()).unwrap();
        assert!(body["aud"].is_string());
        assert_eq!(body["access"][0]["type"], "repository");
        assert_eq!(body["access"][0]["actions"][1], "push");
        assert_eq!(
            body["exp"].as_u64().unwrap() - body["iat"].as_u64().unwrap(),
            300
        );

        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &SystemRandom::new(),
        )
        .unwrap();
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            pair.public_key().as_ref(),
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        let sig = BASE64URL_NOPAD.decode(parts[2].as_bytes()).unwrap();
        assert!(public.verify(signed.as_bytes(), &sig).is_ok());
        assert!(public.verify(b"other", &sig).is_err());
    }

    #[test]
    fn a_key_of_another_kind_is_refused_with_the_conversion_command() {
        let e = SigningKey::from_pkcs8_der(b"not a key")
            .unwrap_err()
            .to_string();
        assert!(e.contains("openssl pkcs8 -topk8"), "{e}");
    }

    #[test]
    fn debug_shows_the_key_id_and_never_the_key() {
        let key = SigningKey::from_pkcs8_der(&pkcs8_der(&golden("jwt-p256.pem"))).unwrap();
        let d = format!("{key:?}");
        assert!(d.contains(key.key_id()) && d.contains("ES256"), "{d}");
    }
}
