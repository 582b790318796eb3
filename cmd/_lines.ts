/**
 * Splits a text stream into lines (without the \n or \r\n), like std's TextLineStream.
 *
 * @module
 */

/** A TransformStream of text chunks into lines. */
export class TextLineStream extends TransformStream<string, string> {
  /** Makes the stream. */
  constructor() {
    let buf = "";
    super({
      transform(chunk, ctl) {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          ctl.enqueue(buf.slice(0, i).replace(/\r$/, ""));
          buf = buf.slice(i + 1);
        }
      },
      flush(ctl) {
        if (buf.length > 0) ctl.enqueue(buf.replace(/\r$/, ""));
      },
    });
  }
}
