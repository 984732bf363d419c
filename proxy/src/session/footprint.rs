//! What an idle client session costs in memory, held to bounds by tests: its task (the
//! `serve` future, which keeps only what lives between statements: the login, the wait of
//! a session holding a backend and each statement's work are boxed for their duration),
//! its state, and no read or write buffer while it idles.

#[cfg(test)]
mod tests {
    use crate::shared::Shared;
    use crate::workers::WorkerId;

    async fn socket() -> (tokio::net::TcpStream, std::net::SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        accepted.unwrap()
    }

    fn shared() -> std::sync::Arc<Shared> {
        let rt = sqlmux_config::parse(
            "[listen]\nmysql = \"127.0.0.1:0\"\n[[clusters]]\nname = \"s\"\nprotocol = \"mysql\"\n\
             writer_hostgroup = 1\nreader_hostgroup = 2\n[[servers]]\nhostgroup = 1\n\
             address = \"127.0.0.1:1\"\n",
        )
        .unwrap();
        Shared::new(rt, None)
    }

    #[tokio::test]
    async fn an_idle_sessions_task_and_state_stay_small() {
        let shared = shared();
        let (tcp, peer) = socket().await;
        let mysql = crate::mysql::session::serve(shared.clone(), tcp, peer, WorkerId(0));
        let (tcp, peer) = socket().await;
        let pg = crate::pg::session::serve(shared.clone(), tcp, peer, WorkerId(0));
        // Debug-build sizes (release ones are no larger); before the boxing they were 8 KiB,
        // before the login and the watched waits were boxed 2.7 and 3.1 KiB, before the
        // client read was a poll 1.7 and 1.8 KiB.
        assert!(
            std::mem::size_of_val(&mysql) <= 1536,
            "{}",
            std::mem::size_of_val(&mysql)
        );
        assert!(
            std::mem::size_of_val(&pg) <= 1792,
            "{}",
            std::mem::size_of_val(&pg)
        );
        const { assert!(crate::mysql::session::SESSION_SIZE <= 1024) };
        const { assert!(crate::pg::session::SESSION_SIZE <= 1280) };
    }

    #[tokio::test]
    async fn an_idle_client_connection_holds_no_buffer() {
        let (tcp, peer) = socket().await;
        let mut mysql = crate::mysql::client::ClientConn::new(tcp, peer);
        assert_eq!(
            mysql.buffered_capacity(),
            0,
            "none before the first request"
        );
        mysql.queue(1, b"\x00\x00\x00\x02\x00\x00\x00");
        assert!(mysql.buffered_capacity() > 0);
        mysql.flush().await.unwrap();
        mysql.release_buffers();
        assert_eq!(mysql.buffered_capacity(), 0, "none once idle again");

        let (tcp, _) = socket().await;
        let mut pg = crate::pg::conn::PgConn::new(crate::stream::MaybeTls::Plain(tcp));
        assert_eq!(pg.buffered_capacity(), 0);
        pg.queue(b"Z\x00\x00\x00\x05I");
        pg.flush().await.unwrap();
        pg.release_buffers();
        assert_eq!(pg.buffered_capacity(), 0);
    }
}
