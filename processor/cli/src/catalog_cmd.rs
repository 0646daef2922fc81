//! `processor catalog`: placeholder until the resource catalog lands.

/// Arguments of `processor catalog`.
#[derive(Debug, clap::Args)]
pub struct CatalogArgs {}

/// Runs `processor catalog`.
pub fn run(_args: CatalogArgs) -> anyhow::Result<()> {
    anyhow::bail!("the resource catalog is not built yet")
}
