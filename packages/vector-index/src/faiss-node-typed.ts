// Typed-array overloads added by native/faiss-node/typed-arrays.patch: add/train/search take a
// Float32Array without a per-element copy, and a typed search returns typed results.
import type {} from 'faiss-node';

declare module 'faiss-node' {
  /** Result of a search with Float32Array input: n x k row-major, -1 labels pad missing results. */
  export interface TypedSearchResult {
    distances: Float32Array;
    labels: Int32Array;
  }
  interface Index {
    add(x: Float32Array): void;
    train(x: Float32Array): void;
    search(x: Float32Array, k: number): TypedSearchResult;
  }
}
