//! dns01-webhook (being written).
