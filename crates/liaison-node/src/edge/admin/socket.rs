//! The admin socket: the running node's server side, and the client the CLI uses.

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use super::{AdminRequest, Command};
use crate::error::{Error, ErrorKind, Result};
use crate::node::data_dir::Node;
use crate::node::state::NodeState;

/// File name of the admin socket in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

/// The path of a node's admin socket.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ADMIN_SOCKET)
}

/// A refusal as it crosses the socket: the error's kind and its sentence.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RemoteError {
    kind: ErrorKind,
    message: String,
}

/// One reply line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Reply<T> {
    Ok(T),
    Error(RemoteError),
}

fn refusal(kind: ErrorKind, message: String) -> Reply<serde_json::Value> {
    Reply::Error(RemoteError { kind, message })
}

/// Serves the admin socket until `shutdown` resolves. Each command runs on a blocking
/// thread; `after` is told of every successful command (to start or wake workers).
pub async fn serve(
    listener: tokio::net::UnixListener,
    state: Arc<NodeState>,
    after: Arc<dyn Fn() + Send + Sync>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "admin socket accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let (state, after) = (state.clone(), after.clone());
        // Who is on the other end, for the consultation log.
        let caller =
            crate::ops::bulletins::local_operator(stream.peer_cred().ok().map(|c| c.uid()));
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = answer(&state, &after, &line, &caller).await;
                let mut text = serde_json::to_string(&reply).unwrap_or_default();
                text.push('\n');
                if write.write_all(text.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn answer(
    state: &Arc<NodeState>,
    after: &Arc<dyn Fn() + Send + Sync>,
    line: &str,
    caller: &str,
) -> Reply<serde_json::Value> {
    let request = match serde_json::from_str::<AdminRequest>(line) {
        Ok(request) => request,
        Err(e) => {
            return refusal(
                ErrorKind::InvalidRequest,
                format!("not an admin request: {e}"),
            );
        }
    };
    let (state, caller) = (state.clone(), caller.to_owned());
    match tokio::task::spawn_blocking(move || request.execute(&state, &caller)).await {
        Ok(Ok(value)) => {
            after();
            Reply::Ok(value)
        }
        Ok(Err(e)) => refusal(e.kind(), crate::error::describe(&e)),
        Err(e) => refusal(ErrorKind::Internal, format!("the command failed: {e}")),
    }
}

/// Whether a node is serving on `data_dir`'s admin socket.
pub fn node_running(data_dir: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket_path(data_dir)).is_ok()
}

/// Runs `command` on the node in `data_dir`: over its admin socket when it runs, or
/// directly on its files when it does not. Either way the reply is typed.
///
/// Errors: the command's own (over the socket: [`Error::Refused`] with the node's
/// kind and words), [`Error::AdminSocket`] if a node listens but the exchange fails, or
/// the errors of opening the node offline.
pub fn call<C: Command>(data_dir: &Path, command: C) -> Result<C::Reply> {
    let path = socket_path(data_dir);
    match std::os::unix::net::UnixStream::connect(&path) {
        Ok(stream) => call_running(&path, stream, command),
        // No socket, or nobody listening on it: the node is not running.
        Err(_) => {
            let state = NodeState::open_offline(Node::load(data_dir)?)?;
            command.run_as(&state, &crate::ops::bulletins::local_operator(None))
        }
    }
}

fn call_running<C: Command>(
    path: &Path,
    mut stream: std::os::unix::net::UnixStream,
    command: C,
) -> Result<C::Reply> {
    let failed = |problem: String| Error::AdminSocket {
        path: path.to_owned(),
        problem,
    };
    let mut text = serde_json::to_string(&command.into())
        .map_err(|e| failed(format!("cannot encode the request: {e}")))?;
    text.push('\n');
    stream
        .write_all(text.as_bytes())
        .map_err(|e| failed(format!("cannot send: {e}")))?;
    let mut line = String::new();
    std::io::BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(|e| failed(format!("no answer: {e}")))?;
    match serde_json::from_str::<Reply<C::Reply>>(&line) {
        Ok(Reply::Ok(reply)) => Ok(reply),
        Ok(Reply::Error(RemoteError { kind, message })) => Err(Error::Refused { kind, message }),
        Err(e) => Err(failed(format!("unreadable answer: {e}"))),
    }
}
