//! Scenarios mutated at random, from the shipped ones and the bad fixtures: every one is either
//! accepted or refused with a line and a column — never a panic, never a hang. A sample of them
//! is played by the real binary, which must exit 0 or 2.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use taskmon::scenario::Scenario;

/// Pieces that tend to break parsers and checkers: structure, limits, odd characters.
const TOKENS: &[&str] = &[
    "[[task]]\n",
    "[[at]]\n",
    "[task]\n",
    "=",
    "\"",
    "'",
    "\"\"\"",
    ".",
    "{",
    "}",
    "[",
    "]",
    "\n",
    "#",
    ",",
    "name = \"x\"\n",
    "name = \"p.child1\"\n",
    "kind = \"parent\"\n",
    "kind = \"spawn-blocking\"\n",
    "count = 100000\n",
    "count = 0\n",
    "children = 4294967295\n",
    "interval = \"0s\"\n",
    "after = \"25h\"\n",
    "after = \"18446744073709551615s\"\n",
    "grace = \"1ns\"\n",
    "stop = \"x\"\n",
    "stop_all = false\n",
    "spawn = { kind = \"select\" }\n",
    "99999999999999999999",
    "-1",
    "\\u001b",
    "\u{1b}",
    "\u{202e}",
    "\u{7}",
    "é",
];

fn scenarios_in(dir: &str) -> Vec<String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The shipped scenarios, which mostly stay valid under one mutation, and the bad fixtures with
/// two extremes of nesting, which mostly stay invalid.
fn seeds() -> (Vec<String>, Vec<String>) {
    let mut bad = scenarios_in("tests/scenarios/bad");
    bad.push(format!("a{} = 1\n", ".a".repeat(120)));
    bad.push(format!("x = {}{}\n", "[".repeat(300), "]".repeat(300)));
    (scenarios_in("assets"), bad)
}

/// A mutation of a good seed on even cases, of a bad one on odd cases.
fn case_text(
    rng: &mut fastrand::Rng,
    (good, bad): &(Vec<String>, Vec<String>),
    case: usize,
) -> String {
    if case.is_multiple_of(2) {
        let seed = &good[case / 2 % good.len()];
        mutate(rng, seed, 1)
    } else {
        let seed = &bad[case / 2 % bad.len()];
        let times = rng.usize(1..4);
        mutate(rng, seed, times)
    }
}

fn char_boundary(s: &str, at: usize) -> usize {
    (at..=s.len()).find(|&i| s.is_char_boundary(i)).unwrap()
}

fn mutate(rng: &mut fastrand::Rng, text: &str, times: usize) -> String {
    let mut text = text.to_string();
    for _ in 0..times {
        let at = char_boundary(&text, rng.usize(..=text.len()));
        match rng.u8(..4) {
            0 => text.insert_str(at, TOKENS[rng.usize(..TOKENS.len())]),
            1 => {
                let end = char_boundary(&text, (at + rng.usize(1..40)).min(text.len()));
                text.replace_range(at..end, "");
            }
            2 => {
                let line = text.lines().nth(rng.usize(..text.lines().count().max(1)));
                let line = line.unwrap_or_default().to_string();
                text.insert_str(at, &format!("{line}\n"));
            }
            _ => {
                let end = char_boundary(&text, (at + 1).min(text.len()));
                let replacement = char::from(rng.u8(0x20..0x7f)).to_string();
                text.replace_range(at..end, &replacement);
            }
        }
    }
    text
}

/// Every refusal names a line and column; nothing panics.
#[test]
fn mutated_scenarios_are_accepted_or_refused_with_a_place() {
    let seeds = seeds();
    let mut rng = fastrand::Rng::with_seed(0x5ce_7a510);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..3000 {
        let text = case_text(&mut rng, &seeds, case);
        let outcome = std::panic::catch_unwind(|| Scenario::parse(&text, "fuzz.toml"));
        match outcome {
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(e)) => {
                refused += 1;
                assert!(
                    e.location.is_some(),
                    "case {case}: a refusal without a place: {e}\n--- scenario:\n{text}"
                );
            }
            Err(_) => panic!("case {case}: the checker panicked on:\n{text}"),
        }
    }
    assert!(
        accepted > 300 && refused > 1500,
        "{accepted} accepted, {refused} refused"
    );
}

/// Waits at most a minute: a hang fails the test.
fn run_bounded(scenario: &Path) -> std::process::Output {
    let child = Command::new(env!("CARGO_BIN_EXE_taskmon"))
        .args(["run", "--scenario", scenario.to_str().unwrap()])
        .args(["--for", "300ms", "--grace", "500ms", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    result
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("taskmon hung on {}", scenario.display())
        })
        .unwrap()
}

#[test]
fn the_binary_plays_or_refuses_mutated_scenarios_and_never_panics() {
    let seeds = seeds();
    let mut rng = fastrand::Rng::with_seed(0xb1_7a51);
    let dir = tempfile::tempdir().unwrap();
    let mut exits = [0usize; 3];
    for case in 0..24 {
        let mut bytes = case_text(&mut rng, &seeds, case).into_bytes();
        if case % 8 == 7 {
            // Not UTF-8 at all.
            let at = rng.usize(..=bytes.len());
            bytes.insert(at, 0xff);
        }
        let path = dir.path().join(format!("case{case}.toml"));
        std::fs::write(&path, &bytes).unwrap();
        let o = run_bounded(&path);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "case {case}: {err}");
        let code = o.status.code().expect("exited by itself");
        assert!(code == 0 || code == 2, "case {case}: exit {code}: {err}");
        if code == 2 {
            let file = path.display().to_string();
            let placed = err
                .strip_prefix(&format!("taskmon: bad scenario {file}:"))
                .and_then(|rest| rest.split(':').next())
                .is_some_and(|line| line.parse::<usize>().is_ok());
            assert!(placed, "case {case}: no line in: {err}");
            assert!(o.stdout.is_empty(), "case {case}: nothing was played");
        }
        exits[code as usize] += 1;
    }
    assert!(
        exits[0] > 0 && exits[2] > 0,
        "both outcomes were tried: {exits:?}"
    );
}
