//! `rctgate keys create --scope SCOPE [--db PATH | --server URL]`: a new API key, printed
//! once as the last line of stdout (scripts take `| tail -1`). With `--server`, an admin key
//! in `RCTGATE_API_KEY` creates it through `POST /v1/keys` while the server runs.

use clap::{Subcommand, ValueEnum};
use rctgate_domain::Scope;

use crate::Failure;

#[derive(Subcommand)]
pub enum Command {
    /// Creates a key with the given scope.
    Create {
        #[arg(long)]
        scope: ScopeArg,
        #[command(flatten)]
        target: crate::target::TargetArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    Assign,
    Ingest,
    Read,
    Admin,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Scope {
        match s {
            ScopeArg::Assign => Scope::Assign,
            ScopeArg::Ingest => Scope::Ingest,
            ScopeArg::Read => Scope::Read,
            ScopeArg::Admin => Scope::Admin,
        }
    }
}

pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Create { scope, target } => {
            let key = target.open()?.create_key(scope.into())?;
            println!(
                "Created {} key {} (shown once):",
                key["scope"].as_str().unwrap_or_default(),
                key["key_id"].as_str().unwrap_or_default()
            );
            println!("{}", key["key"].as_str().unwrap_or_default());
            Ok(())
        }
    }
}
