//! The fault suite's hostile input from inside: a caller holding the cluster credential (a
//! compromised or buggy service) sends every gRPC method of every proto, on every gRPC port,
//! generated protobuf messages whose fields hold extreme numbers, random strings and random
//! bytes, and some payloads that are not protobuf at all. What it may change is its business;
//! what must hold is that every process keeps running without a panic, every call gets an
//! answer, and the services stay healthy. Seeded by `LODESTAR_FAULT_SEED`.

mod common;

use common::faults::{Rng, panics_in_logs, seed};
use lodestar_integration_tests::ClusterBuilder;
use prost::Message as _;
use std::time::Duration;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Sends and receives raw bytes, so any payload can go on the wire.
#[derive(Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let n = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, n).to_vec()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint the handlers may trip over: 0, 1, the edges of every width, or anything.
fn extreme(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => i64::MAX as u64,
        4 => u32::MAX as u64,
        5 => (u32::MAX as u64) + 1,
        6 => rng.below(1_000),
        _ => rng.next(),
    }
}

/// A string or bytes field: random bytes, a long run, text with the characters parsers
/// care about, or a nested message.
fn blob(rng: &mut Rng, depth: u32) -> Vec<u8> {
    match rng.below(5) {
        0 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
        1 => vec![b'a'; 1 + rng.below(70_000) as usize],
        2 => {
            let parts = [
                "{",
                "}",
                "<0x1>",
                "_:a",
                "\"",
                "*",
                ".",
                "\n",
                "uid(",
                "../",
                "/proc/self/fd",
                "file://",
                "s3://x/",
                "dgraph.",
                "\u{0}",
                "é",
            ];
            (0..rng.below(20))
                .map(|_| parts[rng.below(parts.len() as u64) as usize])
                .collect::<String>()
                .into_bytes()
        }
        3 if depth < 3 => message(rng, depth + 1),
        _ => Vec::new(),
    }
}

/// A protobuf message of random fields (numbers 1-12, varint, fixed or length-delimited).
fn message(rng: &mut Rng, depth: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(8) {
        let field = 1 + rng.below(12);
        match rng.below(4) {
            0 | 1 => {
                put_varint(&mut out, field << 3);
                put_varint(&mut out, extreme(rng));
            }
            2 => {
                put_varint(&mut out, (field << 3) | 1);
                out.extend_from_slice(&extreme(rng).to_le_bytes());
            }
            _ => {
                let b = blob(rng, depth);
                put_varint(&mut out, (field << 3) | 2);
                put_varint(&mut out, b.len() as u64);
                out.extend_from_slice(&b);
            }
        }
    }
    out
}

/// A payload: mostly a generated message, sometimes bytes that are not protobuf.
fn payload(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => (0..rng.below(100)).map(|_| rng.next() as u8).collect(),
        _ => message(rng, 0),
    }
}

fn every_method() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(lodestar_proto::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .flat_map(|f| {
            f.service.iter().flat_map(move |s| {
                s.method
                    .iter()
                    .map(move |m| format!("/{}.{}/{}", f.package(), s.name(), m.name()))
            })
        })
        .collect()
}

/// Calls `path` with `body` as the credentialed insider; the answer must come within 30 s.
async fn call(addr: &str, path: &str, body: Vec<u8>) -> tonic::Status {
    let channel = lodestar_client::traced_channel(addr).unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    let path = http::uri::PathAndQuery::try_from(path.to_string()).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut req = tonic::Request::new(body);
        req.set_timeout(Duration::from_secs(20));
        grpc.unary(req, path.clone(), RawCodec).await
    })
    .await
    .unwrap_or_else(|_| panic!("{addr}{path} gave no answer in 30 s"));
    answer.err().unwrap_or_else(|| tonic::Status::ok(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_messages_from_a_credentialed_caller_crash_nothing() {
    let mut rng = Rng::new(seed("hostile input"));
    let mut cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .start()
        .await
        .expect("cluster");
    let token = lodestar_runtime::cluster::read_secret_file(
        &cluster
            .dir()
            .join(lodestar_integration_tests::CLUSTER_SECRET_FILE),
    )
    .unwrap();
    lodestar_runtime::cluster::install(token).unwrap();

    let mut ports: Vec<(String, String)> = cluster
        .procs()
        .filter_map(|p| p.grpc_port.map(|_| (p.name.clone(), p.grpc_addr())))
        .collect();
    let alpha = cluster.alpha();
    ports.push(("alpha internal".into(), alpha.internal_addr()));
    let methods = every_method();
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    let mut calls = 0;
    let mut internal = std::collections::BTreeSet::new();
    for (name, addr) in &ports {
        for method in &methods {
            // A port that does not serve the method says so once; one that does gets 16.
            for i in 0..16 {
                let status = call(addr, method, payload(&mut rng)).await;
                calls += 1;
                if status.code() == tonic::Code::Unimplemented && i == 0 {
                    break;
                }
                *codes.entry(format!("{:?}", status.code())).or_default() += 1;
                // tonic (like grpc-go) answers a message it cannot decode with Internal; an
                // Internal from a handler would be a bug in how it treats input.
                if status.code() == tonic::Code::Internal
                    && !status
                        .message()
                        .starts_with("failed to decode Protobuf message")
                {
                    internal.insert(format!("{method}: {}", status.message()));
                }
            }
        }
        for p in cluster.procs_mut() {
            assert!(p.is_running(), "{} died during the calls to {name}", p.name);
        }
    }
    eprintln!("{calls} calls, answers: {codes:?}");
    assert!(
        internal.is_empty(),
        "handlers answered input with Internal: {internal:#?}"
    );
    assert!(calls > 500, "{calls}");
    assert!(
        codes.len() > 2,
        "the messages reached handlers, not only the decoder: {codes:?}"
    );
    let panics = panics_in_logs(&cluster);
    assert!(panics.is_empty(), "{panics:#?}");
    for p in cluster.procs_mut() {
        p.wait_healthy(Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("{} is not healthy after the calls: {e:#}", p.name));
    }
}
