//! `marketpipe serve --data-dir DIR [--listen ADDR]`.

use anyhow::{Context, Result};
use marketpipe_api::{router, ApiConfig};

use crate::{cli::ServeArgs, config::FileConfig};

/// Serves the API over an existing store until SIGINT/SIGTERM.
pub fn serve(args: ServeArgs, file: &FileConfig) -> Result<()> {
    let data_dir = file.data_dir(args.data.data_dir);
    let listen = file.listen(args.listen);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let store = crate::stores::open(args.store.as_deref(), &data_dir, false).await?;
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, data_dir = %data_dir.display(), "serving the API");
        // Scripts and tests read the bound address (useful with port 0) from stdout.
        println!("marketpipe API listening on http://{addr}");
        let app = router(store, ApiConfig::default());
        marketpipe_api::serve(listener, app, shutdown_signal()).await.context("the API server failed")?;
        tracing::info!("API stopped");
        Ok(())
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
