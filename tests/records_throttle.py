#!/usr/bin/python3
"""Kinesis' per-shard rates through boto3 (retries off) against the
framelogd at argv[1]; argv[2] is "on" when it runs with them (the
default), "off" for --records-throttle 0.

On: one PutRecords of 500 records of 4 KiB (2 MiB) into one shard, more
than the shard's 1 MiB a second: the first ones are stored, the rest fail
alone with ProvisionedThroughputExceededException and count in
FailedRecordCount; what was stored reads back. A burst of GetRecords calls
on one shard meets its 5 calls a second. The refusals count in /metrics.
Off: the same PutRecords stores all 500.
Counts, never times: a single call's records are metered in one go.
Prints "OK ..." and exits 0, or raises.
"""
import sys
import urllib.request

import boto3
from botocore.config import Config

ENDPOINT, MODE = sys.argv[1], sys.argv[2]
kin = boto3.client(
    "kinesis",
    endpoint_url=ENDPOINT,
    region_name="us-west-2",
    aws_access_key_id="AKIDFRAMELOGTEST",
    aws_secret_access_key="framelog-test-secret",
    config=Config(retries={"total_max_attempts": 1}, read_timeout=120, connect_timeout=30),
)
kin.create_stream(StreamName="metered", ShardCount=1)
records = [{"Data": bytes([i % 256]) * 4096, "PartitionKey": "k%d" % i} for i in range(500)]
res = kin.put_records(StreamName="metered", Records=records)
ok = [r for r in res["Records"] if "SequenceNumber" in r]
failed = [r for r in res["Records"] if "ErrorCode" in r]
assert res.get("FailedRecordCount", 0) == len(failed), res["FailedRecordCount"]

if MODE == "off":
    assert not failed, failed[:2]
    print("OK all %d stored" % len(ok))
    sys.exit(0)

# 1 MiB of 4 KiB records is 256; a slow machine refills a little meanwhile
assert 256 <= len(ok) < 400, "%d stored" % len(ok)
for r in failed:
    assert r["ErrorCode"] == "ProvisionedThroughputExceededException", r
    assert "Rate exceeded for shard shardId-000000000000 in stream metered" in r["ErrorMessage"], r
# the stored ones are the first ones, intact
it = kin.get_shard_iterator(StreamName="metered", ShardId="shardId-000000000000",
                            ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
got = kin.get_records(ShardIterator=it, Limit=10000)["Records"]
assert len(got) == len(ok), (len(got), len(ok))
for i, r in enumerate(got):
    assert r["Data"] == records[i]["Data"] and r["PartitionKey"] == "k%d" % i

# GetRecords: 5 calls a second per shard; a burst meets the limit
throttled = 0
for _ in range(200):
    try:
        kin.get_records(ShardIterator=it, Limit=1)
    except kin.exceptions.ProvisionedThroughputExceededException as e:
        assert "Rate exceeded for shard shardId-000000000000" in str(e), e
        throttled += 1
        break
assert throttled, "200 GetRecords calls in a row were never throttled"

metrics = urllib.request.urlopen(ENDPOINT + "/metrics").read().decode()
assert 'framelog_records_throttled_total{op="put"} %d' % len(failed) in metrics, metrics
assert 'framelog_records_throttled_total{op="get"} 1' in metrics
assert 'framelog_records_stream_in_total{stream="metered"} %d' % len(ok) in metrics
print("OK %d stored, %d throttled" % (len(ok), len(failed)))
