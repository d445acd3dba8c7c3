//! The deployment files (Dockerfile, deploy/k8s and its overlays, deploy/compose.yaml, deploy/haproxy,
//! deploy/prometheus, deploy/grafana) checked by their own tools and held against the code: every
//! environment variable they set is one technic reads, every probe path answers, every port is the
//! one the server listens on, and every metric a rule or a dashboard panel queries is one a real
//! server's `/metrics` shows (or a worker metric documented in the README, for `technic worker`).
//!
//! Tools, installed by scripts/test: hadolint, kubernetes-validate (the Kubernetes 1.30 JSON
//! schemas, offline), PyYAML and jsonschema (requirements-test.txt); promtool (Debian's
//! `prometheus`) and HAProxy (Debian's `haproxy`). Here the Dockerfile is checked by hadolint and
//! its shape; the image itself is built and run by scripts/image-check, which scripts/test runs
//! after these tests (Debian's Docker engine, a base made by debootstrap where no registry
//! answers). The kustomize overlays are rendered by
//! tests/kustomize.py, held to `kubectl kustomize` where kubectl is installed. Without a tool its
//! check says so and passes, except under `CI=true`, where it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use technic_engine::Scanner;
use technic_server::{AppState, Config};
use technic_testkit::loopback::LoopbackServer;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy(path: &str) -> PathBuf {
    root().join("deploy").join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Metrics `technic worker` exposes on its own `/metrics` (README, "Deploy"; shown by
/// technic-cli's `distributed_cli.rs`): rules and panels may query them although a server's
/// `/metrics` does not show them.
const WORKER_METRICS: [&str; 3] = [
    "technic_worker_backlog",
    "technic_worker_in_flight_batches",
    "technic_worker_symbols_processed_total",
];

/// Metrics of other programs: Prometheus's own `up`, and redis_exporter's `redis_up`.
const EXTERNAL_METRICS: [&str; 2] = ["up", "redis_up"];

/// Runs a tool; `None` (after saying why, or failing under CI) when it is not installed.
fn run(program: &str, args: &[&str], dir: &Path) -> Option<Output> {
    match Command::new(program).args(args).current_dir(dir).output() {
        Ok(output) => Some(output),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI: {program} cannot run ({e}); scripts/test installs it"
            );
            eprintln!("SKIPPED {program} {args:?}: {e}; scripts/test installs it");
            None
        }
    }
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether Python has these modules; says why not (or fails under CI) when it does not.
fn python_has(modules: &str) -> bool {
    let found = Command::new(python())
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: Python lacks {modules}; scripts/test installs requirements-test.txt"
        );
        eprintln!("SKIPPED: Python lacks {modules} (requirements-test.txt)");
    }
    found
}

fn succeeded(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every document of a YAML file, as JSON (PyYAML's safe loader).
fn yaml(path: &Path) -> Vec<Value> {
    let script = "import json, sys, yaml\njson.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)";
    let output = Command::new(python())
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python runs");
    succeeded(&output, &format!("reading {}", path.display()));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// The names `.env.example` lists (its own test holds it to the parsers), and its values.
fn env_example() -> BTreeMap<String, String> {
    read(&root().join(".env.example"))
        .lines()
        .filter_map(|line| {
            let line = line.strip_prefix("# ").unwrap_or(line);
            let (name, value) = line.split_once('=')?;
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                .then(|| (name.to_owned(), value.to_owned()))
        })
        .collect()
}

fn assert_known_env<'a>(names: impl IntoIterator<Item = &'a String>, file: &str) {
    let known = env_example();
    let mut count = 0;
    for name in names {
        count += 1;
        assert!(
            known.contains_key(name),
            "{file} sets {name}, which technic does not read (.env.example)"
        );
    }
    assert!(count > 0, "{file}: no environment found");
}

fn default_port() -> String {
    env_example()["PORT"].clone()
}

/// Logical lines of a Dockerfile (continuations joined, comments dropped), as (instruction, rest).
fn dockerfile(text: &str) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (instruction, rest) = current.split_once(' ').unwrap_or((&current, ""));
                lines.push((instruction.to_ascii_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    lines
}

#[test]
fn the_dockerfile_is_multi_stage_slim_non_root_and_passes_hadolint() {
    let text = read(&root().join("Dockerfile"));
    if let Some(output) = run("hadolint", &["Dockerfile"], &root()) {
        succeeded(&output, "hadolint Dockerfile");
        // hadolint really judges: a Dockerfile breaking its rules is refused.
        let bad =
            std::env::temp_dir().join(format!("technic-bad-{}.Dockerfile", std::process::id()));
        std::fs::write(&bad, "FROM debian\nRUN apt-get install curl\n").expect("write");
        let refused = run("hadolint", &[bad.to_str().expect("path")], &root()).expect("hadolint");
        std::fs::remove_file(&bad).ok();
        assert!(
            !refused.status.success(),
            "hadolint accepted a bad Dockerfile"
        );
    }
    let lines = dockerfile(&text);
    let stages: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, (i, _))| i == "FROM")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let build = &lines[stages[0]].1;
    assert!(
        build.starts_with("rust:") && build.ends_with("AS build"),
        "{build}"
    );
    let runtime = &lines[stages[1]..];
    let from = &runtime[0].1;
    assert!(
        from.starts_with("debian:") && from.contains("-slim"),
        "{from}"
    );
    let all = |instruction: &str| -> Vec<&String> {
        runtime
            .iter()
            .filter(|(i, _)| i == instruction)
            .map(|(_, rest)| rest)
            .collect()
    };
    // Only the binary and the CA certificates come from the build.
    let copies = all("COPY");
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert!(copies.iter().all(|c| c.starts_with("--from=build ")));
    assert!(copies.iter().any(|c| c.ends_with("/usr/local/bin/technic")));
    assert!(copies.iter().any(|c| c.contains("ca-certificates.crt")));
    let user = all("USER");
    assert_eq!(user.len(), 1);
    assert!(
        !user[0].starts_with("root") && !user[0].starts_with("0"),
        "{user:?}"
    );
    let env = all("ENV")
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(env.contains("HOST=0.0.0.0"), "{env}");
    let port = default_port();
    assert!(env.contains(&format!("PORT={port}")), "{env}");
    assert_eq!(all("EXPOSE"), vec![&port]);
    let health = all("HEALTHCHECK");
    assert!(
        health.len() == 1 && health[0].contains("GET /health"),
        "{health:?}"
    );
    assert_eq!(all("ENTRYPOINT"), vec![&r#"["technic"]"#.to_owned()]);
    for name in env
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, _)| k)
    {
        // SSL_CERT_FILE is OpenSSL's and rustls-native-certs' own variable.
        assert!(
            env_example().contains_key(name) || name == "SSL_CERT_FILE",
            "the image sets {name}"
        );
    }
    let ignored = read(&root().join(".dockerignore"));
    for entry in ["target", ".git", ".env"] {
        assert!(
            ignored.lines().any(|l| l == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

/// The manifests of deploy/k8s/base, all documents, by kind.
fn manifests() -> Vec<Value> {
    [
        "configmap.yaml",
        "secret.yaml",
        "serve.yaml",
        "worker.yaml",
        "ingress.yaml",
    ]
    .iter()
    .flat_map(|file| yaml(&deploy(&format!("k8s/base/{file}"))))
    .collect()
}

fn find<'a>(documents: &'a [Value], kind: &str, name: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn the_kubernetes_manifests_pass_the_schemas_and_match_the_code() {
    let dir = deploy("k8s/base");
    let files = [
        "configmap.yaml",
        "secret.yaml",
        "serve.yaml",
        "worker.yaml",
        "ingress.yaml",
    ];
    let mut args = vec!["--strict", "-k", "1.30.0"];
    args.extend(files);
    if let Some(output) = run("kubernetes-validate", &args, &dir) {
        succeeded(&output, "kubernetes-validate");
        // The schemas are strict: a misspelt field is refused.
        let bad = std::env::temp_dir().join(format!("technic-bad-{}.yaml", std::process::id()));
        std::fs::write(
            &bad,
            read(&dir.join("serve.yaml")).replace("replicas: 3", "replica: 3"),
        )
        .expect("write");
        let refused = run(
            "kubernetes-validate",
            &["--strict", "-k", "1.30.0", bad.to_str().expect("path")],
            &dir,
        )
        .expect("kubernetes-validate");
        std::fs::remove_file(&bad).ok();
        assert!(!refused.status.success(), "a misspelt field passed");
    }
    if !python_has("yaml") {
        return;
    }
    // kustomization.yaml applies every manifest.
    let kustomization = &yaml(&dir.join("kustomization.yaml"))[0];
    let resources: BTreeSet<&str> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(resources, files.into_iter().collect());

    let documents = manifests();
    let config = find(&documents, "ConfigMap", "technic-config");
    let secret = find(&documents, "Secret", "technic-secrets");
    let names = |object: &Value| -> Vec<String> {
        object.as_object().expect("a map").keys().cloned().collect()
    };
    assert_known_env(&names(&config["data"]), "ConfigMap technic-config");
    assert_known_env(&names(&secret["stringData"]), "Secret technic-secrets");
    assert_eq!(config["data"]["HOST"], "0.0.0.0");
    let port: u64 = config["data"]["PORT"]
        .as_str()
        .expect("PORT")
        .parse()
        .expect("port");

    for (name, replicas, command) in [
        ("technic-serve", 3, "serve"),
        ("technic-worker", 3, "worker"),
    ] {
        let deployment = find(&documents, "Deployment", name);
        assert_eq!(deployment["spec"]["replicas"], replicas, "{name}");
        let pod = &deployment["spec"]["template"];
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["args"][0], command);
        assert_eq!(container["ports"][0]["containerPort"], port, "{name}");
        let annotations = &pod["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations["prometheus.io/port"], port.to_string());
        assert_eq!(annotations["prometheus.io/path"], "/metrics");
        assert_eq!(
            container["livenessProbe"]["httpGet"]["path"], "/health",
            "{name}"
        );
        assert_eq!(
            container["readinessProbe"]["httpGet"]["path"], "/ready",
            "{name}"
        );
        // The seeds' resources.
        assert_eq!(
            container["resources"],
            json!({"requests": {"cpu": "1000m", "memory": "2Gi"}, "limits": {"cpu": "2000m", "memory": "4Gi"}})
        );
        let env_from: Vec<&str> = container["envFrom"]
            .as_array()
            .expect("envFrom")
            .iter()
            .filter_map(|e| {
                e["configMapRef"]["name"]
                    .as_str()
                    .or_else(|| e["secretRef"]["name"].as_str())
            })
            .collect();
        assert_eq!(env_from, ["technic-config", "technic-secrets"]);
        let own: Vec<String> = container["env"]
            .as_array()
            .map(|env| {
                env.iter()
                    .map(|e| e["name"].as_str().expect("name").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if !own.is_empty() {
            assert_known_env(&own, name);
        }
        assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            find(&documents, "PodDisruptionBudget", name)["kind"],
            "PodDisruptionBudget"
        );
    }
    let hpa = find(&documents, "HorizontalPodAutoscaler", "technic-worker");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "technic-worker");
    let ingress = find(&documents, "Ingress", "technic");
    let annotations = &ingress["metadata"]["annotations"];
    assert_eq!(
        annotations["nginx.ingress.kubernetes.io/proxy-buffering"],
        "off"
    );
    let timeout: u64 = annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]
        .as_str()
        .expect("timeout")
        .parse()
        .expect("seconds");
    assert!(timeout >= 60, "longer than a quiet stream's keep-alive");
    let backend = &ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend["name"], "technic-serve");
    let service = find(&documents, "Service", "technic-serve");
    assert_eq!(service["spec"]["ports"][0]["name"], backend["port"]["name"]);
}

/// A kustomization directory rendered by tests/kustomize.py and, where kubectl is installed, by
/// `kubectl kustomize`, which must agree with it; `Err` says why it does not render.
fn kustomize(dir: &Path) -> Result<Vec<Value>, String> {
    let renderer = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kustomize.py");
    let output = Command::new(python())
        .arg(renderer)
        .arg(dir)
        .output()
        .expect("python runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let rendered: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON");
    // kubectl's own kustomize is on some machines only (Debian's kubectl predates `patches`), so
    // its absence skips the comparison, not the check: the renderer refuses what it lacks.
    let Ok(output) = Command::new("kubectl").arg("kustomize").arg(dir).output() else {
        eprintln!("SKIPPED the comparison with kubectl kustomize: no kubectl");
        return Ok(rendered);
    };
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let file = std::env::temp_dir().join(format!("technic-kustomized-{}.yaml", std::process::id()));
    std::fs::write(&file, &output.stdout).expect("write");
    let by_kubectl = yaml(&file);
    std::fs::remove_file(&file).ok();
    let sorted = |mut objects: Vec<Value>| {
        objects.sort_by_key(|o| (o["kind"].to_string(), o["metadata"]["name"].to_string()));
        objects
    };
    let rendered = sorted(rendered);
    assert_eq!(rendered, sorted(by_kubectl), "{}", dir.display());
    Ok(rendered)
}

/// kubernetes-validate's verdict on objects, or `None` without the tool.
fn validate_objects(objects: &[Value], what: &str) -> Option<Output> {
    let file = std::env::temp_dir().join(format!("technic-{what}-{}.yaml", std::process::id()));
    let documents: Vec<String> = objects.iter().map(Value::to_string).collect();
    std::fs::write(&file, documents.join("\n---\n")).expect("write");
    let output = run(
        "kubernetes-validate",
        &["--strict", "-k", "1.30.0", file.to_str().expect("path")],
        &root(),
    );
    std::fs::remove_file(&file).ok();
    output
}

fn cpus(quantity: &Value) -> f64 {
    let text = quantity.as_str().expect("a CPU quantity");
    match text.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().expect("millicores") / 1000.0,
        None => text.parse().expect("cores"),
    }
}

fn bytes(quantity: &Value) -> u64 {
    let text = quantity.as_str().expect("a memory quantity");
    let (number, unit) =
        text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
    let scale = match unit {
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "" => 1,
        _ => panic!("memory unit {unit}"),
    };
    number.parse::<u64>().expect("a number") * scale
}

/// What an overlay must make of the base.
struct Environment {
    overlay: &'static str,
    namespace: &'static str,
    host: &'static str,
    replicas: u64,
    workers: (u64, u64),
    resources: Value,
}

/// The rendered overlay holds together: one namespace, the released image, the sizes asked for,
/// a disruption budget that lets a node drain, and settings that fit the pods' limits.
fn check_environment(objects: &[Value], environment: &Environment) {
    let Environment {
        overlay, namespace, ..
    } = environment;
    for object in objects {
        if object["kind"] == "Namespace" {
            assert_eq!(object["metadata"]["name"], *namespace, "{overlay}");
        } else {
            assert_eq!(
                object["metadata"]["namespace"], *namespace,
                "{overlay}: {object}"
            );
        }
    }
    let config = find(objects, "ConfigMap", "technic-config");
    let names: Vec<String> = config["data"]
        .as_object()
        .expect("data")
        .keys()
        .cloned()
        .collect();
    assert_known_env(&names, &format!("{overlay} ConfigMap"));
    let retained: u64 = config["data"]["MAX_RETAINED_SCAN_BYTES"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("MAX_RETAINED_SCAN_BYTES");
    for (name, minimum_replicas) in [
        ("technic-serve", environment.replicas),
        ("technic-worker", environment.workers.0),
    ] {
        let deployment = find(objects, "Deployment", name);
        let replicas = deployment["spec"]["replicas"].as_u64().expect("replicas");
        assert_eq!(replicas, minimum_replicas, "{overlay} {name}");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["resources"], environment.resources,
            "{overlay} {name}"
        );
        let image = container["image"].as_str().expect("image");
        assert!(
            image.starts_with("registry.example.com/technic:"),
            "{overlay}: {image}"
        );
        let limits = &container["resources"]["limits"];
        assert!(
            retained * 2 <= bytes(&limits["memory"]),
            "{overlay}: retained scans fill {name}"
        );
        let threads = container["env"]
            .as_array()
            .and_then(|env| env.iter().find(|e| e["name"] == "MAX_WORKERS"))
            .map_or(&config["data"]["MAX_WORKERS"], |e| &e["value"]);
        let threads: f64 = threads
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("MAX_WORKERS");
        assert!(
            threads <= cpus(&limits["cpu"]),
            "{overlay} {name}: more threads than cores"
        );
        let budget = &find(objects, "PodDisruptionBudget", name)["spec"];
        let drainable = match budget["minAvailable"].as_u64() {
            Some(minimum) => minimum < replicas,
            None => budget["maxUnavailable"].as_u64() >= Some(1),
        };
        assert!(
            drainable,
            "{overlay} {name}: the budget {budget} blocks every drain"
        );
    }
    let hpa = &find(objects, "HorizontalPodAutoscaler", "technic-worker")["spec"];
    let bounds = (hpa["minReplicas"].as_u64(), hpa["maxReplicas"].as_u64());
    let (min, max) = environment.workers;
    assert_eq!(bounds, (Some(min), Some(max)), "{overlay} HPA");
    let ingress = find(objects, "Ingress", "technic");
    assert_eq!(
        ingress["spec"]["rules"][0]["host"], environment.host,
        "{overlay}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn the_kustomize_overlays_render_pass_the_schemas_and_size_each_environment() {
    if !python_has("yaml") {
        return;
    }
    // The base's kustomization renders exactly the manifests the test above checks.
    let base = kustomize(&deploy("k8s/base")).expect("the base renders");
    let ids = |objects: &[Value]| -> BTreeSet<String> {
        objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or("?"),
                    o["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect()
    };
    assert_eq!(ids(&base), ids(&manifests()));
    let seeds = json!({"requests": {"cpu": "1000m", "memory": "2Gi"}, "limits": {"cpu": "2000m", "memory": "4Gi"}});
    let environments = [
        Environment {
            overlay: "staging",
            namespace: "technic-staging",
            host: "technic-staging.example.com",
            replicas: 1,
            workers: (1, 2),
            resources: json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "2Gi"}}),
        },
        Environment {
            overlay: "production",
            namespace: "technic",
            host: "technic.example.com",
            replicas: 3,
            workers: (3, 12),
            resources: seeds,
        },
    ];
    for environment in &environments {
        let dir = deploy(&format!("k8s/overlays/{}", environment.overlay));
        let objects = kustomize(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let namespace = BTreeSet::from([format!("Namespace/{}", environment.namespace)]);
        assert_eq!(
            ids(&objects),
            &ids(&base) | &namespace,
            "{}",
            environment.overlay
        );
        if let Some(output) = validate_objects(&objects, environment.overlay) {
            succeeded(
                &output,
                &format!("kubernetes-validate of the {} overlay", environment.overlay),
            );
        }
        check_environment(&objects, environment);
    }
    broken_overlays_are_refused();
}

/// An overlay patching a Deployment the base lacks does not render, and one whose patch
/// misspells a field renders to objects the schemas refuse.
fn broken_overlays_are_refused() {
    let copy = std::env::temp_dir().join(format!("technic-k8s-{}", std::process::id()));
    copy_tree(&deploy("k8s"), &copy);
    let patch = copy.join("overlays/staging/serve.yaml");
    let original = read(&patch);
    std::fs::write(
        &patch,
        original.replace("name: technic-serve", "name: technic-serv"),
    )
    .expect("write");
    let unknown = kustomize(&copy.join("overlays/staging"));
    std::fs::write(&patch, original.replace("replicas: 1", "replica: 1")).expect("write");
    let misspelt = kustomize(&copy.join("overlays/staging")).expect("renders");
    std::fs::remove_dir_all(&copy).ok();
    assert!(unknown.is_err(), "a patch of no resource rendered");
    if let Some(output) = validate_objects(&misspelt, "misspelt") {
        assert!(
            !output.status.success(),
            "a misspelt field in a patch passed"
        );
    }
}

#[test]
fn the_compose_file_follows_the_compose_specification_and_matches_the_code() {
    if !python_has("yaml, jsonschema") {
        return;
    }
    // The schema is the Compose Specification's own (deploy/schemas, Apache-2.0).
    let validate = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in
          jsonschema.Draft7Validator(schema).iter_errors(yaml.safe_load(open(sys.argv[2])))]
print("\n".join(errors)); sys.exit(1 if errors else 0)
"#;
    let schema = deploy("schemas/compose-spec.json");
    let check = |file: &Path| {
        Command::new(python())
            .args(["-c", validate])
            .arg(&schema)
            .arg(file)
            .output()
            .expect("python runs")
    };
    succeeded(
        &check(&deploy("compose.yaml")),
        "compose.yaml against the schema",
    );
    let bad = std::env::temp_dir().join(format!("technic-bad-compose-{}.yaml", std::process::id()));
    std::fs::write(
        &bad,
        read(&deploy("compose.yaml"))
            .replace("    command: [\"serve\"]", "    comand: [\"serve\"]"),
    )
    .expect("write");
    let refused = check(&bad);
    std::fs::remove_file(&bad).ok();
    assert!(
        !refused.status.success(),
        "a misspelt key passed the schema"
    );

    let compose = &yaml(&deploy("compose.yaml"))[0];
    let services = compose["services"].as_object().expect("services");
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    for needed in [
        "redis",
        "postgres",
        "serve-1",
        "serve-2",
        "worker",
        "haproxy",
        "prometheus",
        "grafana",
    ] {
        assert!(names.contains(needed), "compose lacks {needed}");
    }
    let redis = services["redis"]["command"]
        .as_array()
        .expect("redis command");
    assert!(
        redis
            .windows(2)
            .any(|w| w[0] == "--appendonly" && w[1] == "yes"),
        "Redis with AOF on"
    );
    assert_eq!(services["worker"]["deploy"]["replicas"], 3);
    assert_eq!(services["worker"]["command"][0], "worker");
    for serve in ["serve-1", "serve-2"] {
        assert_eq!(services[serve]["command"][0], "serve");
    }
    for technic in ["serve-1", "serve-2", "worker"] {
        let env = services[technic]["environment"]
            .as_object()
            .expect("environment");
        assert_known_env(env.keys(), &format!("compose service {technic}"));
        assert_eq!(env["HOST"], "0.0.0.0");
        assert_eq!(env["PORT"].as_str(), Some(default_port().as_str()));
    }
    // HAProxy balances exactly the serve replicas, on the server's port, with stream timeouts.
    let haproxy = read(&deploy("haproxy/haproxy.cfg"));
    let backends: BTreeSet<String> = haproxy
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server "))
        .map(|l| l.split_whitespace().nth(1).expect("address").to_owned())
        .collect();
    let port = default_port();
    assert_eq!(
        backends,
        ["serve-1", "serve-2"]
            .map(|s| format!("{s}:{port}"))
            .into_iter()
            .collect()
    );
    assert!(haproxy.contains("timeout tunnel 1h") && haproxy.contains("option httpchk GET /ready"));
    if let Some(output) = run("haproxy", &["-c", "-f", "haproxy/haproxy.cfg"], &deploy("")) {
        succeeded(&output, "haproxy -c");
    }
    // Prometheus scrapes both replicas and the workers.
    let prometheus = &yaml(&deploy("prometheus/prometheus.yml"))[0];
    let jobs: Vec<&str> = prometheus["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
        .iter()
        .filter_map(|j| j["job_name"].as_str())
        .collect();
    assert!(
        jobs.contains(&"technic-serve") && jobs.contains(&"technic-worker"),
        "{jobs:?}"
    );
    if let Some(output) = run(
        "promtool",
        &["check", "config", "prometheus/prometheus.yml"],
        &deploy(""),
    ) {
        succeeded(&output, "promtool check config");
    }
}

#[test]
fn the_alert_rules_pass_promtool_and_each_has_a_firing_and_a_quiet_test() {
    let dir = deploy("prometheus");
    if let Some(output) = run("promtool", &["check", "rules", "rules.yml"], &dir) {
        succeeded(&output, "promtool check rules");
        let tests = run("promtool", &["test", "rules", "rules.test.yml"], &dir).expect("promtool");
        succeeded(&tests, "promtool test rules");
    }
    if !python_has("yaml") {
        return;
    }
    let rules = &yaml(&dir.join("rules.yml"))[0];
    let alerts: BTreeSet<String> = rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .map(|r| r["alert"].as_str().expect("alert").to_owned())
        .collect();
    for seed in [
        "HighStreamLatency",
        "LowPriorityAccuracy",
        "HighMemoryUsage",
        "StreamConnectionFailures",
    ] {
        assert!(alerts.contains(seed), "the seeds' {seed}");
    }
    for operator in [
        "ScanFailures",
        "RedisUnreachable",
        "WorkerBacklogGrowing",
        "NoWorkerConsuming",
    ] {
        assert!(alerts.contains(operator), "{operator}");
    }
    let tests = &yaml(&dir.join("rules.test.yml"))[0];
    let (mut fires, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for case in tests["tests"].as_array().expect("tests") {
        for check in case["alert_rule_test"].as_array().expect("alert_rule_test") {
            let name = check["alertname"].as_str().expect("alertname").to_owned();
            if check["exp_alerts"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                fires.insert(name);
            } else {
                quiet.insert(name);
            }
        }
    }
    assert_eq!(fires, alerts, "every alert has a test where it fires");
    assert_eq!(quiet, alerts, "every alert has a test where it stays quiet");
}

/// Metric names a PromQL expression queries: identifiers of the metric families technic and its
/// neighbours expose, without label names and functions.
fn queried_metrics(expr: &str) -> BTreeSet<String> {
    // Label matchers and `by (...)`/`on (...)` lists hold label names, not metrics.
    let mut text = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    let words = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| !w.is_empty());
    let mut previous = "";
    for word in words {
        let is_metric = word.starts_with("technic_")
            || word.starts_with("process_")
            || EXTERNAL_METRICS.contains(&word);
        let in_grouping = matches!(previous, "by" | "on" | "without" | "ignoring");
        if is_metric && !in_grouping {
            names.insert(word.to_owned());
        }
        previous = word;
    }
    names
}

/// The metric families a real server shows at `/metrics` after a scan and a stream, with the
/// series names of their histograms (`_bucket`, `_sum`, `_count`).
async fn exposed_metrics() -> BTreeSet<String> {
    let state = AppState::new(
        Scanner::new(Arc::new(technic_testkit::markets::demo())),
        None,
        Config::default(),
        tokio::runtime::Handle::current(),
    );
    let server = LoopbackServer::start(|listener, shutdown| {
        technic_server::serve(listener, state, shutdown)
    })
    .await;
    for probe in ["/health", "/ready"] {
        let (status, _) = server.get(probe).await;
        assert_eq!(status, 200, "the probes' path {probe}");
    }
    let (_, report) = server.post("/scan", json!({"max_symbols": 40})).await;
    let id = report["scan_id"].as_str().expect("scan_id");
    let events = reqwest::Client::new()
        .get(server.url(&format!("/events/results/{id}?from_seq=1")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("sse");
    let _all = tokio::time::timeout(Duration::from_secs(10), events.text()).await;
    let text = server.metrics().await;
    server.stop().await;
    assert_recorded(&text);
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (parts.next().expect("name"), parts.next().expect("kind"));
            names.insert(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    names
}

/// The value of one series of a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// What the requests of `exposed_metrics` must have recorded: one waiting scan, its stages, the
/// SSE stream that resumed after seq 1, and the share of its signals in the high tier.
fn assert_recorded(text: &str) {
    let count = |series: &str| sample(text, series).unwrap_or_else(|| panic!("no {series}"));
    assert_eq!(
        count(
            r#"technic_http_request_duration_seconds_count{method="POST",route="/scan",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        count(
            r#"technic_http_request_duration_seconds_count{method="GET",route="/events/results/{id}",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        count(r#"technic_stream_connections_total{transport="sse"}"#),
        1.0
    );
    assert_eq!(
        count(r#"technic_stream_reconnections_total{transport="sse"}"#),
        1.0
    );
    assert_eq!(
        count(r#"technic_stream_reconnections_total{transport="websocket"}"#),
        0.0
    );
    for stage in [
        "universe_loading",
        "data_fetching",
        "symbol_scanning",
        "finalization",
    ] {
        assert_eq!(
            count(&format!(
                r#"technic_stage_duration_seconds_count{{stage="{stage}"}}"#
            )),
            1.0,
            "{stage}"
        );
    }
    let accuracy = count("technic_priority_accuracy");
    assert!((0.0..=1.0).contains(&accuracy), "{accuracy}");
    assert!(count("process_resident_memory_bytes") > 1e6);
    assert!(
        count("technic_open_connections") >= 1.0,
        "the /metrics request's own"
    );
}

fn dashboard() -> Value {
    serde_json::from_str(&read(&deploy("grafana/dashboards/technic.json"))).expect("dashboard JSON")
}

/// Every panel's expressions, by panel title.
fn panel_queries(dashboard: &Value) -> Vec<(String, Vec<String>)> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] != "row")
        .map(|p| {
            let exprs = p["targets"]
                .as_array()
                .expect("targets")
                .iter()
                .map(|t| t["expr"].as_str().expect("expr").to_owned())
                .collect();
            (p["title"].as_str().expect("title").to_owned(), exprs)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_of_the_rules_and_the_dashboard_is_exposed() {
    let exposed = exposed_metrics().await;
    // What the issue's metric list asks of every process.
    for needed in [
        "technic_delivery_latency_seconds_bucket",
        "technic_priority_accuracy",
        "technic_websocket_errors_total",
        "technic_stream_reconnections_total",
        "technic_stream_connections_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "technic_open_connections",
        "technic_memory_limit_bytes",
        "technic_stage_duration_seconds_bucket",
        "technic_http_request_duration_seconds_bucket",
    ] {
        assert!(exposed.contains(needed), "/metrics lacks {needed}");
    }
    let known = |name: &str| {
        exposed.contains(name) || WORKER_METRICS.contains(&name) || EXTERNAL_METRICS.contains(&name)
    };

    let mut used = BTreeSet::new();
    let dashboard = dashboard();
    let panels = panel_queries(&dashboard);
    assert!(panels.len() >= 15, "{} panels", panels.len());
    for (title, exprs) in &panels {
        assert!(!exprs.is_empty(), "panel {title} queries nothing");
        for expr in exprs {
            let names = queried_metrics(expr);
            assert!(!names.is_empty(), "panel {title}: no metric in {expr}");
            for name in names {
                assert!(
                    known(&name),
                    "panel {title} queries {name}, which nothing exposes"
                );
                used.insert(name);
            }
        }
    }
    if python_has("yaml") {
        let rules = &yaml(&deploy("prometheus/rules.yml"))[0];
        for group in rules["groups"].as_array().expect("groups") {
            for rule in group["rules"].as_array().expect("rules") {
                let expr = rule["expr"].as_str().expect("expr");
                let names = queried_metrics(expr);
                assert!(!names.is_empty(), "{expr}");
                for name in names {
                    assert!(known(&name), "rule {} queries {name}", rule["alert"]);
                    used.insert(name);
                }
            }
        }
    }
    // The worker metrics named for `technic worker` are each used, and documented.
    let readme = read(&root().join("README.md"));
    for name in WORKER_METRICS {
        assert!(used.contains(name), "{name} is listed but nothing uses it");
        assert!(readme.contains(name), "README documents {name}");
    }
}

#[test]
fn the_dashboard_covers_each_area_and_uses_the_provisioned_data_source() {
    let dashboard = dashboard();
    let rows: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(
        rows,
        [
            "Scan performance",
            "Prioritisation",
            "Streaming",
            "Resources",
            "Workers"
        ]
    );
    let ids: Vec<u64> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|p| p["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(
        ids.len(),
        ids.iter().collect::<BTreeSet<_>>().len(),
        "unique panel ids"
    );
    if !python_has("yaml") {
        return;
    }
    let source = &yaml(&deploy("grafana/provisioning/datasources/prometheus.yaml"))[0];
    let uid = &source["datasources"][0]["uid"];
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] != "row" {
            assert_eq!(&panel["datasource"]["uid"], uid, "{}", panel["title"]);
        }
    }
    let provider = &yaml(&deploy("grafana/provisioning/dashboards/technic.yaml"))[0];
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .expect("path");
    let compose = &yaml(&deploy("compose.yaml"))[0];
    let mounts = compose["services"]["grafana"]["volumes"]
        .as_array()
        .expect("volumes");
    assert!(
        mounts
            .iter()
            .any(|m| m.as_str() == Some(&format!("./grafana/dashboards:{path}:ro"))),
        "Grafana mounts the dashboards where the provider reads them"
    );
}

#[test]
fn metric_names_are_read_from_expressions_without_labels_or_functions() {
    assert_eq!(
        queried_metrics(
            r#"histogram_quantile(0.95, sum by (le, stage) (rate(technic_stage_duration_seconds_bucket{job="technic_x"}[5m]))) / on (instance) technic_memory_limit_bytes"#
        ),
        [
            "technic_memory_limit_bytes",
            "technic_stage_duration_seconds_bucket"
        ]
        .map(str::to_owned)
        .into_iter()
        .collect()
    );
    assert_eq!(
        queried_metrics("redis_up == 0 or absent(up)"),
        ["redis_up", "up"].map(str::to_owned).into_iter().collect()
    );
}
