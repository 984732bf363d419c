//! The Kubernetes manifests (`deploy/kubernetes/`) and the `Dockerfile` against the binary:
//! the config each pod mounts passes `sqlmux check` (with its Secret's keys as the files it
//! names), probes hit `/healthz` and `/readyz` on the control API port, the grace period
//! exceeds the shutdown timeout, sqlmux runs as non-root, a native sidecar is an init
//! container with `restartPolicy: Always` and a startup probe, a classic sidecar drains in
//! `sidecar` mode, and the shared Deployment has its Service and PodDisruptionBudget.

use serde_yaml::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// The control API port of a config.
fn http_port(rt: &sqlmux_config::Runtime) -> u64 {
    let http = rt
        .listen
        .http
        .as_deref()
        .expect("the config serves the control API");
    http.rsplit(':').next().unwrap().parse().unwrap()
}

/// What one manifest file gives to check.
struct Manifest {
    name: String,
    configmaps: HashMap<String, String>,
    secrets: HashMap<String, HashMap<String, String>>,
    docs: Vec<Value>,
}

fn manifests() -> Vec<Manifest> {
    let mut out = Vec::new();
    let dir = repo().join("deploy/kubernetes");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 3, "three manifests: {paths:?}");
    for path in paths {
        let docs = documents(&path);
        let mut configmaps = HashMap::new();
        let mut secrets = HashMap::new();
        for d in &docs {
            let name = str_of(&d["metadata"], "name").to_string();
            match str_of(d, "kind") {
                "ConfigMap" => {
                    configmaps.insert(name, str_of(&d["data"], "sqlmux.toml").to_string());
                }
                "Secret" => {
                    let data = d["stringData"]
                        .as_mapping()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().unwrap().to_string(),
                                v.as_str().unwrap().to_string(),
                            )
                        })
                        .collect();
                    secrets.insert(name, data);
                }
                _ => {}
            }
        }
        out.push(Manifest {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            configmaps,
            secrets,
            docs,
        });
    }
    out
}

/// The mounted config with the Secret's keys written in `tmp` as the files it names (the
/// config then names them there); `sqlmux check` accepts it.
fn checked_config(
    m: &Manifest,
    tmp: &std::path::Path,
    config: String,
    secret: Option<(String, HashMap<String, String>)>,
) -> String {
    let mut config = config;
    if let Some((at, keys)) = secret {
        for (k, v) in keys {
            std::fs::write(tmp.join(k), v).unwrap();
        }
        config = config.replace(&at, &tmp.display().to_string());
    }
    let path = tmp.join("sqlmux.toml");
    std::fs::write(&path, &config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sqlmux"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: sqlmux check: {}",
        m.name,
        String::from_utf8_lossy(&out.stderr)
    );
    config
}

/// Probes: liveness never asks a database; readiness and startup follow sqlmux itself; a
/// native sidecar (an init container) restarts always.
fn check_probes(m: &Manifest, container: &Value, port: u64, init: bool) {
    let probe = |kind: &str| {
        let p = &container[kind]["httpGet"];
        (p["path"].as_str().map(str::to_string), p["port"].as_u64())
    };
    assert_eq!(
        probe("livenessProbe"),
        (Some("/healthz".into()), Some(port)),
        "{}",
        m.name
    );
    assert_eq!(
        probe("readinessProbe"),
        (Some("/readyz".into()), Some(port)),
        "{}",
        m.name
    );
    if init {
        assert_eq!(
            str_of(container, "restartPolicy"),
            "Always",
            "{}: native sidecar",
            m.name
        );
        assert_eq!(
            probe("startupProbe"),
            (Some("/readyz".into()), Some(port)),
            "{}",
            m.name
        );
    }
}

/// Checks one Deployment's sqlmux container against the config it mounts; returns that
/// config's runtime and whether sqlmux is an init container.
fn check_deployment(m: &Manifest, d: &Value) -> (sqlmux_config::Runtime, bool) {
    let pod = &d["spec"]["template"]["spec"];
    let find = |list: &str| {
        pod[list]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|c| str_of(c, "image").contains("sqlmux"))
            .cloned()
    };
    let (container, init) = match find("initContainers") {
        Some(c) => (c, true),
        None => (find("containers").expect("a sqlmux container"), false),
    };
    let volumes: HashMap<&str, &Value> = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| (str_of(v, "name"), v))
        .collect();
    let mut config_dir = None;
    let mut secret = None;
    for mount in container["volumeMounts"].as_sequence().unwrap() {
        let volume = volumes[str_of(mount, "name")];
        let at = str_of(mount, "mountPath").to_string();
        if let Some(cm) = volume["configMap"]["name"].as_str() {
            config_dir = Some((at, m.configmaps[cm].clone()));
        } else if let Some(s) = volume["secret"]["secretName"].as_str() {
            secret = Some((at, m.secrets[s].clone()));
        }
    }
    let (config_dir, config) = config_dir.expect("a mounted ConfigMap");
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        args,
        ["--config", &format!("{config_dir}/sqlmux.toml")],
        "{}: the config comes from the ConfigMap",
        m.name
    );
    // The Secret's files live as long as the config that names them is read.
    let tmp = tempfile::tempdir().unwrap();
    let config = checked_config(m, tmp.path(), config, secret);
    let rt = sqlmux_config::parse(&config).unwrap();
    let port = http_port(&rt);
    check_probes(m, &container, port, init);
    let grace_ms = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("a grace period")
        * 1000;
    assert!(
        grace_ms > rt.shutdown.timeout.as_millis() as u64,
        "{}: terminationGracePeriodSeconds above shutdown.timeout_ms",
        m.name
    );
    let non_root = container["securityContext"]["runAsNonRoot"].as_bool() == Some(true)
        || pod["securityContext"]["runAsNonRoot"].as_bool() == Some(true);
    assert!(non_root, "{}: runs as non-root", m.name);
    let annotations = &d["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        str_of(annotations, "prometheus.io/port")
            .parse::<u64>()
            .ok(),
        Some(port),
        "{}: metrics scraped on the control API port",
        m.name
    );
    (rt, init)
}

#[test]
fn every_manifest_ties_to_the_binary() {
    let mut seen = Vec::new();
    for m in manifests() {
        for d in m.docs.iter().filter(|d| str_of(d, "kind") == "Deployment") {
            let (rt, init) = check_deployment(&m, d);
            let pod = &d["spec"]["template"]["spec"];
            let containers = pod["containers"].as_sequence().unwrap().len();
            let kind = if init {
                "native"
            } else if containers > 1 {
                assert_eq!(
                    rt.shutdown.mode,
                    sqlmux_config::ShutdownMode::Sidecar,
                    "{}: a classic sidecar drains in sidecar mode",
                    m.name
                );
                "classic"
            } else {
                "shared"
            };
            if kind == "shared" {
                let listen: Vec<u64> = [&rt.listen.mysql, &rt.listen.postgres]
                    .into_iter()
                    .flatten()
                    .map(|a| a.rsplit(':').next().unwrap().parse().unwrap())
                    .collect();
                let service = m
                    .docs
                    .iter()
                    .find(|d| str_of(d, "kind") == "Service")
                    .expect("a Service");
                for p in service["spec"]["ports"].as_sequence().unwrap() {
                    let target = p["targetPort"].as_u64().unwrap();
                    assert!(
                        listen.contains(&target),
                        "{}: Service targets {target}",
                        m.name
                    );
                }
                assert!(
                    m.docs
                        .iter()
                        .any(|d| str_of(d, "kind") == "PodDisruptionBudget"),
                    "{}: a PodDisruptionBudget",
                    m.name
                );
            }
            seen.push(kind);
        }
    }
    seen.sort();
    assert_eq!(seen, ["classic", "native", "shared"]);
}

#[test]
fn the_image_runs_the_binary_as_non_root_and_exposes_its_ports() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let line = |prefix: &str| {
        dockerfile
            .lines()
            .rev()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line"))
            .to_string()
    };
    let user = line("USER ");
    let uid: u32 = user[5..].split(':').next().unwrap().trim().parse().unwrap();
    assert_ne!(uid, 0, "{user}");
    assert!(line("ENTRYPOINT ").contains("/usr/local/bin/sqlmux"));
    assert!(
        line("FROM ").contains("distroless"),
        "no shell in the runtime image"
    );
    let example = sqlmux_config::load(&repo().join("sqlmux.example.toml")).unwrap();
    let expose = line("EXPOSE ");
    for address in [
        &example.listen.mysql,
        &example.listen.postgres,
        &example.listen.http,
        &example.listen.admin_mysql,
        &example.listen.admin_postgres,
    ]
    .into_iter()
    .flatten()
    {
        let port = address.rsplit(':').next().unwrap();
        assert!(
            expose.split_whitespace().any(|p| p == port),
            "{expose} lacks {port}"
        );
    }
}
