"""Drives the gateway's /admin with the gql client, as Dgraph users' tooling does.

Usage: admin_license.py ADMIN_URL EXPIRED_LICENSE_FILE
Exits non-zero (with an assertion message) when the behaviour is wrong.
"""

import sys

from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport


def main() -> None:
    url, expired_file = sys.argv[1], sys.argv[2]
    client = Client(transport=RequestsHTTPTransport(url=url, timeout=30), fetch_schema_from_transport=True)

    state = client.execute(gql("{ state { cid license { user maxNodes expiryTs enabled } zeros { id addr leader } } }"))
    assert state["state"]["cid"], state
    assert any(z["leader"] for z in state["state"]["zeros"]), state

    health = client.execute(gql("{ health { instance status version } }"))
    instances = {n["instance"]: n["status"] for n in health["health"]}
    assert instances.get("zero") == "healthy", instances

    # An expired license is accepted ("Success") but not enabled.
    with open(expired_file) as f:
        license_text = f.read()
    mutation = gql("mutation ($l: String!) { enterpriseLicense(input: {license: $l}) { response { code message } } }")
    result = client.execute(mutation, variable_values={"l": license_text})
    assert result["enterpriseLicense"]["response"] == {"code": "Success", "message": "License applied."}, result
    state = client.execute(gql("{ state { license { user enabled } } }"))
    assert state["state"]["license"] == {"user": "expired-corp", "enabled": False}, state

    # A bad license raises a GraphQL error with the reason; the state keeps the last license.
    try:
        client.execute(mutation, variable_values={"l": ""})
        raise AssertionError("an empty license was accepted")
    except TransportQueryError as e:
        assert "EOF" in str(e), e
    state = client.execute(gql("{ state { license { user } } }"))
    assert state["state"]["license"]["user"] == "expired-corp", state

    # The schema has Dgraph's names: selecting an unknown field is a validation error.
    try:
        client.execute(gql("{ state { license { password } } }"))
        raise AssertionError("unknown field accepted")
    except Exception as e:  # gql validates against the fetched schema before sending
        assert "password" in str(e), e
    print("admin_license: ok")


if __name__ == "__main__":
    main()
