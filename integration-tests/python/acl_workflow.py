"""The ACL workflow of Dgraph's documentation, driven through the gateway's /admin with the gql
client and then, as the new user, through pydgraph.

Usage: acl_workflow.py ADMIN_URL ALPHA_ADDR
Exits non-zero (with an assertion message) when the behaviour is wrong.
"""

import json
import sys
import time

import grpc
import pydgraph
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport


def admin(url: str, token: str = "") -> Client:
    headers = {"X-Dgraph-AccessToken": token} if token else {}
    return Client(transport=RequestsHTTPTransport(url=url, headers=headers, timeout=30))


def run(client: Client, text: str, variables: dict | None = None) -> dict:
    return client.execute(gql(text), variable_values=variables)


def refused(client: Client, text: str) -> str:
    try:
        result = run(client, text)
    except TransportQueryError as e:
        return str(e)
    raise AssertionError(f"not refused: {text} -> {result}")


LOGIN = """mutation ($u: String, $p: String, $r: String) {
  login(userId: $u, password: $p, refreshToken: $r) { response { accessJWT refreshJWT } }
}"""


def login(url: str, user: str, password: str) -> dict:
    return run(admin(url), LOGIN, {"u": user, "p": password})["login"]["response"]


def main() -> None:
    url, alpha = sys.argv[1], sys.argv[2]

    # Without a token, guardian operations are refused with Dgraph's message.
    msg = refused(admin(url), 'mutation { addUser(input: [{name: "eve", password: "evepassword"}]) { user { name } } }')
    assert "no accessJwt available" in msg, msg

    groot = admin(url, login(url, "groot", "password")["accessJWT"])

    # 1) Reset the root password, exactly as documented.
    out = run(groot, """mutation {
      updateUser(input: {filter: {name: {eq: "groot"}}, set: {password: "newpassword"}}) { user { name } }
    }""")
    assert out == {"updateUser": {"user": [{"name": "groot"}]}}, out
    msg = refused(admin(url), 'mutation { login(userId: "groot", password: "password") { response { accessJWT } } }')
    assert "invalid username or password" in msg, msg
    tokens = login(url, "groot", "newpassword")
    groot = admin(url, tokens["accessJWT"])
    # The documented refresh: new access AND refresh tokens.
    again = run(admin(url), LOGIN, {"u": "groot", "p": "newpassword", "r": tokens["refreshJWT"]})["login"]["response"]
    assert again["accessJWT"] and again["refreshJWT"], again

    # A password under 6 characters and a permission outside 0-7 are refused with Dgraph's texts.
    msg = refused(groot, 'mutation { addUser(input: [{name: "bob", password: "short"}]) { user { name } } }')
    assert "Password too short, i.e. should have at least 6 chars" in msg, msg
    msg = refused(groot, 'mutation { addGroup(input: [{name: "ops", rules: [{predicate: "x", permission: 8}]}]) { group { name } } }')
    assert "Value for this predicate should be between 0 and 7" in msg, msg

    # 2) Create a regular user: the documented output.
    out = run(groot, 'mutation { addUser(input: [{name: "alice", password: "newpassword"}]) { user { name } } }')
    assert out == {"addUser": {"user": [{"name": "alice"}]}}, out
    msg = refused(groot, 'mutation { addUser(input: [{name: "alice", password: "newpassword"}]) { user { name } } }')
    assert "alice already exists" in msg, msg

    # 3) Create a group: the documented output.
    out = run(groot, 'mutation { addGroup(input: [{name: "dev"}]) { group { name users { name } } } }')
    assert out == {"addGroup": {"group": [{"name": "dev", "users": []}]}}, out

    # 4) Assign the user to dev and sre (sre does not exist yet: the reference creates it).
    out = run(groot, """mutation {
      updateUser(input: {filter: {name: {eq: "alice"}}, set: {groups: [{name: "dev"}, {name: "sre"}]}}) {
        user { name groups { name } }
      }
    }""")
    assert out == {"updateUser": {"user": [{"name": "alice", "groups": [{"name": "dev"}, {"name": "sre"}]}]}}, out

    # 5) Predicate permissions for dev, one documented mutation per predicate.
    for pred in ["friend", "~friend", "name"]:
        out = run(groot, """mutation {
          updateGroup(input: {filter: {name: {eq: "dev"}}, set: {rules: [{predicate: %s, permission: 7}]}}) {
            group { name rules { permission predicate } }
          }
        }""" % json.dumps(pred))
        rules = out["updateGroup"]["group"][0]["rules"]
        assert {"permission": 7, "predicate": pred} in rules, out

    # Retrieve users and groups: the documented queries and JSON (the documentation's examples
    # leave out alice's second group, sre, and dev's ~friend rule that the workflow added).
    dev_rules = [
        {"permission": 7, "predicate": "friend"},
        {"permission": 7, "predicate": "name"},
        {"permission": 7, "predicate": "~friend"},
    ]
    out = run(groot, 'query { getUser(name: "alice") { name groups { name } } }')
    assert out == {"getUser": {"name": "alice", "groups": [{"name": "dev"}, {"name": "sre"}]}}, out
    out = run(groot, '{ getGroup(name: "dev") { name users { name } rules { permission predicate } } }')
    assert out == {"getGroup": {"name": "dev", "users": [{"name": "alice"}], "rules": dev_rules}}, out
    out = run(groot, 'query { queryUser(filter: {name: {eq: "alice"}}) { name groups { name } } }')
    assert out == {"queryUser": [{"name": "alice", "groups": [{"name": "dev"}, {"name": "sre"}]}]}, out
    out = run(groot, 'query { queryGroup(filter: {name: {eq: "dev"}}) { name users { name } rules { permission predicate } } }')
    assert out == {"queryGroup": [{"name": "dev", "users": [{"name": "alice"}], "rules": dev_rules}]}, out
    out = run(groot, "query { queryGroup(order: {asc: name}) { name } }")
    assert out == {"queryGroup": [{"name": "dev"}, {"name": "guardians"}, {"name": "sre"}]}, out
    out = run(groot, "query { getCurrentUser { name groups { name } } }")
    assert out == {"getCurrentUser": {"name": "groot", "groups": [{"name": "guardians"}]}}, out

    # groot and guardians cannot be deleted nor groot taken out of guardians.
    msg = refused(groot, 'mutation { deleteUser(filter: {name: {eq: "groot"}}) { msg numUids } }')
    assert "guardians group and groot user cannot be deleted." in msg, msg
    msg = refused(groot, 'mutation { deleteGroup(filter: {name: {eq: "guardians"}}) { msg numUids } }')
    assert "guardians group and groot user cannot be deleted." in msg, msg
    msg = refused(groot, """mutation {
      updateUser(input: {filter: {name: {eq: "groot"}}, remove: {groups: [{name: "guardians"}]}}) { user { name } }
    }""")
    assert "Properties of guardians group and groot user cannot be deleted" in msg, msg

    # alice is no guardian: she sees only herself and her groups, and changes nothing.
    alice_admin = admin(url, login(url, "alice", "newpassword")["accessJWT"])
    msg = refused(alice_admin, 'mutation { addGroup(input: [{name: "ops"}]) { group { name } } }')
    assert "Only guardians are allowed access. User 'alice' is not a member of guardians group." in msg, msg
    out = run(alice_admin, "query { getCurrentUser { name } queryUser { name } }")
    assert out == {"getCurrentUser": {"name": "alice"}, "queryUser": [{"name": "alice"}]}, out

    # Data access as alice through pydgraph.
    root = pydgraph.DgraphClient(pydgraph.DgraphClientStub(alpha))
    root.login("groot", "newpassword")
    root.alter(pydgraph.Operation(schema="name: string @index(exact) .\nfriend: [uid] @reverse .\nage: int ."))
    txn = root.txn()
    txn.mutate(set_nquads='_:a <name> "Ann" .\n_:a <age> "31" .\n_:a <friend> _:b .\n_:b <name> "Bob" .', commit_now=True)

    client = pydgraph.DgraphClient(pydgraph.DgraphClientStub(alpha))
    client.login("alice", "newpassword")
    q = '{ q(func: eq(name, "Ann")) { name age friend { name ~friend { name } } } }'
    res = json.loads(client.txn(read_only=True).query(q).json)
    assert res == {"q": [{"name": "Ann", "friend": [{"name": "Bob", "~friend": [{"name": "Ann"}]}]}]}, res

    # She writes friend and name...
    txn = client.txn()
    txn.mutate(set_nquads='_:c <name> "Cat" .\n_:c <friend> _:c .', commit_now=True)
    # ...but not age, which no rule covers: PermissionDenied naming it, nothing written.
    try:
        client.txn().mutate(set_nquads='_:d <name> "Dan" .\n_:d <age> "9" .', commit_now=True)
        raise AssertionError("a mutation on age was allowed")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e
        assert "unauthorized to mutate following predicates: age" in e.details(), e.details()
    res = json.loads(root.txn(read_only=True).query('{ q(func: eq(name, "Dan")) { uid } }').json)
    assert res == {"q": []}, res
    # Her Alter on age (no MODIFY) is refused.
    try:
        client.alter(pydgraph.Operation(schema="age: int @index(int) ."))
        raise AssertionError("an alter without MODIFY was allowed")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e
        assert "unauthorized to alter following predicates: age" in e.details(), e.details()

    # groot removes dev's rule on name: alice's next reads leave name out, within a second.
    out = run(groot, """mutation {
      updateGroup(input: {filter: {name: {eq: "dev"}}, remove: {rules: ["name"]}}) { group { name rules { predicate } } }
    }""")
    assert out == {"updateGroup": {"group": [{"name": "dev", "rules": [{"predicate": "friend"}, {"predicate": "~friend"}]}]}}, out
    removed = time.monotonic()
    while True:
        res = json.loads(client.txn(read_only=True).query("{ q(func: has(friend)) { name friend { uid } } }").json)
        assert res["q"], res
        if all("name" not in n for n in res["q"]):
            break
        assert time.monotonic() - removed < 1.0, f"the removed rule still applies: {res}"
        time.sleep(0.02)

    # A user deleted by groot: the documented delete payload.
    out = run(groot, 'mutation { deleteUser(filter: {name: {eq: "alice"}}) { msg numUids } }')
    assert out == {"deleteUser": {"msg": "Deleted", "numUids": 1}}, out
    out = run(groot, 'query { getUser(name: "alice") { name } }')
    assert out == {"getUser": None}, out
    print("ACL workflow OK")


if __name__ == "__main__":
    main()
