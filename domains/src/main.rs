//! `dns01-domains`: the custom-domain CLI. `crd` prints the CustomDomain CRD; `check` prints
//! the records a customer must create and what each authoritative server answers now.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "dns01-domains", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the CustomDomain CustomResourceDefinition as YAML.
    Crd,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", dns01_domains::crd::crd_yaml()?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
