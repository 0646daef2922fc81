//! Settle delays, the one table: how long after an event a scanner should wait before
//! reading the resource, so it does not see the state from before the change
//! (eventual consistency, and work that runs for minutes after the call returns).

/// Seconds to wait after `event_name` of `service` (short name, `ec2`).
pub fn settle_delay(service: &str, event_name: &str) -> u32 {
    let verb_create = event_name.starts_with("Create") || event_name.starts_with("Restore");
    let verb_change = event_name.starts_with("Update") || event_name.starts_with("Modify");
    let verb_delete = event_name.starts_with("Delete");
    match service {
        // Stack operations run for minutes; their resources appear as they progress.
        "cloudformation" if event_name.contains("Stack") => 600,
        "cloudformation" => 300,
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
        // Distributions and global records propagate slowly.
        "cloudfront" | "route53" => 120,
        // IAM is eventually consistent across regions.
        "iam" | "organizations" | "sso" => 30,
        // Instances and volumes go through pending states.
        "ec2" if event_name.starts_with("Run") || verb_create => 60,
        "rds" | "redshift" | "elasticache" | "es" | "opensearch" | "eks" => 120,
        _ => 15,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays() {
        assert_eq!(settle_delay("cloudformation", "CreateStack"), 600);
        assert_eq!(settle_delay("cloudformation", "CreateStackSet"), 600);
        assert_eq!(settle_delay("cloudformation", "RegisterType"), 300);
        assert_eq!(settle_delay("rds", "CreateDBInstance"), 600);
        assert_eq!(settle_delay("rds", "AddTagsToResource"), 120);
        assert_eq!(settle_delay("eks", "CreateCluster"), 900);
        assert_eq!(settle_delay("cloudfront", "UpdateDistribution"), 600);
        assert_eq!(settle_delay("route53", "ChangeResourceRecordSets"), 120);
        assert_eq!(settle_delay("iam", "CreateRole"), 30);
        assert_eq!(settle_delay("ec2", "RunInstances"), 60);
        assert_eq!(settle_delay("ec2", "CreateTags"), 60);
        assert_eq!(settle_delay("acm", "RequestCertificate"), 15);
        assert_eq!(settle_delay("s3", "PutBucketPolicy"), 15);
    }
}
