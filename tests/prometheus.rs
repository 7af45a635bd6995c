//! A real Prometheus scraping a real `taskmon run --metrics`, every second, on loopback: what
//! Prometheus answers about the tasks by state and the escalations agrees with what
//! `taskmon ctl list --json` says of the same program; and `promtool check metrics` passes the
//! exposition as served.
//!
//! Needs Debian's `prometheus` package (`prometheus` and `promtool`): `.ci/run` installs it.
//! Without it the test says it is skipped and why; in CI (`CI=true`) its absence fails.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TASKMON: &str = env!("CARGO_BIN_EXE_taskmon");

/// Three tickers, one task stopped gracefully and one that ignores its stop and is escalated:
/// after two seconds nothing changes any more, so both sides can be compared at leisure.
const SCENARIO: &str = r#"
grace = "300ms"
[[task]]
name = "ticker"
kind = "select"
count = 3
interval = "100ms"
[[task]]
name = "polite"
kind = "polling"
interval = "100ms"
[[task]]
name = "hog"
kind = "stubborn"
interval = "100ms"
[[at]]
after = "500ms"
stop = "polite"
[[at]]
after = "500ms"
stop = "hog"
"#;

/// `prometheus` and `promtool`, or why the test cannot run.
fn prometheus_tools() -> Option<(PathBuf, PathBuf)> {
    let find = |name: &str| {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    };
    match (find("prometheus"), find("promtool")) {
        (Some(prometheus), Some(promtool)) => Some((prometheus, promtool)),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!(
                "CI=true but prometheus or promtool is not on PATH: .ci/run installs Debian's `prometheus` package"
            )
        }
        _ => {
            eprintln!(
                "skipped: prometheus and promtool are not on PATH (install Debian's `prometheus` package, as .ci/run does)"
            );
            None
        }
    }
}

/// A port free on loopback now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of `GET http://127.0.0.1:port/path`, or `None` while nothing answers with a 200.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    (head.split(' ').nth(1) == Some("200")).then(|| body.to_string())
}

/// Asks `probe` until it answers, for at most `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process killed and reaped when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `taskmon ctl SOCKET list --json`: tasks by state, as `ctl` sees them.
fn ctl_states(socket: &Path) -> BTreeMap<String, u64> {
    let out = Command::new(TASKMON)
        .args(["ctl"])
        .arg(socket)
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut states = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        *states
            .entry(row["state"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    states
}

/// The result of an instant PromQL query, as label value (of `by`) to number.
fn query(port: u16, promql: &str, by: &str) -> Option<BTreeMap<String, u64>> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = get(port, &format!("/api/v1/query?query={encoded}"))?;
    let answer: Value = serde_json::from_str(&body).ok()?;
    (answer["status"] == "success").then_some(())?;
    let mut values = BTreeMap::new();
    for sample in answer["data"]["result"].as_array()? {
        let label = sample["metric"][by].as_str().unwrap_or("").to_string();
        let value: f64 = sample["value"][1].as_str()?.parse().ok()?;
        if value > 0.0 {
            values.insert(label, value as u64);
        }
    }
    Some(values)
}

#[test]
fn prometheus_scraping_taskmon_agrees_with_ctl_list() {
    let Some((prometheus, promtool)) = prometheus_tools() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), SCENARIO).unwrap();
    let socket = dir.path().join("s.sock");
    let metrics_port = free_port();
    let _taskmon = Running(
        Command::new(TASKMON)
            .args(["run", "--for", "120s", "--metrics"])
            .arg(format!("127.0.0.1:{metrics_port}"))
            .arg("--serve")
            .arg(format!("unix:{}", socket.display()))
            .arg("--scenario")
            .arg(dir.path().join("s.toml"))
            .env("XDG_RUNTIME_DIR", dir.path())
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // The program settles: the hog escalated, the polite task stopped, the tickers running.
    let settled = wait_for("the scenario's stops end", Duration::from_secs(30), || {
        let states = socket.exists().then(|| ctl_states(&socket))?;
        (states.get("escalated") == Some(&1) && states.get("stopped") == Some(&1)).then_some(states)
    });
    assert_eq!(settled.get("running"), Some(&3), "{settled:?}");

    // The exposition as served passes promtool's checks (names, units, help, types).
    let exposition = wait_for("taskmon's /metrics", Duration::from_secs(10), || {
        get(metrics_port, "/metrics").filter(|body| body.contains("taskmon_tasks{"))
    });
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}\n{exposition}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // A real Prometheus scrapes it every second.
    let prometheus_port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: taskmon\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .unwrap();
    let _prometheus = Running(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("Prometheus ready", Duration::from_secs(60), || {
        get(prometheus_port, "/-/ready")
    });

    // Prometheus' answers, once it has scraped the settled program, equal ctl's.
    let by_state = wait_for(
        "Prometheus' tasks by state agreeing with ctl",
        Duration::from_secs(60),
        || {
            query(prometheus_port, "sum by (state) (taskmon_tasks)", "state")
                .filter(|states| *states == settled)
        },
    );
    assert_eq!(by_state, ctl_states(&socket));
    let escalations = wait_for("Prometheus' escalations", Duration::from_secs(30), || {
        query(
            prometheus_port,
            "sum by (kind) (taskmon_escalations_total)",
            "kind",
        )
        .filter(|e| !e.is_empty())
    });
    let escalated_by_ctl = settled.get("escalated").copied().unwrap_or(0);
    assert_eq!(
        escalations,
        BTreeMap::from([("stubborn".to_string(), escalated_by_ctl)])
    );
}
