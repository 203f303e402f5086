//! A network partition of a replicated group: each alpha runs on a host of its own (a network
//! namespace on a bridge); the leader's host is cut off from the other two alphas (it still
//! reaches zero and the clients). The minority side, the old leader, refuses writes and reads
//! that need the group; the majority elects a leader and serves; after the partition heals
//! the old leader rejoins as a follower and converges, with every acknowledged write kept and
//! nothing it refused applied.

mod common;

use common::backups::read_only;
use common::replicas::{assert_replicas_equal, client, leader, rdf, read_ts, standing};
use lodestar_integration_tests::{ClusterBuilder, Host};
use lodestar_proto::api::{Operation, Request};
use lodestar_test_support::netns::NetLab;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_refuses_writes_and_the_majority_goes_on() {
    let Some(lab) = NetLab::new(3) else {
        return;
    };
    let mut builder = ClusterBuilder::new()
        .zeros(1)
        .alphas(3)
        .replicas(3)
        .bind(IpAddr::V4(lab.bridge_ip()));
    for i in 0..3 {
        builder = builder.alpha_host(
            i + 1,
            Host {
                wrapper: lab.wrapper(i),
                ip: IpAddr::V4(lab.ip(i)),
            },
        );
    }
    let mut cluster = builder.start().await.expect("cluster on three hosts");
    let old = leader(&mut cluster, Duration::from_secs(20)).await;
    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let mut to_old = client(&cluster.alphas[old]);
    to_old
        .alter(Operation {
            schema: "xid: string @index(exact) .".into(),
            ..Default::default()
        })
        .await
        .expect("schema");
    let mut acked = Vec::new();
    for i in 0..20 {
        let xid = format!("before-{i}");
        to_old
            .query(rdf(&format!("_:n <xid> \"{xid}\" ."), true))
            .await
            .expect("write before the partition");
        acked.push(xid);
    }

    // The leader's host loses the other alphas.
    lab.cut(old, &others).expect("cut the leader off");
    let cut_at = Instant::now();
    // A write through a follower at that moment goes to the old leader, whose host no longer
    // answers: it is given up once the majority elects another leader, not left hanging until
    // the client's deadline (or a transport timeout, when the client sets none).
    let forwarded = {
        let mut to_follower = client(&cluster.alphas[others[0]]);
        tokio::spawn(async move {
            let mut req = tonic::Request::new(rdf("_:n <xid> \"in-flight\" .", true));
            req.set_timeout(Duration::from_secs(60));
            let answer = to_follower.query(req).await;
            (answer, cut_at.elapsed())
        })
    };
    // The majority elects one of its own.
    let new = loop {
        let mut found = None;
        for &i in &others {
            if let Some(s) = standing(&cluster.alphas[i]).await
                && s["role"] == "leader"
            {
                found = Some(i);
            }
        }
        if let Some(i) = found {
            break i;
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(15),
            "the majority elected no leader"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "the majority elected {} {:.2} s after the cut",
        cluster.alphas[new].name,
        cut_at.elapsed().as_secs_f64()
    );
    let (answer, took) = forwarded.await.expect("the forwarded write's task");
    let given_up = answer.expect_err("a write forwarded to the cut-off leader was acknowledged");
    assert_eq!(given_up.code(), tonic::Code::Unavailable, "{given_up:?}");
    assert!(
        given_up.message().contains("no longer leads group 1"),
        "{given_up:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "the forwarded write hung for {took:?} after the cut"
    );
    eprintln!(
        "a write forwarded to the cut-off leader was given up {:.2} s after the cut",
        took.as_secs_f64()
    );
    // It serves writes, through either alpha of the majority.
    for (n, &i) in others.iter().enumerate() {
        for k in 0..10 {
            let xid = format!("during-{n}-{k}");
            client(&cluster.alphas[i])
                .query(rdf(&format!("_:n <xid> \"{xid}\" ."), true))
                .await
                .unwrap_or_else(|e| panic!("a write through the majority: {e:?}"));
            acked.push(xid);
        }
    }
    // The old leader, alone, refuses a write (at once, without hanging) and a fresh read.
    tokio::time::sleep(Duration::from_millis(5100).saturating_sub(cut_at.elapsed())).await;
    let asked = Instant::now();
    let mut req = tonic::Request::new(rdf("_:n <xid> \"refused\" .", true));
    req.set_timeout(Duration::from_secs(20));
    let refused = to_old
        .query(req)
        .await
        .expect_err("the minority took a write");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the refusal took {:?}",
        asked.elapsed()
    );
    let mut read = tonic::Request::new(Request {
        query: "{ q(func: has(xid)) { count(uid) } }".into(),
        read_only: true,
        ..Default::default()
    });
    read.set_timeout(Duration::from_secs(30));
    let stale = to_old.query(read).await;
    assert!(
        stale.is_err(),
        "the cut-off leader served a read that may miss the majority's writes: {stale:?}"
    );

    // Healed, the old leader follows the new one and catches up.
    lab.heal(old).expect("heal");
    let healed = Instant::now();
    loop {
        let s = standing(&cluster.alphas[old]).await;
        if s.as_ref()
            .is_some_and(|s| s["role"] == "follower" && s["behind"] == 0)
        {
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(30),
            "the old leader did not rejoin: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let ts = read_ts(&mut client(&cluster.alphas[lead])).await;
    let q = "{ q(func: has(xid), orderasc: xid) { xid } }";
    let mut want: Vec<serde_json::Value> = acked
        .iter()
        .map(|x| serde_json::json!({ "xid": x }))
        .collect();
    want.sort_by_key(|v| v["xid"].as_str().unwrap().to_string());
    let want = serde_json::json!({ "q": want });
    for a in &cluster.alphas {
        assert_eq!(read_only(&mut client(a), q, ts).await, want, "{}", a.name);
    }
    assert_replicas_equal(&cluster, ts).await;
}
