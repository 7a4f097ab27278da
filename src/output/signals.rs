//! The registry of live temporary outputs and the SIGINT / SIGTERM / SIGHUP handler that
//! cleans them up.
//!
//! [`install`] (called once by the binary) routes the three signals to one handler:
//! - while a command has registered a graceful stop ([`stop_gracefully`], `stream` does), the
//!   first signal only sets that flag and the command winds down itself (a recording is
//!   finished and committed);
//! - otherwise (or on a second signal) every live temporary is dealt with and the process exits
//!   with status 130: temporaries are removed, except a recording that already holds data,
//!   which is renamed into place once its current packet is written (whole packets, so it stays
//!   readable).
//!
//! The handler keeps the registry locked until the process is gone, so no temporary is created
//! or renamed behind its back.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};

/// What the handler does with a temporary.
#[derive(Clone)]
enum OnSignal {
    Remove,
    /// Rename into place after taking this lock (held by the writer around each packet).
    Rename(Arc<Mutex<()>>),
}

pub(super) struct Entry {
    id: u64,
    temp: PathBuf,
    target: PathBuf,
    dir: bool,
    on_signal: OnSignal,
}

static LIVE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static GRACEFUL: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);
static INSTALL: Once = Once::new();

/// The exit status after a signal (128 + SIGINT, as shells report Ctrl-C).
pub const SIGNAL_EXIT: i32 = 130;

pub(super) fn lock() -> MutexGuard<'static, Vec<Entry>> {
    LIVE.lock().unwrap_or_else(|poison| poison.into_inner())
}

pub(super) fn register(temp: PathBuf, target: PathBuf, dir: bool) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    lock().push(Entry { id, temp, target, dir, on_signal: OnSignal::Remove });
    id
}

/// From now on a signal renames this temporary into place instead of removing it.
pub(super) fn rename_on_signal(id: u64, write_lock: Arc<Mutex<()>>) {
    if let Some(e) = lock().iter_mut().find(|e| e.id == id) {
        e.on_signal = OnSignal::Rename(write_lock);
    }
}

/// Removes the entry; `live` is the locked registry (callers rename or delete under the lock).
pub(super) fn unregister(live: &mut Vec<Entry>, id: u64) {
    live.retain(|e| e.id != id);
}

/// The temporaries alive now (for tests and messages).
pub fn live_temporaries() -> Vec<PathBuf> {
    lock().iter().map(|e| e.temp.clone()).collect()
}

/// Routes SIGINT, SIGTERM and SIGHUP to the handler described in the module docs. Idempotent;
/// an error means another handler was installed first (signals then keep their old meaning).
pub fn install() -> Result<(), String> {
    let mut result = Ok(());
    INSTALL.call_once(|| {
        result = ctrlc::set_handler(on_signal).map_err(|e| format!("cannot install the signal handler: {e}"));
        // A file-size limit (`ulimit -f`) makes writes fail with EFBIG, an error that names the
        // output and removes the temporary, instead of killing the process mid-write.
        #[cfg(target_os = "linux")]
        // SAFETY: setting a signal's disposition to ignore.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
    });
    result
}

/// The next signal sets `flag` instead of ending the process (a second one still ends it).
pub fn stop_gracefully(flag: Arc<AtomicBool>) {
    *GRACEFUL.lock().unwrap_or_else(|p| p.into_inner()) = Some(flag);
}

fn on_signal() {
    let graceful = GRACEFUL.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(flag) = graceful {
        if !flag.swap(true, Ordering::SeqCst) {
            return;
        }
    }
    abandon_all();
    std::process::exit(SIGNAL_EXIT);
}

/// Removes or renames every live temporary, then keeps the registry locked for good.
fn abandon_all() {
    let live = lock();
    for e in live.iter() {
        match &e.on_signal {
            OnSignal::Remove if e.dir => remove_dir_racing(&e.temp),
            OnSignal::Remove => {
                let _ = std::fs::remove_file(&e.temp);
            }
            OnSignal::Rename(write_lock) => {
                // Wait for the packet being written; the writer never gets the lock back.
                std::mem::forget(write_lock.lock().unwrap_or_else(|p| p.into_inner()));
                if std::fs::rename(&e.temp, &e.target).is_ok() {
                    eprintln!("note: stopped by a signal; the recording so far is in {}", e.target.display());
                }
            }
        }
    }
    std::mem::forget(live);
}

/// Removes the folder `dir` and everything in it while other threads may still be creating
/// files in its subfolders (a dataset's writers keep running until the process exits): one
/// `remove_dir_all` fails where a file appears after it listed that folder (its `rmdir` finds it
/// not empty), so it is tried again until the folder is gone (at most 100 times, 1 ms apart;
/// the writers create folders only before they start, so once it is gone it stays gone).
fn remove_dir_racing(dir: &std::path::Path) {
    for _ in 0..100 {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer creating files in a subfolder every 50 µs while the folder is removed:
    /// the folder is gone afterwards (a single `remove_dir_all` lost this race now and then,
    /// leaving a dataset's `.partial` folder behind after SIGTERM).
    #[test]
    fn a_folder_is_removed_while_a_writer_fills_it() {
        for round in 0..20 {
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("set.partial");
            std::fs::create_dir_all(dir.join("class")).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let writer = {
                let (dir, stop) = (dir.clone(), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // Fails once the folder is gone; it never recreates it. A file every
                        // 50 µs: faster than simulate's writers (a recording takes milliseconds).
                        let _ = std::fs::File::create(dir.join("class").join(format!("{n}.aedat4")));
                        n += 1;
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                })
            };
            // Let the writer fill the folder first.
            while std::fs::read_dir(dir.join("class")).map(|d| d.count()).unwrap_or(0) < 200 {
                std::thread::yield_now();
            }
            remove_dir_racing(&dir);
            let gone = !dir.exists();
            stop.store(true, Ordering::Relaxed);
            writer.join().unwrap();
            assert!(gone, "round {round}: {} is still there", dir.display());
        }
    }
}
