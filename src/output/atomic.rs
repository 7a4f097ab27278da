//! [`AtomicOutput`] and [`AtomicDir`]: an output written under a hidden temporary name beside
//! its target and renamed into place when complete, removed if dropped before.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::OutputError;
use super::signals;

/// `.NAME.PID.partial` beside `target`.
fn temp_name(target: &Path) -> PathBuf {
    let name = target.file_name().map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    target.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// A file being written: `.NAME.PID.partial` until [`AtomicOutput::commit`] renames it to its
/// target; removed when dropped uncommitted (error, panic) or by the signal handler.
pub struct AtomicOutput {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
    id: u64,
    write_lock: Arc<Mutex<()>>,
    done: bool,
}

impl AtomicOutput {
    /// Creates the temporary beside `target` (readable and writable, for writers that patch
    /// their header at the end). `target` itself is not touched.
    pub fn create(target: &Path) -> Result<Self, OutputError> {
        if target.is_dir() {
            return Err(OutputError::Refused { path: target.to_path_buf(), reason: "is a folder; give a file name".into() });
        }
        let temp = temp_name(target);
        // Registered before it exists, so a signal between the two cannot leave it behind.
        let id = signals::register(temp.clone(), target.to_path_buf(), false);
        let mut out = Self { file: None, temp, target: target.to_path_buf(), id, write_lock: Arc::default(), done: false };
        let file = File::options().read(true).write(true).create(true).truncate(true).open(&out.temp);
        let file = file.map_err(OutputError::io(target, "cannot create"))?;
        // A replaced file keeps its permissions.
        if let Ok(old) = std::fs::metadata(target) {
            let _ = file.set_permissions(old.permissions());
        }
        out.file = Some(file);
        Ok(out)
    }

    pub fn file(&self) -> &File {
        self.file.as_ref().expect("open until commit")
    }

    pub fn file_mut(&mut self) -> &mut File {
        self.file.as_mut().expect("open until commit")
    }

    /// A second handle on the temporary, for writers that own their output.
    pub fn try_clone_file(&self) -> Result<File, OutputError> {
        self.file().try_clone().map_err(OutputError::io(&self.target, "cannot create"))
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// For a live recording that holds whole packets: from now on a signal renames it into
    /// place (after the packet being written, see [`AtomicOutput::write_guard`]) instead of
    /// removing it.
    pub fn keep_on_signal(&self) {
        signals::rename_on_signal(self.id, Arc::clone(&self.write_lock));
    }

    /// Held around each packet a recording writes, so a signal never renames half a packet.
    pub fn write_guard(&self) -> MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Flushes the data to disk and renames the temporary to the target. An error (disk full,
    /// no permission) names the target, and the old target stays as it was.
    pub fn commit(self) -> Result<(), OutputError> {
        self.finish(true)
    }

    /// [`AtomicOutput::commit`] without waiting for the disk: for caches that can be rebuilt.
    pub fn commit_unsynced(self) -> Result<(), OutputError> {
        self.finish(false)
    }

    fn finish(mut self, sync: bool) -> Result<(), OutputError> {
        let file = self.file.take().expect("open until commit");
        if sync {
            file.sync_all().map_err(OutputError::io(&self.target, "write failed"))?;
        }
        drop(file);
        let mut live = signals::lock();
        let renamed = std::fs::rename(&self.temp, &self.target);
        if renamed.is_ok() {
            signals::unregister(&mut live, self.id);
            self.done = true;
        }
        drop(live);
        renamed.map_err(|error| OutputError::Io { path: self.target.clone(), action: "cannot rename the finished output into place", error })
    }
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        if !self.done {
            drop(self.file.take());
            let mut live = signals::lock();
            let _ = std::fs::remove_file(&self.temp);
            signals::unregister(&mut live, self.id);
        }
    }
}

/// A folder being filled (a dataset): `.NAME.PID.partial` until [`AtomicDir::commit`] puts it
/// in place of the target; removed with its contents when dropped uncommitted or on a signal.
pub struct AtomicDir {
    temp: PathBuf,
    target: PathBuf,
    id: u64,
    done: bool,
}

impl AtomicDir {
    pub fn create(target: &Path) -> Result<Self, OutputError> {
        let temp = temp_name(target);
        let id = signals::register(temp.clone(), target.to_path_buf(), true);
        let dir = Self { temp, target: target.to_path_buf(), id, done: false };
        // A leftover of a killed run that had this process id.
        let _ = std::fs::remove_dir_all(&dir.temp);
        std::fs::create_dir_all(&dir.temp).map_err(OutputError::io(target, "cannot create the folder"))?;
        Ok(dir)
    }

    /// Where to write the contents.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// Puts the folder in place. An existing target that is an empty folder is replaced; a
    /// non-empty one only with `replace` (the caller's `--force`, after checking what it holds):
    /// it is moved aside, the new folder renamed in, then the old one deleted, so the two are
    /// never mixed.
    pub fn commit(mut self, replace: bool) -> Result<(), OutputError> {
        let target = self.target.clone();
        let mut live = signals::lock();
        let old = target.with_file_name(format!(".{}.{}.old", target.file_name().map_or_else(|| "output".into(), |n| n.to_string_lossy()), std::process::id()));
        let mut moved_aside = false;
        if std::fs::symlink_metadata(&target).is_ok() {
            if std::fs::remove_dir(&target).is_err() {
                if !replace {
                    return Err(OutputError::Exists { path: target, what: "files".into() });
                }
                std::fs::rename(&target, &old).map_err(OutputError::io(&target, "cannot move the old dataset aside"))?;
                moved_aside = true;
            }
        }
        let renamed = std::fs::rename(&self.temp, &target);
        if let Err(error) = renamed {
            if moved_aside {
                let _ = std::fs::rename(&old, &target);
            }
            return Err(OutputError::Io { path: target, action: "cannot rename the finished folder into place", error });
        }
        signals::unregister(&mut live, self.id);
        self.done = true;
        drop(live);
        if moved_aside {
            std::fs::remove_dir_all(&old).map_err(OutputError::io(&old, "cannot remove the replaced dataset"))?;
        }
        Ok(())
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if !self.done {
            let mut live = signals::lock();
            let _ = std::fs::remove_dir_all(&self.temp);
            signals::unregister(&mut live, self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_dropped_output_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        std::fs::write(&target, b"old").unwrap();
        let mut out = AtomicOutput::create(&target).unwrap();
        out.file_mut().write_all(b"new, half written").unwrap();
        assert!(signals::live_temporaries().contains(&out.temp_path().to_path_buf()));
        drop(out);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the old file");
        let mut out = AtomicOutput::create(&target).unwrap();
        out.file_mut().write_all(b"new").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.safetensors");
        std::fs::write(&target, b"old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        super::super::write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn a_folder_replaces_the_old_one_only_when_asked_and_never_mixes() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("data");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old.aedat4"), b"old").unwrap();
        let new = AtomicDir::create(&target).unwrap();
        std::fs::write(new.path().join("new.aedat4"), b"new").unwrap();
        assert!(matches!(new.commit(false), Err(OutputError::Exists { .. })));
        assert!(target.join("old.aedat4").exists());
        let new = AtomicDir::create(&target).unwrap();
        std::fs::write(new.path().join("new.aedat4"), b"new").unwrap();
        new.commit(true).unwrap();
        let names: Vec<_> = std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["new.aedat4"]);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1, "no temporary or old folder left");
    }
}
