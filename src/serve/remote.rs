//! A dashboard's [`Source`] in another process: the board the served program keeps for this
//! client, asked over a connection that a task of its own keeps up — reconnecting, once a second,
//! whenever it is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{Notify, mpsc, watch};

use super::client::{Client, ClientError, Target};
use crate::board::{Command, Frame, Query, Source};

/// How long to wait before connecting again.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// The board of a served program, over a connection. See the module's documentation.
pub struct Remote {
    label: String,
    queries: watch::Sender<Option<Query>>,
    commands: mpsc::UnboundedSender<(Command, Query)>,
    frames: watch::Receiver<Option<Frame>>,
    connected: Arc<AtomicBool>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Remote {
    /// Connects to `target` (again and again, as long as it lives), on the current runtime.
    pub fn start(target: Target, token: Option<String>) -> Remote {
        let (queries, queries_rx) = watch::channel(None);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (frames_tx, frames) = watch::channel(None);
        let connected = Arc::new(AtomicBool::new(false));
        let arrived = Arc::new(Notify::new());
        let label = target.to_string();
        let link = Link {
            target,
            token,
            queries: queries_rx,
            commands: commands_rx,
            frames: frames_tx,
            connected: connected.clone(),
            arrived: arrived.clone(),
        };
        let task = tokio::spawn(link.run());
        Remote {
            label,
            queries,
            commands,
            frames,
            connected,
            arrived,
            task,
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Source for Remote {
    fn frame(&mut self, query: &Query) -> Option<Frame> {
        self.queries.send_if_modified(|last| {
            let changed = last.as_ref() != Some(query);
            *last = Some(query.clone());
            changed
        });
        if self.frames.has_changed().unwrap_or(false) {
            self.frames.borrow_and_update().clone()
        } else {
            None
        }
    }

    fn command(&mut self, command: Command, query: &Query) {
        let _ = self.commands.send((command, query.clone()));
    }

    fn target(&self) -> Option<String> {
        Some(self.label.clone())
    }

    fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.arrived.clone())
    }
}

/// The task that keeps the connection.
struct Link {
    target: Target,
    token: Option<String>,
    queries: watch::Receiver<Option<Query>>,
    commands: mpsc::UnboundedReceiver<(Command, Query)>,
    frames: watch::Sender<Option<Frame>>,
    connected: Arc<AtomicBool>,
    arrived: Arc<Notify>,
}

impl Link {
    async fn run(mut self) {
        loop {
            if let Ok(client) = self.attach().await {
                self.set_connected(true);
                let _ = self.session(client).await;
                self.set_connected(false);
            }
            tokio::time::sleep(RECONNECT_EVERY).await;
        }
    }

    fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
        self.arrived.notify_one();
    }

    async fn attach(&self) -> Result<Client, ClientError> {
        let mut client = Client::connect(&self.target, self.token.as_deref()).await?;
        client.request(json!({ "type": "attach" })).await?;
        Ok(client)
    }

    /// Sends the newest query whenever the last frame has come, and every command at once;
    /// hands each frame over. Ends when the connection does.
    async fn session(&mut self, mut client: Client) -> Result<(), ClientError> {
        // A query is always in flight, so frames keep coming at the program's pace.
        let mut waiting = false;
        self.queries.mark_changed();
        loop {
            tokio::select! {
                changed = self.queries.changed(), if !waiting => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let query = self.queries.borrow_and_update().clone();
                    if let Some(query) = query {
                        client.send(&json!({ "type": "query", "query": query })).await?;
                        waiting = true;
                    }
                }
                command = self.commands.recv() => {
                    let Some((command, query)) = command else { return Ok(()) };
                    let message = json!({ "type": "command", "command": command, "query": query });
                    client.send(&message).await?;
                }
                message = client.next() => {
                    let Some(message) = message? else {
                        return Err(ClientError::Lost("closed".into()));
                    };
                    if message["type"] == "frame" {
                        let mut frame = message["frame"].clone();
                        crate::text::escape_json(&mut frame);
                        let frame: Frame = serde_json::from_value(frame)
                            .map_err(|e| ClientError::Protocol(e.to_string()))?;
                        self.frames.send_replace(Some(frame));
                        self.arrived.notify_one();
                        waiting = false;
                        // Ask again: the next frame comes when the program allows.
                        self.queries.mark_changed();
                    }
                }
            }
        }
    }
}
