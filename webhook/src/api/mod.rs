//! The HTTP API: wire types, discovery documents, the challenge handler, and protocol errors.

pub mod discovery;
pub mod error;
pub mod handler;
pub mod payload;
pub mod types;

pub use error::ApiError;
pub use types::{Action, ChallengePayload, ChallengeRequest, ChallengeResponse, Status};
