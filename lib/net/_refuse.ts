/**
 * The refusal path of a connection of server.ts (see Connection.refuse in _connection.ts): a
 * 503 answer, given after the request has arrived, and a short drain before the close.
 *
 * @module
 */

/** The answer to a refused connection. */
export const REFUSED = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\n" +
    "connection: close\r\n\r\n",
);
/**
 * A refused connection is read until its request head has arrived, answered 503, shut for writing
 * and read (and discarded) further, for up to REFUSE_DRAIN_MS or REFUSE_DRAIN_BYTES in all before
 * its descriptor is freed: closing with the client's request still unread makes the kernel send a
 * reset, which can destroy the 503 before the client reads it. At most REFUSE_DRAINING connections drain at once (each holds a
 * descriptor past the cap); beyond that a refusal closes at once.
 */
const REFUSE_DRAIN_MS = 250;
const REFUSE_DRAIN_BYTES = 64 * 1024;
export const REFUSE_DRAINING = 128;
/** Longest request head looked at for its end and its Content-Length. */
const REFUSE_HEAD_CHARS = 16 * 1024;

const latin1 = new TextDecoder("latin1");

/**
 * Reads a refused connection's request, answers it 503 and drains what follows (see
 * REFUSE_DRAIN_MS); `closeConn` frees the descriptor when time is up.
 */
export async function refuseAndDrain(
  c: Deno.Conn,
  closeConn: () => void,
): Promise<void> {
  const conn = c as Deno.TcpConn;
  let answered = false;
  let got = 0;
  // Time is up: a client that began a request (half a head) is answered anyway; one that sent
  // nothing is closed without a word (a pooled connection that an HTTP client opened ahead
  // would take an answer it never asked for as an error on its next request).
  const timer = setTimeout(() => {
    if (answered || got === 0) return closeConn();
    answered = true;
    conn.write(REFUSED).catch(() => {}).finally(() => closeConn());
  }, REFUSE_DRAIN_MS);
  try {
    // The request head first: an HTTP client that gets an answer before it has sent its
    // request takes it for a broken connection (fetch: "connection closed before message
    // completed"), not for a refusal.
    // Its body too when its length is declared and small: a client still sending a body when
    // the answer and the close arrive fails the same way.
    const buf = new Uint8Array(16 * 1024);
    let head = "";
    let need = Infinity; // bytes of the whole request, once the head is in
    while (got < Math.min(need, REFUSE_DRAIN_BYTES)) {
      const n = await conn.read(buf);
      if (n === null) return;
      got += n;
      if (need === Infinity) {
        head = (head + latin1.decode(buf.subarray(0, n))).slice(0, REFUSE_HEAD_CHARS);
        const end = head.indexOf("\r\n\r\n");
        if (end >= 0) {
          const length = /\r\ncontent-length: *(\d{1,7}) *\r\n/i.exec(head.slice(0, end + 2));
          need = end + 4 + (length ? Number(length[1]) : 0);
        } else if (head.length >= REFUSE_HEAD_CHARS) break;
      }
    }
    if (answered) return;
    answered = true;
    await conn.write(REFUSED);
    conn.closeWrite();
    // Then what follows (a body), so that the close does not reset the answer away.
    while (got < REFUSE_DRAIN_BYTES) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += n;
    }
  } catch {
    /* reset, or closed by the timer */
  } finally {
    clearTimeout(timer);
  }
}
