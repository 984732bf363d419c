//! A throwaway Patroni cluster: PostgreSQL nodes managed by `patroni` (Debian's package),
//! their state in one [`Etcd`], each node in its own temp dir with free ports for
//! PostgreSQL and Patroni's REST API. As root, the nodes run as the `postgres` OS user.
//! Every node has the ledger role and database (made by the bootstrap's `post_bootstrap`
//! script). Dropping the cluster stops every node (Patroni stops its PostgreSQL) and kills
//! whatever is left.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::cli::{self, CliOutput, Psql};
use crate::etcd::Etcd;
use crate::faults;
use crate::ports::free_port;
use crate::postgres::{
    as_owner, owned_temp_dir, pg_binary, LEDGER_DATABASE, LEDGER_PASSWORD, LEDGER_USER,
};
use crate::process::{self, ServerProcess};
use crate::sys;

/// Patroni's namespace in etcd (its default).
pub const NAMESPACE: &str = "/service";
/// Patroni's leader key time to live, seconds: a dead leader's key expires after this.
pub const TTL_SECONDS: u64 = 10;
/// How long a cluster may take to bootstrap every node.
const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(120);
/// Grace period between SIGTERM (Patroni stops PostgreSQL) and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// One Patroni-managed PostgreSQL node.
pub struct PatroniNode {
    /// The member name (`n1`, `n2`, ...).
    pub name: String,
    /// PostgreSQL's port on 127.0.0.1.
    pub pg_port: u16,
    /// Patroni's REST API port on 127.0.0.1.
    pub rest_port: u16,
    patroni: Option<ServerProcess>,
    // Last field: removed only after the node has stopped.
    dir: TempDir,
}

impl PatroniNode {
    /// `127.0.0.1:PORT` of its PostgreSQL.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.pg_port)
    }

    /// Its Patroni configuration file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("patroni.yml")
    }

    /// Patroni's log (PostgreSQL's output too).
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("patroni.log")
    }

    /// The postmaster's pid (from `postmaster.pid`), while PostgreSQL runs.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        let pid: u32 = text.lines().next()?.trim().parse().ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    /// The `patroni` process id, while it runs.
    pub fn patroni_pid(&self) -> Option<u32> {
        self.patroni.as_ref().map(|p| p.pid())
    }

    /// A `psql` builder for the ledger role over TCP.
    pub fn ledger_psql(&self) -> Psql {
        Psql::tcp("127.0.0.1", self.pg_port)
            .user(LEDGER_USER)
            .password(LEDGER_PASSWORD)
            .database(LEDGER_DATABASE)
    }

    /// The node dies the way a machine does: kill -9 of Patroni and of the postmaster with
    /// its backends.
    pub fn kill(&mut self) -> io::Result<()> {
        let postmaster = self.postmaster_pid();
        if let Some(p) = self.patroni.as_ref() {
            faults::kill_tree(p.pid())?;
        }
        if let Some(pid) = postmaster {
            faults::kill_tree(pid)?;
        }
        if let Some(mut p) = self.patroni.take() {
            p.stop();
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.patroni.take() {
            p.stop();
        }
        // Whatever Patroni left running (it was killed before it stopped PostgreSQL).
        if let Some(pid) = self.postmaster_pid() {
            let _ = faults::kill_tree(pid);
        }
    }
}

impl Drop for PatroniNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Patroni cluster of PostgreSQL nodes sharing one etcd.
pub struct PatroniCluster {
    /// Patroni's scope (the cluster's name in etcd).
    pub scope: String,
    /// The nodes, `n1` first.
    pub nodes: Vec<PatroniNode>,
}

impl PatroniCluster {
    /// Starts `size` nodes of scope `scope` at once (one bootstraps, the others clone it),
    /// and waits until one leads and every other one streams from it.
    pub fn start(etcd: &Etcd, scope: &str, size: usize) -> io::Result<PatroniCluster> {
        let owner = sys::unprivileged_owner()?;
        let mut nodes = Vec::new();
        for i in 1..=size {
            nodes.push(start_node(etcd, scope, &format!("n{i}"), owner)?);
        }
        let cluster = PatroniCluster {
            scope: scope.to_string(),
            nodes,
        };
        cluster.wait_healthy(BOOTSTRAP_TIMEOUT)?;
        Ok(cluster)
    }

    /// Waits until a leader runs as the primary and every other node that runs Patroni is a
    /// running replica.
    pub fn wait_healthy(&self, timeout: Duration) -> io::Result<()> {
        let alive = self.nodes.iter().filter(|n| n.patroni.is_some()).count();
        process::poll_until("the Patroni cluster to be healthy", timeout, || {
            let members = self.members()?;
            let running = members
                .iter()
                .filter(|m| m.state == "running" || m.state == "streaming")
                .count();
            let leaders = members.iter().filter(|m| m.role == "leader").count();
            if running == alive && leaders == 1 {
                Ok(true)
            } else {
                Err(io::Error::other(format!("members: {members:?}")))
            }
        })
    }

    /// The members as Patroni's REST `GET /cluster` shows them (asked of the first node
    /// that answers).
    pub fn members(&self) -> io::Result<Vec<Member>> {
        let mut last = io::Error::other("no node runs Patroni");
        for node in self.nodes.iter().filter(|n| n.patroni.is_some()) {
            let addr = format!("127.0.0.1:{}", node.rest_port);
            match crate::http::request(&addr, "GET", "/cluster", None) {
                Ok((200, body)) => return parse_members(&body),
                Ok((status, body)) => last = io::Error::other(format!("{status}: {body}")),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The node that leads now.
    pub fn leader(&self) -> io::Result<&PatroniNode> {
        let members = self.members()?;
        let name = members
            .iter()
            .find(|m| m.role == "leader")
            .map(|m| m.name.clone())
            .ok_or_else(|| io::Error::other(format!("no leader: {members:?}")))?;
        Ok(self.node(&name))
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> &PatroniNode {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// The node named `name`, to kill it.
    pub fn node_mut(&mut self, name: &str) -> &mut PatroniNode {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// `patronictl switchover` from the leader to `candidate`, now, without asking.
    pub fn switchover(&self, candidate: &str) -> io::Result<CliOutput> {
        let leader = self.leader()?.name.clone();
        let mut cmd = Command::new("patronictl");
        cmd.arg("-c")
            .arg(self.node(candidate).config())
            .args(["switchover", "--leader", &leader])
            .args(["--candidate", candidate, "--force"])
            .arg(&self.scope);
        let out = cli::run(&mut cmd, None, Duration::from_secs(60))?;
        if !out.success() {
            return Err(io::Error::other(format!(
                "patronictl switchover failed ({}): {}{}",
                out.status, out.stdout, out.stderr
            )));
        }
        Ok(out)
    }

    /// The etcd key of the cluster's leader (its value is the leader's member name).
    pub fn leader_key(&self) -> String {
        format!("{NAMESPACE}/{}/leader", self.scope)
    }
}

/// One member as `GET /cluster` lists it.
#[derive(Debug, Clone)]
pub struct Member {
    /// Member name.
    pub name: String,
    /// `leader`, `replica`, `sync_standby`, ...
    pub role: String,
    /// `running`, `streaming`, `starting`, `stopped`, ...
    pub state: String,
}

fn parse_members(body: &str) -> io::Result<Vec<Member>> {
    let doc: serde_json::Value =
        serde_json::from_str(body).map_err(|e| io::Error::other(format!("{e}: {body}")))?;
    let field = |m: &serde_json::Value, k: &str| m[k].as_str().unwrap_or_default().to_string();
    Ok(doc["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| Member {
            name: field(m, "name"),
            role: field(m, "role"),
            state: field(m, "state"),
        })
        .collect())
}

fn start_node(
    etcd: &Etcd,
    scope: &str,
    name: &str,
    owner: Option<(u32, u32)>,
) -> io::Result<PatroniNode> {
    let dir = owned_temp_dir(&format!("sqlmux-patroni-{name}-"), owner)?;
    let (pg_port, rest_port) = (free_port()?, free_port()?);
    let bootstrap = dir.path().join("post_bootstrap.sh");
    fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\nset -e\npsql -d \"$1\" -v ON_ERROR_STOP=1 \
             -c \"CREATE ROLE {LEDGER_USER} LOGIN CREATEDB PASSWORD '{LEDGER_PASSWORD}'\" \
             -c \"CREATE DATABASE {LEDGER_DATABASE} OWNER {LEDGER_USER}\"\n"
        ),
    )?;
    fs::set_permissions(&bootstrap, fs::Permissions::from_mode(0o755))?;
    let config = dir.path().join("patroni.yml");
    fs::write(
        &config,
        node_config(etcd, scope, name, dir.path(), pg_port, rest_port),
    )?;
    if let Some((uid, gid)) = owner {
        for f in [&bootstrap, &config] {
            std::os::unix::fs::chown(f, Some(uid), Some(gid))?;
        }
    }
    let log = dir.path().join("patroni.log");
    let out = OpenOptions::new().create(true).append(true).open(&log)?;
    let mut cmd = as_owner(Command::new("patroni"), owner, dir.path());
    cmd.arg(&config)
        .env("HOME", dir.path())
        .env("PATH", path_with_pg_bin())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let patroni = ServerProcess::spawn("patroni", &mut cmd, "TERM", STOP_GRACE)?;
    Ok(PatroniNode {
        name: name.to_string(),
        pg_port,
        rest_port,
        patroni: Some(patroni),
        dir,
    })
}

/// `PATH` with PostgreSQL's server binaries first (the bootstrap script runs `psql`).
fn path_with_pg_bin() -> String {
    let bin = pg_binary("postgres");
    let bin = bin.parent().map(Path::to_path_buf).unwrap_or_default();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The node's `patroni.yml`: fast failure detection (TTL 10 s, a loop a second), settings
/// for throwaway servers (no fsync), SCRAM for applications over TCP.
fn node_config(
    etcd: &Etcd,
    scope: &str,
    name: &str,
    dir: &Path,
    pg_port: u16,
    rest_port: u16,
) -> String {
    let dir = dir.display();
    let bin = pg_binary("postgres");
    let bin_dir = bin.parent().map(Path::display);
    let bin_dir = bin_dir.map(|d| d.to_string()).unwrap_or_default();
    let etcd = etcd.endpoint();
    format!(
        r#"scope: {scope}
namespace: {NAMESPACE}/
name: {name}
log:
  level: INFO
restapi:
  listen: 127.0.0.1:{rest_port}
  connect_address: 127.0.0.1:{rest_port}
etcd3:
  hosts: {etcd}
bootstrap:
  dcs:
    ttl: {TTL_SECONDS}
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 104857600
    postgresql:
      use_pg_rewind: false
      parameters:
        fsync: 'off'
        synchronous_commit: 'off'
        wal_level: replica
        hot_standby: 'on'
        max_wal_senders: 5
        max_replication_slots: 5
        max_connections: 200
        wal_keep_size: 64MB
  initdb:
  - encoding: UTF8
  - no-sync
  - no-locale
  pg_hba:
  - local all all trust
  - host replication all 127.0.0.1/32 trust
  - host all all 127.0.0.1/32 scram-sha-256
  post_bootstrap: {dir}/post_bootstrap.sh
postgresql:
  listen: 127.0.0.1:{pg_port}
  connect_address: 127.0.0.1:{pg_port}
  data_dir: {dir}/data
  bin_dir: {bin_dir}
  pgpass: {dir}/pgpass
  authentication:
    superuser:
      username: postgres
      password: postgrespw
    replication:
      username: repl
      password: replpw
  parameters:
    unix_socket_directories: '{dir}'
    password_encryption: scram-sha-256
    shared_buffers: 16MB
    dynamic_shared_memory_type: mmap
"#
    )
}
