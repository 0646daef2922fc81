//! # processor-core
//!
//! The heart of the CloudTrail event-stream processor: it turns one queue message
//! into zero or more targeted rescan requests. It does no I/O, so the Lambda, the
//! container and `processor replay` all run exactly this code.
//!
//! ## Layout
//! - [`decode`]: recognises every delivery shape (SNS notification, raw EventBridge
//!   event, bare CloudTrail record, SNS subscription confirmations, log files, Lambda
//!   SQS events, `ReceiveMessage` responses) and yields borrowed [`Event`]s.
//! - [`event`]: the validated CloudTrail record, borrowing from the message buffer.
//! - [`filter`]: drops what changes nothing, each with a counted [`DropReason`].
//! - [`arn`]: ARNs split in one place; the partition of a region.
//! - [`resolve`]: the [`Resolver`] seam from an event to the [`Target`]s it touched
//!   (with feature `test-support`, also `BasicResolver`, for tests).
//! - [`prepare`]: [`Preparer`], the stateless half (decode, filter, resolve) that runs
//!   on every core; its [`Prepared`] messages own their data.
//! - [`coalesce`]: merges changes to one resource within an event-time window, releases
//!   them by event time or by a wall-clock deadline, and remembers which events are
//!   behind each request.
//! - [`engine`]: [`Engine`], the one owner of the message ledger, the three-state
//!   duplicate memory (new, in flight, done) and the coalescer: it decides which
//!   messages may be deleted ([`Deletable`]) after the sinks accepted their requests.
//! - [`pipeline`]: the settings ([`ProcessorConfig`]), message outcomes, and
//!   [`Processor`], the engine in one thread for callers that delete nothing (replay).
//! - [`rescan`]: [`RescanRequest`], the project's one output format.
//! - [`stats`]: counters for every outcome.
//! - [`services`]: the watched-service lists shared with `event-rule`.
//! - [`queue_access`]: the IAM actions each consumer needs on the queue, shared with
//!   `event-rule`'s templates.
//! - [`settle`]: the settle delays (how long a scanner waits after a change), one table.
//! - [`time`]: RFC 3339 timestamps without a date-time dependency.
//! - [`wrap`]: builds delivery shapes as AWS does, for fixtures, tests and benchmarks.
#![deny(missing_docs)]

pub mod arn;
pub mod coalesce;
pub mod decode;
pub mod engine;
pub mod event;
pub mod filter;
pub mod pipeline;
pub mod prepare;
pub mod queue_access;
pub mod rescan;
pub mod resolve;
pub mod rules;
pub mod services;
pub mod settle;
pub mod stats;
pub mod time;
pub mod wrap;

pub use coalesce::Coalescer;
pub use decode::{DecodeError, Decoded, SubscriptionKind, SubscriptionToken};
pub use engine::{Deletable, Engine, MessageKey, Outgoing, Settled};
pub use event::Event;
pub use filter::{DropReason, FilterConfig};
pub use pipeline::{MessageOutcome, Processor, ProcessorConfig};
pub use prepare::{KeptEvent, Prepared, Preparer};
pub use rescan::{Action, EventRef, RescanRequest, Scope};
#[cfg(any(test, feature = "test-support"))]
pub use resolve::BasicResolver;
pub use resolve::{Resolver, Target};
pub use stats::Stats;
