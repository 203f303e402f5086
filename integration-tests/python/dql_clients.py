"""pydgraph (from PyPI, unchanged) against a cluster: the v25 calls current clients make, the
request details applications rely on, and the DQL directives with Dgraph's JSON.

Usage: dql_clients.py ALPHA_ADDR [--acl]
With --acl the client opens "dgraph://groot:password@ALPHA_ADDR" (logging in); without, a
plain "dgraph://ALPHA_ADDR?sslmode=disable". Exits non-zero with an assertion message when the
behaviour is wrong.
"""

import json
import sys

import grpc
import pydgraph

SCHEMA = """
name: string @index(exact, term) .
age: int @index(int) .
gender: string .
dob: datetime .
friend: [uid] @reverse @count .
school: uid .
road: [uid] .
email: string @index(exact) @upsert .
type Person { name age gender dob friend school }
"""

# Dgraph's own query-test people: Michonne and her friends.
DATA = """
<_:m> <name> "Michonne" .
<_:m> <age> "38" .
<_:m> <gender> "female" .
<_:m> <dob> "1910-01-01" .
<_:m> <dgraph.type> "Person" .
_:r <name> "Rick Grimes" .
_:r <age> "15" .
_:r <dob> "1910-01-02" .
_:g <name> "Glenn Rhee" .
_:g <age> "15" .
_:g <dob> "1909-05-05" .
_:d <name> "Daryl Dixon" .
_:d <age> "17" .
_:d <dob> "1909-01-10" .
_:a <name> "Andrea" .
_:a <age> "19" .
_:a <dob> "1901-01-15" .
_:m <friend> _:r (close=true, weight=1) .
_:m <friend> _:g (close=false, weight=5) .
_:m <friend> _:d (close=true) .
_:m <friend> _:a (close=true, weight=1) .
_:r <friend> <_:m> .
_:a <friend> _:g (weight=1) .
_:sa <name> "School A" .
_:sb <name> "School B" .
_:r <school> _:sb .
_:g <school> _:sb .
_:d <school> _:sb .
_:a <school> _:sa .
"""


def fails(call, want: str) -> grpc.RpcError:
    try:
        call()
    except grpc.RpcError as e:
        assert want in e.details(), f"expected {want!r}, got {e.details()!r}"
        return e
    raise AssertionError(f"expected an error containing {want!r}")


def query(client, q: str, **vars_):
    return json.loads(client.txn(read_only=True).query(q, variables=vars_ or None).json)


def main() -> None:
    addr = sys.argv[1]
    acl = "--acl" in sys.argv[2:]
    if acl:
        client = pydgraph.open(f"dgraph://groot:password@{addr}?sslmode=disable&namespace=0")
    else:
        client = pydgraph.open(f"dgraph://{addr}?sslmode=disable")

    # A v25 server with our own suffix: clients that compare versions see 25.x.
    tag = client.check_version()
    assert tag.startswith("v25.") and "-lodestar." in tag, tag

    client.alter(pydgraph.Operation(drop_all=True))
    client.alter(pydgraph.Operation(schema=SCHEMA))

    # <_:m> is the blank node _:m.
    resp = client.txn().mutate(set_nquads=DATA, commit_now=True)
    u = dict(resp.uids)
    assert set(u) >= {"m", "r", "g", "d", "a", "sa", "sb"}, u
    assert query(client, '{ q(func: uid(%s)) { name } }' % u["m"]) == {"q": [{"name": "Michonne"}]}

    # An empty request is Dgraph's "empty request".
    e = fails(lambda: client.txn().query(""), "empty request")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.code()

    # Upserts: a query's variables in the mutation, and a condition.
    upsert = """upsert {
      query { v as var(func: eq(email, "zed@example.com")) }
      mutation @if(eq(len(v), 0)) { set { uid(v) <email> "zed@example.com" . uid(v) <name> "Zed" . } }
    }"""
    for _ in range(2):
        client.run_dql(upsert)
    res = query(client, '{ q(func: eq(email, "zed@example.com")) { name } }')
    assert res == {"q": [{"name": "Zed"}]}, res
    txn = client.txn()
    txn.do_request(
        pydgraph.Request(
            query='{ v as var(func: eq(name, "Zed")) }',
            mutations=[
                pydgraph.Mutation(set_nquads=b'uid(v) <age> "77" .', cond="@if(eq(len(v), 1))"),
                pydgraph.Mutation(set_nquads=b'uid(v) <age> "1" .', cond="@if(gt(len(v), 1))"),
            ],
            commit_now=True,
        )
    )
    assert query(client, '{ q(func: eq(name, "Zed")) { age } }') == {"q": [{"age": 77}]}

    # RunDQL: queries with variables, mutation blocks committed at once, RDF answers.
    resp = client.run_dql(
        'query q($n: string) { q(func: eq(name, $n)) { age } }', vars={"$n": "Andrea"}, read_only=True
    )
    assert json.loads(resp.json) == {"q": [{"age": 19}]}, resp.json
    resp = client.run_dql('{ set { _:n <name> "Negan" . _:n <age> "45" . } }')
    assert "n" in resp.uids and resp.txn.commit_ts > 0, resp
    assert query(client, '{ q(func: eq(name, "Negan")) { age } }') == {"q": [{"age": 45}]}
    fails(
        lambda: client.run_dql('{ set { _:x <name> "X" . } }', read_only=True),
        "read-only transaction cannot run mutations",
    )
    resp = client.run_dql(
        '{ q(func: uid(%s)) { name friend @filter(eq(name, "Andrea")) { name } } }' % u["m"],
        resp_format="RDF",
    )
    rdf = resp.rdf.decode()
    assert f'<{u["m"]}> <name> "Michonne" .' in rdf, rdf
    assert f'<{u["m"]}> <friend> <{u["a"]}> .' in rdf, rdf
    assert f'<{u["a"]}> <name> "Andrea" .' in rdf, rdf
    fails(
        lambda: client.run_dql("{ q(func: has(name)) { count(uid) } }", resp_format="RDF"),
        "uid count is not supported in the rdf output format",
    )

    # AllocateIDs: uid leases for any client; timestamps and namespaces for guardians.
    # pydgraph reads (start, end) with end excluded.
    start, end = client.allocate_uids(100)
    assert end - start == 100, (start, end)
    start2, _ = client.allocate_uids(10)
    assert start2 >= end, (start2, end)
    ts_start, ts_end = client.allocate_timestamps(5)
    assert ts_end - ts_start == 5, (ts_start, ts_end)
    ns_start, ns_end = client.allocate_namespaces(2)
    assert ns_end - ns_start == 2, (ns_start, ns_end)

    # JSON mutations: language-tagged keys, facets on values, edges and list elements, lists,
    # dgraph.type, and uid(v) of an upsert's query.
    client.alter(pydgraph.Operation(schema="nick: [string] .\ntitle: string @lang ."))
    txn = client.txn()
    resp = txn.mutate(set_obj={
        "uid": "_:t", "dgraph.type": "Person", "name": "Tyreese", "title@en": "Warden",
        "title@fr": "Gardien", "nick": ["Ty", "T"], "nick|kind": {"1": "short"},
        "friend": [{"uid": "_:s", "name": "Sasha", "friend|close": True}],
        "age": 30, "age|source": "census",
    })
    txn.commit()
    t = resp.uids["t"]
    res = query(client, "{ q(func: uid(%s)) { name title@fr nick @facets age @facets friend @facets(close) { name } dgraph.type } }" % t)
    node = res["q"][0]
    # A list keeps no order (as in Dgraph); its facet map points at the element it was set on.
    nicks = node.pop("nick")
    kinds = node.pop("nick|kind")
    assert sorted(nicks) == ["T", "Ty"] and {nicks[int(i)]: k for i, k in kinds.items()} == {"T": "short"}, res
    assert node == {
        "name": "Tyreese", "title@fr": "Gardien", "age": 30, "age|source": "census",
        "friend": [{"name": "Sasha", "friend|close": True}], "dgraph.type": ["Person"],
    }, res
    txn = client.txn()
    txn.do_request(pydgraph.Request(
        query='{ v as var(func: eq(name, "Sasha")) }',
        mutations=[pydgraph.Mutation(set_json=json.dumps({"uid": "uid(v)", "age": 27}).encode())],
        commit_now=True,
    ))
    assert query(client, '{ q(func: eq(name, "Sasha")) { age } }') == {"q": [{"age": 27}]}
    # Deletes with *: one predicate's values, then every predicate of a node.
    client.txn().mutate(del_nquads='<%s> <nick> * .' % t, commit_now=True)
    res = query(client, "{ q(func: uid(%s)) { nick name } }" % t)
    assert res == {"q": [{"name": "Tyreese"}]}, res
    client.txn().mutate(del_nquads='<%s> * * .' % t, commit_now=True)
    assert query(client, "{ q(func: uid(%s)) { name title@en } }" % t) == {"q": []}
    # Malformed input names the line and column.
    fails(lambda: client.txn().mutate(set_nquads='_:a <name> "x" .\n_:a <name> "y .', commit_now=True),
          "line 2 column")

    m, r, g, d, a = (u[k] for k in "mrgda")

    # @cascade: only friends whose friends have every field.
    res = query(
        client,
        "{ me(func: uid(%s)) @cascade { name gender friend(orderasc: name) { name friend { name dob age } } } }" % m,
    )
    assert res == {"me": [{"name": "Michonne", "gender": "female", "friend": [
        {"name": "Andrea", "friend": [{"name": "Glenn Rhee", "dob": "1909-05-05T00:00:00Z", "age": 15}]},
        {"name": "Rick Grimes", "friend": [{"name": "Michonne", "dob": "1910-01-01T00:00:00Z", "age": 38}]},
    ]}]}, res

    # @normalize: flat rows of aliased values.
    res = query(client, "{ me(func: uid(%s)) @normalize { mn: name friend(orderasc: name) { n: name friend { fn: name } } } }" % m)
    assert res == {"me": [
        {"mn": "Michonne", "n": "Andrea", "fn": "Glenn Rhee"},
        {"mn": "Michonne", "n": "Daryl Dixon"},
        {"mn": "Michonne", "n": "Glenn Rhee"},
        {"mn": "Michonne", "n": "Rick Grimes", "fn": "Michonne"},
    ]}, res

    # @recurse: each edge once; depth 2 is the root and one level.
    res = query(client, "{ me(func: uid(%s)) @recurse(depth: 2) { name friend(orderasc: name) } }" % m)
    assert res == {"me": [{"name": "Michonne", "friend": [
        {"name": "Andrea"}, {"name": "Daryl Dixon"}, {"name": "Glenn Rhee"}, {"name": "Rick Grimes"}
    ]}]}, res
    res = query(client, "{ me(func: uid(%s)) @recurse { name friend(orderasc: name) } }" % r)
    rick = res["me"][0]
    assert rick["friend"][0]["name"] == "Michonne", res
    # Michonne's edges are new at her level (only Rick's edge to her was followed), so Rick
    # appears again below her, without his followed edge.
    below = rick["friend"][0]["friend"]
    assert [f["name"] for f in below] == ["Andrea", "Daryl Dixon", "Glenn Rhee", "Rick Grimes"], res
    assert "friend" not in below[3], res

    # @ignorereflex.
    res = query(client, "{ me(func: uid(%s)) @ignorereflex { friend { friend(orderasc: name) { name } } } }" % r)
    assert res == {"me": [{"friend": [{"friend": [
        {"name": "Andrea"}, {"name": "Daryl Dixon"}, {"name": "Glenn Rhee"}
    ]}]}]}, res

    # @groupby: groups by size then value; aggregates of a predicate; uid groups into variables.
    res = query(client, "{ me(func: uid(%s, %s, %s, %s, %s)) @groupby(age) { count(uid) } }" % (m, r, g, d, a))
    assert res == {"me": [{"@groupby": [
        {"age": 17, "count": 1}, {"age": 19, "count": 1}, {"age": 38, "count": 1}, {"age": 15, "count": 2}
    ]}]}, res
    res = query(client, "{ var(func: uid(%s)) { friend @groupby(school) { s as count(uid) } } "
                        "q(func: uid(s), orderdesc: val(s)) { name val(s) } }" % m)
    assert res == {"q": [{"name": "School B", "val(s)": 3}, {"name": "School A", "val(s)": 1}]}, res

    # Aggregates over a block, per parent, and math.
    res = query(client, "{ var(func: uid(%s, %s, %s, %s, %s)) { x as age } "
                        "me() { avg(val(x)) lo as min(val(x)) hi as max(val(x)) spread: math(hi - lo) } }" % (m, r, g, d, a))
    assert res == {"me": [{"avg(val(x))": 20.8}, {"min(val(x))": 15}, {"max(val(x))": 38}, {"spread": 23}]}, res
    res = query(client, "{ me(func: uid(%s)) { friend { y as age } total: sum(val(y)) oldest: max(val(y)) } }" % m)
    assert res["me"][0]["total"] == 66 and res["me"][0]["oldest"] == 19, res
    res = query(client, "{ var(func: uid(%s)) { friend { a as age c as count(friend) s as math(a * 2 + c) } } "
                        "top(func: uid(s), orderdesc: val(s), first: 2) { name val(s) } }" % m)
    assert res == {"top": [{"name": "Andrea", "val(s)": 39}, {"name": "Daryl Dixon", "val(s)": 34}]}, res

    # Shortest paths, by hops and by facet weight; the path variable keeps path order.
    res = query(client, "{ p as shortest(from: %s, to: %s) { friend } path(func: uid(p)) { name } }" % (r, g))
    assert res["path"] == [{"name": "Rick Grimes"}, {"name": "Michonne"}, {"name": "Glenn Rhee"}], res
    assert res["_path_"][0]["_weight_"] == 2, res
    res = query(client, "{ shortest(from: %s, to: %s, numpaths: 2) { friend @facets(weight) } }" % (m, g))
    assert [p["_weight_"] for p in res["_path_"]] == [2, 5], res
    assert res["_path_"][0]["friend"]["uid"] == a, res

    # Facets: filter, order, alias and variables.
    res = query(client, "{ me(func: uid(%s)) { friend @facets(eq(close, true)) @facets(orderdesc: weight, c: close) { name } } }" % m)
    names = [f["name"] for f in res["me"][0]["friend"]]
    assert names[2] == "Daryl Dixon" and set(names[:2]) == {"Rick Grimes", "Andrea"}, res
    assert all(f["c"] is True for f in res["me"][0]["friend"]), res

    # Several sort keys, a block of value variables, expand of a type.
    res = query(client, "{ q(func: has(dob), orderasc: age, orderdesc: name) { name } }")
    assert [x["name"] for x in res["q"]] == ["Rick Grimes", "Glenn Rhee", "Daryl Dixon", "Andrea", "Michonne"], res
    res = query(client, "{ q(func: uid(%s)) { expand(Person) } }" % m)
    assert res["q"][0]["name"] == "Michonne" and res["q"][0]["age"] == 38, res

    # Errors name the problem.
    fails(lambda: query(client, "{ q(func: has(name)) @recurse(loop: true) { friend } }"),
          "Depth must be > 0 when loop is true for recurse query")
    fails(lambda: query(client, "{ q() { name } }"),
          "Only aggregation/math functions allowed inside empty blocks. Got: name")
    client.close()
    print("ok")


if __name__ == "__main__":
    main()
