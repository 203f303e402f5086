"""pydgraph logs in to an alpha with ACL on, exactly as Dgraph's docs show, and refreshes
(by hand, and by itself when its access token expires).

Usage: pydgraph_login.py ALPHA_ADDR
Exits non-zero with an assertion message when the behaviour is wrong.
"""

import base64
import json
import sys
import time

import pydgraph


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def main() -> None:
    addr = sys.argv[1]
    client = pydgraph.DgraphClient(pydgraph.DgraphClientStub(addr))

    # A wrong password: pydgraph raises with the server's message.
    try:
        client.login("groot", "wrong-password")
        raise AssertionError("a wrong password logged in")
    except AssertionError:
        raise
    except Exception as e:  # pydgraph surfaces the gRPC error
        assert "invalid username or password" in str(e), e

    client.login("groot", "password")
    jwt = client._jwt  # what pydgraph keeps and sends as the accessJwt metadata
    c = claims(jwt.access_jwt)
    assert c["userid"] == "groot" and c["groups"] == ["guardians"] and c["namespace"] == 0, c
    assert claims(jwt.refresh_jwt)["userid"] == "groot"

    # Queries carry the token; the client keeps working.
    res = json.loads(client.txn(read_only=True).query('{ q(func: eq(dgraph.xid, "groot")) { dgraph.xid } }').json)
    assert res == {"q": [{"dgraph.xid": "groot"}]}, res

    # pydgraph's own refresh path: a login with the refresh token alone.
    old_refresh = jwt.refresh_jwt
    client.retry_login()
    assert client._jwt.access_jwt and claims(client._jwt.access_jwt)["userid"] == "groot"
    assert client._jwt.refresh_jwt, "a new refresh token comes back"
    assert old_refresh, "the refresh token was sent"
    # The access token expires (the cluster runs with --acl_access_ttl 2s): pydgraph sees
    # "Token is expired", logs in again with its refresh token and retries, unasked.
    before = client._jwt.access_jwt
    time.sleep(3)
    res = json.loads(client.txn(read_only=True).query('{ q(func: eq(dgraph.xid, "groot")) { dgraph.xid } }').json)
    assert res == {"q": [{"dgraph.xid": "groot"}]}, res
    assert client._jwt.access_jwt != before, "pydgraph refreshed the expired token"
    print("pydgraph login: ok")


if __name__ == "__main__":
    main()
