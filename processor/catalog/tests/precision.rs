//! Precision and recall on the labelled set (`tests/labelled/*.ndjson`): records of
//! services outside the 30 of `documented.rs`, each with the ARNs it changes written
//! from the AWS documentation. Print the table with
//! `cargo run -p processor -- catalog precision processor/catalog/tests/labelled/*.ndjson`.

use std::path::Path;

use processor_catalog::{Catalog, Precision};

/// The services `documented.rs` already tests; the labelled set is about the others.
const DOCUMENTED: &[&str] = &[
    "acm",
    "autoscaling",
    "cloudformation",
    "cloudfront",
    "cloudhsm",
    "cloudtrail",
    "directconnect",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "eks",
    "elasticache",
    "elasticloadbalancing",
    "es",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "rds",
    "redshift",
    "route53",
    "s3",
    "secretsmanager",
    "ses",
    "sns",
    "sqs",
    "ssm",
    "waf",
];

fn measure() -> Precision {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/labelled");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/labelled exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    files.sort();
    let mut p = Precision::default();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable");
        p.add_file(Catalog::embedded(), &text)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    p
}

#[test]
fn labelled_set_meets_the_targets() {
    let p = measure();
    println!("{}", p.table());
    let total = p.total();
    let outside = p
        .by_service
        .keys()
        .filter(|s| !DOCUMENTED.contains(&s.as_str()))
        .count();
    assert!(total.records >= 300, "{} labelled records", total.records);
    assert!(
        outside >= 60,
        "{outside} services outside the documented 30"
    );
    assert!(
        total.precision() >= 99.5,
        "precision {:.2}% below 99.5%",
        total.precision()
    );
    assert!(
        total.recall() >= 95.0,
        "recall {:.2}% below 95%",
        total.recall()
    );
    for (svc, c) in &p.by_service {
        assert!(
            c.precision() >= 95.0,
            "{svc}: precision {:.1}% below 95%",
            c.precision()
        );
    }
}
