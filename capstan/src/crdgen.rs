//! `capstan crdgen`: writes the CustomResourceDefinitions capstan serves (the NodePool
//! CRD) as YAML, to stdout or into a directory (`crds/nodepool.yaml`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

/// Flags of `capstan crdgen`.
#[derive(Debug, Args)]
pub struct CrdgenArgs {
    /// Directory to write `nodepool.yaml` into; stdout when absent.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// Prints or writes the CRDs.
pub fn run(args: CrdgenArgs) -> Result<()> {
    let yaml = capstan_node_agent::nodepool_crd_yaml().context("rendering the NodePool CRD")?;
    match args.out_dir {
        None => print!("{yaml}"),
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join("nodepool.yaml");
            std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}
