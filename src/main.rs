//! The `tuban` command: batch work on project files through the headless core.
//! Without a subcommand it opens the desktop app (on PROJECT.gpkg when given).
//! Exit codes: 0 ok, 1 error, 2 usage.

mod cli;

/// mimalloc instead of glibc's malloc: measured on `tuban reference add` (100,000 patches ×
/// 300,304 parcels), where allocations made on the reader thread and freed on another made
/// malloc and free about a fifth of the CPU time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`tuban info | head`) like other command-line tools.
    // SAFETY: called before any thread starts; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tuban_core::crash::install_hook();
    if std::env::var_os("TUBAN_CRASH_TEST").is_some() {
        // Lets the tests check the crash report end to end.
        tuban_core::crash::set_report_dir(std::env::var_os("TUBAN_CRASH_TEST").map(PathBuf::from));
        panic!("crash test requested by TUBAN_CRASH_TEST");
    }
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let code = match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            ExitCode::from(1)
        }
    };
    if let Some(file) = std::env::var_os("TUBAN_PEAK_FILE") {
        // For the memory tests: this process's own peak resident memory (a spawned child's
        // `ru_maxrss` also counts the test process it was spawned from).
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let peak = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap_or("").trim().to_string();
        let _ = std::fs::write(file, peak);
    }
    code
}
