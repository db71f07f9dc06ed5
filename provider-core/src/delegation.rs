//! Delegation naming: from (domain, tenant, validation zone) to the challenge name.
//! (Being written: see the helper working on provider-core delegation.)

use crate::error::Result;
use crate::name::{Fqdn, ZoneName};

/// The name inside `zone` at which the challenge for `domain`, requested by `tenant`, is written.
pub fn delegated_name(domain: &Fqdn, tenant: &str, zone: &ZoneName) -> Result<Fqdn> {
    let _ = (domain, tenant, zone);
    Err(crate::error::Error::other("not yet implemented"))
}
