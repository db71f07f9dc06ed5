//! TSIG (RFC 8945): signing UPDATE messages and verifying the server's signed answers.
//!
//! The wire layout of the TSIG record and of the data a MAC covers comes from `hickory-proto`;
//! the MACs are computed with `ring` for every algorithm, so one code path serves HMAC-SHA256
//! and HMAC-SHA512 as well as the HMAC-SHA1 that old servers still use.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use hickory_proto::op::Message;
use hickory_proto::rr::Name;
use hickory_proto::rr::rdata::tsig::{
    TSIG, TsigAlgorithm as WireAlgorithm, TsigError, make_tsig_record, message_tbs,
    signed_bitmessage_to_buf,
};
use ring::hmac;

/// Seconds of clock difference the server accepts (RFC 8945 recommends 300).
pub const FUDGE: u16 = 300;

/// A TSIG algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TsigAlgorithm {
    /// `hmac-sha1`: for old servers only.
    HmacSha1,
    /// `hmac-sha256`: the default, and what BIND's `tsig-keygen` makes.
    HmacSha256,
    /// `hmac-sha384`.
    HmacSha384,
    /// `hmac-sha512`.
    HmacSha512,
}

impl TsigAlgorithm {
    /// Every supported algorithm, for messages that list them.
    pub const ALL: [Self; 4] = [
        Self::HmacSha1,
        Self::HmacSha256,
        Self::HmacSha384,
        Self::HmacSha512,
    ];

    /// The algorithm's name in key files and on the wire, e.g. `hmac-sha256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacSha1 => "hmac-sha1",
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::HmacSha256 => hmac::HMAC_SHA256,
            Self::HmacSha384 => hmac::HMAC_SHA384,
            Self::HmacSha512 => hmac::HMAC_SHA512,
        }
    }

    fn wire(self) -> WireAlgorithm {
        match self {
            Self::HmacSha1 => WireAlgorithm::HmacSha1,
            Self::HmacSha256 => WireAlgorithm::HmacSha256,
            Self::HmacSha384 => WireAlgorithm::HmacSha384,
            Self::HmacSha512 => WireAlgorithm::HmacSha512,
        }
    }
}

impl fmt::Display for TsigAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TsigAlgorithm {
    type Err = dns01_core::Error;

    /// Accepts the key-file names (`hmac-sha256`, with or without a trailing dot) and
    /// cert-manager's spelling (`HMACSHA256`), in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let folded: String = s
            .trim()
            .trim_end_matches('.')
            .chars()
            .filter(|c| *c != '-')
            .flat_map(char::to_lowercase)
            .collect();
        match folded.as_str() {
            "hmacsha1" => Ok(Self::HmacSha1),
            "hmacsha256" => Ok(Self::HmacSha256),
            "hmacsha384" => Ok(Self::HmacSha384),
            "hmacsha512" => Ok(Self::HmacSha512),
            "hmacmd5" | "hmacmd5.sigalg.reg.int" => Err(dns01_core::Error::invalid_input(format!(
                "{s:?} (HMAC-MD5) is not supported: it is broken; make a hmac-sha256 key \
                 (`tsig-keygen -a hmac-sha256 <name>`)"
            ))),
            _ => Err(dns01_core::Error::invalid_input(format!(
                "{s:?} is not a TSIG algorithm; use one of {}",
                Self::ALL.map(Self::as_str).join(", ")
            ))),
        }
    }
}

/// A TSIG key: its name, algorithm and secret. `Debug` never shows the secret.
#[derive(Clone)]
pub struct TsigKey {
    name: Name,
    algorithm: TsigAlgorithm,
    key: hmac::Key,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name.to_ascii())
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TsigKey {
    /// A key from its name, algorithm and base64 secret (the `secret` of a BIND key file, or
    /// what `tsig-keygen` prints). The error names what is wrong, never the secret.
    pub fn new(
        name: &str,
        algorithm: TsigAlgorithm,
        secret_base64: &str,
    ) -> dns01_core::Result<Self> {
        let invalid = dns01_core::Error::invalid_input;
        let mut key_name = Name::from_ascii(name.trim())
            .map_err(|e| invalid(format!("TSIG key name {name:?} is not a DNS name: {e}")))?;
        if key_name.num_labels() == 0 {
            return Err(invalid(
                "TSIG key name is empty; give the key's name as the server knows it".to_owned(),
            ));
        }
        key_name.set_fqdn(true);
        let compact: String = secret_base64
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let secret = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| {
                invalid(format!(
                    "the secret of TSIG key {name:?} is not valid base64; copy the `secret` of the \
                     key file (tsig-keygen's output) as it is"
                ))
            })?;
        if secret.is_empty() {
            return Err(invalid(format!("the secret of TSIG key {name:?} is empty")));
        }
        Ok(Self {
            name: key_name,
            algorithm,
            key: hmac::Key::new(algorithm.ring(), &secret),
        })
    }

    /// The key's name, absolute and lowercase as sent on the wire.
    pub fn name(&self) -> String {
        self.name.to_lowercase().to_ascii()
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> TsigAlgorithm {
        self.algorithm
    }

    /// Adds a TSIG record to `message` signed at `now` (seconds since the epoch) and returns
    /// the wire bytes and the request MAC that the answer's signature covers.
    pub(crate) fn sign(
        &self,
        message: &mut Message,
        now: u64,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let stub = TSIG::new(
            self.algorithm.wire(),
            now,
            FUDGE,
            Vec::new(),
            message.metadata.id,
            None,
            Vec::new(),
        );
        let tbs = message_tbs(&*message, &stub, &self.name)
            .map_err(|e| format!("encoding the UPDATE to sign: {e}"))?;
        let mac = hmac::sign(&self.key, &tbs).as_ref().to_vec();
        message.set_signature(Box::new(make_tsig_record(
            self.name.clone(),
            stub.set_mac(mac.clone()),
        )));
        let wire = message
            .to_vec()
            .map_err(|e| format!("encoding the signed UPDATE: {e}"))?;
        Ok((wire, mac))
    }

    /// Checks the TSIG of an answer to a request whose MAC was `request_mac`.
    pub(crate) fn verify(&self, answer: &[u8], request_mac: &[u8]) -> Result<(), String> {
        let (tbv, record) = signed_bitmessage_to_buf(answer, Some(request_mac), true)
            .map_err(|e| format!("the answer carries no usable TSIG record ({e})"))?;
        if record.name.to_lowercase() != self.name.to_lowercase()
            || record.data.algorithm != self.algorithm.wire()
        {
            return Err(format!(
                "the answer is signed with key {} ({}), not with {} ({})",
                record.name, record.data.algorithm, self.name, self.algorithm
            ));
        }
        hmac::verify(&self.key, &tbv, &record.data.mac)
            .map_err(|_| "the answer's TSIG signature does not verify with this key".to_owned())
    }
}

/// What the answer's TSIG record says went wrong, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TsigFailure {
    /// The TSIG error code (BADSIG, BADKEY, BADTIME, …).
    pub(crate) error: TsigError,
    /// For BADTIME: the server's clock minus ours, in seconds.
    pub(crate) skew: Option<i64>,
}

/// The TSIG error an answer reports, with the clock skew for BADTIME.
pub(crate) fn failure(answer: &Message, sent_at: u64) -> Option<TsigFailure> {
    let tsig = &answer.signature.as_ref()?.data;
    let error = tsig.error?;
    let skew = (error == TsigError::BadTime).then(|| {
        // RFC 8945 5.2.3: a BADTIME answer carries the server's time in Other Data (48 bits).
        let server = if tsig.other.len() == 6 {
            tsig.other
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        } else {
            tsig.time
        };
        i64::try_from(server).unwrap_or(i64::MAX) - i64::try_from(sent_at).unwrap_or(i64::MAX)
    });
    Some(TsigFailure { error, skew })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn algorithm_names_of_key_files_and_of_cert_manager_are_both_accepted() {
        for (text, alg) in [
            ("hmac-sha256", TsigAlgorithm::HmacSha256),
            ("HMACSHA256", TsigAlgorithm::HmacSha256),
            ("hmac-sha512.", TsigAlgorithm::HmacSha512),
            ("HMACSHA1", TsigAlgorithm::HmacSha1),
            ("Hmac-Sha384", TsigAlgorithm::HmacSha384),
        ] {
            assert_eq!(text.parse::<TsigAlgorithm>().unwrap(), alg, "{text}");
        }
        let md5 = "HMACMD5".parse::<TsigAlgorithm>().unwrap_err().to_string();
        assert!(
            md5.contains("not supported") && md5.contains("hmac-sha256"),
            "{md5}"
        );
        let other = "sha3".parse::<TsigAlgorithm>().unwrap_err().to_string();
        assert!(
            other.contains("hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512"),
            "{other}"
        );
    }

    #[test]
    fn a_bad_secret_is_refused_without_showing_it() {
        let err = TsigKey::new("k", TsigAlgorithm::HmacSha256, "not*base64!secretvalue")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid base64"), "{err}");
        assert!(!err.contains("secretvalue"), "{err}");
        assert!(TsigKey::new("", TsigAlgorithm::HmacSha256, "c2VjcmV0").is_err());
        assert!(TsigKey::new("k", TsigAlgorithm::HmacSha256, "").is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key =
            TsigKey::new("update-key", TsigAlgorithm::HmacSha256, "c2VjcmV0LXZhbHVl").unwrap();
        let debug = format!("{key:?}");
        assert!(
            debug.contains("update-key") && debug.contains("<redacted>"),
            "{debug}"
        );
        assert!(
            !debug.contains("c2VjcmV0") && !debug.contains("secret-value"),
            "{debug}"
        );
    }

    #[test]
    fn a_signed_message_verifies_with_the_same_key_and_not_with_another() {
        // An answer is signed over the request MAC; sign a "response" the way a server does
        // and check that verify accepts it with the right key only.
        let key = TsigKey::new("k", TsigAlgorithm::HmacSha1, "c2VjcmV0").unwrap();
        let request_mac = vec![7u8; 20];
        let mut answer = Message::query();
        let stub = TSIG::new(
            WireAlgorithm::HmacSha1,
            1_700_000_000,
            FUDGE,
            Vec::new(),
            answer.metadata.id,
            None,
            Vec::new(),
        );
        let mut tbs = Vec::new();
        tbs.extend_from_slice(&u16::try_from(request_mac.len()).unwrap().to_be_bytes());
        tbs.extend_from_slice(&request_mac);
        tbs.extend_from_slice(&message_tbs(&answer, &stub, &key.name).unwrap());
        let mac = hmac::sign(&key.key, &tbs).as_ref().to_vec();
        answer.set_signature(Box::new(make_tsig_record(
            key.name.clone(),
            stub.set_mac(mac),
        )));
        let wire = answer.to_vec().unwrap();

        key.verify(&wire, &request_mac).unwrap();
        let other = TsigKey::new("k", TsigAlgorithm::HmacSha1, "b3RoZXI=").unwrap();
        assert!(
            other
                .verify(&wire, &request_mac)
                .unwrap_err()
                .contains("does not verify")
        );
        assert!(
            key.verify(&wire, &[8u8; 20]).is_err(),
            "bound to the request MAC"
        );
        let sha256 = TsigKey::new("k", TsigAlgorithm::HmacSha256, "c2VjcmV0").unwrap();
        assert!(
            sha256
                .verify(&wire, &request_mac)
                .unwrap_err()
                .contains("hmac-sha1")
        );
    }

    #[test]
    fn badtime_reports_the_servers_clock_minus_ours() {
        let mut answer = Message::query();
        let server_time: u64 = 1_700_000_900;
        let other = server_time.to_be_bytes()[2..].to_vec();
        let tsig = TSIG::new(
            WireAlgorithm::HmacSha256,
            1_700_000_000,
            FUDGE,
            Vec::new(),
            answer.metadata.id,
            Some(TsigError::BadTime),
            other,
        );
        answer.set_signature(Box::new(make_tsig_record(
            Name::from_ascii("k.").unwrap(),
            tsig,
        )));
        let f = failure(&answer, 1_700_000_000).unwrap();
        assert_eq!(f.error, TsigError::BadTime);
        assert_eq!(f.skew, Some(900));
        assert_eq!(failure(&Message::query(), 0), None);
    }
}
