/**
 * One growing byte buffer the audit lines of a batch are rendered into (canonical-line.ts), so a line is
 * never a string: its length is known without Buffer.byteLength, it is hashed from its bytes, and the batch
 * is written with one write(2) of a slice (segment-writer.ts), with no string join or UTF-8 conversion.
 *
 * `end` is where the committed lines stop; `pos` is the cursor of the line being rendered. A line is
 * committed (kept) or rolled back (its bytes are overwritten by the next one).
 *
 * Text is written as JSON.stringify would write it, in UTF-8: printable ASCII byte by byte (the common case),
 * anything else through JSON.stringify itself and a UTF-8 write, which is exact because JSON.stringify
 * escapes lone surrogates [RFC 8259 8.1: JSON text exchanged is UTF-8; ECMA-262 well-formed JSON.stringify].
 */
const INITIAL_BYTES = 64 * 1024;
/** A batch that grew past this (a burst) does not pin that much memory afterwards. */
const KEEP_AT_MOST_BYTES = 1024 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class LineBuffer {
  buf: Buffer;
  /** Bytes of the committed lines, from 0. */
  end = 0;
  /** The write cursor: `end` plus the line being rendered. */
  pos = 0;
  /** The SHA-256 hex digest last spliced into a line here (canonical-line.ts): the next line's `prev`, usually. */
  lastHash: string | undefined = undefined;
  /** Repeated text by slot (TextCache); the writer of one line shape numbers its members. */
  private readonly texts: TextCache[] = [];

  constructor(initialBytes = INITIAL_BYTES) {
    this.buf = Buffer.allocUnsafe(initialBytes); // every byte read back was written first
  }

  /** Room for `n` more bytes at `pos`. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(this.pos + n);
  }

  /** Keeps the line rendered since the last commit/rollback. */
  commit(): void {
    this.end = this.pos;
  }

  /** Drops the line rendered since the last commit/rollback. */
  rollback(): void {
    this.pos = this.end;
  }

  /** Drops everything (the batch was written). */
  reset(): void {
    this.end = this.pos = 0;
    if (this.buf.length > KEEP_AT_MOST_BYTES) this.buf = Buffer.allocUnsafe(INITIAL_BYTES);
  }

  byte(c: number): void {
    this.ensure(1);
    this.buf[this.pos++] = c;
  }

  /** Text known to be ASCII (JSON punctuation, numbers, quoted keys checked once). */
  ascii(s: string): void {
    const n = s.length;
    this.ensure(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** Bytes copied as they are (one memmove: a cached rendering, see TextCache). */
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /**
   * Text known to be printable ASCII with nothing JSON escapes (a SHA-256 hex digest), in one native copy: a
   * loop of `charCodeAt` costs about 4 ns a character, the copy about 100 ns for a whole digest.
   */
  plain(s: string): void {
    this.ensure(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }

  /**
   * `prefix` (ASCII: a member's `,"key":`, the same at every call for one `slot`) then the JSON string literal of
   * `s`, copied from `slot`'s last rendering while `s` is the same text.
   */
  cachedMember(slot: number, prefix: string, s: string): void {
    let cache = this.texts[slot];
    if (cache === undefined) this.texts[slot] = cache = new TextCache();
    cache.write(this, prefix, s);
  }

  /** Text in UTF-8 that is already JSON (from JSON.stringify: no lone surrogates). */
  utf8(s: string): void {
    this.ensure(3 * s.length); // a UTF-16 code unit takes at most 3 bytes in UTF-8
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** The JSON string literal of `s`, byte-identical to JSON.stringify(s) in UTF-8. */
  jsonString(s: string): void {
    const n = s.length;
    this.ensure(n + 2);
    const b = this.buf;
    let p = this.pos;
    b[p++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      // Control characters, `"` and `\` are escaped, non-ASCII is multi-byte: JSON.stringify's job.
      if (c < 0x20 || c === QUOTE || c === BACKSLASH || c > 0x7e) return this.utf8(JSON.stringify(s));
      b[p++] = c;
    }
    b[p++] = QUOTE;
    this.pos = p;
  }

  /**
   * A number as JSON.stringify writes it (-0 → 0, non-finite → null). Small non-negative integers and positive
   * numbers with at most three decimals (latencies rounded to the microsecond) are written without a string.
   */
  number(v: number): void {
    if (v >= 0 && v <= 0x7fffffff && (v | 0) === v) return this.uint(v | 0);
    if (v > 0 && v < 0x7fffffff && this.milli(v)) return;
    this.ascii(Number.isFinite(v) ? String(v) : 'null');
  }

  /**
   * v = k / 1000 exactly as a double (k < 2^41): its shortest round-trip decimal, which is what String(v)
   * writes [ECMA-262 Number::toString: fewest digits], is k / 1000 with trailing zeros cut, since two
   * different decimals of at most 15 significant digits are never the same double. false: not such a number.
   */
  private milli(v: number): boolean {
    const k = Math.round(v * 1000);
    if (k / 1000 !== v) return false;
    const whole = Math.floor(k / 1000);
    const frac = k - whole * 1000; // 1…999: v is not an integer here
    this.uint(whole);
    this.ensure(4);
    const b = this.buf;
    b[this.pos++] = 0x2e; // .
    b[this.pos++] = 0x30 + ((frac / 100) | 0);
    const rest = frac % 100;
    if (rest === 0) return true;
    b[this.pos++] = 0x30 + ((rest / 10) | 0);
    if (rest % 10 !== 0) b[this.pos++] = 0x30 + (rest % 10);
    return true;
  }

  private uint(v: number): void {
    let digits = 1;
    for (let t = v; t >= 10; t = (t / 10) | 0) digits++;
    this.ensure(digits);
    const b = this.buf;
    let p = this.pos + digits;
    this.pos = p;
    do {
      const q = (v / 10) | 0;
      b[--p] = 0x30 + v - q * 10;
      v = q;
    } while (v > 0);
  }

  private grow(need: number): void {
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}

/** Renderings a slot keeps: the few values a member takes in turn (allow/deny, two tables, a few identities). */
const WAYS = 4;

/**
 * One member's last few renderings, key and JSON string literal, made once and copied while the same text comes
 * again. Most of an audit line's text repeats from line to line — the policy version, the identity, the session,
 * the rule, the second, the decision — and copying its bytes takes one memmove instead of a check per character;
 * the key comes with it, so a repeated member is one copy. An entry is used only for the same key and text, so a
 * slot given another member's key renders afresh instead of writing the wrong key; a value that changes every line
 * (or an attacker alternating more values than WAYS) costs the plain render and one small copy, bounded per slot.
 */
class TextCache {
  private readonly texts: string[] = [];
  private readonly prefixes: string[] = [];
  private readonly rendered: Uint8Array[] = [];
  private next = 0;

  /** `prefix` and the JSON string literal of `s` at `out.pos`, byte-identical to ascii(prefix) + jsonString(s). */
  write(out: LineBuffer, prefix: string, s: string): void {
    const texts = this.texts;
    for (let i = 0; i < texts.length; i++) {
      if (texts[i] === s && this.prefixes[i] === prefix) return out.bytes(this.rendered[i]!);
    }
    const start = out.pos;
    out.ascii(prefix);
    out.jsonString(s);
    const i = this.next;
    this.next = (i + 1) % WAYS;
    texts[i] = s;
    this.prefixes[i] = prefix;
    this.rendered[i] = Uint8Array.prototype.slice.call(out.buf, start, out.pos); // a copy: the buffer is reused
  }
}
