//! Where the journals go, who else may write there, and how many journal files can be open.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::error::BuildError;

/// The directory holding a supervisor's journals.
pub(crate) enum RunDir {
    /// A fresh temporary directory, removed when the supervisor is dropped.
    Temporary(TempDir),
    /// A directory that outlives the supervisor. `lock` keeps other taskmon runs out while this
    /// one writes there, and lists the journals it made; a kept temporary directory needs none.
    Kept {
        path: PathBuf,
        lock: Option<Arc<File>>,
    },
}

/// A fresh directory of the run's own in the system's temporary directory (`taskmon-…`, mode
/// 0700), removed with what is in it when dropped, unless kept.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir();
        for _ in 0..64 {
            // Six random letters, as `mkdtemp` makes: short, as the path shows in narrow panes.
            let name: String = std::iter::repeat_with(fastrand::alphanumeric)
                .take(6)
                .collect();
            let name = format!("taskmon-{name}");
            let path = base.join(name);
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no unused name for a temporary directory",
        ))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// The path, no longer removed on drop.
    fn keep(self) -> PathBuf {
        let path = self.0.clone();
        std::mem::forget(self);
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lock file in a chosen journal directory. It is also the manifest: the file name of
/// every journal the run made there, a line each, so that the next run removes those and
/// nothing else.
const LOCK_FILE: &str = ".taskmon.lock";

/// Records each journal a run makes in its directory's manifest.
#[derive(Clone)]
pub(crate) struct Manifest(Arc<File>);

impl Manifest {
    /// Lists `file_name` (one append: a line is never torn by another's).
    pub fn record(&self, file_name: &str) -> io::Result<()> {
        use std::io::Write;
        (&*self.0).write_all(format!("{file_name}\n").as_bytes())
    }
}

impl RunDir {
    pub fn create(dir: Option<PathBuf>, keep: bool) -> Result<Self, BuildError> {
        let Some(dir) = dir else {
            let temp = TempDir::new().map_err(|source| BuildError::JournalDir {
                dir: std::env::temp_dir(),
                source,
            })?;
            return Ok(if keep {
                RunDir::Kept {
                    path: temp.keep(),
                    lock: None,
                }
            } else {
                RunDir::Temporary(temp)
            });
        };
        let failed = |source: io::Error| BuildError::JournalDir {
            dir: dir.clone(),
            source,
        };
        if dir.exists() && !dir.is_dir() {
            return Err(failed(io::Error::new(
                io::ErrorKind::NotADirectory,
                "it exists and is not a directory",
            )));
        }
        std::fs::create_dir_all(&dir).map_err(failed)?;
        // Creating the lock file also proves the directory can be written. Never through a
        // link, and never anything but a regular file: opening a FIFO would wait forever.
        let path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| {
                failed(io::Error::new(
                    e.kind(),
                    format!("cannot open {}: {e}", path.display()),
                ))
            })?;
        if !lock.metadata().map_err(failed)?.is_file() {
            return Err(failed(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            )));
        }
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(BuildError::JournalDirInUse { dir });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
        }
        remove_listed_journals(&dir, &lock).map_err(failed)?;
        Ok(RunDir::Kept {
            path: dir,
            lock: Some(Arc::new(lock)),
        })
    }

    /// Where this run lists the journals it makes, in a chosen directory.
    pub fn manifest(&self) -> Option<Manifest> {
        match self {
            RunDir::Kept {
                lock: Some(lock), ..
            } => Some(Manifest(lock.clone())),
            _ => None,
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            RunDir::Temporary(dir) => dir.path(),
            RunDir::Kept { path, .. } => path,
        }
    }

    pub fn is_temporary(&self) -> bool {
        matches!(self, RunDir::Temporary(_))
    }

    /// Lets another run have a chosen directory: this one has ended. Not left to the drop of
    /// the supervisor's last reference, which one of its own threads may hold a moment longer
    /// than its owner (a program that shuts down and builds its next supervisor at once was
    /// told the directory was in use).
    pub fn release(&self) {
        if let RunDir::Kept {
            lock: Some(lock), ..
        } = self
        {
            let _ = lock.unlock();
        }
    }
}

/// Journals of an earlier run in the same directory would be in the way of this run's (each is
/// made new); the earlier run listed them in the manifest, and those are removed — only those,
/// only regular files named as journals, directly in the directory. The manifest then starts
/// afresh for this run.
fn remove_listed_journals(dir: &Path, manifest: &File) -> io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Seek};
    let mut file = manifest;
    file.seek(io::SeekFrom::Start(0))?;
    // A manifest is a line per journal; past 64 MiB it is no manifest of taskmon's.
    for line in BufReader::new(file.take(64 << 20)).lines() {
        let name = line?;
        if !is_journal_file_name(&name) || name.contains('/') {
            continue;
        }
        let path = dir.join(&name);
        // A link planted at one of our names is removed too (the link, never its target),
        // so that nothing is ever written through it.
        let ours = std::fs::symlink_metadata(&path)
            .is_ok_and(|m| m.file_type().is_file() || m.file_type().is_symlink());
        if !ours {
            continue;
        }
        std::fs::remove_file(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot remove the old journal {}: {e}", path.display()),
            )
        })?;
    }
    manifest.set_len(0)
}

/// The longest part of a journal's file name taken from the task's name.
const SLUG_CHARS: usize = 40;

/// `00007-alpha.journal`: the id, then the name with anything but ASCII letters, digits, `-`, `_`
/// and `.` replaced, cut to a length no file system refuses.
pub(crate) fn journal_file_name(id: u64, name: &str) -> String {
    let slug: String = name
        .chars()
        .take(SLUG_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{id:05}-{slug}.journal")
}

fn is_journal_file_name(name: &str) -> bool {
    name.strip_suffix(".journal")
        .and_then(|stem| stem.split_once('-'))
        .is_some_and(|(id, _)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// Files taskmon keeps open for itself besides journals: runtimes, the terminal, signal pipes,
/// the sockets of attached dashboards.
pub const RESERVED_FILES: u64 = 128;

/// The process's open-file limit and use, read once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLimits {
    /// The soft `RLIMIT_NOFILE`: what open() is held to.
    pub soft: u64,
    /// The hard limit: how far the soft one can be raised without privileges.
    pub hard: u64,
    /// Files open right now.
    pub open: u64,
}

impl FileLimits {
    /// The limits and use now.
    pub fn read() -> Self {
        let (soft, hard) = nofile_limit().unwrap_or((u64::MAX, u64::MAX));
        // The listing's own descriptor is among those it lists.
        let open =
            std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count().saturating_sub(1) as u64);
        Self { soft, hard, open }
    }

    /// Raises the soft limit to the hard one, as far as the system allows, and reads again.
    pub fn raise() -> Self {
        if let Some((soft, hard)) = nofile_limit()
            && soft < hard
        {
            let raised = libc::rlimit {
                rlim_cur: hard as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // SAFETY: setrlimit reads the struct it is given, nothing else.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
        }
        Self::read()
    }

    /// How many more files can be opened.
    pub fn free(&self) -> u64 {
        self.soft.saturating_sub(self.open)
    }

    /// How many journals can be open at once, beside what taskmon keeps for itself.
    pub fn journal_capacity(&self) -> usize {
        self.free()
            .saturating_sub(RESERVED_FILES)
            .try_into()
            .unwrap_or(usize::MAX)
    }
}

/// The soft and hard `RLIMIT_NOFILE` (`RLIM_INFINITY` reads as `u64::MAX`).
fn nofile_limit() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given, nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let read = |n: libc::rlim_t| {
        if n == libc::RLIM_INFINITY {
            u64::MAX
        } else {
            n
        }
    };
    Some((read(limit.rlim_cur), read(limit.rlim_max)))
}

/// Counts the journals that may hold a file open, so a spawn past the open-file limit is refused
/// rather than failing inside the task.
pub(crate) struct JournalSlots {
    open: AtomicUsize,
    pub capacity: usize,
}

impl JournalSlots {
    pub fn new(capacity: usize) -> Self {
        Self {
            open: AtomicUsize::new(0),
            capacity,
        }
    }

    pub fn take(&self) -> bool {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.capacity).then_some(open + 1)
            })
            .is_ok()
    }

    pub fn release(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_file_names_stay_short_and_plain() {
        assert_eq!(journal_file_name(7, "alpha"), "00007-alpha.journal");
        assert_eq!(journal_file_name(7, "a b/ü"), "00007-a_b__.journal");
        let long = journal_file_name(123_456, &"x".repeat(64));
        assert_eq!(long, format!("123456-{}.journal", "x".repeat(40)));
        assert!(is_journal_file_name(&long));
        assert!(is_journal_file_name("00001-.journal"));
        assert!(!is_journal_file_name("notes.journal"));
        assert!(!is_journal_file_name("-x.journal"));
        assert!(!is_journal_file_name(LOCK_FILE));
    }

    #[test]
    fn journal_slots_stop_at_capacity() {
        let slots = JournalSlots::new(2);
        assert!(slots.take() && slots.take());
        assert!(!slots.take());
        slots.release();
        assert!(slots.take());
    }
}
