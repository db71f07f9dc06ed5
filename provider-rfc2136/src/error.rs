//! Answers and failures mapped to [`dns01_core::Error`] kinds, with messages that name the
//! server, the zone, the record and the response code, and say what to check.

use std::net::SocketAddr;

use dns01_core::Error;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::tsig::TsigError;

use crate::transport::ExchangeError;
use crate::tsig::{TsigFailure, TsigKey};

/// The cause kept under a mapped error: what the server answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server answered {rcode}{tsig}")]
#[non_exhaustive]
pub struct ServerAnswer {
    /// The response code (`REFUSED`, `NOTAUTH`, …).
    pub rcode: String,
    /// `, TSIG error BADSIG` and the like, or empty.
    pub tsig: String,
}

/// One operation, for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operation<'a> {
    /// `add TXT value` or `delete TXT value`.
    pub(crate) what: &'static str,
    pub(crate) server: SocketAddr,
    pub(crate) zone: &'a str,
    pub(crate) record: &'a str,
    pub(crate) key: Option<&'a TsigKey>,
}

impl Operation<'_> {
    fn subject(&self) -> String {
        format!(
            "UPDATE ({}) of {} in zone {} at {}",
            self.what, self.record, self.zone, self.server
        )
    }

    fn key_text(&self) -> String {
        match self.key {
            Some(k) => format!("key {} ({})", k.name(), k.algorithm()),
            None => "no TSIG key (unsigned updates)".to_owned(),
        }
    }

    /// The error for an exchange that got no answer.
    pub(crate) fn unanswered(&self, e: ExchangeError) -> Error {
        Error::transient(format!(
            "{} got no answer: check that the server is reachable on that address and port \
             and accepts updates there",
            self.subject()
        ))
        .with_source(e)
    }

    /// The error for an answer whose TSIG does not verify (a success that cannot be trusted).
    pub(crate) fn unverified(&self, why: &str) -> Error {
        Error::authentication(format!(
            "{} was answered NOERROR, but {why}; the answer is not trusted: check that the \
             server's {} is the one configured here",
            self.subject(),
            self.key_text()
        ))
    }

    /// Maps an answer's response code and TSIG error; `Ok` for success.
    pub(crate) fn check(
        &self,
        rcode: ResponseCode,
        tsig: Option<TsigFailure>,
    ) -> Result<(), Error> {
        let answer = ServerAnswer {
            rcode: rcode_name(rcode),
            tsig: tsig
                .map(|t| format!(", TSIG error {}", tsig_name(t.error)))
                .unwrap_or_default(),
        };
        let subject = self.subject();
        let rc = format!("{}{}", answer.rcode, answer.tsig);
        let key = self.key_text();
        let error = if let Some(t) = tsig {
            let why = match t.error {
                TsigError::BadSig => format!(
                    "the server knows {key} but the signature does not verify: the secret \
                     differs from the server's (copy the `secret` of its key statement)"
                ),
                TsigError::BadKey => format!(
                    "the server has no {key}: the key name or the algorithm differs from the \
                     server's `key` statement"
                ),
                TsigError::BadTime => {
                    let skew = t.skew.unwrap_or_default();
                    let direction = if skew >= 0 { "ahead of" } else { "behind" };
                    format!(
                        "the server's clock is {} s {direction} this host's, more than the {} s \
                         TSIG allows: synchronise both clocks (NTP)",
                        skew.unsigned_abs(),
                        crate::tsig::FUDGE
                    )
                }
                _ => format!("the server refused the TSIG signature of {key}"),
            };
            Error::authentication(format!("{subject} was refused ({rc}): {why}"))
        } else {
            match rcode {
                ResponseCode::NoError => return Ok(()),
                ResponseCode::Refused => Error::permission(format!(
                    "{subject} was refused ({rc}): the server does not let {key} update this \
                     name; check the zone's `update-policy` (e.g. `grant <key> name {} TXT;`) \
                     or `allow-update`",
                    self.record
                )),
                ResponseCode::NotAuth => Error::zone_not_found(format!(
                    "{subject} was refused ({rc}): the server is not authoritative for zone {}; \
                     send updates to the zone's primary server, or give the right zone",
                    self.zone
                )),
                ResponseCode::NotZone | ResponseCode::NXDomain => Error::zone_not_found(format!(
                    "{subject} was refused ({rc}): {} is not in a zone the server serves as {}",
                    self.record, self.zone
                )),
                ResponseCode::ServFail => Error::transient(format!(
                    "{subject} failed ({rc}): the server could not apply it now (a reload, a \
                     full disk, an unwritable journal, or more records at the name than its \
                     limit, BIND's max-records-per-type); see the server's log"
                )),
                ResponseCode::NotImp => Error::other(format!(
                    "{subject} failed ({rc}): the server does not implement dynamic updates"
                )),
                ResponseCode::YXDomain | ResponseCode::YXRRSet | ResponseCode::NXRRSet => {
                    Error::conflict(format!(
                        "{subject} failed ({rc}): a prerequisite was not met"
                    ))
                }
                _ => Error::other(format!("{subject} failed ({rc})")),
            }
        };
        Err(error.with_source(answer))
    }
}

fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".to_owned(),
        ResponseCode::FormErr => "FORMERR".to_owned(),
        ResponseCode::ServFail => "SERVFAIL".to_owned(),
        ResponseCode::NXDomain => "NXDOMAIN".to_owned(),
        ResponseCode::NotImp => "NOTIMP".to_owned(),
        ResponseCode::Refused => "REFUSED".to_owned(),
        ResponseCode::YXDomain => "YXDOMAIN".to_owned(),
        ResponseCode::YXRRSet => "YXRRSET".to_owned(),
        ResponseCode::NXRRSet => "NXRRSET".to_owned(),
        ResponseCode::NotAuth => "NOTAUTH".to_owned(),
        ResponseCode::NotZone => "NOTZONE".to_owned(),
        other => format!("RCODE {}", u16::from(other)),
    }
}

fn tsig_name(error: TsigError) -> String {
    match error {
        TsigError::BadSig => "BADSIG".to_owned(),
        TsigError::BadKey => "BADKEY".to_owned(),
        TsigError::BadTime => "BADTIME".to_owned(),
        TsigError::BadTrunc => "BADTRUNC".to_owned(),
        TsigError::Unknown(code) => format!("{code}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use dns01_core::ErrorKind;

    use super::*;
    use crate::tsig::TsigAlgorithm;

    fn op(key: &TsigKey) -> Operation<'_> {
        Operation {
            what: "add TXT value",
            server: "192.0.2.53:53".parse().unwrap(),
            zone: "example.test.",
            record: "_acme-challenge.example.test.",
            key: Some(key),
        }
    }

    #[test]
    fn each_answer_maps_to_the_kind_a_caller_acts_on_and_names_server_zone_record_and_rcode() {
        let key = TsigKey::new("update-key", TsigAlgorithm::HmacSha256, "c2VjcmV0").unwrap();
        let tsig = |error, skew| Some(TsigFailure { error, skew });
        let cases = [
            (
                ResponseCode::NotAuth,
                tsig(TsigError::BadSig, None),
                ErrorKind::Authentication,
                "BADSIG",
            ),
            (
                ResponseCode::NotAuth,
                tsig(TsigError::BadKey, None),
                ErrorKind::Authentication,
                "BADKEY",
            ),
            (
                ResponseCode::NotAuth,
                tsig(TsigError::BadTime, Some(-900)),
                ErrorKind::Authentication,
                "900 s behind",
            ),
            (
                ResponseCode::Refused,
                None,
                ErrorKind::Permission,
                "update-policy",
            ),
            (
                ResponseCode::NotAuth,
                None,
                ErrorKind::ZoneNotFound,
                "not authoritative",
            ),
            (
                ResponseCode::NotZone,
                None,
                ErrorKind::ZoneNotFound,
                "NOTZONE",
            ),
            (
                ResponseCode::NXDomain,
                None,
                ErrorKind::ZoneNotFound,
                "NXDOMAIN",
            ),
            (
                ResponseCode::ServFail,
                None,
                ErrorKind::Transient,
                "SERVFAIL",
            ),
            (ResponseCode::NotImp, None, ErrorKind::Other, "NOTIMP"),
            (ResponseCode::YXRRSet, None, ErrorKind::Conflict, "YXRRSET"),
        ];
        for (rcode, failure, kind, needle) in cases {
            let err = op(&key).check(rcode, failure).unwrap_err();
            let text = err.report();
            assert_eq!(err.kind(), kind, "{text}");
            for part in [
                needle,
                "192.0.2.53:53",
                "example.test.",
                "_acme-challenge.example.test.",
            ] {
                assert!(text.contains(part), "{part:?} missing from {text}");
            }
            assert!(!text.contains("c2VjcmV0"), "{text}");
        }
        assert!(op(&key).check(ResponseCode::NoError, None).is_ok());
        assert!(
            op(&key)
                .check(ResponseCode::NoError, tsig(TsigError::BadSig, None))
                .is_err(),
            "a TSIG error is never success"
        );
    }

    #[test]
    fn servfail_and_timeouts_are_retryable_and_refusals_are_not() {
        let key = TsigKey::new("k", TsigAlgorithm::HmacSha256, "c2VjcmV0").unwrap();
        assert!(
            op(&key)
                .check(ResponseCode::ServFail, None)
                .unwrap_err()
                .is_retryable()
        );
        assert!(
            !op(&key)
                .check(ResponseCode::Refused, None)
                .unwrap_err()
                .is_retryable()
        );
        let timeout =
            op(&key).unanswered(ExchangeError::Timeout(std::time::Duration::from_secs(1)));
        assert!(timeout.is_retryable(), "{}", timeout.report());
    }
}
