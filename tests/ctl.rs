//! `taskmon ctl` against a real `taskmon run --serve` in another process: what a developer does
//! from a second terminal, with the exit statuses scripts rely on.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TASKMON: &str = env!("CARGO_BIN_EXE_taskmon");

const SCENARIO: &str = r#"
grace = "2s"
[[task]]
name = "web"
kind = "polling"
interval = "50ms"
flush_every = 2
[[task]]
name = "worker"
kind = "select"
count = 3
interval = "50ms"
[[task]]
name = "hog"
kind = "stubborn"
interval = "50ms"
"#;

/// `taskmon run --serve` of the scenario, and the directory holding it, its socket and its
/// runtime directory.
struct Served {
    child: Child,
    dir: tempfile::TempDir,
}

impl Served {
    fn start(serve: &str) -> Served {
        Served::start_with(serve, SCENARIO)
    }

    fn start_with(serve: &str, scenario: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.toml"), scenario).unwrap();
        let child = Command::new(TASKMON)
            .args(["run", "--for", "60s", "--serve", serve, "--scenario"])
            .arg(dir.path().join("s.toml"))
            .env("XDG_RUNTIME_DIR", dir.path())
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Served { child, dir }
    }

    fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("taskmon")
    }

    fn wait_for(&self, path: &Path) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !path.exists() {
            assert!(
                Instant::now() < deadline,
                "{} never appeared",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(TASKMON)
            .arg("ctl")
            .args(args)
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .output()
            .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn list_stop_abort_and_every_copy_by_its_base_name() {
    let served = Served::start("unix:s.sock");
    let socket = served.dir.path().join("s.sock");
    served.wait_for(&socket);
    let socket = socket.to_str().unwrap();

    let list = served.ctl(&[socket, "list", "--json"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let rows = json_lines(&list);
    let names: Vec<&str> = rows.iter().map(|r| r["task"].as_str().unwrap()).collect();
    assert_eq!(names, ["web", "worker-1", "worker-2", "worker-3", "hog"]);
    assert!(rows.iter().all(|r| r["state"] == "running"));

    let stop = served.ctl(&[socket, "stop", "web"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    let shown = text(&stop.stdout);
    let row = shown.lines().find(|l| l.contains("web")).unwrap();
    assert!(
        row.contains("stopped") && row.contains(" ran ") && row.contains("verified"),
        "{shown}"
    );

    let abort = served.ctl(&["--json", socket, "abort", "worker"]);
    assert!(abort.status.success(), "{}", text(&abort.stderr));
    let rows = json_lines(&abort);
    assert_eq!(rows.len(), 3, "the base name is every copy");
    assert!(
        rows.iter()
            .all(|r| r["state"] == "aborted" && r["cleanup"] == "skipped")
    );

    // `r` from a second terminal: the same id, a new run, its restarts counted.
    let restart = served.ctl(&["--json", socket, "restart", "worker-2"]);
    assert!(restart.status.success(), "{}", text(&restart.stderr));
    let rows = json_lines(&restart);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["task"], "worker-2");
    assert_eq!(rows[0]["state"], "running");
    assert_eq!(rows[0]["restarts"], 1, "{}", rows[0]);
    let running = served.ctl(&[socket, "restart", "hog"]);
    assert_eq!(running.status.code(), Some(2));
    assert!(
        text(&running.stderr).contains("nothing to restart"),
        "{}",
        text(&running.stderr)
    );
    let abort = served.ctl(&[socket, "abort", "worker-2"]);
    assert!(abort.status.success(), "{}", text(&abort.stderr));

    let unknown = served.ctl(&[socket, "stop", "nobody"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no task named nobody"));

    let again = served.ctl(&[socket, "stop", "web"]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("has already ended"));

    let grace = served.ctl(&[socket, "grace", "300ms"]);
    assert!(grace.status.success());
    assert_eq!(
        text(&grace.stdout),
        "grace period 300ms for stops requested from now on\n"
    );
    let hog = served.ctl(&[socket, "stop", "hog", "--json"]);
    let rows = json_lines(&hog);
    assert_eq!(rows[0]["state"], "escalated");
    assert!(
        rows[0]["stop_latency_ms"].as_f64().unwrap() < 2000.0,
        "the new grace applied"
    );
}

#[test]
fn the_default_socket_is_private_found_by_pid_and_removed_at_exit() {
    let mut served = Served::start("default");
    let pid = served.child.id();
    let socket = served.runtime_dir().join(format!("{pid}.sock"));
    served.wait_for(&socket);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&served.runtime_dir()), 0o700);
    assert_eq!(mode(&socket), 0o600);

    let list = served.ctl(&[&pid.to_string(), "list"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert!(text(&list.stdout).contains("5 task(s)"));

    let all = served.ctl(&[&pid.to_string(), "abort-all"]);
    assert_eq!(text(&all.stdout), "abort requested for 5 task(s)\n");
    // Every task ended, so the run ends, and takes its socket with it.
    let status = served.child.wait().unwrap();
    assert!(status.success());
    assert!(!socket.exists(), "the socket is removed at exit");

    let gone = served.ctl(&[&pid.to_string(), "list"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        text(&gone.stderr).contains("cannot connect to unix:"),
        "{}",
        text(&gone.stderr)
    );
}

#[test]
fn watch_prints_the_events_as_run_does() {
    let served = Served::start("unix:s.sock");
    let socket = served.dir.path().join("s.sock");
    served.wait_for(&socket);
    let mut watch = Command::new(TASKMON)
        .args(["ctl", "--json"])
        .arg(&socket)
        .arg("watch")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    // The first line says the watch is on: a stop after it is seen.
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["type"], "watching");
    let stop = served.ctl(&[socket.to_str().unwrap(), "stop", "web"]);
    assert!(stop.status.success());
    let mut events = Vec::new();
    while !events.contains(&"joined".to_string()) {
        let line = lines.next().expect("an event").unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["task"] == "web" {
            events.push(event["event"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(events.first().map(String::as_str), Some("stop_requested"));
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn bad_targets_and_usage() {
    let no_server = Command::new(TASKMON)
        .args(["ctl", "/nonexistent/taskmon.sock", "list"])
        .output()
        .unwrap();
    assert_eq!(no_server.status.code(), Some(1));
    assert!(text(&no_server.stderr).contains("cannot connect to unix:/nonexistent/taskmon.sock"));

    let no_command = Command::new(TASKMON)
        .args(["ctl", "x.sock"])
        .output()
        .unwrap();
    assert_eq!(no_command.status.code(), Some(2));

    let refused = Command::new(TASKMON)
        .args(["run", "--serve", "tcp:0.0.0.0:0", "--for", "1s"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("not a loopback address"));
    assert!(text(&refused.stdout).is_empty(), "nothing ran");
}

#[test]
fn attach_without_a_target_lists_this_users_programs_and_forgets_dead_ones() {
    let none = tempfile::tempdir().unwrap();
    let alone = Command::new(TASKMON)
        .arg("attach")
        .env("XDG_RUNTIME_DIR", none.path())
        .output()
        .unwrap();
    assert_eq!(alone.status.code(), Some(2));
    assert!(text(&alone.stderr).contains("no program of yours is serving"));

    let first = Served::start("default");
    served_socket(&first);
    // A second program in the same runtime directory, and a socket left by one that is gone.
    let second = Command::new(TASKMON)
        .args(["run", "--for", "60s", "--serve"])
        .env("XDG_RUNTIME_DIR", first.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let second = Served {
        child: second,
        dir: tempfile::tempdir().unwrap(),
    };
    first.wait_for(
        &first
            .runtime_dir()
            .join(format!("{}.sock", second.child.id())),
    );
    let stale = first.runtime_dir().join("2147483646.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    // `kill(0, 0)` asks about our own process group: 0 is no program. A regular file named
    // after a dead pid is not a socket of ours to remove.
    let zero = first.runtime_dir().join("0.sock");
    drop(std::os::unix::net::UnixListener::bind(&zero).unwrap());
    let regular = first.runtime_dir().join("2147483645.sock");
    std::fs::write(&regular, "a user's file").unwrap();

    let several = Command::new(TASKMON)
        .arg("attach")
        .env("XDG_RUNTIME_DIR", first.dir.path())
        .output()
        .unwrap();
    assert_eq!(several.status.code(), Some(2));
    let listed = text(&several.stderr);
    assert!(
        listed.contains("several programs serve their tasks"),
        "{listed}"
    );
    for pid in [first.child.id(), second.child.id()] {
        let line = listed
            .lines()
            .find(|l| l.trim_start().starts_with(&pid.to_string()))
            .unwrap_or_else(|| panic!("{pid} in {listed}"));
        assert!(line.contains("taskmon") && line.contains("tasks"), "{line}");
    }
    assert!(!listed.contains("2147483646"), "{listed}");
    assert!(!stale.exists(), "the dead program's socket was removed");
    assert_eq!(listed.lines().count(), 3, "two programs: {listed}");
    assert!(regular.exists(), "a regular file is never removed");
}

fn served_socket(served: &Served) -> PathBuf {
    let socket = served
        .runtime_dir()
        .join(format!("{}.sock", served.child.id()));
    served.wait_for(&socket);
    socket
}

#[test]
fn another_user_is_kept_out_by_the_socket_and_by_the_peer_check() {
    let served = Served::start("unix:s.sock");
    let socket = served.dir.path().join("s.sock");
    served.wait_for(&socket);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only its owner may open the socket");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/bin/setpriv").exists() {
        // Acting as another user needs root; the mode above is what keeps them out.
        return;
    }
    let as_nobody = || {
        Command::new("/usr/bin/setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                TASKMON,
                "ctl",
            ])
            .arg(&socket)
            .arg("list")
            .output()
            .unwrap()
    };
    std::fs::set_permissions(served.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let refused = as_nobody();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("Permission denied"),
        "{}",
        text(&refused.stderr)
    );

    // Even with the socket opened to everyone, the program checks who is at the other end.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let refused = as_nobody();
    assert_eq!(refused.status.code(), Some(1));
    let said = text(&refused.stderr);
    // The client refuses a program of another user first; the program would refuse it too.
    assert!(
        said.contains("runs as another user")
            || said.contains("only the user running this program may connect"),
        "{said}"
    );
    assert!(!said.contains("web"), "nothing about the tasks: {said}");
}

/// The client's side of a shared machine: it trusts taskmon's directory only when it is the
/// caller's and closed to others, talks only to programs of its own user, and sends the token
/// only over TCP.
#[test]
fn ctl_trusts_no_directory_or_program_of_another_user() {
    // A directory open to everyone, where anyone could have put a socket named after a pid.
    let xdg = tempfile::tempdir().unwrap();
    let open = xdg.path().join("taskmon");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let planted = std::os::unix::net::UnixListener::bind(open.join("4242.sock")).unwrap();
    planted.set_nonblocking(true).unwrap();
    let ctl = Command::new(TASKMON)
        .args(["ctl", "4242", "list"])
        .env("XDG_RUNTIME_DIR", xdg.path())
        .env("TASKMON_TOKEN", "a-secret-of-the-caller")
        .output()
        .unwrap();
    assert_eq!(ctl.status.code(), Some(1));
    assert!(
        text(&ctl.stderr).contains("not this user's private directory"),
        "{}",
        text(&ctl.stderr)
    );
    assert!(
        planted.accept().is_err(),
        "nothing connected to the planted socket"
    );
    let attach = Command::new(TASKMON)
        .arg("attach")
        .env("XDG_RUNTIME_DIR", xdg.path())
        .output()
        .unwrap();
    assert_eq!(attach.status.code(), Some(2));
    assert!(text(&attach.stderr).contains("no program of yours"));
    assert!(open.join("4242.sock").exists());

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/bin/setpriv").exists() {
        return;
    }
    // A program of another user, at a path given by hand.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let socket = dir.path().join("theirs.sock");
    let mut theirs = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", TASKMON])
        .args(["run", "--for", "30s", "--serve"])
        .arg(format!("unix:{}", socket.display()))
        .env("TMPDIR", dir.path())
        .env_remove("XDG_RUNTIME_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let ctl = Command::new(TASKMON)
        .arg("ctl")
        .arg(&socket)
        .arg("list")
        .env("TASKMON_TOKEN", "a-secret-of-the-caller")
        .output()
        .unwrap();
    let _ = theirs.kill();
    let _ = theirs.wait();
    assert_eq!(ctl.status.code(), Some(1));
    let said = text(&ctl.stderr);
    assert!(said.contains("runs as another user (uid 65534)"), "{said}");
}

#[test]
fn attach_to_nothing_says_so_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let nothing = Command::new(TASKMON)
        .arg("attach")
        .arg(dir.path().join("nothing.sock"))
        .output()
        .unwrap();
    assert_eq!(nothing.status.code(), Some(1));
    assert!(
        text(&nothing.stderr).contains("cannot connect to unix:"),
        "{}",
        text(&nothing.stderr)
    );
}

/// A target that is an id and a name is refused; `#3` and `id:3` are ids; a base name is
/// exactly its copies; a grace the wire cannot carry is refused, not rounded.
#[test]
fn names_and_ids_mean_one_thing() {
    let served = Served::start_with(
        "unix:s.sock",
        r#"
[[task]]
name = "w"
kind = "select"
count = 3
[[task]]
name = "1"
kind = "select"
[[task]]
name = "w-10"
kind = "select"
"#,
    );
    served.wait_for(&served.dir.path().join("s.sock"));
    let socket = served.dir.path().join("s.sock");
    let ctl = |args: &[&str]| {
        let mut all = vec![socket.to_str().unwrap()];
        all.extend_from_slice(args);
        served.ctl(&all)
    };
    // Task #1 is `w-1`; task #4 is named `1`.
    let ambiguous = ctl(&["stop", "1"]);
    assert_eq!(ambiguous.status.code(), Some(2));
    let said = text(&ambiguous.stderr);
    assert!(
        said.contains("both task #1 and the name of task #4"),
        "{said}"
    );
    let list = json_lines(&ctl(&["--json", "list"]));
    assert!(
        list.iter().all(|r| r["state"] == "running"),
        "nothing was stopped"
    );

    let by_id = json_lines(&ctl(&["--json", "stop", "#1"]));
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0]["task"], "w-1");
    let by_id = json_lines(&ctl(&["--json", "stop", "id:4"]));
    assert_eq!(by_id[0]["task"], "1");

    let group = json_lines(&ctl(&["--json", "abort", "w"]));
    let names: Vec<&str> = group.iter().map(|r| r["task"].as_str().unwrap()).collect();
    assert_eq!(names, ["w-2", "w-3"], "w-1 had ended; w-10 is no copy");
    let rows = json_lines(&ctl(&["--json", "list"]));
    let w10 = rows.iter().find(|r| r["task"] == "w-10").unwrap();
    assert_eq!(w10["state"], "running");

    let fine = ctl(&["grace", "999us"]);
    assert_eq!(fine.status.code(), Some(2));
    assert!(
        text(&fine.stderr).contains("whole milliseconds"),
        "{}",
        text(&fine.stderr)
    );
}

#[test]
fn a_tasks_own_counters_cross_the_wire() {
    let served = Served::start_with(
        "unix:s.sock",
        "[[task]]\nname = \"reader\"\nkind = \"select-safe\"\ninterval = \"50ms\"\n",
    );
    let socket = served.dir.path().join("s.sock");
    served.wait_for(&socket);
    let socket = socket.to_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = served.ctl(&[socket, "list", "--json"]);
        assert!(list.status.success(), "{}", text(&list.stderr));
        let rows = json_lines(&list);
        let received = rows[0]["counters"]["frames_received"].as_u64();
        if received.is_some_and(|n| n > 0) {
            assert_eq!(rows[0]["counters"]["frames_lost"], 0, "{}", rows[0]);
            break;
        }
        assert!(Instant::now() < deadline, "no frames counted: {}", rows[0]);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn record_start_and_stop_on_a_running_program_make_a_replayable_recording() {
    let served = Served::start("unix:s.sock");
    let socket = served.dir.path().join("s.sock");
    served.wait_for(&socket);
    let socket = socket.to_str().unwrap();
    let file = served.dir.path().join("live.tmrec");
    // A relative path is the client's: the program, elsewhere, is sent it whole.
    let start = Command::new(TASKMON)
        .args(["ctl", socket, "record", "start", "live.tmrec"])
        .current_dir(served.dir.path())
        .output()
        .unwrap();
    assert!(start.status.success(), "{}", text(&start.stderr));
    assert!(
        text(&start.stdout).contains("recording to"),
        "{}",
        text(&start.stdout)
    );
    let again = served.ctl(&[socket, "record", "start", "other.tmrec"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already recording to"),
        "{}",
        text(&again.stderr)
    );
    let status = served.ctl(&[socket, "--json", "list"]);
    assert!(status.status.success());
    let stop = served.ctl(&[socket, "stop", "web"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    let done = served.ctl(&[socket, "--json", "record", "stop"]);
    assert!(done.status.success(), "{}", text(&done.stderr));
    let answer: Value = serde_json::from_str(text(&done.stdout).trim()).unwrap();
    assert_eq!(answer["type"], "recorded");
    assert_eq!(answer["path"], file.to_str().unwrap());
    let nothing = served.ctl(&[socket, "record", "stop"]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(text(&nothing.stderr).contains("nothing is being recorded"));

    // The recording holds the stop and, at its end, the table as the program had it.
    let replay = |args: &[&str]| {
        Command::new(TASKMON)
            .arg("replay")
            .arg(&file)
            .args(args)
            .output()
            .unwrap()
    };
    let events = replay(&["--events", "--json"]);
    assert!(events.status.success(), "{}", text(&events.stderr));
    let events = json_lines(&events);
    assert!(
        events
            .iter()
            .any(|e| e["task"] == "web" && e["event"] == "joined"),
        "{events:?}"
    );
    let rows = json_lines(&replay(&["--at", "end", "--json"]));
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["task"], "web");
    assert_eq!(rows[0]["state"], "stopped");
}
