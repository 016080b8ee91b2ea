#!/usr/bin/python3
"""SubscribeToShard's own rate, 2 MiB/s of data a subscription (AWS's
enhanced fan-out rate per consumer and shard), with boto3 over HTTP/1.1.

  records_efo_rate.py URL STREAM put   a stream of 1 shard, 12 MiB in it
                                       and a consumer (run it on a server
                                       with --records-throttle 0)
  records_efo_rate.py URL STREAM read  subscribe from TRIM_HORIZON and
                                       read all 12 MiB back (on a server
                                       with the rates on)

read checks that every record arrives once, in order, and that the data
received never runs ahead of the rate: by any moment t seconds after the
call began, at most 2 MiB (the bucket) + 1 MiB (one event's debt) +
2 MiB x t. A slow machine only makes this easier; a server that does not
meter sends 12 MiB in well under the 4.5 s the bound needs. Prints one
JSON line and exits 0, or raises.
"""
import json
import sys
import time

import kds_client

URL, STREAM, PHASE = sys.argv[1], sys.argv[2], sys.argv[3]
MIB = 1 << 20
RECORD, PER_CALL, CALLS = MIB // 2, 8, 3  # 12 MiB in records of 512 KiB
RATE, BUCKET, EVENT = 2 * MIB, 2 * MIB, MIB

kds = kds_client.client(URL)


def data(i):
    return (b"%08d" % i) * (RECORD // 8)


if PHASE == "put":
    kds.create_stream(StreamName=STREAM, ShardCount=1)
    arn = kds.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
    for c in range(CALLS):
        recs = [{"PartitionKey": "k", "Data": data(c * PER_CALL + i)} for i in range(PER_CALL)]
        r = kds.put_records(StreamName=STREAM, Records=recs)
        assert r["FailedRecordCount"] == 0, r
    kds.register_stream_consumer(StreamARN=arn, ConsumerName="rate")
    print(json.dumps({"put": CALLS * PER_CALL * RECORD}))
    sys.exit(0)

arn = kds.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
carn = kds.describe_stream_consumer(StreamARN=arn, ConsumerName="rate")["ConsumerDescription"][
    "ConsumerARN"
]
t0 = time.monotonic()
resp = kds.subscribe_to_shard(
    ConsumerARN=carn, ShardId="shardId-000000000000", StartingPosition={"Type": "TRIM_HORIZON"}
)
want = CALLS * PER_CALL
got, total, events, worst = 0, 0, 0, None
for ev in resp["EventStream"]:
    e = ev.get("SubscribeToShardEvent")
    if e is None:
        continue
    t = time.monotonic() - t0
    events += 1
    for r in e["Records"]:
        assert r["Data"] == data(got), "record %d differs" % got
        got += 1
        total += len(r["Data"])
    bound = BUCKET + EVENT + RATE * t
    assert total <= bound, "%d bytes by %.2f s: more than the rate allows (%d)" % (total, t, bound)
    worst = max(worst or 0, total / bound)
    if got >= want:
        break
    assert t < 240, "only %d of %d records in %.0f s" % (got, want, t)
resp["EventStream"].close()
print(json.dumps({"received": total, "events": events, "seconds": round(time.monotonic() - t0, 2),
                  "worst": round(worst, 3)}))
