//! `quarry serve`: the HTTP API (`quarry-server`) and the sync thread.

use anyhow::{Context, Result};
use quarry::app::{open_catalog, syncer};
use quarry::config::Config;
use quarry_query::{Auth, QueryService};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub fn serve(config: &Config, addr: SocketAddr) -> Result<()> {
    let catalog = open_catalog(config)?;
    let auth = Auth::new(
        config.auth.admin_token.as_deref(),
        config.auth.query_token.as_deref(),
    );
    let open = !auth.is_enabled();
    let addr = if open && !addr.ip().is_loopback() {
        eprintln!(
            "no admin or query token is configured: listening on 127.0.0.1 only (set QUARRY_ADMIN_TOKEN / QUARRY_QUERY_TOKEN to serve on {addr})"
        );
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let logger = Arc::new(quarry_query::QuestionLogger::start(config.analytics));
    let service =
        Arc::new(QueryService::new(catalog.clone(), config.query, auth)?.with_logger(logger));
    let syncer = Arc::new(syncer(config, catalog.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let sync_alive = Arc::new(AtomicBool::new(true));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    {
        let (syncer, stop, alive) = (syncer.clone(), stop.clone(), sync_alive.clone());
        std::thread::Builder::new()
            .name("quarry-sync".into())
            .spawn(move || {
                // Cleared however the loop ends (a panic included): /readyz.
                struct Alive(Arc<AtomicBool>);
                impl Drop for Alive {
                    fn drop(&mut self) {
                        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                let _alive = Alive(alive);
                syncer.run_loop(&stop);
                let _ = done_tx.send(());
            })
            .context("starting the sync thread")?;
    }
    quarry_server::metrics::install();
    // The default model loads now, not on the first question (/readyz).
    if let Err(e) = catalog.models().get(catalog.models().default_name()) {
        eprintln!("warning: {e}");
    }
    let import_roots = config
        .server
        .import_roots
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let admin = quarry_server::AdminState {
        service: service.clone(),
        syncer: syncer.clone(),
        import_roots,
    };
    let options = quarry_server::Options {
        limits: quarry_server::Limits {
            upload_bytes: config.server.max_upload_bytes,
            ..quarry_server::Limits::default()
        },
        http: quarry_server::HttpOptions {
            cors_origins: config.server.cors_origins.clone(),
            request_timeout: std::time::Duration::from_secs(config.server.request_timeout_secs),
            local_only: open,
        },
        sync_alive: Some(sync_alive),
    };
    let app = quarry_server::router(service, Some(admin), options);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        quarry_server::serve(
            addr,
            app,
            quarry_server::ConnectionLimits {
                header_read_timeout: std::time::Duration::from_secs(
                    config.server.header_read_timeout_secs,
                ),
                max_connections: config.server.max_connections,
                max_connections_per_ip: config.server.max_connections_per_ip,
            },
            |bound| {
                quarry::remote::announce(&config.data_dir, bound);
                println!("quarry listening on http://{bound}");
                if open {
                    println!("no tokens configured: the API is open to this machine only");
                }
                let _ = std::io::stdout().flush();
            },
            shutdown_signal(),
        )
        .await
    })?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    syncer.shutdown();
    // A running sync is not interrupted mid-document; if it does not end
    // soon, it is queued again at the next start.
    if done_rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .is_err()
    {
        eprintln!("a sync job is still running; it will be resumed at the next start");
    }
    catalog.flush()?;
    quarry::remote::withdraw(&config.data_dir);
    println!("quarry stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
