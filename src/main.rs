//! The `spikestream` command line: parses arguments, runs a subcommand, maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    // Before any thread exists (the environment is changed here).
    spikestream::gpu::adapter::quiet_headless_probe();
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
            eprintln!("error: {}", cli::describe(&err));
            ExitCode::FAILURE
        }
    }
}

