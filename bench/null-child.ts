/** Bench child that starts nothing: its RSS is what `node --import tsx` costs before any gateway code. */
import { serveChild } from './child-main.js';

await serveChild(async () => ({ info: {}, stop: async () => undefined }));
