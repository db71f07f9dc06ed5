//! dns01-testkit (being written).
