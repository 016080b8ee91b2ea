#!/usr/bin/python3
"""Durability of acknowledged records across kill -9, through boto3
(retries off). Two modes:

  records_kill9.py write URL ACKED_FILE   four writer threads PutRecords
      into stream "durable" (8 shards) until the server dies; each record
      whose answer named a sequence number is appended to ACKED_FILE
      ("shard seq data", flushed) before the next call. Exits 0 once the
      server is gone.
  records_kill9.py check URL ACKED_FILE   reads every shard from
      TRIM_HORIZON and checks that every acknowledged record is there,
      once, with its shard, sequence number and data. Prints "OK <n>".
"""
import sys
import threading

import boto3
import botocore.exceptions
from botocore.config import Config

MODE, URL, ACKED = sys.argv[1], sys.argv[2], sys.argv[3]
kin = boto3.client(
    "kinesis", endpoint_url=URL, region_name="us-west-2",
    aws_access_key_id="AKIDFRAMELOGTEST", aws_secret_access_key="framelog-test-secret",
    config=Config(retries={"total_max_attempts": 1}, read_timeout=60, connect_timeout=5))

if MODE == "write":
    kin.create_stream(StreamName="durable", ShardCount=8)
    out = open(ACKED, "a")
    lock = threading.Lock()

    def writer(w):
        n = 0
        while True:
            batch = [{"Data": b"w%d-%07d" % (w, n + i), "PartitionKey": "k%d-%d" % (w, n + i)}
                     for i in range(20)]
            n += 20
            try:
                res = kin.put_records(StreamName="durable", Records=batch)
            except (botocore.exceptions.EndpointConnectionError,
                    botocore.exceptions.ConnectionClosedError,
                    botocore.exceptions.ReadTimeoutError):
                return  # the server was killed
            with lock:
                for rec, r in zip(batch, res["Records"]):
                    if "SequenceNumber" in r:
                        out.write("%s %s %s\n" % (r["ShardId"], r["SequenceNumber"],
                                                  rec["Data"].decode()))
                out.flush()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("OK writers stopped")
    sys.exit(0)

acked = {}
for line in open(ACKED):
    shard, seq, data = line.split()
    acked[data] = (shard, seq)
read = {}
for s in kin.list_shards(StreamName="durable")["Shards"]:
    it = kin.get_shard_iterator(StreamName="durable", ShardId=s["ShardId"],
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while it:
        res = kin.get_records(ShardIterator=it, Limit=10000)
        for r in res["Records"]:
            d = r["Data"].decode()
            assert d not in read, "read twice: " + d
            read[d] = (s["ShardId"], r["SequenceNumber"])
        if not res["Records"] and res["MillisBehindLatest"] == 0:
            break
        it = res.get("NextShardIterator")
missing = [d for d in acked if d not in read]
assert not missing, "%d acknowledged records lost, e.g. %r" % (len(missing), missing[:3])
wrong = [d for d in acked if read[d] != acked[d]]
assert not wrong, "moved: %r" % [(d, acked[d], read[d]) for d in wrong[:3]]
print("OK %d acknowledged, %d stored" % (len(acked), len(read)))
