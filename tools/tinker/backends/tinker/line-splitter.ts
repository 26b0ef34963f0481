/**
 * Splits a byte stream into lines without ever joining more than one line: chunks are
 * held as Buffers until a newline arrives, and a line past `maxBytes` is reported
 * instead of being built (readline would keep growing one string).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private overflowed = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: (bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      this.take(chunk.subarray(start, nl));
      if (!this.overflowed) this.onLine(Buffer.concat(this.parts, this.size).toString("utf8"));
      this.parts = [];
      this.size = 0;
      this.overflowed = false;
      start = nl + 1;
    }
    if (start < chunk.length) this.take(chunk.subarray(start));
  }

  private take(piece: Buffer): void {
    if (this.overflowed) return;
    this.size += piece.length;
    if (this.size > this.maxBytes) {
      this.overflowed = true;
      this.parts = [];
      this.onOverflow(this.size);
      return;
    }
    this.parts.push(piece);
  }
}
