// vitest starts its forks with `--conditions import`, so protobufjs' internal require('long') gets
// long's ESM namespace (no isLong) and int64 fields decode to plain numbers, which breaks the
// Temporal worker's timestamp handling during replay. Give protobufjs the Long class it expects
// (it looks at globalThis.Long first), exactly as a plain `node` process would have it.
import Long from 'long';

(globalThis as { Long?: unknown }).Long = Long;
