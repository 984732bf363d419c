//! What the tests that drive tokio-postgres share: a runtime and a connection as `ledger`.
// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use tokio_postgres::{Client, NoTls};

/// A current-thread runtime with timers and I/O.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client of `ledger` on 127.0.0.1:`port`; its connection task runs on the runtime.
pub async fn connect(port: u16) -> Client {
    try_connect(port, "ledgerpw").await.unwrap()
}

/// Like [`connect`] with a given password, returning the error.
pub async fn try_connect(port: u16, password: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=ledger password={password} dbname=ledger connect_timeout=10"),
        NoTls,
    )
    .await?;
    tokio::spawn(conn);
    Ok(client)
}
