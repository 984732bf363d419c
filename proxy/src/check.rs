//! `sqlmux check --config FILE`: what a file resolves to, printed for a person (passwords
//! hidden), so a ConfigMap can be checked before it is rolled out.

use sqlmux_config::{Protocol, Runtime};
use std::fmt::Write;

/// The resolved runtime as text: listeners, clusters with their hostgroups and servers,
/// users (passwords hidden), shutdown.
pub fn describe(rt: &Runtime) -> String {
    let mut out = String::new();
    let listen = &rt.listen;
    for (name, address) in [
        ("mysql", &listen.mysql),
        ("postgres", &listen.postgres),
        ("http", &listen.http),
        ("admin_mysql", &listen.admin_mysql),
        ("admin_postgres", &listen.admin_postgres),
    ] {
        if let Some(a) = address {
            let _ = writeln!(out, "listen {name} {a}");
        }
    }
    for c in &rt.clusters {
        let protocol = match c.protocol {
            Protocol::Mysql => "mysql",
            Protocol::Postgres => "postgres",
        };
        let _ = writeln!(
            out,
            "cluster {} ({protocol}): writer hostgroup {}, reader hostgroup {}{}",
            c.name,
            c.writer_hostgroup,
            c.reader_hostgroup,
            if c.patroni.is_some() {
                format!(", servers from {}", crate::sources::describe(c))
            } else {
                String::new()
            }
        );
        for hostgroup in [c.writer_hostgroup, c.reader_hostgroup] {
            for s in rt.servers.iter().filter(|s| s.hostgroup == hostgroup) {
                let _ = writeln!(
                    out,
                    "  hostgroup {hostgroup}: {} {} weight {} max_connections {}{}",
                    s.address,
                    s.status.as_str(),
                    s.weight,
                    s.max_connections,
                    if s.tls { " tls" } else { "" }
                );
            }
        }
    }
    for u in &rt.users {
        let _ = writeln!(
            out,
            "user {} -> cluster {} (password hidden)",
            u.name, u.cluster
        );
    }
    let _ = writeln!(
        out,
        "shutdown {:?}: timeout {} ms, accept grace {} ms",
        rt.shutdown.mode,
        rt.shutdown.timeout.as_millis(),
        rt.shutdown.accept_grace.as_millis()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_described_without_its_passwords() {
        let rt = sqlmux_config::parse(
            "[listen]\nmysql = \"0.0.0.0:6033\"\n[[clusters]]\nname = \"shop\"\nprotocol = \"mysql\"\n\
             writer_hostgroup = 10\nreader_hostgroup = 20\n[[servers]]\nhostgroup = 10\naddress = \"db1:3306\"\n\
             [[servers]]\nhostgroup = 20\naddress = \"db2:3306\"\n\
             [[users]]\nname = \"app\"\npassword = \"s3cret-pw\"\ncluster = \"shop\"\n",
        )
        .unwrap();
        let text = describe(&rt);
        for want in [
            "listen mysql 0.0.0.0:6033",
            "cluster shop (mysql): writer hostgroup 10, reader hostgroup 20",
            "hostgroup 10: db1:3306 ONLINE",
            "hostgroup 20: db2:3306 ONLINE",
            "user app -> cluster shop (password hidden)",
        ] {
            assert!(text.contains(want), "{want}: {text}");
        }
        assert!(!text.contains("s3cret-pw"));
    }
}
