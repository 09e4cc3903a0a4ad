//! The Prometheus endpoint: `GET /metrics` in the OpenMetrics text format, plain HTTP
//! on the address `[metrics] listen` names (off when absent). Bind it to loopback or a
//! management network: it tells whoever can reach it which partners this agency has
//! and how much it exchanges with each.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::node::state::NodeState;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `/metrics` on `listener` until `stop` changes.
pub async fn serve(listener: TcpListener, state: Arc<NodeState>, mut stop: watch::Receiver<bool>) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let state = state.clone();
            async move {
                // Reading the log's queues is blocking work: off the async threads.
                match tokio::task::spawn_blocking(move || state.metrics.encode(&state)).await {
                    Ok(text) => (
                        axum::http::StatusCode::OK,
                        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
                        text,
                    ),
                    Err(_) => (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        [(axum::http::header::CONTENT_TYPE, "text/plain")],
                        "metrics could not be read; see the node's log\n".to_owned(),
                    ),
                }
            }
        }),
    );
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "the metrics endpoint stopped");
    }
}
