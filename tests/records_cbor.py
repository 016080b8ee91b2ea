#!/usr/bin/python3
"""The Kinesis Data Streams API in CBOR (application/x-amz-cbor-1.1, the
AWS Java SDK's default) against the framelogd at argv[1].

Requests are built here byte by byte as the Java SDK's Jackson CBOR
generator writes them (indefinite-length maps, text keys, blobs as byte
strings, timestamps as tag 1 around epoch milliseconds); answers are read
with this file's own small decoder. The same calls in JSON 1.1 give the
same fields. Prints "OK" and exits 0, or raises.
"""
import base64
import json
import struct
import sys
import urllib.error
import urllib.request

URL = sys.argv[1]


def head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, size, fmt in ((24, 1, ">B"), (25, 2, ">H"), (26, 4, ">I"), (27, 8, ">Q")):
        if n < 1 << (8 * size):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError(n)


class Millis(int):
    """A timestamp: tag 1 around epoch milliseconds."""


def enc(v):
    if isinstance(v, dict):  # Jackson: an indefinite-length map
        return b"\xbf" + b"".join(enc(k) + enc(x) for k, x in v.items()) + b"\xff"
    if isinstance(v, Millis):
        return b"\xc1" + enc(int(v))
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, bytes):
        return head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(enc(x) for x in v)
    raise TypeError(v)


def dec(b, i=0):
    """(value, next offset); tag 1 gives ("tag1", value)."""
    ib = b[i]
    major, ai = ib >> 5, ib & 31
    i += 1
    if ai < 24:
        n = ai
    elif ai < 28:
        size = 1 << (ai - 24)
        n = int.from_bytes(b[i:i + size], "big")
        i += size
    else:
        raise ValueError("indefinite or reserved in an answer: %x" % ib)
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major == 2:
        return bytes(b[i:i + n]), i + n
    if major == 3:
        return b[i:i + n].decode(), i + n
    if major == 4:
        out = []
        for _ in range(n):
            x, i = dec(b, i)
            out.append(x)
        return out, i
    if major == 5:
        out = {}
        for _ in range(n):
            k, i = dec(b, i)
            out[k], i = dec(b, i)
        return out, i
    if major == 6:
        x, i = dec(b, i)
        return ("tag%d" % n, x), i
    if ai == 20:
        return False, i
    if ai == 21:
        return True, i
    if ai == 22:
        return None, i
    if ai == 27:
        return struct.unpack(">d", struct.pack(">Q", n))[0], i
    raise ValueError("simple %d" % ai)


def call(op, body, cbor=True):
    data = enc(body) if cbor else json.dumps(body).encode()
    ctype = "application/x-amz-cbor-1.1" if cbor else "application/x-amz-json-1.1"
    req = urllib.request.Request(URL + "/", data=data, method="POST", headers={
        "Content-Type": ctype, "X-Amz-Target": "Kinesis_20131202." + op})
    try:
        with urllib.request.urlopen(req) as r:
            status, rtype, raw = r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        status, rtype, raw = e.code, e.headers["Content-Type"], e.read()
    assert rtype == ctype, "%s answered %s to %s" % (op, rtype, ctype)
    if cbor:
        v, end = dec(raw)
        assert end == len(raw), "bytes after the answer"
    else:
        v = json.loads(raw)
    return status, v


st, v = call("CreateStream", {"StreamName": "cb", "ShardCount": 1})
assert st == 200 and v == {}, (st, v)
blob = bytes(range(256)) * 3 + b"\x00end"
st, put = call("PutRecord", {"StreamName": "cb", "Data": blob, "PartitionKey": "pk"})
assert st == 200, (st, put)
assert put["ShardId"] == "shardId-000000000000" and put["SequenceNumber"].isdigit(), put
st, it = call("GetShardIterator", {"StreamName": "cb", "ShardId": "shardId-000000000000",
                                   "ShardIteratorType": "TRIM_HORIZON"})
assert st == 200, it
st, got = call("GetRecords", {"ShardIterator": it["ShardIterator"]})
assert st == 200, got
rec = got["Records"][0]
assert rec["Data"] == blob, "the blob comes back as the same bytes"
assert rec["SequenceNumber"] == put["SequenceNumber"] and rec["PartitionKey"] == "pk"
tag, ms = rec["ApproximateArrivalTimestamp"]
assert tag == "tag1" and isinstance(ms, int), rec["ApproximateArrivalTimestamp"]

# the same record through JSON 1.1: the same fields, the time at ms
st, jit = call("GetShardIterator", {"StreamName": "cb", "ShardId": "shardId-000000000000",
                                    "ShardIteratorType": "TRIM_HORIZON"}, cbor=False)
st, jgot = call("GetRecords", {"ShardIterator": jit["ShardIterator"]}, cbor=False)
jrec = jgot["Records"][0]
assert base64.b64decode(jrec["Data"]) == blob
assert round(jrec["ApproximateArrivalTimestamp"] * 1000) == ms, (jrec, ms)

# AT_TIMESTAMP with a tag-1 millisecond timestamp in the request
st, it2 = call("GetShardIterator", {"StreamName": "cb", "ShardId": "shardId-000000000000",
                                    "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": Millis(ms)})
assert st == 200, it2
st, got2 = call("GetRecords", {"ShardIterator": it2["ShardIterator"]})
assert [r["SequenceNumber"] for r in got2["Records"]] == [put["SequenceNumber"]], got2
st, it3 = call("GetShardIterator", {"StreamName": "cb", "ShardId": "shardId-000000000000",
                                    "ShardIteratorType": "AT_TIMESTAMP",
                                    "Timestamp": Millis(ms + 1)})
st, got3 = call("GetRecords", {"ShardIterator": it3["ShardIterator"]})
assert got3["Records"] == [], got3

# PutRecords: each record's own result
st, many = call("PutRecords", {"StreamName": "cb", "Records": [
    {"Data": b"a", "PartitionKey": "x"}, {"Data": b"b", "PartitionKey": "y"}]})
assert st == 200 and many["FailedRecordCount"] == 0 and len(many["Records"]) == 2, many
# DescribeStreamSummary: a timestamp in an answer
st, d = call("DescribeStreamSummary", {"StreamName": "cb"})
assert d["StreamDescriptionSummary"]["StreamCreationTimestamp"][0] == "tag1", d

# errors come back in CBOR with __type
st, e = call("DescribeStreamSummary", {"StreamName": "nope"})
assert st == 400 and e["__type"] == "ResourceNotFoundException", (st, e)
req = urllib.request.Request(URL + "/", data=b"\xbf\x63abc", method="POST", headers={
    "Content-Type": "application/x-amz-cbor-1.1", "X-Amz-Target": "Kinesis_20131202.PutRecord"})
try:
    urllib.request.urlopen(req)
    raise AssertionError("truncated CBOR accepted")
except urllib.error.HTTPError as err:
    v, _ = dec(err.read())
    assert err.code == 400 and v["__type"] == "SerializationException", v
    assert "not valid CBOR" in v["message"], v
# nothing stored changed: still three records
st, it4 = call("GetShardIterator", {"StreamName": "cb", "ShardId": "shardId-000000000000",
                                    "ShardIteratorType": "TRIM_HORIZON"})
st, all_ = call("GetRecords", {"ShardIterator": it4["ShardIterator"]})
assert len(all_["Records"]) == 3, all_
print("OK")
