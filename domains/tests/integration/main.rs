//! Integration tests of dns01-domains: one binary, one module per area.

mod crd;
