//! The janitor's durable read-only record, shared with the gateway: "made read-only by run
//! X at T, until U at the latest". The janitor writes it before it switches the registry to
//! read-only and clears it once writes are accepted again; the gateway reads it to tell a
//! client until when a push will be refused. Kept as JSON in a file (single-host installs) or
//! in the [`RECORD_ANNOTATION`] annotation of the janitor's Lease (cluster mode).

use serde::{Deserialize, Serialize};

/// The Lease annotation holding the record (JSON) in cluster mode.
pub const RECORD_ANNOTATION: &str = "janitor.dns01.io/read-only-record";

/// What a janitor writes before it opens its read-only window.
///
/// Records written before `until` existed parse with `until: None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The run that made the registry read-only.
    pub run_id: String,
    /// When (RFC 3339).
    pub since: String,
    /// The switch used (`process`, `command`, `kubernetes`).
    pub switch: String,
    /// The janitor's pid (informational).
    pub pid: u32,
    /// The latest time the window can end (RFC 3339), from the deadlines the janitor honours
    /// (switching, probing, the collector's deadline, switching back); `None` in records of
    /// janitors that did not write it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl Record {
    /// [`Record::until`] as a timestamp, when it is there and valid RFC 3339.
    pub fn until_timestamp(&self) -> Option<jiff::Timestamp> {
        self.until.as_deref()?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> String {
        let path = format!("{}/../testdata/registry/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_golden_record_round_trips_with_its_latest_end() {
        let text = golden("read-only-record.json");
        let r: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(r.run_id, "gc-1796259600");
        assert_eq!(r.switch, "kubernetes");
        assert_eq!(r.until.as_deref(), Some("2026-12-03T01:47:10Z"));
        assert_eq!(
            r.until_timestamp().map(|t| t.as_second()),
            Some(1_796_262_430)
        );
        let again: serde_json::Value = serde_json::to_value(&r).unwrap();
        let want: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(again, want);
    }

    #[test]
    fn a_record_without_its_latest_end_still_parses_and_is_written_without_it() {
        let text = golden("read-only-record-v1.json");
        let r: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(r.run_id, "gc-1796259600");
        assert_eq!(r.until, None);
        assert_eq!(r.until_timestamp(), None);
        let again = serde_json::to_value(&r).unwrap();
        assert!(again.get("until").is_none(), "{again}");
        assert_eq!(
            again,
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        );
    }

    #[test]
    fn an_unparsable_latest_end_is_no_latest_end() {
        let mut r: Record = serde_json::from_str(&golden("read-only-record.json")).unwrap();
        r.until = Some("tomorrow".into());
        assert_eq!(r.until_timestamp(), None);
    }
}
