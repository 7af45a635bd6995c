//! A chosen journal directory is shared with its user: taskmon removes only the journals it
//! listed there itself, and refuses a lock file that is not a regular file.

use std::time::Duration;

use taskmon::{JournalConfig, Supervisor, TaskDef};

async fn one_run(dir: &std::path::Path) -> std::path::PathBuf {
    let sup = Supervisor::builder().journal_dir(dir).build().unwrap();
    let id = sup
        .spawn(
            TaskDef::new("writer", |mut ctx| async move {
                ctx.tick();
                let _ = ctx.flush_journal();
            })
            .journal(JournalConfig::default()),
        )
        .unwrap();
    sup.joined(id).await.unwrap();
    let path = sup.journal_path(id).unwrap();
    assert!(path.exists());
    sup.shutdown(Duration::from_millis(100)).await;
    path
}

#[tokio::test]
async fn only_the_journals_taskmon_listed_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = [
        "2024-01-01.journal",
        "1-meeting.journal",
        "00001-writer.journal.bak",
    ];
    for name in theirs {
        std::fs::write(dir.path().join(name), "the user's own notes").unwrap();
    }
    let first = one_run(dir.path()).await;
    let before = std::fs::read(&first).unwrap();
    // The second run's journal has the same name: the first run's is removed to make room.
    let second = one_run(dir.path()).await;
    assert_eq!(first, second);
    assert_eq!(
        std::fs::read(&second).unwrap(),
        before,
        "one run's records, not two"
    );
    for name in theirs {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            "the user's own notes",
            "{name} was left alone"
        );
    }
}

#[tokio::test]
async fn a_lock_file_that_is_no_regular_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join(".taskmon.lock");
    let made = std::process::Command::new("mkfifo")
        .arg(&lock)
        .status()
        .unwrap();
    assert!(made.success());
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        Supervisor::builder().journal_dir(dir.path()).build()
    })
    .await
    .expect("no hang on a FIFO");
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("not a regular file"), "{message}");
}
