//! `rctgate keys create --scope SCOPE --db PATH`: a new API key, printed once
//! as the last line of stdout (scripts take `| tail -1`).

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use rctgate_domain::Scope;

use crate::Failure;

#[derive(Subcommand)]
pub enum Command {
    /// Creates a key with the given scope.
    Create {
        #[arg(long)]
        scope: ScopeArg,
        /// The database file the server uses.
        #[arg(long, default_value = "rctgate.duckdb")]
        db: PathBuf,
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
        Command::Create { scope, db } => {
            let store = crate::commands::open_store(&db)?;
            let key = store
                .create_key(scope.into(), rctgate_store::LOCAL_ACTOR)
                .map_err(|e| Failure::input(format!("could not create the key: {e}")))?;
            println!("Created {} key {} (shown once):", key.scope.as_str(), key.key_id);
            println!("{}", key.key);
            Ok(())
        }
    }
}
