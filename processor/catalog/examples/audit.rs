//! The placeholder audit: where the API model offers several record fields for one ARN
//! placeholder, the fields chosen, those set aside, and why. Optional filter by IAM
//! prefix: `cargo run -p processor-catalog --example audit -- rds`.

fn main() {
    let only = std::env::args().nth(1);
    println!("prefix\tevent\tresource type\tplaceholder\tchosen\tset aside\twhy");
    let mut n = 0usize;
    for r in processor_catalog::audit::rows() {
        if only.as_deref().is_some_and(|p| p != r.prefix) {
            continue;
        }
        n += 1;
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.prefix, r.event, r.resource_type, r.placeholder, r.chosen, r.set_aside, r.why
        );
    }
    eprintln!("{n} audited placeholders");
}
