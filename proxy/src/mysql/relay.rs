//! Relays a backend's response to the client as raw bytes, chunk by chunk as it arrives:
//! the scanner finds where the response ends; rows are never decoded nor buffered whole,
//! and a slow client slows the backend read (backpressure) instead of growing memory.

use super::backend::{BackendConn, BackendError};
use super::client::{ClientConn, ClientError};
use bytes::Buf;
use sqlmux_protocol::mysql::packet::{encode, HEADER_LEN};
use sqlmux_protocol::mysql::response::err_packet;
use sqlmux_protocol::mysql::scanner::{Expect, Progress, ScanError, Scanner};
use sqlmux_protocol::mysql::session_track::{rewrite_for_client, ClientTracking};

/// Why a relay stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The client failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The backend's response could not be followed.
    #[error("backend protocol error: {0}")]
    Scan(#[from] ScanError),
}

/// How the relay ended, for the session's bookkeeping.
pub struct Relayed {
    /// The scanner, with the last OK / status / error of the response.
    pub scanner: Scanner,
    /// Bytes sent to the client.
    pub bytes: u64,
}

/// Options for one relay.
#[derive(Debug, Clone, Copy)]
pub struct RelayOptions<'a> {
    /// What the command expects.
    pub expect: Expect,
    /// Whether the connection uses CLIENT_DEPRECATE_EOF.
    pub deprecate_eof: bool,
    /// Whether LOAD DATA LOCAL INFILE may pass.
    pub local_infile: bool,
    /// The session state the client would get from its server: OK packets are rewritten
    /// without the entries the backend adds beyond it.
    pub tracking: &'a ClientTracking,
}

/// Relays one response; `on_ok` sees the payload of every OK packet (session tracking).
/// On error the caller must not return the backend to the pool.
pub async fn relay_response(
    backend: &mut BackendConn,
    client: &mut ClientConn,
    opts: RelayOptions<'_>,
    mut on_ok: impl FnMut(&[u8]),
) -> Result<Relayed, RelayError> {
    let mut scanner = Scanner::new(opts.expect, opts.deprecate_eof).report_oks();
    let mut bytes = 0u64;
    loop {
        let (n, progress) = scanner.scan(&backend.rbuf)?;
        if progress == Progress::Ok {
            let start = n - scanner.last_packet_len;
            let payload = &backend.rbuf[start + HEADER_LEN..n];
            on_ok(payload);
            let rewritten = if opts.tracking.keeps_everything() {
                None
            } else {
                rewrite_for_client(payload, opts.tracking)
            };
            match rewritten {
                Some(p) => {
                    let seq = backend.rbuf[start + 3];
                    client.write_raw(&backend.rbuf[..start]).await?;
                    client.write_raw(&encode(seq, &p)).await?;
                }
                None => client.write_raw(&backend.rbuf[..n]).await?,
            }
            backend.rbuf.advance(n);
            bytes += n as u64;
            continue;
        }
        if progress == Progress::LocalInfile && !opts.local_infile {
            let request_len = scanner.last_packet_len;
            let before = n - request_len;
            client.write_raw(&backend.rbuf[..before]).await?;
            let request_seq = backend.rbuf[before + 3];
            backend.rbuf.advance(n);
            refuse_local_infile(backend, client, &mut scanner, request_seq).await?;
            return Ok(Relayed { scanner, bytes });
        }
        if n > 0 {
            client.write_raw(&backend.rbuf[..n]).await?;
            backend.rbuf.advance(n);
            bytes += n as u64;
        }
        match progress {
            Progress::Done | Progress::Ok => break,
            Progress::LocalInfile => {
                client.flush_raw().await?;
                relay_local_file(backend, client).await?;
                scanner.resume_after_local_infile();
            }
            Progress::More => {
                if backend.rbuf.is_empty() {
                    // Nothing pending for the client: let it see what it has while we wait.
                    client.flush_raw().await?;
                }
                // A client that hangs up while the statement runs ends it now.
                tokio::select! {
                    biased;
                    filled = backend.fill() => {
                        filled?;
                    }
                    () = client.hung_up() => return Err(ClientError::Closed.into()),
                }
            }
        }
    }
    client.flush_raw().await?;
    Ok(Relayed { scanner, bytes })
}

/// Copies the client's file packets to the backend until the empty packet that ends them.
async fn relay_local_file(
    backend: &mut BackendConn,
    client: &mut ClientConn,
) -> Result<(), RelayError> {
    loop {
        let frame = client.expect_frame().await?;
        backend.write_all(&frame.raw).await?;
        if frame.payload_len == 0 {
            return Ok(());
        }
    }
}

/// Refuses a LOAD DATA LOCAL INFILE: the backend gets an empty file (so nothing loads),
/// its answer is drained, and the client gets a clear ERR instead of the file request.
async fn refuse_local_infile(
    backend: &mut BackendConn,
    client: &mut ClientConn,
    scanner: &mut Scanner,
    request_seq: u8,
) -> Result<(), RelayError> {
    backend
        .write_all(&encode(request_seq.wrapping_add(1), &[]))
        .await?;
    scanner.resume_after_local_infile();
    loop {
        let (n, progress) = scanner.scan(&backend.rbuf)?;
        if progress == Progress::Ok {
            backend.rbuf.advance(n);
            continue;
        }
        let again_seq = (progress == Progress::LocalInfile)
            .then(|| backend.rbuf[n - scanner.last_packet_len + 3]);
        backend.rbuf.advance(n);
        match (progress, again_seq) {
            (Progress::Done, _) => break,
            (Progress::LocalInfile, Some(seq)) => {
                backend.write_all(&encode(seq.wrapping_add(1), &[])).await?;
                scanner.resume_after_local_infile();
            }
            _ => {
                backend.fill().await?;
            }
        }
    }
    let err = err_packet(
        1148,
        "42000",
        "sqlmux: LOAD DATA LOCAL INFILE is disabled by configuration (mysql.local_infile = false)",
    );
    client.write_raw(&encode(request_seq, &err)).await?;
    client.flush_raw().await?;
    Ok(())
}
