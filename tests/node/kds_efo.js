// tests/node/kds_efo.js — enhanced fan-out through the AWS SDK for
// JavaScript v3 (@aws-sdk/client-kinesis, HTTP/2) against framelogd, for
// tests/test_records_efo.c.
//
//   node kds_efo.js ENDPOINT STREAM
//
// Creates STREAM with 2 shards, puts a backlog, registers a consumer and
// waits for it to be ACTIVE, then subscribes to both shards from
// TRIM_HORIZON and, while subscribed, puts more records (PutRecords and
// PutRecord). Every record put must arrive once, in order per shard,
// byte for byte, and each event's ContinuationSequenceNumber must be the
// last sequence number in it (or not move when it has none). A second
// subscription to the same shard while one runs must fail with a typed
// ResourceInUseException from the event stream; one from LATEST must get
// only what was put after it; one from AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER
// and AT_TIMESTAMP starts where it says. Retries are off (maxAttempts 1).
// Prints one JSON line of counts and exits 0, or names the first mismatch
// and exits 1.
'use strict';
const crypto = require('crypto');
const {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordsCommand,
  PutRecordCommand, RegisterStreamConsumerCommand, DescribeStreamConsumerCommand,
  SubscribeToShardCommand,
} = require('@aws-sdk/client-kinesis');

const [endpoint, stream] = process.argv.slice(2);
const BACKLOG = 300, LIVE = 700;

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

async function main() {
  const kds = new KinesisClient({
    endpoint, region: 'us-east-1', maxAttempts: 1,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
  await kds.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 2 }));
  const arn = (await kds.send(new DescribeStreamSummaryCommand({ StreamName: stream })))
    .StreamDescriptionSummary.StreamARN;

  const put = new Map(); // shard -> [[seq, data]] in the order acknowledged
  const note = (shard, seq, data) => {
    if (!put.has(shard)) put.set(shard, []);
    put.get(shard).push([BigInt(seq), Buffer.from(data)]);
  };
  let n = 0;
  const recordOf = () => {
    const i = n++;
    return { PartitionKey: `pk-${i % 101}`, Data: Buffer.concat([Buffer.from(`efo-${i}-`), crypto.randomBytes(8 + (i % 64))]) };
  };
  const putBatch = async (count) => {
    const recs = [];
    for (let k = 0; k < count; k++) recs.push(recordOf());
    const r = await kds.send(new PutRecordsCommand({ StreamName: stream, Records: recs }));
    if (r.FailedRecordCount) fail(`PutRecords: ${r.FailedRecordCount} failed`);
    r.Records.forEach((x, k) => note(x.ShardId, x.SequenceNumber, recs[k].Data));
    return r.Records;
  };
  await putBatch(BACKLOG);

  const reg = await kds.send(new RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: 'fan' }));
  const carn = reg.Consumer.ConsumerARN;
  let status = reg.Consumer.ConsumerStatus;
  for (let k = 0; status !== 'ACTIVE' && k < 100; k++) {
    await sleep(100);
    status = (await kds.send(new DescribeStreamConsumerCommand({ ConsumerARN: carn }))).ConsumerDescription.ConsumerStatus;
  }
  if (status !== 'ACTIVE') fail(`consumer never ACTIVE: ${status}`);

  // subscribe; collect until `until()` says enough (or the stream ends)
  const subscribe = async (shard, pos, until, opts = {}) => {
    const ac = new AbortController();
    const got = [];
    let events = 0, cont = null, badCont = null;
    const out = await kds.send(new SubscribeToShardCommand({ ConsumerARN: carn, ShardId: shard, StartingPosition: pos }), { abortSignal: ac.signal });
    const done = (async () => {
      try {
        for await (const ev of out.EventStream) {
          const e = ev.SubscribeToShardEvent;
          if (!e) continue;
          events++;
          for (const r of e.Records) got.push([BigInt(r.SequenceNumber), Buffer.from(r.Data)]);
          const c = BigInt(e.ContinuationSequenceNumber);
          const want = e.Records.length ? BigInt(e.Records[e.Records.length - 1].SequenceNumber) : cont;
          if (want !== null && c !== want && badCont === null) badCont = `${c} != ${want}`;
          cont = c;
          if (typeof e.MillisBehindLatest !== 'number') badCont = 'no MillisBehindLatest';
          if (until(got)) break;
        }
      } catch (e) {
        if (opts.expectError) return e;
        if (e.name !== 'AbortError') throw e;
      }
      return null;
    })();
    return { got, done, abort: () => ac.abort(), stats: () => ({ events, badCont }) };
  };

  const want = (shard) => (put.get(shard) || []).slice().sort((a, b) => cmp(a[0], b[0]));
  const check = (label, got, wanted) => {
    if (got.length !== wanted.length) fail(`${label}: got ${got.length} records, want ${wanted.length}`);
    for (let k = 0; k < got.length; k++) {
      if (got[k][0] !== wanted[k][0]) fail(`${label}: record ${k} has sequence ${got[k][0]}, want ${wanted[k][0]}`);
      if (!got[k][1].equals(wanted[k][1])) fail(`${label}: record ${k}: data differs`);
    }
  };

  const shards = ['shardId-000000000000', 'shardId-000000000001'];
  const total = () => BACKLOG + LIVE;
  let allPut = false;
  const perShardDone = (shard) => (got) => allPut && got.length >= want(shard).length;
  const subs = [];
  for (const sh of shards) subs.push(await subscribe(sh, { Type: 'TRIM_HORIZON' }, perShardDone(sh)));
  // the same consumer and shard again while it runs: ResourceInUseException in the stream
  const again = await subscribe(shards[0], { Type: 'LATEST' }, () => false, { expectError: true });
  const inUse = await again.done;
  if (!inUse || inUse.name !== 'ResourceInUseException') fail(`second subscription: ${inUse ? inUse.name + ': ' + inUse.message : 'no error'}`);
  // the backlog arrives first
  for (let k = 0; k < 1200 && subs.reduce((a, s) => a + s.got.length, 0) < BACKLOG; k++) await sleep(50);
  const backlogSeen = subs.reduce((a, s) => a + s.got.length, 0);
  if (backlogSeen < BACKLOG) fail(`backlog: ${backlogSeen} of ${BACKLOG} records arrived`);

  // live: while subscribed
  let single = 0;
  while (n < total()) {
    if (n % 7 === 0) {
      const rec = recordOf();
      const r = await kds.send(new PutRecordCommand({ StreamName: stream, ...rec }));
      note(r.ShardId, r.SequenceNumber, rec.Data);
      single++;
    } else {
      await putBatch(Math.min(50, total() - n));
    }
  }
  allPut = true;
  const finished = await Promise.race([
    Promise.all(subs.map((s) => s.done)).then(() => true),
    sleep(120000).then(() => false),
  ]);
  if (!finished) fail(`records did not all arrive: ${subs.map((s) => s.got.length)} of ${shards.map((sh) => want(sh).length)}`);
  let received = 0, events = 0;
  subs.forEach((s, k) => {
    check(shards[k], s.got, want(shards[k]));
    const st = s.stats();
    if (st.badCont) fail(`${shards[k]}: ContinuationSequenceNumber: ${st.badCont}`);
    received += s.got.length;
    events += st.events;
    s.abort();
  });

  // other starting positions, on shard 1 (the 5 s rule: wait it out)
  await sleep(5200);
  const w1 = want(shards[1]);
  const mid = w1[Math.floor(w1.length / 2)][0];
  const atSeq = await subscribe(shards[1], { Type: 'AT_SEQUENCE_NUMBER', SequenceNumber: String(mid) }, (g) => g.length >= 3);
  await atSeq.done;
  atSeq.abort();
  if (atSeq.got[0][0] !== mid) fail(`AT_SEQUENCE_NUMBER: first ${atSeq.got[0][0]}, want ${mid}`);
  await sleep(5200);
  const after = await subscribe(shards[1], { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: String(mid) }, (g) => g.length >= 3);
  await after.done;
  after.abort();
  const k = w1.findIndex((x) => x[0] === mid);
  if (after.got[0][0] !== w1[k + 1][0]) fail(`AFTER_SEQUENCE_NUMBER: first ${after.got[0][0]}, want ${w1[k + 1][0]}`);
  await sleep(5200);
  // LATEST: nothing old; what is put after it arrives
  const latest = await subscribe(shards[0], { Type: 'LATEST' }, (g) => g.length >= 1);
  await sleep(300);
  let fresh = null;
  for (let t = 0; t < 50 && !fresh; t++) {
    const recs = await putBatch(20);
    fresh = recs.find((x) => x.ShardId === shards[0]);
  }
  const lateOk = await Promise.race([latest.done.then(() => true), sleep(60000).then(() => false)]);
  latest.abort();
  if (!lateOk) fail('LATEST: the record put after it never arrived');
  if (latest.got[0][0] !== BigInt(fresh.SequenceNumber)) fail(`LATEST: first ${latest.got[0][0]}, want ${fresh.SequenceNumber}`);
  // AT_TIMESTAMP in the past: the whole shard from its start
  await sleep(5200);
  const atTs = await subscribe(shards[0], { Type: 'AT_TIMESTAMP', Timestamp: new Date(Date.now() - 3600 * 1000) }, (g) => g.length >= 1);
  await atTs.done;
  atTs.abort();
  if (atTs.got[0][0] !== want(shards[0])[0][0]) fail(`AT_TIMESTAMP: first ${atTs.got[0][0]}`);

  kds.destroy();
  console.log(JSON.stringify({ put: total(), single, received, events, backlog: backlogSeen, in_use: inUse.name, positions: 4 }));
  // a subscription left by a `break` stays open until the server ends it:
  // do not wait for that
  process.exit(0);
}

main().catch((e) => fail(`${e.name}: ${e.message}\n${e.stack}`));
