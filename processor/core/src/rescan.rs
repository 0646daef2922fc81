//! The rescan request: the one output format of the project.
//!
//! One JSON object per affected resource (see the README for the contract):
//! `{"account","region","service","resource_type","resource_id","arn","scope","action",
//! "not_before","events":[{"event_id","event_name","event_time","principal"}]}`.

use serde::{Deserialize, Serialize};

/// How precisely the request names what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One resource, named by `arn`.
    Resource,
    /// The event changed something in the service that could not be pinned down:
    /// rescan the service in that account and region.
    Service,
}

/// What happened to the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Created or changed: read its current state.
    Update,
    /// It no longer exists: drop it from the inventory.
    Delete,
}

/// One event that contributed to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    /// CloudTrail `eventID`.
    pub event_id: String,
    /// CloudTrail `eventName`.
    pub event_name: String,
    /// CloudTrail `eventTime`.
    pub event_time: String,
    /// Who made the call (ARN, invoking service or principal id).
    pub principal: Option<String>,
}

/// A targeted rescan request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescanRequest {
    /// Account that owns the resource.
    pub account: String,
    /// Region of the call (global services report where CloudTrail recorded them).
    pub region: String,
    /// Short service name from the event source (`ec2`).
    pub service: String,
    /// IAM Service Authorization Reference type (`ec2:instance`); null for `service` scope.
    pub resource_type: Option<String>,
    /// The resource's own identifier (`i-0abc`); null for `service` scope.
    pub resource_id: Option<String>,
    /// The resource ARN; null for `service` scope.
    pub arn: Option<String>,
    /// `resource` or `service`.
    pub scope: Scope,
    /// `update` or `delete`.
    pub action: Action,
    /// Earliest time to read the resource (last event time + settle delay), RFC 3339.
    pub not_before: String,
    /// The events merged into this request, oldest first.
    pub events: Vec<EventRef>,
}
