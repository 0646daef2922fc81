//! `event-rule`: set up, verify and tear down the CloudTrail event stream.
//! Exit codes: 0 success, 1 a failure (any row failed, or the run could not start),
//! 2 `status` found drift.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use event_rule::iam::{self, ToolCommand};
use event_rule::{aws, Command, Config};

/// Set up, verify and tear down the CloudTrail -> EventBridge -> SNS -> SQS event
/// stream in every region and account.
#[derive(Debug, Parser)]
#[command(name = "event-rule", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    #[command(flatten)]
    config: Config,
    /// Print the report as JSON instead of a table.
    #[arg(long, global = true, env = "EVENT_RULE_JSON")]
    json: bool,
    /// Log format on stderr (`RUST_LOG` sets the level; default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "EVENT_RULE_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create or update the queue, topics, rules, targets and subscriptions.
    Setup,
    /// Show what setup would create or change; nothing is written.
    Plan,
    /// Report, per account and region, whether everything exists and matches, and
    /// whether CloudTrail covers the region. Exit code 2 on drift.
    Status,
    /// Remove exactly what setup created (safe to rerun). Pass the same flags as setup.
    Teardown {
        /// Delete the central queue and its dead-letter queue as well.
        #[arg(long)]
        include_queue: bool,
    },
    /// Print the minimal IAM policy the tool needs for a command.
    Policy {
        /// The command whose permissions to print.
        #[arg(value_enum, default_value_t = ToolCommand::Setup)]
        for_command: ToolCommand,
    },
    /// Write the CloudFormation templates (`infra/*.json`), generated from the same
    /// policies, pattern and names setup uses; no AWS call.
    Templates {
        /// Directory to write them to.
        #[arg(long, default_value = "infra")]
        out: std::path::PathBuf,
        /// Write nothing: exit 1 if a template in the directory differs from what
        /// would be written.
        #[arg(long)]
        check: bool,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let cmd = match cli.command {
        Cmd::Policy { for_command } => {
            cli.config.validate()?;
            let doc = iam::tool_policy(for_command, &cli.config);
            println!("{}", serde_json::to_string_pretty(&doc)?);
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Templates { out, check } => {
            if check {
                let stale = event_rule::templates::stale(&out);
                if stale.is_empty() {
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!(
                    "out of date: {}; run `event-rule templates --out {}`",
                    stale.join(", "),
                    out.display()
                );
                return Ok(ExitCode::from(1));
            }
            for path in event_rule::templates::write_all(&out)
                .with_context(|| format!("writing templates to {}", out.display()))?
            {
                println!("{path}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Setup => Command::Setup,
        Cmd::Plan => Command::Plan,
        Cmd::Status => Command::Status,
        Cmd::Teardown { include_queue } => Command::Teardown { include_queue },
    };
    let sdk = aws::load_sdk_config(&aws::SdkOptions {
        region: cli.config.home_region.clone(),
        max_attempts: cli.config.max_attempts,
        ..Default::default()
    })
    .await;
    let report = event_rule::run(&cli.config, &sdk, cmd).await?;
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("serialising the report")?
        );
    } else {
        print!("{}", report.table());
    }
    Ok(if report.has_failures() {
        ExitCode::from(1)
    } else if cmd == Command::Status && report.has_drift() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    // Bad arguments exit 1 like every other failure: clap's own code, 2, is what
    // `status` means by drift.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(1);
        }
    };
    init_logging(cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(real_main(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
