#!/usr/bin/python3
"""SubscribeToShard over HTTP/1.1 with boto3 (botocore sends it over
HTTP/1.1 and reads the event stream with its own parser) against the
framelogd at argv[1], on a new stream named argv[2].

Puts a backlog, registers a consumer, subscribes from TRIM_HORIZON, puts
more while subscribed: every record arrives once, in order, byte for
byte, with ContinuationSequenceNumber the last sequence number of each
event. A second subscription to the same shard while the first runs gets
ResourceInUseException from the event stream. Prints one JSON line and
exits 0, or raises.
"""
import json
import os
import sys
import threading
import time

import kds_client
from botocore.exceptions import EventStreamError

URL, STREAM = sys.argv[1], sys.argv[2]
BACKLOG, LIVE = 40, 60

kds = kds_client.client(URL)
kds.create_stream(StreamName=STREAM, ShardCount=1)
arn = kds.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
put = []


def put_some(n):
    for i in range(n):
        data = b"py-%d-" % len(put) + os.urandom(1 + len(put) % 50)
        r = kds.put_record(StreamName=STREAM, PartitionKey="k%d" % i, Data=data)
        put.append((int(r["SequenceNumber"]), data))


put_some(BACKLOG)
c = kds.register_stream_consumer(StreamARN=arn, ConsumerName="py")["Consumer"]
assert c["ConsumerStatus"] in ("CREATING", "ACTIVE"), c
carn = c["ConsumerARN"]
shard = "shardId-000000000000"
resp = kds.subscribe_to_shard(
    ConsumerARN=carn, ShardId=shard, StartingPosition={"Type": "TRIM_HORIZON"}
)
assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200, resp

in_use = None
try:
    again = kds.subscribe_to_shard(
        ConsumerARN=carn, ShardId=shard, StartingPosition={"Type": "LATEST"}
    )
    for ev in again["EventStream"]:
        pass
except EventStreamError as e:
    in_use = e.response["Error"]["Code"]
assert in_use == "ResourceInUseException", in_use

writer = threading.Thread(target=put_some, args=(LIVE,))
writer.start()
got, events = [], 0
for ev in resp["EventStream"]:
    e = ev.get("SubscribeToShardEvent")
    if e is None:
        continue
    events += 1
    for r in e["Records"]:
        got.append((int(r["SequenceNumber"]), r["Data"]))
    if e["Records"]:
        assert int(e["ContinuationSequenceNumber"]) == got[-1][0], (e["ContinuationSequenceNumber"], got[-1][0])
    assert isinstance(e["MillisBehindLatest"], int)
    if not writer.is_alive() and len(got) >= len(put):
        break
writer.join()
resp["EventStream"].close()
assert len(got) == len(put) == BACKLOG + LIVE, (len(got), len(put))
for k, (a, b) in enumerate(zip(got, sorted(put))):
    assert a == b, ("record", k, a[0], b[0])
print(json.dumps({"received": len(got), "events": events, "in_use": in_use}))
