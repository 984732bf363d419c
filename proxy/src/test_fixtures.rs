//! Config fragments the unit tests share.

/// One MySQL cluster `c`: writer hostgroup 1, reader hostgroup 2 (servers follow).
pub const ONE_CLUSTER: &str = r#"[[clusters]]
name = "c"
protocol = "mysql"
writer_hostgroup = 1
reader_hostgroup = 2
"#;
