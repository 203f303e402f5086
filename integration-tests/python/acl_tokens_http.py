"""Access tokens over HTTP (the gateway's /admin and POST /login): an expired token gets
Dgraph's "Token is expired" and a refresh login returns new tokens; a tampered signature,
`alg: none` and a token signed with another secret are refused.

Usage: acl_tokens_http.py GATEWAY_URL FOREIGN_TOKEN   (the auth service runs --acl_access_ttl 2s)
Exits non-zero (with an assertion message) when the behaviour is wrong.
"""

import base64
import json
import sys
import time

import requests


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def current_user(url: str, token: str) -> dict:
    r = requests.post(
        f"{url}/admin",
        json={"query": "{ getCurrentUser { name } }"},
        headers={"X-Dgraph-AccessToken": token},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()


def error(body: dict) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["message"]


def main() -> None:
    url, foreign = sys.argv[1], sys.argv[2]

    # Dgraph's POST /login body and answer.
    r = requests.post(f"{url}/login", json={"userid": "groot", "password": "password", "namespace": 0}, timeout=30)
    assert r.status_code == 200, r.text
    tokens = r.json()["data"]
    assert set(tokens) == {"accessJWT", "refreshJWT"}, tokens
    assert current_user(url, tokens["accessJWT"]) == {"data": {"getCurrentUser": {"name": "groot"}}}

    # A refused login is Dgraph's answer: 200 with the error in the body (dgraph-js-http and
    # Ratel show its message; another status would reach them as a bare HTTP error).
    r = requests.post(f"{url}/login", json={"userid": "groot", "password": "wrong-password"}, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert body["data"] is None, body
    assert body["errors"][0]["extensions"]["code"] == "ErrorInvalidRequest", body
    assert error(body) == "invalid username or password", body

    # Tampered signature, alg: none, another secret: refused.
    head, payload, sig = tokens["accessJWT"].split(".")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    msg = error(current_user(url, f"{head}.{payload}.{flipped}"))
    assert "token signature is invalid" in msg, msg
    none = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    msg = error(current_user(url, f"{none}.{payload}."))
    assert msg.startswith("unable to parse jwt token"), msg
    msg = error(current_user(url, foreign))
    assert "token signature is invalid" in msg, msg

    # The access token expires (2 s): Dgraph's text; the refresh token buys a new pair.
    time.sleep(3.1)
    msg = error(current_user(url, tokens["accessJWT"]))
    assert msg == "unable to parse jwt token: token has invalid claims: Token is expired", msg
    r = requests.post(f"{url}/login", json={"refresh_token": tokens["refreshJWT"]}, timeout=30)
    assert r.status_code == 200, r.text
    fresh = r.json()["data"]
    assert fresh["accessJWT"] != tokens["accessJWT"] and fresh["refreshJWT"], fresh
    assert current_user(url, fresh["accessJWT"]) == {"data": {"getCurrentUser": {"name": "groot"}}}
    print("tokens over HTTP OK")


if __name__ == "__main__":
    main()
