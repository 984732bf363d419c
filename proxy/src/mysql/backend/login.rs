//! Logging in to a MySQL/MariaDB server: the greeting, TLS, the handshake response and the
//! authentication exchange, then what the server tracks by default and the tracking sqlmux
//! turns on.

use super::*;

struct AuthContext<'a> {
    password: &'a [u8],
    nonce: &'a [u8],
    tls: bool,
}

impl Context for &AuthContext<'_> {
    fn pass(&self) -> &[u8] {
        self.password
    }
    fn is_ipc_transport(&self) -> bool {
        false
    }
    fn is_tls_transport(&self) -> bool {
        self.tls
    }
    fn scramble(&self) -> &[u8] {
        self.nonce
    }
    fn server_key_pem(&self) -> Option<&[u8]> {
        None
    }
}

/// What the greeting told that the handshake response needs.
struct Login {
    plugin: AuthPlugin<'static>,
    nonce: Vec<u8>,
    version: (u16, u16, u16),
    caps: CapabilityFlags,
    mariadb_caps: u32,
    /// Sequence number of the handshake response.
    seq: u8,
}

/// Refuses `mysql_clear_password` over plain TCP unless the server entry allows it.
fn check_cleartext(plugin: &AuthPlugin<'_>, tls: bool, allowed: bool) -> Result<(), BackendError> {
    if plugin.as_bytes() == b"mysql_clear_password"
        && !crate::credentials::may_send_cleartext(tls, allowed)
    {
        return Err(BackendError::Cleartext);
    }
    Ok(())
}

impl BackendConn {
    /// Connects, negotiates TLS when asked, and authenticates.
    pub async fn connect(p: &ConnectParams<'_>) -> Result<Self, BackendError> {
        let mut tcp = TcpStream::connect(p.address).await?;
        crate::stream::tune(&tcp);
        let mut rbuf = BytesMut::with_capacity(16 * 1024);
        let greeting = read_frame_from(&mut tcp, &mut rbuf).await?;
        let payload = greeting.payload();
        if payload.first() == Some(&0xFF) {
            return Err(server_error(&payload));
        }
        let hs: HandshakePacket<'_> = ParseBuf(&payload)
            .parse(())
            .map_err(|e| protocol(format!("bad greeting: {e}")))?;
        let version = hs
            .maria_db_server_version_parsed()
            .or_else(|| hs.server_version_parsed())
            .unwrap_or((5, 7, 0));
        let nonce = hs.nonce();
        // A MariaDB server clears CLIENT_MYSQL (CLIENT_LONG_PASSWORD) and offers more.
        let server_mariadb_caps = (!hs
            .capabilities()
            .contains(CapabilityFlags::CLIENT_LONG_PASSWORD))
        .then(|| hs.mariadb_ext_capabilities().bits());
        if let Some(ids) = p.identities {
            ids.record(
                p.address,
                crate::mysql::identity::Greeted {
                    version: hs.server_version_str().into_owned(),
                    mariadb_caps: server_mariadb_caps,
                },
            );
        }
        let mariadb_caps = p.mariadb_caps & server_mariadb_caps.unwrap_or(0);
        let mut caps = p.capabilities & hs.capabilities();
        if p.schema.is_some() {
            caps |= CapabilityFlags::CLIENT_CONNECT_WITH_DB & hs.capabilities();
        }
        let mut seq = greeting.last_seq.wrapping_add(1);
        let stream = match p.tls {
            Some(connector) => {
                if !hs.capabilities().contains(CapabilityFlags::CLIENT_SSL) {
                    return Err(BackendError::Tls("server does not offer TLS".into()));
                }
                caps |= CapabilityFlags::CLIENT_SSL;
                let mut req = Vec::new();
                SslRequest::new(caps, 1 << 24, p.collation).serialize(&mut req);
                tcp.write_all(&encode(seq, &req)).await?;
                seq = seq.wrapping_add(1);
                MaybeTls::connect_tls(tcp, connector, p.address)
                    .await
                    .map_err(|e| BackendError::Tls(e.to_string()))?
            }
            None => MaybeTls::Plain(tcp),
        };
        let mut conn = BackendConn {
            cut_handle: stream.cut_handle(),
            stream,
            rbuf,
            capabilities: caps,
            connection_id: hs.connection_id(),
            server_version: hs.server_version_str().into_owned(),
            state: crate::session::BackendState {
                schema: p.schema.unwrap_or("").to_string(),
                ..Default::default()
            },
            tracking_defaults: ClientTracking::none(),
            statements: crate::mysql::statements::BackendStatements::with_limit(p.statement_limit),
        };
        let plugin = hs
            .auth_plugin()
            .map(|a| a.into_owned())
            .unwrap_or(AuthPlugin::MysqlNativePassword);
        let login = Login {
            plugin,
            nonce,
            version,
            caps,
            mariadb_caps,
            seq,
        };
        conn.log_in(p, login).await?;
        conn.read_server_defaults().await?;
        conn.start_tracking().await?;
        Ok(conn)
    }

    /// Answers the greeting: the handshake response with the first step of the server's
    /// authentication plugin, then the rest of the exchange.
    async fn log_in(&mut self, p: &ConnectParams<'_>, login: Login) -> Result<(), BackendError> {
        let ctx = AuthContext {
            password: p.password.as_bytes(),
            nonce: &login.nonce,
            tls: self.stream.is_tls(),
        };
        check_cleartext(&login.plugin, self.stream.is_tls(), p.allow_cleartext)?;
        let mut proc = AuthProc::init(&login.plugin).map_err(|e| protocol(e.to_string()))?;
        let first = proc
            .run(&ctx, &login.nonce)
            .map_err(|e| protocol(format!("auth: {e}")))?;
        let response = HandshakeResponse::new(
            first.data(),
            login.version,
            Some(p.user.as_bytes()),
            p.schema.map(str::as_bytes),
            Some(login.plugin.clone()),
            login.caps,
            None,
            1 << 24,
        )
        .with_mariadb_ext_capabilities(MariadbCapabilities::from_bits_truncate(login.mariadb_caps));
        let mut buf = Vec::new();
        response.serialize(&mut buf);
        // mysql_common always writes utf8mb4 here; the connection must take the client's
        // character set from the handshake, as a direct connection would.
        buf[COLLATION_OFFSET] = p.collation;
        self.write_all(&encode(login.seq, &buf)).await?;
        self.finish_auth(proc, login.nonce, p.password, p.allow_cleartext)
            .await?;
        Ok(())
    }

    /// Reads what the server tracks by default and its prepared-statement limit, before
    /// sqlmux changes the tracking: clients get the former, the statement cache is sized
    /// by the latter.
    async fn read_server_defaults(&mut self) -> Result<(), BackendError> {
        if !self
            .capabilities
            .contains(CapabilityFlags::CLIENT_SESSION_TRACK)
        {
            return Ok(());
        }
        let (tracking, statement_limit) = self.tracking_settings().await?;
        self.tracking_defaults = tracking;
        if let Some(limit) = statement_limit {
            self.statements.cap_limit(limit);
        }
        Ok(())
    }

    /// The connection's `session_track_*` settings now, and the server's
    /// `max_prepared_stmt_count`.
    pub async fn tracking_settings(
        &mut self,
    ) -> Result<(ClientTracking, Option<usize>), BackendError> {
        let row = self
            .query_row(
                "SELECT @@session_track_system_variables, @@session_track_schema, \
                 @@session_track_state_change, @@global.max_prepared_stmt_count",
            )
            .await?;
        let text = |i: usize| {
            row.get(i)
                .and_then(|v| v.as_deref())
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let tracking = ClientTracking::from_server_values(&text(0), &text(1), &text(2));
        Ok((tracking, text(3).parse().ok()))
    }

    /// Asks the server to report schema, variable and other state changes in OK packets.
    pub async fn start_tracking(&mut self) -> Result<(), BackendError> {
        if !self
            .capabilities
            .contains(CapabilityFlags::CLIENT_SESSION_TRACK)
        {
            return Ok(());
        }
        let mut q = vec![command::QUERY];
        q.extend_from_slice(TRACKING.as_bytes());
        self.simple_command(&q).await.map(|_| ())
    }

    /// Follows the server through auth switch and extra auth data until OK or ERR.
    async fn finish_auth(
        &mut self,
        mut proc: AuthProc,
        mut nonce: Vec<u8>,
        password: &str,
        allow_cleartext: bool,
    ) -> Result<(), BackendError> {
        for _ in 0..8 {
            let frame = self.read_frame().await?;
            let payload = frame.payload();
            let seq = frame.last_seq.wrapping_add(1);
            let tls = self.stream.is_tls();
            let reply = match payload.first() {
                Some(0x00) => return Ok(()),
                Some(0xFF) => return Err(server_error(&payload)),
                Some(0xFE) => {
                    let switch: AuthSwitchRequest<'_> = ParseBuf(&payload)
                        .parse(())
                        .map_err(|e| protocol(format!("bad auth switch: {e}")))?;
                    nonce = switch.plugin_data().to_vec();
                    check_cleartext(&switch.auth_plugin(), tls, allow_cleartext)?;
                    proc = AuthProc::init(&switch.auth_plugin())
                        .map_err(|e| protocol(e.to_string()))?;
                    let ctx = AuthContext {
                        password: password.as_bytes(),
                        nonce: &nonce,
                        tls,
                    };
                    proc.run(&ctx, &nonce)
                }
                Some(0x01) => {
                    let ctx = AuthContext {
                        password: password.as_bytes(),
                        nonce: &nonce,
                        tls,
                    };
                    proc.run(&ctx, &payload[1..])
                }
                _ => return Err(protocol("unexpected packet during authentication")),
            }
            .map_err(|e| protocol(format!("auth: {e}")))?;
            if let Some(data) = reply.data() {
                self.write_all(&encode(seq, data)).await?;
            }
        }
        Err(protocol("authentication did not finish"))
    }
}

#[cfg(test)]
mod cleartext_tests {
    use super::*;

    #[test]
    fn mysql_clear_password_is_refused_on_plain_tcp_unless_allowed() {
        let clear = AuthPlugin::Other(std::borrow::Cow::Borrowed(b"mysql_clear_password"));
        assert!(matches!(
            check_cleartext(&clear, false, false),
            Err(BackendError::Cleartext)
        ));
        assert!(check_cleartext(&clear, true, false).is_ok());
        assert!(check_cleartext(&clear, false, true).is_ok());
        assert!(check_cleartext(&AuthPlugin::MysqlNativePassword, false, false).is_ok());
    }
}
