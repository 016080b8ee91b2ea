#!/usr/bin/python3
"""How SubscribeToShard's event streams end, with boto3 over HTTP/1.1,
against the framelogd at argv[1], on a new stream named argv[2]:

- taken over: the same consumer and shard 5 s or more after the last
  start gets a new subscription (the records arrive on it), and the
  running one ends with ResourceInUseException in its event stream (AWS's
  rule); within 5 s the new call is refused (ResourceInUseException);
- deregistered: DeregisterStreamConsumer ends the consumer's running
  subscription with ResourceNotFoundException in its event stream, and
  leaves another consumer's running;
- deleted: DeleteStream with EnforceConsumerDeletion ends every running
  subscription of the stream with ResourceNotFoundException.

Each end must come within a bound far below the 5 minutes a subscription
lasts (heartbeat events keep the streams alive meanwhile). Prints one JSON
line and exits 0, or raises.
"""
import json
import sys
import threading
import time

import kds_client
from botocore.exceptions import EventStreamError

URL, STREAM = sys.argv[1], sys.argv[2]
BOUND = 90  # seconds to wait for an end; a subscription lasts 300

kds = kds_client.client(URL)
kds.create_stream(StreamName=STREAM, ShardCount=1)
arn = kds.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
SHARD = "shardId-000000000000"
for i in range(5):
    kds.put_record(StreamName=STREAM, PartitionKey="k%d" % i, Data=b"rec-%d" % i)


class Sub:
    """One subscription read on its own thread: records, and how it ended
    (None while it runs, "end" for a clean end, or the exception's code)."""

    def __init__(self, carn, position=None):
        self.records, self.events, self.end = [], 0, None
        self.first = threading.Event()
        resp = kds.subscribe_to_shard(
            ConsumerARN=carn, ShardId=SHARD, StartingPosition=position or {"Type": "TRIM_HORIZON"}
        )
        self.stream = resp["EventStream"]
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            for ev in self.stream:
                e = ev.get("SubscribeToShardEvent")
                if e is not None:
                    self.events += 1
                    self.records += [r["Data"] for r in e["Records"]]
                    self.first.set()
            self.end = "end"
        except EventStreamError as ex:
            self.end = ex.response["Error"]["Code"]
        except Exception as ex:  # noqa: BLE001 (reported below)
            self.end = "error: %r" % ex
        self.first.set()

    def wait_end(self, what):
        self.thread.join(BOUND)
        assert not self.thread.is_alive(), "%s: the event stream still runs after %d s" % (what, BOUND)
        return self.end

    def wait_first(self, what):
        assert self.first.wait(BOUND), "%s: no event in %d s" % (what, BOUND)
        assert self.end is None, "%s: ended at once: %s" % (what, self.end)


def consumer(name):
    return kds.register_stream_consumer(StreamARN=arn, ConsumerName=name)["Consumer"]["ConsumerARN"]


c1, c2, c3 = consumer("one"), consumer("two"), consumer("three")

# taken over: within 5 s refused, from 5 s on the new one runs and the old ends
old = Sub(c1)
old.wait_first("first subscription")
assert old.records == [b"rec-%d" % i for i in range(5)], old.records
soon = Sub(c1, {"Type": "LATEST"})
assert soon.wait_end("a call within 5 s") == "ResourceInUseException", soon.end
time.sleep(5.5)
new = Sub(c1)
new.wait_first("the later subscription")
assert new.records[:5] == [b"rec-%d" % i for i in range(5)], new.records
assert old.wait_end("the subscription taken over") == "ResourceInUseException", old.end
assert new.end is None, new.end

# deregistered: c2's subscription ends; c1's goes on
two = Sub(c2)
two.wait_first("consumer two")
kds.deregister_stream_consumer(ConsumerARN=c2)
assert two.wait_end("the deregistered consumer's") == "ResourceNotFoundException", two.end
assert new.end is None, "another consumer's subscription ended: %s" % new.end
kds.put_record(StreamName=STREAM, PartitionKey="k", Data=b"after")
for _ in range(BOUND * 10):
    if b"after" in new.records:
        break
    time.sleep(0.1)
assert b"after" in new.records, "c1's subscription stopped getting records"

# deleted with its consumers: every subscription of the stream ends
three = Sub(c3)
three.wait_first("consumer three")
kds.delete_stream(StreamName=STREAM, EnforceConsumerDeletion=True)
assert three.wait_end("consumer three's, stream deleted") == "ResourceNotFoundException", three.end
assert new.wait_end("consumer one's, stream deleted") == "ResourceNotFoundException", new.end
print(json.dumps({"taken_over": old.end, "refused": soon.end, "deregistered": two.end,
                  "deleted": [three.end, new.end]}))
