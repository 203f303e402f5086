"""Drives the DQL search functions through pydgraph as an application would: full-text,
regular expressions, fuzzy match, between and the geo functions, at the root and in filters,
with the schema set before and after the data (so the indexes are also built from existing
values).

Usage: dql_search.py ALPHA_ADDR
Exits non-zero with an assertion message when the behaviour is wrong.
"""

import json
import sys

import grpc
import pydgraph


def names(client, query, field="name"):
    res = json.loads(client.txn(read_only=True).query(query).json)
    return sorted(o[field] for o in res["q"])


def refused(client, query, text):
    try:
        client.txn(read_only=True).query(query)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (query, e.code(), e.details())
        assert text in e.details(), (query, e.details())
        return
    raise AssertionError(f"accepted: {query}")


def point(lon, lat):
    return {"type": "Point", "coordinates": [lon, lat]}


def main() -> None:
    addr = sys.argv[1]
    stub = pydgraph.DgraphClientStub(addr)
    client = pydgraph.DgraphClient(stub)
    client.alter(pydgraph.Operation(drop_all=True))

    # Data first, with plain schema; the indexes come after and are built from it.
    client.alter(pydgraph.Operation(schema="name: string @lang .\nloc: geo .\nborn: int ."))
    txn = client.txn()
    txn.mutate(
        set_obj=[
            {"name": "Steven Spielberg", "name@en": "Steven Spielberg", "born": 1946},
            {"name": "Steven Soderbergh", "born": 1963},
            {"name": "Stephen Fry", "born": 1957},
            {"name": "Running Man", "name@de": "Die Menschenjagd"},
            {"name": "He Runs the Hills"},
            {"name": "Stow Lake", "loc": point(-122.4753, 37.7693)},
            {"name": "Ferry Building", "loc": point(-122.3937, 37.7955)},
            {
                "name": "Golden Gate Park",
                "loc": {
                    "type": "Polygon",
                    "coordinates": [[[-122.511, 37.764], [-122.453, 37.766], [-122.454, 37.774],
                                     [-122.510, 37.771], [-122.511, 37.764]]],
                },
            },
        ]
    )
    txn.commit()

    # Without the indexes the root refuses, with Dgraph's messages; filters work.
    refused(client, '{ q(func: alloftext(name, "run")) { name } }',
            "Attribute name is not indexed with type fulltext")
    refused(client, "{ q(func: regexp(name, /Steven/)) { name } }",
            "does not have trigram index for regex matching")
    assert names(client, '{ q(func: has(name)) @filter(regexp(name, /^Ste(v|ph)en /)) { name } }') == [
        "Stephen Fry", "Steven Soderbergh", "Steven Spielberg"]

    client.alter(pydgraph.Operation(schema="""
        name: string @index(term, fulltext, trigram) @lang .
        loc: geo @index(geo) .
        born: int @index(int) .
    """))

    # Full-text: stems and stop words.
    assert names(client, '{ q(func: anyoftext(name, "the running")) { name } }') == [
        "He Runs the Hills", "Running Man"]
    assert names(client, '{ q(func: alloftext(name@de, "Menschenjagd")) { name@de } }', "name@de") == [
        "Die Menschenjagd"]
    # Regular expressions, with the i flag; too wide ones are refused at the root.
    assert names(client, "{ q(func: regexp(name, /^Steven Sp.*$/)) { name } }") == ["Steven Spielberg"]
    assert names(client, "{ q(func: regexp(name, /steven/i)) { name } }") == [
        "Steven Soderbergh", "Steven Spielberg"]
    refused(client, "{ q(func: regexp(name, /^.*$/)) { name } }",
            "Regular expression is too wide-ranging and can't be executed efficiently.")
    # Fuzzy match and between.
    assert names(client, '{ q(func: match(name, "Steven Spielburg", 2)) { name } }') == ["Steven Spielberg"]
    assert names(client, "{ q(func: between(born, 1950, 1963)) { name } }") == [
        "Stephen Fry", "Steven Soderbergh"]
    # Geo.
    assert names(client, "{ q(func: near(loc, [-122.469829, 37.771935], 1000)) { name } }") == [
        "Golden Gate Park", "Stow Lake"]
    assert names(client, "{ q(func: within(loc, [[[-122.52, 37.76], [-122.44, 37.76], [-122.44, 37.78], "
                         "[-122.52, 37.78], [-122.52, 37.76]]])) { name } }") == ["Golden Gate Park", "Stow Lake"]
    assert names(client, "{ q(func: contains(loc, [-122.4753, 37.7693])) { name } }") == ["Golden Gate Park"]
    assert names(client, "{ q(func: intersects(loc, [[[-122.46, 37.76], [-122.39, 37.76], [-122.39, 37.80], "
                         "[-122.46, 37.80], [-122.46, 37.76]]])) { name } }") == ["Ferry Building", "Golden Gate Park"]
    assert names(client, "{ q(func: has(name)) @filter(near(loc, [-122.3937, 37.7955], 50)) { name } }") == [
        "Ferry Building"]

    # Later writes keep the indexes current.
    txn = client.txn()
    txn.mutate(set_obj={"name": "Stephen Hawking", "born": 1942, "loc": point(0.1218, 52.2053)})
    txn.commit()
    assert names(client, '{ q(func: match(name, "Stephen Hawkin", 1)) { name } }') == ["Stephen Hawking"]
    assert names(client, "{ q(func: near(loc, [0.1218, 52.2053], 10)) { name } }") == ["Stephen Hawking"]
    assert names(client, '{ q(func: anyoftext(name, "hawking")) @filter(between(born, 1900, 1950)) { name } }') == [
        "Stephen Hawking"]

    # The schema reports the tokenizers.
    res = json.loads(client.txn(read_only=True).query("schema(pred: [name, loc]) { type index tokenizer }").json)
    tokenizers = {p["predicate"]: p.get("tokenizer") for p in res["schema"]}
    assert tokenizers == {"name": ["term", "fulltext", "trigram"], "loc": ["geo"]}, res

    stub.close()
    print("dql_search: ok")


if __name__ == "__main__":
    main()
