//! Serving a supervisor to other processes: `taskmon ctl` (and any program that speaks
//! `docs/protocol.md`) lists, stops and aborts its tasks and watches their events from another
//! terminal, while the program goes on.
//!
//! The default endpoint is a Unix socket only its owner can open: `PID.sock` in a directory of
//! mode 0700 (`$XDG_RUNTIME_DIR/taskmon`, else `$TMPDIR/taskmon-UID`), the socket itself 0600, and
//! each connection's peer user checked. TCP needs a token and a loopback address unless remote
//! clients are allowed explicitly.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sup = taskmon::Supervisor::new()?;
//! let server = sup.serve(taskmon::serve::Endpoint::Default)?;
//! eprintln!("taskmon ctl {} list", server.address());
//! // … the program runs; `server` stops serving and removes its socket when dropped.
//! # Ok(()) }
//! ```

pub mod client;
pub mod protocol;
#[cfg(feature = "tui")]
pub mod remote;
mod server;

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::supervisor::{BuildError, Kept, Supervisor, SupervisorBuilder};

/// The shortest token a TCP endpoint takes.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Where a supervisor is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `PID.sock` in this user's private taskmon directory: see [`runtime_dir`].
    Default,
    /// A Unix socket at this path (its directory should be private: the socket is made 0600
    /// right after it is bound).
    Unix(PathBuf),
    /// A TCP address; clients must present the token. Only loopback addresses, unless
    /// `allow_remote`.
    Tcp {
        /// The address to listen on.
        addr: SocketAddr,
        /// Whether a non-loopback address is accepted.
        allow_remote: bool,
    },
}

/// Why an endpoint could not be read from text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is no endpoint: use `unix:PATH`, a path with a `/`, `tcp:HOST:PORT` or `default`")]
pub struct EndpointError(String);

impl FromStr for Endpoint {
    type Err = EndpointError;

    /// `default`, `unix:PATH`, a path holding a `/`, or `tcp:ADDRESS:PORT`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wrong = || EndpointError(crate::text::escape(s).into_owned());
        if s.is_empty() || s == "default" {
            Ok(Endpoint::Default)
        } else if let Some(path) = s.strip_prefix("unix:") {
            Ok(Endpoint::Unix(PathBuf::from(path)))
        } else if let Some(addr) = s.strip_prefix("tcp:") {
            // An address, or a host name (`localhost:7000`) resolved once, here.
            let addr = addr
                .parse()
                .ok()
                .or_else(|| {
                    use std::net::ToSocketAddrs;
                    addr.to_socket_addrs().ok()?.next()
                })
                .ok_or_else(wrong)?;
            Ok(Endpoint::Tcp {
                addr,
                allow_remote: false,
            })
        } else if s.contains('/') {
            Ok(Endpoint::Unix(PathBuf::from(s)))
        } else {
            Err(wrong())
        }
    }
}

/// Limits of a served supervisor, and what it offers.
#[derive(Clone)]
pub struct ServeOptions {
    /// A client that has not said `hello` (and shown its token) within this is closed.
    pub idle_timeout: Duration,
    /// Clients at once; one more is told so and closed.
    pub max_clients: usize,
    /// Events waiting for one watching client; beyond it the client is told how many it missed.
    pub queue: usize,
    /// The token of a TCP endpoint; else `TASKMON_TOKEN`, else a random one written to a 0600
    /// file (see [`Server::token_file`]).
    pub token: Option<String>,
    /// What an attached dashboard may spawn (`n`): a name and how to make a task of it.
    /// Nothing, unless the program registers its own.
    pub kinds: Vec<(String, crate::supervisor::MakeTask)>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(5),
            max_clients: 64,
            queue: 1024,
            token: None,
            kinds: Vec::new(),
        }
    }
}

/// Why a supervisor could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A file or socket operation failed.
    #[error("cannot serve on {path}: {source}")]
    Io {
        /// The socket, directory or address.
        path: String,
        /// What the system said.
        source: io::Error,
    },
    /// The directory of the socket is not private to this user.
    #[error(
        "cannot serve on {0}: the directory must belong to this user and be closed to others (mode 0700)"
    )]
    NotPrivate(String),
    /// Something already listens at the socket's path.
    #[error("cannot serve on {0}: a program is already listening there")]
    InUse(String),
    /// A TCP address other people's machines could reach, not allowed.
    #[error(
        "cannot serve on tcp:{0}: not a loopback address; anyone who can reach it could stop your tasks (allow it explicitly: --allow-remote)"
    )]
    Remote(SocketAddr),
    /// A token given for TCP that a guesser could find.
    #[error(
        "cannot serve on tcp:{0}: the token is shorter than {MIN_TOKEN_CHARS} characters (set a longer TASKMON_TOKEN, or none for a random one)"
    )]
    WeakToken(SocketAddr),
    /// Not called inside a tokio runtime.
    #[error("cannot serve: not inside a tokio runtime")]
    NoRuntime,
}

/// A served supervisor. Dropping it stops serving and removes the socket and token files;
/// [`Server::close`] also waits for the connections to end.
pub struct Server {
    address: String,
    /// The socket and token files made, each with its device and inode: only what is still
    /// ours is removed (another program may serve at the same path by then).
    files: Vec<MadeFile>,
    token_file: Option<PathBuf>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Server {
    /// Where clients connect: `unix:PATH` or `tcp:ADDRESS:PORT`; what `taskmon ctl` takes.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The file holding a generated TCP token.
    pub fn token_file(&self) -> Option<&Path> {
        self.token_file.as_deref()
    }

    /// Stops serving: no new connections, the open ones closed, then waited for.
    pub async fn close(self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        let mut left = LEFT_AT_EXIT.lock().unwrap_or_else(|p| p.into_inner());
        left.retain(|kept| !self.files.contains(kept));
        drop(left);
        remove_if_ours(&self.files);
    }
}

/// The socket and token files of every server still serving: an exit that does not unwind (a
/// third signal) removes them with [`remove_served_files`], a secret among them.
static LEFT_AT_EXIT: std::sync::Mutex<Vec<MadeFile>> = std::sync::Mutex::new(Vec::new());

/// A file a server made, with its device and inode.
type MadeFile = (PathBuf, Option<(u64, u64)>);

/// Removes the socket and token files of every server still serving, as their drop would: for
/// a program about to exit without unwinding.
pub fn remove_served_files() {
    let left = LEFT_AT_EXIT.lock().unwrap_or_else(|p| p.into_inner());
    remove_if_ours(&left);
}

/// Removes each file that is still the one made (another program may serve there by now).
fn remove_if_ours(files: &[MadeFile]) {
    for (file, identity) in files {
        if identity.is_some() && file_identity(file) == *identity {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Serving starts with the supervisor: the server builds on the core, which does not know it.
impl SupervisorBuilder {
    /// Serves the supervisor at `endpoint` from the start (see [`crate::serve`]), for as long
    /// as it lives: [`Supervisor::served_at`] says where.
    pub fn serve(self, endpoint: Endpoint) -> Self {
        self.serve_with(endpoint, ServeOptions::default())
    }

    /// [`SupervisorBuilder::serve`] with limits (and kinds to offer) of your own.
    pub fn serve_with(self, endpoint: Endpoint, options: ServeOptions) -> Self {
        self.on_start(Box::new(move |sup| {
            let server = sup
                .serve_with(endpoint, options)
                .map_err(|e| BuildError::Start(Box::new(e)))?;
            Ok(Box::new(server) as Kept)
        }))
    }
}

impl Supervisor {
    /// Where [`SupervisorBuilder::serve`] serves this supervisor (`unix:PATH`, `tcp:ADDR`).
    pub fn served_at(&self) -> Option<String> {
        self.read_kept(|server: &Server| server.address().to_string())
    }

    /// Serves this supervisor at `endpoint` with the default limits, on the current tokio
    /// runtime. See [`crate::serve`].
    pub fn serve(&self, endpoint: Endpoint) -> Result<Server, ServeError> {
        self.serve_with(endpoint, ServeOptions::default())
    }

    /// [`Supervisor::serve`] with limits of your own.
    pub fn serve_with(
        &self,
        endpoint: Endpoint,
        options: ServeOptions,
    ) -> Result<Server, ServeError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ServeError::NoRuntime);
        }
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut files = Vec::new();
        let mut token_file = None;
        let (address, listener, token) = match endpoint {
            Endpoint::Default => {
                let dir = runtime_dir();
                private_dir(&dir)?;
                let path = dir.join(format!("{}.sock", std::process::id()));
                let listener = bind_unix(&path)?;
                files.push((path.clone(), file_identity(&path)));
                (unix_address(&path), server::Listener::Unix(listener), None)
            }
            Endpoint::Unix(path) => {
                let listener = bind_unix(&path)?;
                files.push((path.clone(), file_identity(&path)));
                (unix_address(&path), server::Listener::Unix(listener), None)
            }
            Endpoint::Tcp { addr, allow_remote } => {
                if !addr.ip().is_loopback() && !allow_remote {
                    return Err(ServeError::Remote(addr));
                }
                let io_error = |source| ServeError::Io {
                    path: format!("tcp:{addr}"),
                    source,
                };
                let std_listener = std::net::TcpListener::bind(addr).map_err(io_error)?;
                std_listener.set_nonblocking(true).map_err(io_error)?;
                let listener = tokio::net::TcpListener::from_std(std_listener).map_err(io_error)?;
                let local = listener.local_addr().map_err(io_error)?;
                let token = match options.token.clone().or_else(|| {
                    std::env::var("TASKMON_TOKEN")
                        .ok()
                        .filter(|t| !t.is_empty())
                }) {
                    Some(token) if token.chars().count() < MIN_TOKEN_CHARS => {
                        return Err(ServeError::WeakToken(addr));
                    }
                    Some(token) => token,
                    None => {
                        let token = random_token().map_err(io_error)?;
                        let dir = runtime_dir();
                        private_dir(&dir)?;
                        let path = dir.join(format!("{}.token", std::process::id()));
                        write_private(&path, &token).map_err(|source| ServeError::Io {
                            path: path.display().to_string(),
                            source,
                        })?;
                        files.push((path.clone(), file_identity(&path)));
                        token_file = Some(path);
                        token
                    }
                };
                (
                    format!("tcp:{local}"),
                    server::Listener::Tcp(listener),
                    Some(token),
                )
            }
        };
        let shared = Arc::new(server::Shared::new(
            self.clone(),
            options,
            token,
            stop.clone(),
            tracker.clone(),
        ));
        tracker.spawn(server::accept(listener, shared));
        LEFT_AT_EXIT
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(files.iter().cloned());
        Ok(Server {
            address,
            files,
            token_file,
            stop,
            tracker,
        })
    }
}

/// The device and inode of the file at `path`, if there is one.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

fn unix_address(path: &Path) -> String {
    format!("unix:{}", path.display())
}

/// This user's taskmon directory: `$XDG_RUNTIME_DIR/taskmon`, else `$TMPDIR/taskmon-UID` (or
/// `/tmp/taskmon-UID`). Default endpoints are `PID.sock` in it.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("taskmon"),
        None => std::env::temp_dir().join(format!("taskmon-{}", euid())),
    }
}

pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates `dir` with mode 0700, or checks that it is a directory (not a link) of this user
/// that nobody else can enter.
fn private_dir(dir: &Path) -> Result<(), ServeError> {
    let shown = || dir.display().to_string();
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(ServeError::Io {
                path: shown(),
                source,
            });
        }
    }
    match is_private(dir) {
        Ok(true) => Ok(()),
        Ok(false) => Err(ServeError::NotPrivate(shown())),
        Err(source) => Err(ServeError::Io {
            path: shown(),
            source,
        }),
    }
}

/// Whether `dir` is a directory (not a link) of this user that nobody else can enter: what the
/// server makes, and what a client checks before it trusts a socket found there.
pub(crate) fn is_private(dir: &Path) -> io::Result<bool> {
    let meta = std::fs::symlink_metadata(dir)?;
    Ok(meta.is_dir() && meta.uid() == euid() && meta.permissions().mode() & 0o077 == 0)
}

/// Binds a Unix socket at `path` and makes it 0600. A socket file left by a program that is no
/// longer listening is replaced; one with a listener is not.
fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, ServeError> {
    let shown = || path.display().to_string();
    let io_error = |source| ServeError::Io {
        path: shown(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(io_error(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file that is not a socket is there",
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ServeError::InUse(shown()));
        }
        std::fs::remove_file(path).map_err(io_error)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(io_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_error)?;
    Ok(listener)
}

/// 128 random bits, as hex.
fn random_token() -> io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(file, "{text}")
}

/// A program of this user serving its supervisor at the default endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveEndpoint {
    /// The program's process id.
    pub pid: u32,
    /// Its socket.
    pub path: PathBuf,
}

/// This user's programs serving at the default endpoint. Only a private directory (this user's,
/// closed to others) is read; only sockets named after a process id count; sockets of processes
/// that are gone are removed on the way, and nothing else is ever removed.
pub fn discover() -> Vec<LiveEndpoint> {
    use std::os::unix::fs::FileTypeExt;
    let dir = runtime_dir();
    if !is_private(&dir).unwrap_or(false) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut live = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let pid = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".sock"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&pid| pid > 0);
        let Some(pid) = pid else { continue };
        let is_socket = std::fs::symlink_metadata(&path)
            .is_ok_and(|meta| meta.file_type().is_socket() && meta.uid() == euid());
        if !is_socket {
            continue;
        }
        if process_alive(pid) {
            live.push(LiveEndpoint { pid, path });
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    live.sort_by_key(|e| e.pid);
    live
}

/// Whether process `pid` exists. 0 and what does not fit a pid are no process: `kill(0, 0)`
/// would ask about our own process group.
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_text() {
        assert_eq!("default".parse(), Ok(Endpoint::Default));
        assert_eq!(
            "unix:/tmp/x.sock".parse(),
            Ok(Endpoint::Unix("/tmp/x.sock".into()))
        );
        assert_eq!("./x.sock".parse(), Ok(Endpoint::Unix("./x.sock".into())));
        assert_eq!(
            "tcp:127.0.0.1:7000".parse(),
            Ok(Endpoint::Tcp {
                addr: "127.0.0.1:7000".parse().unwrap(),
                allow_remote: false
            })
        );
        let wrong = "tcp:nowhere\x1b[2J".parse::<Endpoint>().unwrap_err();
        assert!(wrong.to_string().contains("\\u{1b}[2J"), "{wrong}");
        assert!("x.sock".parse::<Endpoint>().is_err());
    }
}
