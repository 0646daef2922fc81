//! The embedded catalog loads and is exactly as large as the READMEs say.

use processor_catalog::Catalog;

/// The figures the READMEs publish (`processor catalog stats`): a change to the
/// generator or its pinned inputs that moves them must update the READMEs too.
#[test]
fn embedded_catalog_size() {
    let s = Catalog::embedded().stats();
    println!("{s:?}");
    assert_eq!(s.pairs, 12_786, "pairs");
    assert_eq!(s.services, 445, "services");
    assert_eq!(s.pairs_with_resource, 10_506, "pairs with a resource type");
    assert_eq!(s.resource_types, 2_172, "resource types");
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
