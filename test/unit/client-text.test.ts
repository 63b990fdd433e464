/**
 * Client text on its way into a gRPC status: clipped by code point, and made well-formed, because grpc-js
 * percent-encodes the status message with `encodeURI`, which throws on a lone surrogate.
 */
import t from 'tap';
import { clipText, wellFormed } from '../../gateway/frontdoor/client-text.js';
import { grpcError } from '../../gateway/frontdoor/grpc-status.js';
import { status } from '@grpc/grpc-js';

const EMOJI = '\u{1F600}'; // two UTF-16 units

t.test('clipText never cuts through a surrogate pair', async (t) => {
  t.equal(clipText(`${'x'.repeat(127)}${EMOJI}`, 128), 'x'.repeat(127), 'the pair straddles the cut: dropped');
  t.equal(clipText(`${'x'.repeat(126)}${EMOJI}z`, 128), `${'x'.repeat(126)}${EMOJI}`, 'the pair fits: kept');
  t.equal(clipText('short', 128), 'short');
  t.equal(clipText('x'.repeat(200), 128).length, 128);
  t.doesNotThrow(() => encodeURI(clipText(`${'x'.repeat(127)}${EMOJI}`, 128)));
});

t.test('wellFormed replaces lone surrogates and keeps pairs', async (t) => {
  t.equal(wellFormed(`a\ud83db`), 'a\ufffdb', 'a lone high surrogate');
  t.equal(wellFormed(`a\ude00b`), 'a\ufffdb', 'a lone low surrogate');
  t.equal(wellFormed(`a${EMOJI}b`), `a${EMOJI}b`, 'a pair');
  t.equal(wellFormed('\ude00\ud83d'), '\ufffd\ufffd', 'a reversed pair is two lone halves');
});

t.test('grpcError details can always be percent-encoded', async (t) => {
  const e = grpcError(status.NOT_FOUND, `unknown device "x\ud83d"`);
  t.doesNotThrow(() => encodeURI(e.details));
  t.equal(e.details, 'unknown device "x\ufffd"');
  t.equal(e.message, e.details);
});
