//! Settle delays: how long after an event a scanner should wait before reading the
//! resource, so it does not see the state from before the change.

use processor_core::resolve::default_settle_delay;

/// Seconds to wait after `event_name` of `service` (short name, `ec2`).
///
/// Starts from the core's per-service defaults and lengthens the calls that start long
/// asynchronous work: stacks, databases, clusters, distributions, domains.
pub fn settle_delay(service: &str, event_name: &str) -> u32 {
    let verb_create = event_name.starts_with("Create") || event_name.starts_with("Restore");
    let verb_change = event_name.starts_with("Update") || event_name.starts_with("Modify");
    let verb_delete = event_name.starts_with("Delete");
    match service {
        // Stack operations run for minutes; their resources appear as they progress.
        "cloudformation" if event_name.contains("Stack") => 600,
        // Databases, caches and warehouses take several minutes to leave `creating`.
        "rds" | "redshift" | "elasticache" | "docdb" | "neptune" | "memorydb" | "dax"
            if verb_create || verb_change || verb_delete =>
        {
            600
        }
        // Search domains and Kubernetes clusters/nodegroups take longer still.
        "es" | "opensearch" | "eks" if verb_create || verb_change || verb_delete => 900,
        // Distributions deploy to every edge location.
        "cloudfront" if event_name.contains("Distribution") => 600,
        // Certificates wait for validation; HSM clusters initialise.
        "acm" | "cloudhsm" if verb_create => 300,
        _ => default_settle_delay(service, event_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays() {
        assert_eq!(settle_delay("cloudformation", "CreateStack"), 600);
        assert_eq!(settle_delay("rds", "CreateDBInstance"), 600);
        assert_eq!(settle_delay("eks", "CreateCluster"), 900);
        assert_eq!(settle_delay("cloudfront", "UpdateDistribution"), 600);
        assert_eq!(
            settle_delay("s3", "PutBucketPolicy"),
            default_settle_delay("s3", "PutBucketPolicy")
        );
        assert_eq!(
            settle_delay("ec2", "RunInstances"),
            default_settle_delay("ec2", "RunInstances")
        );
    }
}
