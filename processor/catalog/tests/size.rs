//! The embedded catalog loads and is as large as the issue asks.

use processor_catalog::Catalog;

#[test]
fn embedded_catalog_size() {
    let s = Catalog::embedded().stats();
    println!("{s:?}");
    assert!(s.pairs >= 8_000, "{} pairs", s.pairs);
    assert!(s.services >= 300, "{} services", s.services);
    assert!(
        s.pairs_with_resource >= 8_000,
        "{} pairs with a resource type",
        s.pairs_with_resource
    );
}

#[test]
fn embedded_catalog_is_generated_and_marked() {
    let head: Vec<&str> = processor_catalog::catalog::CATALOG_TSV
        .lines()
        .take(2)
        .collect();
    assert!(
        head[0].contains("GENERATED") && head[0].contains("gen/gen.sh"),
        "{head:?}"
    );
}
