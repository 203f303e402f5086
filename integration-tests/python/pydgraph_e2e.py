"""Drives an alpha with pydgraph exactly as a new user would (the client from PyPI, unchanged).

Usage: pydgraph_e2e.py ALPHA_ADDR
Exits non-zero with an assertion message when the behaviour is wrong.
"""

import json
import sys

import grpc
import pydgraph


def main() -> None:
    addr = sys.argv[1]
    stub = pydgraph.DgraphClientStub(addr)
    client = pydgraph.DgraphClient(stub)
    assert client.check_version(), "check_version"

    client.alter(pydgraph.Operation(drop_all=True))
    client.alter(
        pydgraph.Operation(
            schema="""
            name: string @index(exact, term) .
            email: string @index(exact) @upsert .
            age: int @index(int) .
            friend: [uid] @reverse @count .
            type Person { name email age friend }
            """
        )
    )

    # set_obj (JSON) with nested nodes, committed.
    txn = client.txn()
    resp = txn.mutate(
        set_obj={
            "uid": "_:alice",
            "dgraph.type": "Person",
            "name": "Alice",
            "email": "alice@example.com",
            "age": 31,
            "friend": [{"uid": "_:bob", "dgraph.type": "Person", "name": "Bob", "age": 29}],
        }
    )
    assert "alice" in resp.uids and "bob" in resp.uids, resp.uids
    txn.commit()
    alice = resp.uids["alice"]

    # N-Quads with commit_now.
    txn = client.txn()
    txn.mutate(set_nquads='_:c <name> "Carol" .\n_:c <age> "40" .\n_:c <dgraph.type> "Person" .', commit_now=True)

    # Query with variables.
    q = """query people($min: int) {
      people(func: ge(age, $min), orderasc: name) { name age friend { name } }
    }"""
    res = json.loads(client.txn(read_only=True).query(q, variables={"$min": "30"}).json)
    assert res == {"people": [{"name": "Alice", "age": 31, "friend": [{"name": "Bob"}]}, {"name": "Carol", "age": 40}]}, res

    # Reverse edges and expand(_all_).
    res = json.loads(client.txn(read_only=True).query('{ q(func: eq(name, "Bob")) { name ~friend { name } } }').json)
    assert res == {"q": [{"name": "Bob", "~friend": [{"name": "Alice"}]}]}, res

    # The @count index at the root, both directions.
    res = json.loads(client.txn(read_only=True).query(
        '{ a(func: eq(count(friend), 1)) { name } b(func: ge(count(~friend), 1)) { name } }').json)
    assert res == {"a": [{"name": "Alice"}], "b": [{"name": "Bob"}]}, res

    # Upsert with a condition: only creates when the email is new.
    upsert_q = '{ u as var(func: eq(email, "dave@example.com")) }'
    for _ in range(2):
        txn = client.txn()
        mu = txn.create_mutation(set_nquads='uid(u) <email> "dave@example.com" .\nuid(u) <name> "Dave" .', cond="@if(eq(len(u), 0))")
        req = txn.create_request(query=upsert_q, mutations=[mu], commit_now=True)
        txn.do_request(req)
    res = json.loads(client.txn(read_only=True).query('{ q(func: eq(email, "dave@example.com")) { name } }').json)
    assert res == {"q": [{"name": "Dave"}]}, f"the conditional upsert must create Dave exactly once: {res}"

    # Upsert that updates through uid(v).
    txn = client.txn()
    mu = txn.create_mutation(set_nquads='uid(a) <age> "32" .')
    txn.do_request(txn.create_request(query='{ a as var(func: eq(email, "alice@example.com")) }', mutations=[mu], commit_now=True))
    res = json.loads(client.txn(read_only=True).query('{ q(func: uid(%s)) { age } }' % alice).json)
    assert res == {"q": [{"age": 32}]}, res

    # Delete, then discard a transaction: discarded writes never show.
    txn = client.txn()
    txn.mutate(del_obj={"uid": alice, "age": None})
    txn.commit()
    txn = client.txn()
    txn.mutate(set_nquads='<%s> <name> "Changed" .' % alice)
    txn.discard()
    res = json.loads(client.txn(read_only=True).query('{ q(func: uid(%s)) { name age } }' % alice).json)
    assert res == {"q": [{"name": "Alice"}]}, res

    # Two transactions write the same node: the second committer gets AbortedError.
    t1, t2 = client.txn(), client.txn()
    t1.mutate(set_nquads='<%s> <name> "One" .' % alice)
    t2.mutate(set_nquads='<%s> <name> "Two" .' % alice)
    t1.commit()
    try:
        t2.commit()
        raise AssertionError("the second conflicting commit succeeded")
    except pydgraph.errors.AbortedError:
        pass
    res = json.loads(client.txn(read_only=True).query('{ q(func: uid(%s)) { name } }' % alice).json)
    assert res == {"q": [{"name": "One"}]}, res

    # Bad input: a clear error and nothing written.
    for bad, code in [
        ("{ q(func: eq(name, ) { name } }", grpc.StatusCode.INVALID_ARGUMENT),
        ("{ q(func: nosuchfunc(name, 1)) { name } }", grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        try:
            client.txn(read_only=True).query(bad)
            raise AssertionError(f"accepted: {bad}")
        except grpc.RpcError as e:
            assert e.code() == code, (bad, e.code(), e.details())
            assert "line" in e.details(), e.details()
    for bad in ['<0x1> <name> "unterminated .', '_:x <age> "not a number" .']:
        try:
            client.txn().mutate(set_nquads=bad, commit_now=True)
            raise AssertionError(f"accepted: {bad}")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (bad, e.code(), e.details())
    res = json.loads(client.txn(read_only=True).query('{ q(func: has(age)) { count(uid) } }').json)
    assert res == {"q": [{"count": 2}]}, f"bad mutations must write nothing (Bob and Carol have ages): {res}"

    # Schema query.
    res = json.loads(client.txn(read_only=True).query("schema(pred: [email]) { type index upsert }").json)
    assert res["schema"][0]["predicate"] == "email" and res["schema"][0]["upsert"] is True, res

    stub.close()
    print("pydgraph_e2e: ok")


if __name__ == "__main__":
    main()
