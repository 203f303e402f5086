"""pydgraph (from PyPI, unchanged) against an alpha serving its client port over TLS, through
`pydgraph.open()` connection strings.

Usage: alpha_tls.py ALPHA_ADDR [--acl]
GRPC_DEFAULT_SSL_ROOTS_FILE_PATH must name the CA that signed the alpha's certificate.
Without --acl: `?sslmode=verify-ca` and `?apikey=…` work and a plain-text client is refused.
With --acl: `groot:password@…?sslmode=verify-ca` logs in and works, `?bearertoken=<access JWT>`
works, a wrong bearer token is Unauthenticated with Dgraph's text, and `?apikey=…` alone is
refused (an API key is not a token). Exits non-zero with an assertion message otherwise.
"""

import json
import sys

import grpc
import pydgraph


def query_names(client):
    txn = client.txn(read_only=True)
    try:
        res = txn.query('{ q(func: has(tls_name)) { tls_name } }')
    finally:
        txn.discard()
    return sorted(n["tls_name"] for n in json.loads(res.json)["q"])


def write(client, name):
    txn = client.txn()
    try:
        txn.mutate(set_obj={"tls_name": name}, commit_now=True)
    finally:
        txn.discard()


def refused(client, codes):
    try:
        query_names(client)
    except grpc.RpcError as e:
        assert e.code() in codes, f"refused with {e.code()}: {e.details()}"
        return e
    raise AssertionError("the call was not refused")


def without_acl(addr):
    client = pydgraph.open(f"dgraph://{addr}?sslmode=verify-ca")
    assert client.check_version().startswith("v25"), client.check_version()
    client.alter(pydgraph.Operation(schema="tls_name: string @index(exact) ."))
    write(client, "over tls")
    assert query_names(client) == ["over tls"], query_names(client)
    client.close()

    # pydgraph's apikey= always means TLS plus `authorization: <key>`; the alpha ignores the key.
    keyed = pydgraph.open(f"dgraph://{addr}?apikey=anything-at-all")
    write(keyed, "with an api key")
    assert query_names(keyed) == ["over tls", "with an api key"], query_names(keyed)
    keyed.close()

    plain = pydgraph.open(f"dgraph://{addr}?sslmode=disable")
    refused(plain, {grpc.StatusCode.UNAVAILABLE})
    plain.close()


def with_acl(addr):
    groot = pydgraph.open(f"dgraph://groot:password@{addr}?sslmode=verify-ca")
    groot.alter(pydgraph.Operation(schema="tls_name: string @index(exact) ."))
    write(groot, "as groot")
    assert query_names(groot) == ["as groot"], query_names(groot)
    token = groot._jwt.access_jwt
    assert token, "the login gave no access token"
    groot.close()

    bearer = pydgraph.open(f"dgraph://{addr}?bearertoken={token}")
    write(bearer, "with a bearer token")
    assert query_names(bearer) == ["as groot", "with a bearer token"], query_names(bearer)
    bearer.close()

    wrong = pydgraph.open(f"dgraph://{addr}?bearertoken=not.a.token")
    e = refused(wrong, {grpc.StatusCode.UNAUTHENTICATED})
    assert "unable to parse jwt token" in e.details(), e.details()
    wrong.close()

    keyed = pydgraph.open(f"dgraph://{addr}?apikey=anything-at-all")
    refused(keyed, {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
    keyed.close()


def main():
    addr = sys.argv[1]
    if "--acl" in sys.argv[2:]:
        with_acl(addr)
    else:
        without_acl(addr)
    print("ok")


if __name__ == "__main__":
    main()
