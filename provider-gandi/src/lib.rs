//! dns01-gandi (being written).
