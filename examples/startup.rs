//! A small application that migrates its database when it starts.
//!
//! ```sh
//! cargo run --example startup                       # SQLite file startup-example.db
//! cargo run --example startup -- postgres://postgres@127.0.0.1/app migrations-example/postgres
//! ```
//!
//! Many copies may start at once: each stage is applied exactly once.

use migrate::{Migrator, StartupPolicy};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The library reports through `tracing`; an application chooses where it goes.
    tracing_subscriber::fmt()
        .with_env_filter("migrate=info")
        .with_writer(std::io::stderr)
        .init();

    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "sqlite://startup-example.db".into());
    let dir = args.next().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/migrations-example/sqlite").into()
    });

    let migrator = Migrator::from_dir(&dir)?.policy(StartupPolicy::ExpandOnly);
    let report = migrator.run(&url).await?;
    println!(
        "database ready: {} applied now, {} contract stage(s) left for the deploy job",
        report.applied.len(),
        report.contracts_left.len()
    );
    Ok(())
}
