//! Exports through `/admin` (Dgraph's `export`), driven as a user would: a graph with every
//! value type, languages, lists, facets on edges and values, reverse and count indexes is
//! exported as RDF and as JSON; each export, loaded into a fresh cluster (its schema through
//! `alter`, its uids leased from zero's `/assign`, its data through mutations), gives back the
//! same graph: equal query results through every index, and an export of the copy equal line
//! for line to the original's. An encrypted cluster's export is encrypted with the cluster's
//! key (`openssl enc -d -aes-256-ctr` then `gunzip` read it back), is refused by a worker that
//! has no key, and still works once enterprise features are off. `live` loads exports (and
//! blank nodes, once per xid map, with ACL on); `bulk` builds an encrypted cluster's
//! directories from an export offline, and the cluster started on them holds the same graph.

mod common;

use common::backups::{admin, alter, dgraph, read_only, set};
use lodestar_integration_tests::{Cluster, ClusterBuilder, Service};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Mutation, Request};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::Channel;

const SCHEMA: &str = "name: string @index(exact, term) @lang .\n\
                      age: int @index(int) .\n\
                      score: float .\n\
                      alive: bool .\n\
                      born: datetime @index(year) .\n\
                      loc: geo .\n\
                      tags: [string] @index(exact) .\n\
                      friend: [uid] @reverse @count .\n\
                      nick: default .\n\
                      secret: password .\n\
                      type Person {\n name\n age\n friend\n}";

/// 60 people with every kind of value, a friend chain with facets, and values with facets.
async fn load_source(c: &mut DgraphClient<Channel>) {
    alter(c, SCHEMA).await;
    let mut rdf = String::new();
    for i in 0..60 {
        rdf.push_str(&format!(
            "_:p{i} <name> \"Pérson {i} \\\"quoted\\\"\\nsecond line\" .\n\
             _:p{i} <name> \"nom{i}\"@fr .\n\
             _:p{i} <age> \"{i}\" (source=\"survey\", checked=true) .\n\
             _:p{i} <score> \"{}\" .\n\
             _:p{i} <alive> \"{}\" .\n\
             _:p{i} <born> \"19{:02}-02-03T04:05:06.789+02:00\" .\n\
             _:p{i} <tags> \"t{}\" .\n\
             _:p{i} <tags> \"all\" .\n\
             _:p{i} <nick> \"plain {i}\" .\n\
             _:p{i} <dgraph.type> \"Person\" .\n",
            i as f64 / 3.0,
            i % 2 == 0,
            i + 10,
            i % 7,
        ));
        if i % 10 == 0 {
            rdf.push_str(&format!("_:p{i} <secret> \"pass-{i}-word\" .\n"));
            rdf.push_str(&format!(
                "_:p{i} <loc> \"{{\\\"type\\\":\\\"Point\\\",\\\"coordinates\\\":[{}.5,-{}.25]}}\"^^<geo:geojson> .\n",
                i % 90,
                i % 45
            ));
        }
        if i < 59 {
            rdf.push_str(&format!(
                "_:p{i} <friend> _:p{} (since=2006-01-02T15:04:05Z, weight=0.{i}5, close={}, note=\"n{i}\") .\n",
                i + 1,
                i % 3 == 0
            ));
        }
    }
    set(c, &rdf).await;
}

/// Every fact of the graph through its indexes, in a canonical order.
async fn graph(c: &mut DgraphClient<Channel>) -> serde_json::Value {
    let q = r#"{
        q(func: has(name), orderasc: age) {
            uid name name@fr age @facets(source, checked) score alive born loc tags nick
            dgraph.type count(friend)
            friend @facets { uid }
            ~friend { uid }
        }
        terms(func: anyofterms(name, "quoted"), first: 5, orderasc: age) { uid }
        exact(func: eq(tags, "t3")) { count(uid) }
        years(func: ge(born, "1950-01-01"), orderasc: born) { uid }
        people(func: type(Person)) { count(uid) }
        pw(func: has(secret), orderasc: age) { age checkpwd(secret, "pass-20-word") }
    }"#;
    let mut v = read_only(c, q, 0).await;
    if let Some(nodes) = v["q"].as_array_mut() {
        for node in nodes {
            if let Some(tags) = node["tags"].as_array_mut() {
                tags.sort_by_key(|t| t.to_string());
            }
        }
    }
    v
}

/// Runs an export through `/admin` and waits for its task; returns the export's folder.
async fn export(cluster: &Cluster, format: &str, dest: &Path) -> Result<PathBuf, Vec<String>> {
    let v = admin(
        cluster,
        &format!(
            r#"mutation {{ export(input: {{format: "{format}", destination: "{}"}}) {{
                 response {{ code message }} taskId }} }}"#,
            dest.display()
        ),
    )
    .await;
    let id = v["data"]["export"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("no task id: {v}"))
        .to_string();
    assert_eq!(v["data"]["export"]["response"]["code"], "Success", "{v}");
    assert_eq!(
        v["data"]["export"]["response"]["message"],
        format!("Export queued with ID {id}")
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let t = admin(
            cluster,
            &format!(r#"{{ task(input: {{id: "{id}"}}) {{ kind status errors }} }}"#),
        )
        .await;
        let task = &t["data"]["task"];
        assert_eq!(task["kind"], "Export", "{t}");
        match task["status"].as_str() {
            Some("Success") => break,
            Some("Failed") => {
                return Err(serde_json::from_value(task["errors"].clone()).unwrap());
            }
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "{t}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let folders: Vec<PathBuf> = std::fs::read_dir(dest)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("dgraph.r"))
        })
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    Ok(folders.into_iter().next().unwrap())
}

/// The text of an export file: gunzipped, after decrypting with `openssl` when `key` is given.
fn read_export_file(path: &Path, key: Option<&[u8]>) -> String {
    match key {
        None => {
            let mut text = String::new();
            flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            text
        }
        Some(key) => {
            let raw = std::fs::read(path).unwrap();
            assert_ne!(
                &raw[..2],
                &[0x1f, 0x8b],
                "an encrypted export is not plain gzip"
            );
            String::from_utf8(common::backups::openssl_gunzip(path, key)).unwrap()
        }
    }
}

/// Every group's data text of an export folder in group order, and their schema text.
fn export_files(folder: &Path, format: &str, key: Option<&[u8]>) -> (Vec<String>, String) {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let groups: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with(&format!(".{format}.gz")))
        .collect();
    assert!(!groups.is_empty(), "{names:?}");
    let (mut data, mut schema) = (Vec::new(), String::new());
    for name in groups {
        let group = name.split('.').next().unwrap();
        assert!(
            names.contains(&format!("{group}.schema.gz")),
            "{group} has a schema file: {names:?}"
        );
        data.push(read_export_file(&folder.join(name), key));
        schema.push_str(&read_export_file(
            &folder.join(format!("{group}.schema.gz")),
            key,
        ));
    }
    (data, schema)
}

/// The highest uid named in RDF text.
fn max_uid(rdf: &str) -> u64 {
    rdf.split(['<', '>'])
        .filter_map(|t| t.strip_prefix("0x"))
        .filter_map(|h| u64::from_str_radix(h, 16).ok())
        .max()
        .unwrap_or(0)
}

/// Leases uids up to `max` from zero, as a loader that keeps an export's uids does first.
async fn lease_uids(cluster: &Cluster, max: u64) {
    let (status, body) = lodestar_integration_tests::http_get(&format!(
        "{}/assign?what=uids&num={}",
        cluster.zero_http(0),
        max + 1
    ))
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Loads an export (schema, then data in mutations of `batch` N-Quads or objects) into
/// `cluster`.
async fn load(cluster: &Cluster, format: &str, data: &str, schema: &str) {
    let mut c = dgraph(cluster).await;
    alter(&mut c, schema).await;
    let commit = |m: Mutation| Request {
        mutations: vec![m],
        commit_now: true,
        ..Default::default()
    };
    match format {
        "rdf" => {
            lease_uids(cluster, max_uid(data)).await;
            let lines: Vec<&str> = data.lines().collect();
            for batch in lines.chunks(500) {
                c.query(commit(Mutation {
                    set_nquads: batch.join("\n").into_bytes(),
                    ..Default::default()
                }))
                .await
                .unwrap();
            }
        }
        _ => {
            let objects: Vec<serde_json::Value> = serde_json::from_str(data).unwrap();
            let max = objects
                .iter()
                .flat_map(|o| {
                    let child = o.as_object().unwrap().values().find_map(|v| v.get("uid"));
                    [o.get("uid"), child]
                })
                .flatten()
                .filter_map(|u| u64::from_str_radix(u.as_str()?.trim_start_matches("0x"), 16).ok())
                .max()
                .unwrap();
            lease_uids(cluster, max).await;
            for batch in objects.chunks(500) {
                c.query(commit(Mutation {
                    set_json: serde_json::to_vec(batch).unwrap(),
                    ..Default::default()
                }))
                .await
                .unwrap();
            }
        }
    }
}

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdf_and_json_exports_reload_into_fresh_clusters_as_the_same_graph() {
    let source = ClusterBuilder::new().services(true).start().await.unwrap();
    let mut c = dgraph(&source).await;
    load_source(&mut c).await;
    let want = graph(&mut c).await;
    assert_eq!(want["q"].as_array().unwrap().len(), 60);
    // Passwords survive the reloads below: exactly node 20's matches.
    let matching: Vec<_> = want["pw"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["checkpwd(secret)"] == true)
        .map(|n| n["age"].clone())
        .collect();
    assert_eq!(matching, [serde_json::json!(20)], "{want}");
    let key = common::backups::worker_key().map(|k| k.as_bytes().to_vec());

    let dest = tempfile::tempdir().unwrap();
    let folder = export(&source, "rdf", dest.path()).await.unwrap();
    let (rdf, schema) = export_files(&folder, "rdf", key.as_deref());
    assert_eq!(
        rdf.len(),
        lodestar_integration_tests::default_groups(),
        "a file per group"
    );
    let rdf = rdf.concat();
    // One N-Quad per posting: 60 people × 9 facts, 6 locations, 6 passwords (as their
    // hashes), 59 friend edges.
    let user_lines = rdf.lines().filter(|l| !l.contains("<dgraph.")).count();
    assert_eq!(user_lines, 60 * 9 + 6 + 6 + 59, "{rdf}");
    assert!(!rdf.contains("pass-20-word"), "a password in clear");
    assert_eq!(rdf.matches("\"$argon2id$").count(), 6, "{rdf}");
    assert_eq!(
        rdf.lines().filter(|l| l.contains("<dgraph.type>")).count(),
        60
    );
    assert!(rdf.contains(" <name> \"nom7\"@fr ."), "{rdf}");
    assert!(
        rdf.contains("\"7\"^^<xs:int> (source=\"survey\", checked=true) ."),
        "{rdf}"
    );
    assert!(
        !rdf.contains("~friend"),
        "reverse edges are rebuilt, not exported"
    );
    assert!(
        schema.contains("friend: [uid] @reverse @count ."),
        "{schema}"
    );
    assert!(schema.contains("type Person {"), "{schema}");

    let copy = ClusterBuilder::new().alphas(1).start().await.unwrap();
    load(&copy, "rdf", &rdf, &schema).await;
    let mut copied = dgraph(&copy).await;
    assert_eq!(graph(&mut copied).await, want);

    // Through the live loader: the same graph, and the copy's own export (its uids were kept)
    // is the same file, line for line.
    let services = ClusterBuilder::new().services(true).start().await.unwrap();
    let out = live(&services, &folder, "rdf", key_path(&source).as_deref(), &[]);
    assert!(
        out.contains(&format!(
            "Number of N-Quads processed  : {}",
            rdf.lines().count()
        )),
        "{out}"
    );
    let mut c = dgraph(&services).await;
    assert_eq!(graph(&mut c).await, want);
    let again = tempfile::tempdir().unwrap();
    let folder2 = export(&services, "rdf", again.path()).await.unwrap();
    let (rdf2, _) = export_files(&folder2, "rdf", key.as_deref());
    assert_eq!(sorted_lines(&rdf2.concat()), sorted_lines(&rdf));
    drop(services);

    let json_dest = tempfile::tempdir().unwrap();
    let folder = export(&source, "json", json_dest.path()).await.unwrap();
    let (json, schema) = export_files(&folder, "json", key.as_deref());
    // Each group's file is one JSON array: one object per posting.
    let objects: usize = json
        .iter()
        .map(|text| {
            serde_json::from_str::<Vec<serde_json::Value>>(text)
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(objects, rdf.lines().count());
    assert!(schema.contains("type Person {"), "{schema}");
    let from_json = ClusterBuilder::new().alphas(1).start().await.unwrap();
    live(
        &from_json,
        &folder,
        "json",
        key_path(&source).as_deref(),
        &[],
    );
    let mut c = dgraph(&from_json).await;
    assert_eq!(graph(&mut c).await, want);
}

/// The key file the backup worker of `cluster` encrypts with, when the tests run encrypted.
fn key_path(cluster: &Cluster) -> Option<PathBuf> {
    lodestar_integration_tests::test_encryption().then(|| {
        cluster
            .dir()
            .join(lodestar_integration_tests::ENCRYPTION_KEY_FILE)
    })
}

/// The files of an export folder whose names end in `suffix`, comma-separated, in name order.
fn pick(folder: &Path, suffix: &str) -> String {
    let mut files: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|f| f.ends_with(suffix))
        .collect();
    files.sort();
    files.join(",")
}

/// A cluster with the services whose zero and alphas are encrypted under the key file `key`.
fn keyed(key: &str) -> ClusterBuilder {
    ClusterBuilder::new()
        .services(true)
        .arg(Service::Zero, "--encryption_key_file", key.to_string())
        .arg(Service::Alpha, "--encryption_key_file", key.to_string())
}

/// Runs `live` on every data and schema file of an export folder into `cluster`; returns what
/// it printed, after checking that it succeeded.
fn live(
    cluster: &Cluster,
    folder: &Path,
    format: &str,
    key: Option<&Path>,
    extra: &[&str],
) -> String {
    let pick = |suffix: &str| pick(folder, suffix);
    let mut args = vec![
        "-f".to_string(),
        pick(&format!(".{format}.gz")),
        "-s".to_string(),
        pick(".schema.gz"),
        "-a".to_string(),
        cluster.alpha_grpc(),
        "-c".to_string(),
        "3".to_string(),
        "-b".to_string(),
        "200".to_string(),
    ];
    if let Some(key) = key {
        args.extend([
            "--encryption_key_file".to_string(),
            key.display().to_string(),
        ]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = lodestar_integration_tests::run_bin("live", &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "live {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_exports_are_refused_before_anything_is_written() {
    let cluster = ClusterBuilder::new().services(true).start().await.unwrap();
    let dest = tempfile::tempdir().unwrap();
    for (input, wanted) in [
        (r#"format: "xml""#, "invalid export format: xml"),
        (
            r#"format: "rdf", namespace: 5"#,
            "namespace 5 does not exist",
        ),
    ] {
        let v = admin(
            &cluster,
            &format!(
                r#"mutation {{ export(input: {{{input}, destination: "{}"}}) {{ taskId }} }}"#,
                dest.path().display()
            ),
        )
        .await;
        let message = v["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(wanted), "{v}");
    }
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
}

/// A key file of 32 random bytes, owner-only.
fn key_file(dir: &Path) -> (PathBuf, Vec<u8>) {
    use std::os::unix::fs::PermissionsExt as _;
    let key: [u8; 32] = rand::random();
    let path = dir.join("export_key");
    std::fs::write(&path, key).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    (path, key.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_clusters_export_is_encrypted_with_its_key_even_without_a_license() {
    let keys = tempfile::tempdir().unwrap();
    let (path, key) = key_file(keys.path());
    let flag = path.display().to_string();
    let mut cluster = keyed(&flag).start().await.unwrap();
    let mut c = dgraph(&cluster).await;
    load_source(&mut c).await;
    set(&mut c, "_:a <name> \"Xv9 secret name\" .").await;
    let want = graph(&mut c).await;

    // A worker without the cluster's key refuses: the data would leave in plaintext. (Each
    // worker below gets a state directory of its own: a keyed worker seals its task records.)
    let keyless_state = tempfile::tempdir().unwrap();
    let bw = cluster.backup.as_mut().unwrap();
    if let Some(i) = bw.args.iter().position(|a| a == "--encryption_key_file") {
        bw.args.drain(i..i + 2);
    }
    let data_at = bw.args.iter().position(|a| a == "--data").unwrap() + 1;
    bw.args[data_at] = keyless_state.path().display().to_string();
    bw.restart().await.unwrap();
    let dest = tempfile::tempdir().unwrap();
    let errors = export(&cluster, "rdf", dest.path()).await.unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains("encrypted at rest")),
        "{errors:?}"
    );
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);

    // With the key, and with enterprise features off (the trial is over): encrypted files.
    let bw = cluster.backup.as_mut().unwrap();
    let keyed_state = tempfile::tempdir().unwrap();
    bw.args[data_at] = keyed_state.path().display().to_string();
    bw.args.extend(["--encryption_key_file".to_string(), flag]);
    bw.restart().await.unwrap();
    common::move_zero_clock(&mut cluster, 0, "31d").await;
    let folder = export(&cluster, "rdf", dest.path()).await.unwrap();
    for entry in std::fs::read_dir(&folder).unwrap().flatten() {
        let raw = std::fs::read(entry.path()).unwrap();
        assert!(!raw.windows(3).any(|w| w == b"Xv9"), "{:?}", entry.path());
    }
    let (rdf, schema) = export_files(&folder, "rdf", Some(&key));
    let rdf = rdf.concat();
    assert!(rdf.contains("\"Xv9 secret name\"^^<xs:string> ."), "{rdf}");
    assert!(
        schema.contains("name: string @index(exact,term) @lang ."),
        "{schema}"
    );

    // The way out of encryption: the export, live-loaded into a cluster without a key.
    let plain = ClusterBuilder::new().alphas(1).start().await.unwrap();
    let out = live(&plain, &folder, "rdf", Some(&path), &[]);
    assert!(out.contains("Number of TXs run"), "{out}");
    let mut p = dgraph(&plain).await;
    assert_eq!(graph(&mut p).await, want);
    // Without the key, the files do not load.
    let refused = lodestar_integration_tests::run_bin(
        "live",
        [
            "-f",
            &folder.display().to_string(),
            "-a",
            &plain.alpha_grpc(),
        ],
    );
    assert!(!refused.status.success());
}

/// A 32-byte ACL secret, owner-only.
fn acl_secret(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("acl_secret");
    std::fs::write(&path, rand::random::<[u8; 32]>()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_loads_blank_nodes_once_per_xid_map_and_logs_in_with_acl() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ClusterBuilder::new()
        .alphas(1)
        .acl_secret_file(acl_secret(dir.path()))
        .start()
        .await
        .unwrap();
    let data = dir.path().join("people.rdf");
    let mut rdf = String::from("# people and who they know\n");
    for i in 0..250 {
        rdf.push_str(&format!(
            "_:p{i} <Lv4name> \"Lv4 {i}\" .\n_:p{i} <Lv4knows> _:p{} .\n",
            (i + 1) % 250
        ));
    }
    std::fs::write(&data, &rdf).unwrap();
    let schema = dir.path().join("people.schema");
    std::fs::write(
        &schema,
        "Lv4name: string @index(exact) .\nLv4knows: [uid] @reverse .\n",
    )
    .unwrap();
    let xids = dir.path().join("xids");
    let run = |creds: &str, with_map: bool| {
        let mut args = vec![
            "-f".to_string(),
            data.display().to_string(),
            "-s".to_string(),
            schema.display().to_string(),
            "-a".to_string(),
            cluster.alpha_grpc(),
            "-b".to_string(),
            "64".to_string(),
            "--creds".to_string(),
            creds.to_string(),
        ];
        if with_map {
            args.extend(["-x".to_string(), xids.display().to_string()]);
        }
        lodestar_integration_tests::run_bin("live", &args)
    };
    let denied = run("user=groot;password=wrong-password", true);
    assert!(!denied.status.success());
    let said = String::from_utf8_lossy(&denied.stderr);
    assert!(said.contains("logging in as groot"), "{said}");

    let creds = "user=groot;password=password";
    for _ in 0..2 {
        let out = run(creds, true);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("Number of N-Quads processed  : 500"),
            "{stdout}"
        );
    }
    let token = common::backups::groot_token(&cluster).await;
    let count = |token: String| {
        let cluster = &cluster;
        async move {
            let mut c = dgraph(cluster).await;
            let mut req = tonic::Request::new(Request {
                query: r#"{ n(func: has(Lv4name)) { count(uid) } k(func: eq(Lv4name, "Lv4 7")) { Lv4knows { Lv4name } ~Lv4knows { Lv4name } } }"#.into(),
                read_only: true,
                ..Default::default()
            });
            req.metadata_mut()
                .insert("accessjwt", token.parse().unwrap());
            let resp = c.query(req).await.unwrap().into_inner();
            serde_json::from_slice::<serde_json::Value>(&resp.json).unwrap()
        }
    };
    // Twice with the same map: each blank node is one node.
    let v = count(token.clone()).await;
    assert_eq!(v["n"][0]["count"], 250, "{v}");
    assert_eq!(v["k"][0]["Lv4knows"][0]["Lv4name"], "Lv4 8", "{v}");
    assert_eq!(v["k"][0]["~Lv4knows"][0]["Lv4name"], "Lv4 6", "{v}");
    // Without the map, a run makes new nodes.
    let out = run(creds, false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(token).await["n"][0]["count"], 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_bulk_loads_into_an_encrypted_cluster_as_the_same_graph() {
    let source = ClusterBuilder::new().services(true).start().await.unwrap();
    let mut c = dgraph(&source).await;
    load_source(&mut c).await;
    let want = graph(&mut c).await;
    let dest = tempfile::tempdir().unwrap();
    let folder = export(&source, "rdf", dest.path()).await.unwrap();
    let files = |suffix: &str| pick(&folder, suffix);

    let keys = tempfile::tempdir().unwrap();
    let (key, _) = key_file(keys.path());
    let flag = key.display().to_string();
    let mut target = keyed(&flag).start().await.unwrap();
    let groups = common::replicas::group_of_each_alpha(&target).await;
    let group_count = groups.iter().max().copied().unwrap_or(1);
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("out");
    let secret = target
        .dir()
        .join(lodestar_integration_tests::CLUSTER_SECRET_FILE);
    let mut args = vec![
        "-f".to_string(),
        files(".rdf.gz"),
        "-s".to_string(),
        files(".schema.gz"),
        "--out".to_string(),
        out_dir.display().to_string(),
        "--groups".to_string(),
        group_count.to_string(),
        "--encryption_key_file".to_string(),
        flag,
        "-z".to_string(),
        target.zero_grpc_addrs()[0].clone(),
        "--cluster_secret_file".to_string(),
        secret.display().to_string(),
    ];
    // The export's own key reads it, when the tests run encrypted; the directories are
    // written under the target's key either way.
    if let Some(export_key) = key_path(&source) {
        let plain = out.path().join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        for f in std::fs::read_dir(&folder).unwrap().flatten() {
            let text = read_export_file(&f.path(), Some(&std::fs::read(&export_key).unwrap()));
            std::fs::write(plain.join(f.file_name()), text).unwrap();
        }
        args[1] = args[1].replace(&folder.display().to_string(), &plain.display().to_string());
        args[3] = args[3].replace(&folder.display().to_string(), &plain.display().to_string());
    }
    let ran = lodestar_integration_tests::run_bin("bulk", &args);
    let stdout = String::from_utf8_lossy(&ran.stdout).into_owned();
    assert!(
        ran.status.success(),
        "bulk {args:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(
        stdout.contains("Number of N-Quads processed  :"),
        "{stdout}"
    );
    // A non-empty --out is refused.
    let again = lodestar_integration_tests::run_bin("bulk", &args);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));

    // Each alpha starts on a copy of its group's directory.
    for a in target.alphas.iter_mut() {
        a.stop().await.unwrap();
    }
    for (i, a) in target.alphas.iter_mut().enumerate() {
        let seeded = out.path().join(format!("alpha{i}"));
        common::copy_dir(
            &out_dir.join((groups[i] - 1).to_string()).join("p"),
            &seeded,
        );
        let at = a.args.iter().position(|x| x == "-p").unwrap();
        a.args[at + 1] = seeded.display().to_string();
    }
    for a in target.alphas.iter_mut() {
        a.start().unwrap();
    }
    for a in target.alphas.iter_mut() {
        a.wait_healthy(Duration::from_secs(60)).await.unwrap();
    }
    let mut t = dgraph(&target).await;
    assert_eq!(graph(&mut t).await, want);
    // Written encrypted: no value is in any file of the directories in clear.
    let mut stack = vec![out_dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                let raw = std::fs::read(e.path()).unwrap();
                assert!(
                    !raw.windows(6).any(|w| w == b"survey" || w == b"quoted"),
                    "{:?} holds a value in clear",
                    e.path()
                );
            }
        }
    }
}
