//! # event-rule
//!
//! Sets up, verifies and tears down the CloudTrail event stream of the product, in
//! every region of every target account:
//!
//! ```text
//! CloudTrail --> EventBridge rule `cloudcoreo-events` --> SNS topic `cloudcoreo-events`
//!   (per account and region)                                 |  (subscription)
//!                                                            v
//!                 home account/region: SQS `cloudcoreo-events-queue` (+ DLQ)
//! ```
//!
//! Every command reads what exists, diffs it against what should exist, and then
//! applies (`setup`), prints (`plan`), reports (`status`) or removes (`teardown`) the
//! difference, so a second `setup` changes nothing.
//!
//! ## Layout
//! - [`config`]: [`Config`], the one documented configuration struct (clap flags with
//!   `EVENT_RULE_*` environment fallbacks), argument validation and names.
//! - [`pattern`]: the EventBridge pattern built from the service lists shared with the
//!   processor (`processor_core::services`), checked against the 2,048-character quota.
//! - [`policy`]: the resource policies the tool writes (topic, queue, scanner trust),
//!   their semantic comparison, and the statements others wrote into them (foreign).
//! - [`iam`]: the tool's own least-privilege identity policy per command
//!   (`event-rule policy`).
//! - [`plan`]: desired and observed state and the pure diff between them ([`ResourceChange`]s);
//!   no I/O, so every decision is unit-tested.
//! - [`aws`]: SDK configuration (rustls + ring, retries with backoff, timeouts), ARNs,
//!   caller identity, assuming roles into member accounts ([`aws::AccountCtx`]).
//! - [`discover`]: target accounts (current, list, Organization), enabled regions
//!   (EC2 DescribeRegions) and CloudTrail coverage per region.
//! - [`ec2`]: EC2's Query API as one SigV4-signed request (no generated EC2 crate).
//! - [`queue`], [`region`], [`scanner`]: read back and apply changes for the central
//!   queue, one account-region, and the optional scanner role.
//! - [`component`]: the one interface of those three (observe, diff, apply, tear down)
//!   and the one function that turns a command and a component into a [`Row`],
//!   deciding there when a command adopts resources without our tags.
//! - [`run`]: the orchestration: bounded concurrency over accounts and regions, each
//!   failure kept to its own [`Row`].
//! - [`progress`]: the progress line drawn on a terminal during long runs.
//! - [`report`]: the per account/region [`Report`], as a table or JSON.
//! - [`templates`]: the CloudFormation templates under `infra/`, generated from the
//!   same policy, pattern and name builders (`event-rule templates`).
//! - [`error`]: typed errors ([`Error`], [`error::AwsError`]) naming the action,
//!   resource, account and region, and whether a retry can help.
#![deny(missing_docs)]

pub mod aws;
pub mod component;
pub mod config;
pub mod discover;
pub mod ec2;
pub mod error;
pub mod iam;
pub mod pattern;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod queue;
pub mod region;
pub mod report;
pub mod run;
pub mod scanner;
pub mod templates;

pub use config::Config;
pub use error::Error;
pub use plan::ResourceChange;
pub use report::{Report, Row, RowOutcome, RowScope};
pub use run::{run, Command};
