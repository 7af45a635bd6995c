//! The supervisor's internals: the registry, spawning a run, restarts.

use super::entry::FLAG_CRITICAL;
use super::stopping::joined_at_once;
use super::*;

impl Inner {
    /// Starts the thread that finds tasks blocking their worker while they do. It holds the
    /// supervisor only while it looks, and ends once the supervisor is gone.
    pub(super) fn watch_polls(self: &Arc<Self>) -> std::io::Result<()> {
        let supervisor = Arc::downgrade(self);
        let mut watchdog = polls::Watchdog::new(self.hub.polls);
        std::thread::Builder::new()
            .name("taskmon-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(watchdog.period());
                    let Some(inner) = supervisor.upgrade() else {
                        return;
                    };
                    let found = watchdog.look(|id| inner.entry(id).ok(), |entry| &entry.activity);
                    for (entry, thread, lasted) in found {
                        inner
                            .hub
                            .emit(&entry, EventKind::Blocking, || Detail::Blocking {
                                thread,
                                lasted,
                            });
                    }
                }
            })
            .map(drop)
    }

    /// Starts the thread that reads every task once a second for metrics: tasks by state, polls,
    /// records lost, the tasks' own counters. Like the watchdog, it holds the supervisor only
    /// while it reads, and ends once the supervisor is gone.
    #[cfg(feature = "metrics")]
    pub(super) fn sample_metrics(self: &Arc<Self>, per_task: bool) -> std::io::Result<()> {
        let supervisor = Arc::downgrade(self);
        self.metrics_sampler
            .get_or_init(|| Mutex::new(super::metrics::Sampler::new(per_task)));
        std::thread::Builder::new()
            .name("taskmon-metrics".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let Some(inner) = supervisor.upgrade() else {
                        return;
                    };
                    inner.publish_metrics();
                }
            })
            .map(drop)
    }

    /// Reads every task for metrics and publishes the change since the last reading.
    #[cfg(feature = "metrics")]
    pub(super) fn publish_metrics(&self) {
        let Some(sampler) = self.metrics_sampler.get() else {
            return;
        };
        let mut sampler = sampler.lock().expect("metrics sampler");
        let mut now = super::metrics::Sample::default();
        // In chunks: a spawn waits for the registry's lock at most one chunk's reading.
        const CHUNK: usize = 4096;
        for start in (0..).step_by(CHUNK) {
            let registry = self.registry.read().expect("registry");
            let Some(chunk) = registry.get(start..).filter(|c| !c.is_empty()) else {
                break;
            };
            for entry in &chunk[..chunk.len().min(CHUNK)] {
                sampler.add(&mut now, entry);
            }
        }
        sampler.finish(now);
    }

    pub(crate) fn entry(&self, id: TaskId) -> Result<Arc<TaskEntry>, SupervisorError> {
        let registry = self.registry.read().expect("registry");
        id.checked_sub(1)
            .and_then(|i| registry.get(i as usize))
            .cloned()
            .ok_or(SupervisorError::UnknownTask(id))
    }

    pub(super) fn live_entry(&self, id: TaskId) -> Result<Arc<TaskEntry>, SupervisorError> {
        let entry = self.entry(id)?;
        if entry.is_ended() {
            return Err(SupervisorError::AlreadyEnded(id));
        }
        Ok(entry)
    }

    pub(crate) fn spawn<L: Launch>(
        self: &Arc<Self>,
        def: TaskDef<L>,
        parent: Option<&Arc<TaskEntry>>,
    ) -> Result<TaskId, SupervisorError> {
        self.spawn_as(def, parent, false)
    }

    /// A task started by `parent` as a plain `tokio::spawn` would: see
    /// [`TaskContext::spawn_detached`].
    pub(crate) fn spawn_detached<L: Launch>(
        self: &Arc<Self>,
        def: TaskDef<L>,
        parent: &Arc<TaskEntry>,
    ) -> Result<TaskId, SupervisorError> {
        self.spawn_as(def, Some(parent), true)
    }

    pub(super) fn spawn_as<L: Launch>(
        self: &Arc<Self>,
        def: TaskDef<L>,
        parent: Option<&Arc<TaskEntry>>,
        detached: bool,
    ) -> Result<TaskId, SupervisorError> {
        check_name(&def.name).map_err(|reason| SupervisorError::InvalidName {
            name: escape(&def.name).into_owned(),
            reason,
        })?;
        if def
            .restart
            .as_ref()
            .is_some_and(|p| p.restart != Restart::Never)
            && !def.launch.restartable()
        {
            return Err(SupervisorError::NotRestartable {
                name: escape(&def.name).into_owned(),
            });
        }
        let journal_config = def.journal.unwrap_or(self.default_journal);
        // A detached task's token is its own: no stop of its parent reaches it.
        let token = match parent {
            Some(p) if !detached => p.token().child_token(),
            _ => CancellationToken::new(),
        };
        // The first run's context gets its copy here, not from the record (under its lock).
        let run_token = token.clone();
        // Under the write lock: shutdown sets `closed` under it too, so this task is either
        // refused here or registered before shutdown stops every registered task.
        let entry = {
            let mut registry = self.registry.write().expect("registry");
            if self.is_closed() {
                return Err(SupervisorError::ShuttingDown);
            }
            if registry.len() as u64 >= self.capacity {
                return Err(SupervisorError::Full {
                    name: escape(&def.name).into_owned(),
                    capacity: self.capacity,
                });
            }
            if journal_config.enabled && !self.hub.journal_slots.take() {
                return Err(SupervisorError::TooManyJournals {
                    name: def.name,
                    capacity: self.hub.journal_slots.capacity,
                });
            }
            let mut entry = TaskEntry::new(
                registry.len() as TaskId + 1,
                self.hub.clone(),
                def.name,
                def.kind,
                parent.map(|p| p.id),
                journal_config.enabled,
                def.launch.on_blocking_pool(),
                token,
            );
            entry.location = Some(def.location);
            entry.stage = def.stage;
            let entry = Arc::new(entry);
            if def.critical {
                entry.set_flag(FLAG_CRITICAL, true);
            }
            registry.push(entry.clone());
            if detached {
                // Nothing waits for it: it is not counted among the tasks shutdown waits for.
                entry.set_flag(FLAG_DETACHED, true);
            } else {
                self.hub.task_started();
            }
            entry
        };
        if let Some(parent) = parent.filter(|_| !detached) {
            parent.add_child(entry.id);
        }
        self.hub
            .emit(&entry, EventKind::Spawned, || Detail::Spawned {
                kind: entry.kind.clone(),
                parent: entry.parent(),
            });
        let mut policy = Some(def.restart);
        let mut keep = |relaunch| {
            let _ = entry.restart.set(Box::new(Restartable::new(
                policy.take().flatten(),
                relaunch,
                journal_config,
            )));
        };
        let (ctx, end) = self.run_parts(&entry, run_token, journal_config);
        self.hub.publish_held();
        let abort = def.launch.launch(ctx, end, &self.tasks, &mut keep);
        entry.set_abort_handle(abort);
        Ok(entry.id)
    }

    /// What a run of `entry`'s task is handed (`token`: the run's, as in the record), and what
    /// records its end.
    pub(super) fn run_parts(
        &self,
        entry: &Arc<TaskEntry>,
        token: CancellationToken,
        journal: JournalConfig,
    ) -> (TaskContext, task::EndGuard) {
        let journal = entry.journaled().then(|| {
            Journal::new(
                entry.clone(),
                self.journal_dir.clone(),
                self.manifest.clone(),
                journal,
            )
        });
        (
            TaskContext::new(entry.clone(), token, journal),
            task::EndGuard::new(entry.clone()),
        )
    }

    /// Whether shutdown has begun. Set by shutdown under the registry's write lock, so a spawn
    /// either sees it or is seen by shutdown's stop of every task.
    pub(crate) fn is_closed(&self) -> bool {
        self.hub.is_closed()
    }

    pub(crate) fn restart_jitter(&self) -> f64 {
        self.restart_jitter
    }

    /// Runs a task again after `delay`, unless a stop or an abort ends it meanwhile (or came
    /// after the restart was decided: then it ends as that request asked).
    pub(crate) fn schedule_restart(self: &Arc<Self>, entry: Arc<TaskEntry>, delay: Duration) {
        let inner = Arc::downgrade(self);
        self.control.spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            match entry.begin_run(State::Restarting, None) {
                NewRun::Started => inner.start_run(&entry, false),
                NewRun::Asked(state) => inner.end_claimed(&entry, state),
                NewRun::Refused => {}
            }
        });
    }

    /// Starts the new run of a task that [`TaskEntry::begin_run`] readied.
    pub(super) fn start_run(&self, entry: &Arc<TaskEntry>, by_hand: bool) {
        let restart = entry
            .restart
            .get()
            .expect("only restartable tasks are run again");
        let attempt = {
            let mut history = restart.history();
            history.total += 1;
            history.total
        };
        self.hub
            .emit(entry, EventKind::Restarted, || Detail::Restarted {
                attempt,
                by_hand,
            });
        let Some(relaunch) = restart.relaunch() else {
            // Dropped at a shutdown this run did not see coming: it ends as asked.
            self.end_claimed(entry, State::Stopped);
            return;
        };
        let (ctx, end) = self.run_parts(entry, entry.token(), restart.journal);
        self.hub.publish_held();
        entry.set_abort_handle(relaunch(ctx, end, &self.tasks));
    }

    /// Records the end of a claimed task whose restart a request overtook: joined at once, as
    /// `state`, and counted ended.
    pub(super) fn end_claimed(&self, entry: &TaskEntry, state: State) {
        let now = self.hub.since_epoch();
        let at = self.hub.batch_time(now);
        self.hub.send_batch({
            let mut events = Vec::new();
            joined_at_once(entry, state, now, at, &mut events);
            events
        });
        self.hub.settle(entry);
    }

    pub(super) fn journal_path_of(&self, entry: &TaskEntry) -> PathBuf {
        self.journal_dir
            .join(journal_file_name(entry.id, &entry.name))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::supervisor::{Supervisor, SupervisorError, TaskDef};

    /// A full supervisor refuses the spawn with its capacity and the name, starts nothing for
    /// it, and counts the tasks it holds, ended ones too: ids are never reused.
    #[tokio::test(start_paused = true)]
    async fn a_full_supervisor_refuses_a_spawn_and_says_how_many_it_holds() {
        let sup = Supervisor::builder().capacity(2).build().unwrap();
        let wait =
            |name: &str| TaskDef::new(name.to_string(), |ctx| async move { ctx.cancelled().await });
        let first = sup.spawn(wait("one")).unwrap();
        sup.spawn(wait("two")).unwrap();
        sup.stop(first).unwrap();
        sup.joined(first).await.unwrap();
        let refused = sup.spawn(wait("three")).unwrap_err();
        assert!(
            matches!(&refused, SupervisorError::Full { capacity: 2, name } if name == "three"),
            "{refused:?}"
        );
        assert_eq!(
            refused.to_string(),
            "cannot spawn `three`: the supervisor holds 2 tasks, as many as it can"
        );
        assert_eq!(sup.snapshot().len(), 2, "nothing was registered for it");
        sup.shutdown(Duration::from_secs(1)).await;
    }
}
