#!/usr/bin/python3
"""Resharding a data stream while a writer runs, through boto3 (Debian's
python3-boto3) with retries off, against the framelogd at argv[1].

The writer puts records with unique data in PutRecords batches; meanwhile
the stream is split, merged and scaled with UpdateShardCount. Afterwards
every shard is read from TRIM_HORIZON to its end, following ChildShards
from closed parents. Checked: every acknowledged record is read back
exactly once, in the shard and with the sequence number its answer named;
nothing else is there; sequence numbers grow per shard; the lineage
(ParentShardId, AdjacentParentShardId, ChildShards) is consistent; the
open shards end up with the uniform ranges a stream created with that
many shards has. Progress is counted in records, never in time.
Prints "OK <records> records" and exits 0, or raises.
"""
import sys
import threading

import boto3
from botocore.config import Config

ENDPOINT = sys.argv[1]
STREAM = "resharded"
kin = boto3.client(
    "kinesis",
    endpoint_url=ENDPOINT,
    region_name="us-west-2",
    aws_access_key_id="AKIDFRAMELOGTEST",
    aws_secret_access_key="framelog-test-secret",
    config=Config(retries={"total_max_attempts": 1}, read_timeout=120, connect_timeout=30),
)

kin.create_stream(StreamName=STREAM, ShardCount=4)

acked = {}  # data -> (shard id, sequence number)
lock = threading.Lock()
stop = threading.Event()
writer_error = []


def writer():
    n = 0
    try:
        while not stop.is_set():
            batch = [
                {"Data": b"rec-%08d" % (n + i), "PartitionKey": "pk-%d" % ((n + i) * 7919 % 1000)}
                for i in range(50)
            ]
            res = kin.put_records(StreamName=STREAM, Records=batch)
            with lock:
                for rec, out in zip(batch, res["Records"]):
                    if "SequenceNumber" in out:
                        acked[rec["Data"]] = (out["ShardId"], out["SequenceNumber"])
                    elif out.get("ErrorCode") != "ProvisionedThroughputExceededException":
                        raise AssertionError("record failed: %r" % (out,))
            n += len(batch)
    except Exception as e:  # reported by the main thread
        writer_error.append(e)


def wait_for(count):
    """Until the writer has count more acked records than now."""
    with lock:
        goal = len(acked) + count
    while True:
        if writer_error:
            raise writer_error[0]
        with lock:
            if len(acked) >= goal:
                return
        stop.wait(0.05)


def open_shards():
    shards = kin.list_shards(StreamName=STREAM, ShardFilter={"Type": "AT_LATEST"})["Shards"]
    return sorted(shards, key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))


t = threading.Thread(target=writer)
t.start()
wait_for(500)
first = open_shards()[0]
lo = int(first["HashKeyRange"]["StartingHashKey"])
hi = int(first["HashKeyRange"]["EndingHashKey"])
kin.split_shard(StreamName=STREAM, ShardToSplit=first["ShardId"],
                NewStartingHashKey=str((lo + hi) // 2))
wait_for(500)
o = open_shards()
kin.merge_shards(StreamName=STREAM, ShardToMerge=o[2]["ShardId"],
                 AdjacentShardToMerge=o[3]["ShardId"])
wait_for(500)
up = kin.update_shard_count(StreamName=STREAM, TargetShardCount=8, ScalingType="UNIFORM_SCALING")
assert up["CurrentShardCount"] == 4 and up["TargetShardCount"] == 8, up
wait_for(500)
stop.set()
t.join()
if writer_error:
    raise writer_error[0]

# every shard, open and closed
shards = kin.list_shards(StreamName=STREAM)["Shards"]
by_id = {s["ShardId"]: s for s in shards}
read = {}  # data -> (shard id, sequence number)
for s in shards:
    it = kin.get_shard_iterator(StreamName=STREAM, ShardId=s["ShardId"],
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    last = -1
    closed = "EndingSequenceNumber" in s["SequenceNumberRange"]
    while it:
        res = kin.get_records(ShardIterator=it, Limit=10000)
        for r in res["Records"]:
            seq = int(r["SequenceNumber"])
            assert seq > last, "sequence numbers must grow in %s" % s["ShardId"]
            last = seq
            assert r["Data"] not in read, "record %r read twice" % r["Data"]
            read[r["Data"]] = (s["ShardId"], r["SequenceNumber"])
        if "ChildShards" in res:
            assert closed, "ChildShards from the open shard %s" % s["ShardId"]
            for c in res["ChildShards"]:
                assert s["ShardId"] in c["ParentShards"], c
                kid = by_id[c["ShardId"]]
                assert s["ShardId"] in (kid.get("ParentShardId"), kid.get("AdjacentParentShardId"))
            break
        if not res["Records"] and res["MillisBehindLatest"] == 0 and not closed:
            break
        it = res.get("NextShardIterator")

assert read == acked, "read %d records, acked %d; missing %r, extra %r" % (
    len(read), len(acked),
    sorted(set(acked) - set(read))[:5], sorted(set(read) - set(acked))[:5])

# lineage: every parent named exists and is closed
for s in shards:
    for p in ("ParentShardId", "AdjacentParentShardId"):
        if p in s:
            parent = by_id[s[p]]
            assert "EndingSequenceNumber" in parent["SequenceNumberRange"], (s, parent)

# the open shards are the uniform ranges of a stream made with 8 shards
kin.create_stream(StreamName="uniform8", ShardCount=8)
want = [(s["HashKeyRange"]["StartingHashKey"], s["HashKeyRange"]["EndingHashKey"])
        for s in kin.list_shards(StreamName="uniform8")["Shards"]]
got = [(s["HashKeyRange"]["StartingHashKey"], s["HashKeyRange"]["EndingHashKey"])
       for s in open_shards()]
assert got == want, "open ranges %r, want %r" % (got, want)
summary = kin.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]
assert summary["OpenShardCount"] == 8 and summary["StreamStatus"] == "ACTIVE", summary
print("OK %d records, %d shards" % (len(read), len(shards)))
