//! `securescan`: the server and its operator commands.

use anyhow::Context;
use clap::{Parser, Subcommand};
use securescan_host::app::{self, StartError, EXIT_FATAL_CONFIG};
use securescan_host::config::Config;
use securescan_host::{keys, logging, store};

mod policy_cmd;

#[derive(Parser)]
#[command(name = "securescan", version, about = "SecureScan auth server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8000)]
        port: u16,
    },
    /// Manage API keys directly in the database (bootstrap, break-glass).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create or update the database schema, then exit.
    Migrate,
    /// Policy builds: keys, signatures, what a build is.
    Policy {
        #[command(subcommand)]
        command: policy_cmd::PolicyCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Issue a key and print its plaintext once.
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: read, write, admin. Default: read,write.
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id (lockout protection applies).
    Revoke { id: String },
}

fn main() {
    let cli = Cli::parse();
    // Policy commands work on files only: no configuration, no database.
    let command = cli.command.unwrap_or(Command::Serve {
        host: "127.0.0.1".into(),
        port: 8000,
    });
    if let Command::Policy { command } = command {
        let code = match policy_cmd::run(command) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("securescan: {e:#}");
                1
            }
        };
        std::process::exit(code);
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("securescan: invalid configuration: {e}");
            std::process::exit(EXIT_FATAL_CONFIG);
        }
    };
    logging::init(config.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async move {
        match command {
            Command::Serve { host, port } => match app::serve(config, host, port).await {
                Ok(()) => 0,
                Err(StartError::Fatal(msg)) => {
                    tracing::error!(critical = true, "{msg}");
                    EXIT_FATAL_CONFIG
                }
                Err(e) => {
                    tracing::error!(critical = true, error = %e, "cannot start");
                    1
                }
            },
            Command::Keys { command } => match run_keys(config, command).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("securescan: {e:#}");
                    1
                }
            },
            Command::Migrate => {
                match store::open_with_pool(&config.database_url, config.database_pool_size).await {
                    Ok(_) => {
                        println!("schema is up to date");
                        0
                    }
                    Err(e) => {
                        eprintln!("securescan: {e}");
                        1
                    }
                }
            }
            Command::Policy { .. } => unreachable!("handled before the configuration"),
        }
    });
    // Exit statuses are part of the contract: leave through process::exit so
    // nothing (a runtime shutdown panic, a destructor) can change them.
    std::process::exit(code);
}

async fn run_keys(config: Config, command: KeysCommand) -> anyhow::Result<i32> {
    let store = store::open_with_pool(&config.database_url, config.database_pool_size)
        .await
        .context("opening the database")?;
    let policy = app::load_policy(&config)
        .await
        .map_err(|e| anyhow::anyhow!("policy: {e}"))?;
    match command {
        KeysCommand::Create { name, scopes, json } => {
            match keys::create_key(&store, &policy, &name, scopes.as_deref()).await {
                Ok(created) => {
                    if json {
                        println!("{}", serde_json::to_string(&created)?);
                    } else {
                        println!(
                            "Created key {} (id {}, name {:?}, scopes {})",
                            created.record.prefix,
                            created.record.id,
                            created.record.name,
                            created.record.scopes.join(",")
                        );
                        println!("Key (shown once, store it now): {}", created.key);
                    }
                    Ok(0)
                }
                Err(keys::CreateError::Invalid(d)) => {
                    eprintln!("securescan: {d}");
                    Ok(2)
                }
                Err(e) => Err(e.into()),
            }
        }
        KeysCommand::List { json } => {
            let list = store.list_keys().await?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for k in list {
                    println!(
                        "{}\t{}\t{}\t{}\tcreated {}\tlast used {}\t{}",
                        k.id,
                        k.prefix,
                        k.name,
                        k.scopes.join(","),
                        k.created_at,
                        k.last_used_at.as_deref().unwrap_or("never"),
                        k.revoked_at
                            .map(|r| format!("revoked {r}"))
                            .unwrap_or_else(|| "active".into())
                    );
                }
            }
            Ok(0)
        }
        KeysCommand::Revoke { id } => {
            match keys::revoke_key(
                &store,
                &policy,
                &id,
                config.env_key.is_some(),
                config.auth_required,
            )
            .await
            {
                Ok(keys::RevokeResult::NotFound) => {
                    eprintln!("securescan: Key not found");
                    Ok(1)
                }
                Ok(_) => {
                    println!("revoked {id}");
                    Ok(0)
                }
                Err(securescan_host::http::ApiError::Denied { detail, .. }) => {
                    eprintln!("securescan: {detail}");
                    Ok(1)
                }
                Err(e) => Err(anyhow::anyhow!("{e}")),
            }
        }
    }
}
