//! What the `taskmon` command reports beyond its own screens: log lines through
//! tracing-subscriber (`--log`), and metrics for Prometheus (`--metrics`). The library only
//! speaks the `tracing` and `metrics` facades; the command picks where they go.

use std::fs::File;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tracing_subscriber::EnvFilter;

use crate::supervisor::metrics::{names, poll_time_buckets};

/// Where log lines go: stderr for `taskmon run`, a file for the dashboard (never the screen it
/// draws on).
pub enum LogTo<'a> {
    Stderr,
    File(&'a Path),
}

/// Installs the log subscriber for `filter` (`--log`, else `$RUST_LOG`); without either, none
/// is installed and nothing is logged (false). Errors name what was wrong.
pub fn start_logging(filter: Option<&str>, to: LogTo) -> Result<bool, String> {
    let from_env = std::env::var("RUST_LOG").ok().filter(|f| !f.is_empty());
    let (filter, source) = match (filter, &from_env) {
        (Some(filter), _) => (filter, "--log"),
        (None, Some(filter)) => (filter.as_str(), "$RUST_LOG"),
        (None, None) => return Ok(false),
    };
    let parsed = EnvFilter::builder()
        .parse(filter)
        .map_err(|e| format!("bad {source} filter `{filter}`: {e} (try `info` or `taskmon=debug,warn`)"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(parsed);
    let installed = match to {
        LogTo::Stderr => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .try_init(),
        LogTo::File(path) => {
            let file = open_log(path)
                .map_err(|e| format!("cannot write the log to {}: {e}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .try_init()
        }
    };
    installed
        .map(|()| true)
        .map_err(|e| format!("cannot start logging: {e}"))
}

/// Appended to, private to its owner when made; only a regular file.
fn open_log(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    crate::cli::open_regular_file(
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600),
        path,
    )
}

/// The buckets of taskmon's histograms: poll times on taskmon's own power-of-two buckets, stop
/// latencies and cleanups from a millisecond to a minute.
const SECONDS_BUCKETS: [f64; 14] = [
    0.000_1, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// `--metrics ADDR`: `127.0.0.1:9184`, `[::1]:9184` or `localhost:9184` (a name is looked up,
/// and its first address used).
pub fn parse_metrics_address(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let mut found = text
        .to_socket_addrs()
        .map_err(|e| format!("not an address and port like 127.0.0.1:9184: {e}"))?;
    found
        .next()
        .ok_or_else(|| "the name has no address".to_string())
}

/// Checks `--metrics ADDR` before anything starts: an address other machines can reach only
/// with `--allow-remote`, and a port of its own.
pub fn check_metrics_address(addr: SocketAddr, allow_remote: bool) -> Result<(), String> {
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "--metrics {addr} listens where other machines can reach it; add --allow-remote if that is meant (the metrics carry task names and counts, nothing that acts)"
        ));
    }
    if addr.port() == 0 {
        return Err(format!(
            "--metrics {addr}: give a port, so that Prometheus knows where to scrape"
        ));
    }
    Ok(())
}

/// Serves the Prometheus text exposition at `http://ADDR/metrics` on the current tokio runtime
/// and installs the recorder the supervisor reports to. Call it inside the runtime, before the
/// supervisor is built.
pub fn serve_metrics(addr: SocketAddr) -> Result<(), String> {
    let bad = |e: &dyn std::fmt::Display| format!("cannot serve metrics on {addr}: {e}");
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Full(names::POLL_TIME.into()), &poll_time_buckets())
        .map_err(|e| bad(&e))?
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .map_err(|e| bad(&e))?
        .install()
        .map_err(|e| bad(&e))
}
