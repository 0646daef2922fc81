//! Precision and recall of the catalog on labelled files (NDJSON of
//! `{"record": {...}, "expected_arns": [...]}`), per service and overall:
//! `cargo run -p processor-catalog --example precision -- processor/catalog/tests/labelled/*.ndjson`.

use processor_catalog::{Catalog, Precision};

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: precision FILE...");
        std::process::exit(2);
    }
    let mut p = Precision::default();
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{f}: {e}");
                std::process::exit(1);
            }
        };
        if let Err(e) = p.add_file(Catalog::embedded(), &text) {
            eprintln!("{f}: {e}");
            std::process::exit(1);
        }
    }
    print!("{}", p.table());
}
