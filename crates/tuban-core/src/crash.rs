//! The panic hook: a crash report next to the project (or in the temp folder), and a message that
//! the data is safe — it is: every edit was committed when its call returned.

use std::path::PathBuf;
use std::sync::Mutex;

static REPORT_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Crash reports go to this folder from now on (the open project's folder).
pub fn set_report_dir(dir: Option<PathBuf>) {
    if let Ok(mut d) = REPORT_DIR.lock() {
        *d = dir;
    }
}

/// Installs the hook (once, at start-up).
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let dir = REPORT_DIR.lock().ok().and_then(|d| d.clone()).unwrap_or_else(std::env::temp_dir);
        let when = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let path = dir.join(format!("tuban-crash-{when}.txt"));
        let backtrace = std::backtrace::Backtrace::force_capture();
        let text = format!(
            "tuban {} crash report\ntime: {}\nthread: {}\n{info}\n\nbacktrace:\n{backtrace}\n",
            env!("CARGO_PKG_VERSION"),
            chrono::Local::now().to_rfc3339(),
            std::thread::current().name().unwrap_or("?")
        );
        let written = std::fs::write(&path, text).is_ok();
        let shown = if written { path.display().to_string() } else { "(could not be written)".into() };
        eprintln!(
            "\ntuban 意外退出。您的数据是安全的：每次修改在完成时都已保存到项目文件。\n错误报告：{shown}\n请把错误报告发给开发者。\n\
             tuban stopped unexpectedly. Your data is safe: every edit was saved to the project file when it was made.\n\
             Crash report: {shown}\n"
        );
    }));
}
