/** The tests use the product's own free-port picker (see gateway/cli/free-port.ts for why it avoids listen(0)). */
export { freePort } from '../../gateway/cli/free-port.js';
