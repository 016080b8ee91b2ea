// tests/node/kds_h2.js — the AWS SDK for JavaScript v3 (@aws-sdk/client-kinesis,
// which speaks HTTP/2 only) against framelogd, for tests/test_records_h2.c.
//
//   node kds_h2.js ENDPOINT STREAM
//
// Creates STREAM with 8 shards, puts 10,000 records (PutRecords batches and
// single PutRecord calls), reads every shard from TRIM_HORIZON to its end
// and checks that every record comes back once, in order per shard, byte
// for byte; then an unknown stream must be a typed
// ResourceNotFoundException, and RegisterStreamConsumer must answer a
// consumer ARN of the stream. Against https://, it also says which protocol
// ALPN chose for Node's HTTP/2 client (what the SDK's default handler
// opens: http2.connect), as "alpn" (NODE_EXTRA_CA_CERTS: the CA). Retries are off (maxAttempts 1): any error
// fails. Prints one JSON line of counts and exits 0, or names the first
// mismatch and exits 1.
'use strict';
const crypto = require('crypto');
const http2 = require('http2');
const {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordsCommand,
  PutRecordCommand, ListShardsCommand, GetShardIteratorCommand, GetRecordsCommand,
  ResourceNotFoundException, RegisterStreamConsumerCommand,
} = require('@aws-sdk/client-kinesis');

const [endpoint, stream] = process.argv.slice(2);
// FL_TOTAL: fewer records (the signed run); FL_AK/FL_SK: an access key of
// the server (else any: the server runs open)
const TOTAL = Number(process.env.FL_TOTAL || 10000), BATCH = 490, SINGLE = Math.min(200, TOTAL / 2);
const credentials = {
  accessKeyId: process.env.FL_AK || 'AKIDEXAMPLE', secretAccessKey: process.env.FL_SK || 'secret',
};

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

// The ALPN protocol a fresh HTTP/2 session to endpoint negotiates (https
// only; the SDK's handler would go on regardless with some servers).
function alpnOf(endpoint) {
  if (!endpoint.startsWith('https:')) return Promise.resolve('n/a');
  return new Promise((resolve, reject) => {
    const s = http2.connect(endpoint);
    s.on('error', reject);
    s.on('connect', () => { const a = s.alpnProtocol; s.close(); resolve(a === undefined ? 'none' : String(a)); });
  });
}

async function main() {
  const alpn = await alpnOf(endpoint);
  const kds = new KinesisClient({
    endpoint, region: 'us-east-1', maxAttempts: 1, credentials,
  });
  const handler = kds.config.requestHandler;
  const handlerName = handler && handler.constructor ? handler.constructor.name : String(handler);
  if (!/Http2/.test(handlerName)) fail('the client does not use HTTP/2: ' + handlerName);

  await kds.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 8 }));
  const sum = await kds.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
  if (sum.StreamDescriptionSummary.OpenShardCount !== 8) fail('not 8 shards');

  // what was put: per shard, [sequence number, data] in the order the
  // server acknowledged them
  const put = new Map();
  const note = (shard, seq, data) => {
    if (!put.has(shard)) put.set(shard, []);
    put.get(shard).push([BigInt(seq), data]);
  };
  const recordOf = (i) => {
    const data = Buffer.concat([Buffer.from(`rec-${i}-`), crypto.randomBytes(16 + (i % 200))]);
    return { PartitionKey: `pk-${i % 997}`, Data: data };
  };
  let i = 0;
  while (i < TOTAL - SINGLE) {
    const recs = [];
    for (let k = 0; k < BATCH && i < TOTAL - SINGLE; k++) recs.push(recordOf(i++));
    const r = await kds.send(new PutRecordsCommand({ StreamName: stream, Records: recs }));
    if (r.FailedRecordCount) fail(`PutRecords: ${r.FailedRecordCount} failed: ${JSON.stringify(r.Records.find((x) => x.ErrorCode))}`);
    r.Records.forEach((x, k) => note(x.ShardId, x.SequenceNumber, recs[k].Data));
  }
  while (i < TOTAL) {
    const rec = recordOf(i++);
    const r = await kds.send(new PutRecordCommand({ StreamName: stream, ...rec }));
    note(r.ShardId, r.SequenceNumber, rec.Data);
  }

  const shards = (await kds.send(new ListShardsCommand({ StreamName: stream }))).Shards;
  if (shards.length !== 8) fail(`ListShards: ${shards.length} shards`);
  let read = 0;
  for (const sh of shards) {
    let it = (await kds.send(new GetShardIteratorCommand({
      StreamName: stream, ShardId: sh.ShardId, ShardIteratorType: 'TRIM_HORIZON',
    }))).ShardIterator;
    const got = [];
    for (;;) {
      const r = await kds.send(new GetRecordsCommand({ ShardIterator: it, Limit: 1000 }));
      for (const x of r.Records) got.push([BigInt(x.SequenceNumber), Buffer.from(x.Data)]);
      it = r.NextShardIterator;
      if (!it || (r.Records.length === 0 && r.MillisBehindLatest === 0)) break;
    }
    const want = (put.get(sh.ShardId) || []).slice().sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    if (got.length !== want.length) fail(`${sh.ShardId}: read ${got.length} records, put ${want.length}`);
    for (let k = 0; k < got.length; k++) {
      if (k && got[k][0] <= got[k - 1][0]) fail(`${sh.ShardId}: sequence numbers not increasing at ${k}`);
      if (got[k][0] !== want[k][0]) fail(`${sh.ShardId}: record ${k} has sequence ${got[k][0]}, want ${want[k][0]}`);
      if (!got[k][1].equals(Buffer.from(want[k][1]))) fail(`${sh.ShardId}: record ${k}: data differs`);
    }
    read += got.length;
  }
  if (read !== TOTAL) fail(`read ${read} records, put ${TOTAL}`);

  let typed = false;
  try {
    await kds.send(new DescribeStreamSummaryCommand({ StreamName: stream + '-no-such' }));
  } catch (e) {
    typed = e instanceof ResourceNotFoundException && e.name === 'ResourceNotFoundException' &&
      e.$metadata.httpStatusCode === 400 && /not found|no such|does not exist/i.test(e.message);
    if (!typed) fail(`unknown stream: ${e.name} (${e.constructor.name}): ${e.message}`);
  }
  if (!typed) fail('unknown stream: no error');

  // enhanced fan-out: a consumer registers (tests/node/kds_efo.js subscribes)
  const arn = sum.StreamDescriptionSummary.StreamARN;
  const reg = await kds.send(new RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: 'c1' }));
  if (!reg.Consumer.ConsumerARN.startsWith(`${arn}/consumer/c1:`)) fail(`RegisterStreamConsumer: ${JSON.stringify(reg)}`);
  const consumer = reg.Consumer.ConsumerStatus;
  kds.destroy();

  // with access keys, a wrong secret is refused, typed
  let refused = 'n/a';
  if (process.env.FL_AK) {
    const bad = new KinesisClient({
      endpoint, region: 'us-east-1', maxAttempts: 1,
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: 'wrong' },
    });
    try {
      await bad.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
      fail('a wrong secret was accepted');
    } catch (e) {
      if (e.name !== 'InvalidSignatureException' || e.$metadata.httpStatusCode !== 400)
        fail(`wrong secret: ${e.name}: ${e.message}`);
      refused = e.name;
    }
    bad.destroy();
  }
  console.log(JSON.stringify({ handler: handlerName, alpn, put: TOTAL, read, shards: shards.length, typed_error: typed, consumer, refused }));
}

main().catch((e) => fail(`${e.name}: ${e.message}`));
