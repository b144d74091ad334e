/**
 * LEB128 varints over numbers up to 2^53. Values above 2^31 take the arithmetic path because
 * JavaScript's bitwise operators work on 32 bits.
 */
export class ByteWriter {
  private buf: Uint8Array;
  length = 0;

  constructor(initialBytes = 1024) {
    this.buf = new Uint8Array(initialBytes);
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  uint(value: number): void {
    if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(value)) {
      throw new RangeError(`varint out of range: ${value}`);
    }
    this.reserve(8);
    let v = value;
    while (v >= 0x80000000) {
      this.buf[this.length++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    while (v >= 128) {
      this.buf[this.length++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buf[this.length++] = v;
  }

  /** zigzag: small magnitudes of either sign stay short */
  sint(value: number): void {
    this.uint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.length);
    this.length += data.length;
  }

  /** length-prefixed UTF-8 */
  string(value: string): void {
    const n = value.length;
    // ASCII, the usual case (addresses, permissions, device numbers, most paths): one byte per
    // character, written in place. TextEncoder's allocation per short string made encoding a
    // 100,000-mapping full map take 1.4 s, blocking the server's event loop as long.
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (value.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii) {
      const data = textEncoder.encode(value);
      this.uint(data.length);
      this.bytes(data);
      return;
    }
    this.uint(n);
    this.reserve(n);
    const buf = this.buf;
    let pos = this.length;
    for (let i = 0; i < n; i++) buf[pos++] = value.charCodeAt(i);
    this.length = pos;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export class ByteReader {
  pos = 0;
  private readonly buf: Uint8Array;

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  uint(): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= buf.length) throw new RangeError('truncated varint');
    let b = buf[pos++] as number;
    // most values fit one or two bytes: stay in 32-bit integer arithmetic for the first four
    let result = b & 127;
    let shift = 7;
    while (b >= 128 && shift < 28) {
      if (pos >= buf.length) throw new RangeError('truncated varint');
      b = buf[pos++] as number;
      result |= (b & 127) << shift;
      shift += 7;
    }
    if (b >= 128) {
      let scale = 2 ** 28;
      do {
        if (pos >= buf.length) throw new RangeError('truncated varint');
        b = buf[pos++] as number;
        result += (b & 127) * scale;
        scale *= 128;
        if (scale > 2 ** 63) throw new RangeError('varint too long');
      } while (b >= 128);
    }
    this.pos = pos;
    return result;
  }

  /** Steps over `count` varints. */
  skip(count: number): void {
    const buf = this.buf;
    let pos = this.pos;
    let left = count;
    while (left > 0) {
      if (pos >= buf.length) throw new RangeError('truncated varint');
      if ((buf[pos++] as number) < 128) left--;
    }
    this.pos = pos;
  }

  sint(): number {
    const v = this.uint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) throw new RangeError('truncated bytes');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return textDecoder.decode(this.bytes(this.uint()));
  }
}
