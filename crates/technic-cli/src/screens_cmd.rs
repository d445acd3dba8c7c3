//! `technic screens add|list|show|rm`: saved screens in the learning store. A screen is checked
//! by compiling it before it is saved; one that no longer compiles (after an upgrade) is listed
//! with its error, never dropped.

use std::time::SystemTime;

use anyhow::Context;
use clap::{Args, Subcommand};
use technic_engine::ScreenSpec;
use technic_learning::{LearningStore, Saved, SavedScreen};

#[derive(Debug, Args)]
pub struct ScreensArgs {
    #[command(subcommand)]
    command: ScreensCommand,
    #[command(flatten)]
    home: crate::HomeArgs,
}

#[derive(Debug, Subcommand)]
enum ScreensCommand {
    /// Save a screen under NAME (replacing one of that name).
    Add {
        name: String,
        /// The filter, e.g. 'rsi_2 < 10 and close > sma_200'.
        #[arg(long = "where", value_name = "EXPR")]
        filter: Option<String>,
        /// The ranking, highest first ('-EXPR' for lowest first).
        #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
        rank_by: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List saved screens, and any that no longer compiles.
    List,
    /// Print one saved screen.
    Show { name: String },
    /// Remove a saved screen.
    Rm { name: String },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The saved screen NAME, for `technic scan --screen NAME`.
pub fn saved(home: &crate::HomeArgs, name: &str) -> anyhow::Result<SavedScreen> {
    runtime()?.block_on(async {
        let store = crate::open_store(home).await?;
        store
            .screen(name)
            .await
            .context("--screen")?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--screen: no saved screen named '{name}' (see `technic screens list`)"
                )
            })
    })
}

fn describe(screen: &SavedScreen) -> String {
    let mut lines = vec![screen.name.clone()];
    if let Some(description) = &screen.description {
        lines.push(format!("  {description}"));
    }
    if let Some(filter) = &screen.filter {
        lines.push(format!("  --where '{filter}'"));
    }
    if let Some(rank_by) = &screen.rank_by {
        lines.push(format!("  --rank-by '{rank_by}'"));
    }
    if let Err(e) = ScreenSpec::compile(screen.filter.as_deref(), screen.rank_by.as_deref()) {
        lines.push(format!("  does not compile: {e}"));
    }
    lines.join("\n")
}

pub fn run(args: ScreensArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let store: LearningStore = crate::open_store(&args.home).await?;
        match args.command {
            ScreensCommand::Add {
                name,
                filter,
                rank_by,
                description,
            } => {
                if filter.is_none() && rank_by.is_none() {
                    anyhow::bail!("a screen needs --where, --rank-by or both");
                }
                ScreenSpec::compile(filter.as_deref(), rank_by.as_deref()).map_err(|e| {
                    anyhow::anyhow!("--{}: {}", e.field.replace('_', "-"), e.message)
                })?;
                let saved = store
                    .save_screen(
                        &name,
                        filter.as_deref(),
                        rank_by.as_deref(),
                        description.as_deref(),
                        SystemTime::now(),
                    )
                    .await?;
                let verb = if saved == Saved::Created {
                    "saved"
                } else {
                    "updated"
                };
                outln!("{verb} screen '{name}'")?;
            }
            ScreensCommand::List => {
                for screen in store.screens().await? {
                    outln!("{}", describe(&screen))?;
                }
            }
            ScreensCommand::Show { name } => match store.screen(&name).await? {
                Some(screen) => outln!("{}", describe(&screen))?,
                None => anyhow::bail!("no saved screen named '{name}'"),
            },
            ScreensCommand::Rm { name } => {
                if !store.remove_screen(&name).await? {
                    anyhow::bail!("no saved screen named '{name}'");
                }
                outln!("removed screen '{name}'")?;
            }
        }
        Ok(())
    })
}
