//! The `spikestream` command line: parses arguments, runs a subcommand, maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // SIGINT, SIGTERM and SIGHUP remove the temporaries of unfinished outputs before exiting
    // (`stream` stops gracefully on the first one instead).
    if let Err(e) = spikestream::output::signals::install() {
        eprintln!("warning: {e}");
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            if cli::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", message(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose text the message already
/// holds (library errors often print their source too, which `{:#}` would repeat).
fn message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}
