//! `technic screens add|list|show|rm`: saved screens in the learning store. A screen is checked
//! by compiling it before it is saved; one that no longer compiles (after an upgrade) is listed
//! with its error, never dropped.

use std::time::SystemTime;

use anyhow::Context;
use clap::{Args, Subcommand};
use technic_engine::{SavedText, ScreenLibrary, ScreenSpec};
use technic_learning::{LearningStore, Saved, SavedScreen, library_of};

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

/// The saved screens a scan or backtest may refer to: the store is read only when it names a
/// `--screen` or its `--where` may call `screen(…)`.
pub fn library_for(
    home: &crate::HomeArgs,
    names_screen: bool,
    filter: Option<&str>,
) -> anyhow::Result<ScreenLibrary> {
    if !names_screen && !filter.is_some_and(|f| f.contains("screen")) {
        return Ok(ScreenLibrary::new());
    }
    runtime()?.block_on(async {
        let store = crate::open_store(home).await?;
        let screens = store.screens().await.context("reading saved screens")?;
        Ok(library_of(&screens))
    })
}

fn describe(screen: &SavedScreen, library: &ScreenLibrary) -> String {
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
    if let Err(e) = ScreenSpec::compile_with(
        None,
        screen.filter.as_deref(),
        screen.rank_by.as_deref(),
        library,
    ) {
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
                // Against the other saved screens with this one replaced: a screen referring
                // to itself through others is refused as a cycle.
                let mut library = library_of(&store.screens().await?);
                library.insert(
                    name.clone(),
                    SavedText {
                        filter: filter.clone(),
                        rank_by: rank_by.clone(),
                    },
                );
                ScreenSpec::compile_with(None, filter.as_deref(), rank_by.as_deref(), &library)
                    .map_err(|e| {
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
                let screens = store.screens().await?;
                let library = library_of(&screens);
                for screen in &screens {
                    outln!("{}", describe(screen, &library))?;
                }
            }
            ScreensCommand::Show { name } => {
                let screens = store.screens().await?;
                let library = library_of(&screens);
                match screens.iter().find(|s| s.name == name) {
                    Some(screen) => outln!("{}", describe(screen, &library))?,
                    None => anyhow::bail!("no saved screen named '{name}'"),
                }
            }
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
