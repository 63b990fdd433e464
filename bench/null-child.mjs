/** Bench child that starts nothing: its RSS is what a bare `node` costs before any gateway code (the idle-memory baseline). */
import { serveChild } from './child-main.mjs';

await serveChild(async () => ({ info: {}, stop: async () => undefined }));
