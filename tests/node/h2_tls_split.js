// tests/node/h2_tls_split.js — an HTTP/2 client over TLS (ALPN h2) whose
// ClientHello goes out one byte per TCP write, for tests/test_server_limits.c.
//
//   node h2_tls_split.js URL CA_FILE
//
// Node's own TLS and http2 client, over a socket that writes the first
// chunk TLS gives it (the ClientHello) a byte at a time, 2 ms apart, with
// Nagle off (one segment each); everything after goes as it comes. Then
// GET /healthz over the HTTP/2 connection. Prints one JSON line (pieces,
// alpn, status, body) and exits 0, or names the failure and exits 1.
'use strict';
const fs = require('fs');
const net = require('net');
const tls = require('tls');
const http2 = require('http2');
const { Duplex } = require('stream');

const [url, caFile] = process.argv.slice(2);
const u = new URL(url);

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

class Dribble extends Duplex {
  constructor(sock) {
    super();
    this.sock = sock;
    this.first = true;
    this.pieces = 0;
    sock.on('data', (d) => { if (!this.push(d)) sock.pause(); });
    sock.on('end', () => this.push(null));
    sock.on('error', (e) => this.destroy(e));
  }
  _read() { this.sock.resume(); }
  _write(chunk, enc, cb) {
    if (!this.first) { this.sock.write(chunk, cb); return; }
    this.first = false;
    let i = 0;
    const next = () => {
      if (i === chunk.length) { cb(); return; }
      this.sock.write(chunk.subarray(i, i + 1));
      i++;
      this.pieces++;
      setTimeout(next, 2);
    };
    next();
  }
  _final(cb) { this.sock.end(); cb(); }
}

const raw = net.connect({ host: u.hostname, port: Number(u.port) });
raw.setNoDelay(true);
const dribble = new Dribble(raw);
const secure = tls.connect({
  socket: dribble, host: u.hostname, ALPNProtocols: ['h2'],
  ca: fs.readFileSync(caFile),
});
secure.on('error', (e) => fail(`TLS: ${e.message}`));
secure.on('secureConnect', () => {
  const session = http2.connect(url, { createConnection: () => secure });
  session.on('error', (e) => fail(`HTTP/2: ${e.message}`));
  const req = session.request({ ':path': '/healthz' });
  let status = 0, body = '';
  req.on('response', (h) => { status = h[':status']; });
  req.setEncoding('utf8');
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    console.log(JSON.stringify({ pieces: dribble.pieces, alpn: secure.alpnProtocol, status, ok: /"status":"ok"/.test(body) }));
    session.close();
    process.exit(0);
  });
  req.on('error', (e) => fail(`request: ${e.message}`));
  req.end();
});
setTimeout(() => fail('no answer in 60 s'), 60000).unref();
