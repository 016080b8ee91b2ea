#!/usr/bin/python3
"""GetRecords' read-ahead (docs/records.md, "Benchmark"), with boto3,
against a framelogd at argv[1] started with --records-throttle 0, on new
streams named argv[2]-*:

- a catch-up of 2,500 records with Limit 300 gets every record once, in
  order, with its data, MillisBehindLatest above 0 until the end and 0
  there (the calls after the first are answered from reads made ahead);
- changing Limit on the way (the read ahead is not that read) and reading
  again from an earlier iterator give the right records too;
- DeleteStream right after a call that made the server read ahead is not
  refused, and the stream created again under the name gets only its own
  records.

Prints one JSON line and exits 0, or raises.
"""
import json
import sys

import kds_client

URL, NAME = sys.argv[1], sys.argv[2]
kds = kds_client.client(URL)


def make(stream, n, tag):
    kds.create_stream(StreamName=stream, ShardCount=1)
    for at in range(0, n, 500):
        recs = [{"Data": b"%s-%06d-" % (tag, i) + bytes(200), "PartitionKey": "k%d" % i}
                for i in range(at, min(n, at + 500))]
        out = kds.put_records(StreamName=stream, Records=recs)
        assert out["FailedRecordCount"] == 0, out


def trim_horizon(stream):
    return kds.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000",
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]


def read_all(it, limits, total):
    """Every record from it, with Limit taken in turn from limits; the
    shard holds total records."""
    got, calls = [], 0
    while True:
        out = kds.get_records(ShardIterator=it, Limit=limits[calls % len(limits)])
        calls += 1
        got += out["Records"]
        behind = out["MillisBehindLatest"]
        if len(got) < total:  # the age of the last record returned
            assert behind > 0, (len(got), behind)
        else:  # the end of the shard
            assert behind == 0, (len(got), behind)
        if not out["Records"]:
            return got, calls
        it = out["NextShardIterator"]


def check(got, tag, n):
    assert len(got) == n, (len(got), n)
    seqs = [int(r["SequenceNumber"]) for r in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == n, "order"
    for i, r in enumerate(got):
        assert r["Data"] == b"%s-%06d-" % (tag, i) + bytes(200), (i, r["Data"][:20])
        assert r["PartitionKey"] == "k%d" % i


TOTAL = 2500
s = NAME + "-a"
make(s, TOTAL, b"a")
got, calls = read_all(trim_horizon(s), [300], TOTAL)
check(got, b"a", TOTAL)
got2, _ = read_all(trim_horizon(s), [300, 100, 7, 300, 300], TOTAL)
check(got2, b"a", TOTAL)
# an earlier iterator again, after the server read ahead of another one
first = kds.get_records(ShardIterator=trim_horizon(s), Limit=300)
kds.get_records(ShardIterator=first["NextShardIterator"], Limit=300)
again = kds.get_records(ShardIterator=first["NextShardIterator"], Limit=300)["Records"]
check(got[:600], b"a", 600)
assert [r["SequenceNumber"] for r in again] == [r["SequenceNumber"] for r in got[300:600]]

# delete right after a call that read ahead, then the name again
out = kds.get_records(ShardIterator=trim_horizon(s), Limit=300)
kds.delete_stream(StreamName=s)
make(s, 10, b"b")
got3, _ = read_all(trim_horizon(s), [300], 10)
check(got3, b"b", 10)
print(json.dumps({"records": len(got), "calls": calls, "again": len(got2),
                  "new_incarnation": len(got3)}))
