/**
 * A small ONNX model writer for graphs built in TypeScript (the test model, in-memory scoring graphs),
 * so no Python toolchain is needed. The messages and their wire format come from onnx-proto (static
 * protobufjs classes generated from onnx/onnx.proto); this module only maps plain specs onto them.
 */
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';

// onnx-proto is CommonJS: under ESM its namespace comes through the default import (types by name).
const { onnx } = onnxProto;

/** The onnx.TensorProto.DataType codes in use, as literals so specs can be typed against them. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

export type AttrValue = number | string | number[] | { ints: number[] } | { floats: number[] } | { float: number };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  name?: string;
}

export interface TensorSpec {
  name: string;
  dims: number[];
  type: DataTypeCode;
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

export interface ValueSpec {
  name: string;
  type: DataTypeCode;
  /** Fixed sizes or symbolic names ("batch", "seq"). */
  shape: (number | string)[];
}

const AttributeType = onnx.AttributeProto.AttributeType;

function attribute(name: string, v: AttrValue): OnnxTypes.IAttributeProto {
  if (typeof v === 'string') return { name, s: new TextEncoder().encode(v), type: AttributeType.STRING };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: use {float: x} for non-integers`);
    return { name, i: v, type: AttributeType.INT };
  }
  if (Array.isArray(v) || 'ints' in v) return { name, ints: Array.isArray(v) ? v : v.ints, type: AttributeType.INTS };
  if ('floats' in v) return { name, floats: v.floats, type: AttributeType.FLOATS };
  return { name, f: v.float, type: AttributeType.FLOAT };
}

function tensor(t: TensorSpec): OnnxTypes.ITensorProto {
  return {
    dims: t.dims,
    dataType: t.type,
    name: t.name,
    rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), // little-endian
  };
}

function valueInfo(v: ValueSpec): OnnxTypes.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.type,
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Encode a whole model (ir_version 8, default-domain opset `opset`). */
export function encodeModel(graph: {
  name: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  opset?: number;
  producer?: string;
}): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: graph.producer ?? 'rds-select',
    graph: {
      node: graph.nodes.map((n, i) => ({
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? `${n.op}_${i}`,
        opType: n.op,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      name: graph.name,
      initializer: graph.initializers.map(tensor),
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
    },
    opsetImport: [{ domain: '', version: graph.opset ?? 17 }],
  }).finish();
}

/** Small helpers for building graphs with unique intermediate names. */
export class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: TensorSpec[] = [];
  private n = 0;

  /** Add a node with one output; returns the output name. */
  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, output?: string): string {
    const out = output ?? `${op.toLowerCase()}_${this.n++}`;
    this.nodes.push({ op, inputs, outputs: [out], ...(attrs ? { attrs } : {}) });
    return out;
  }
  constFloat(name: string, dims: number[], data: Float32Array | number[]): string {
    this.initializers.push({
      name,
      dims,
      type: DataType.FLOAT,
      data: data instanceof Float32Array ? data : Float32Array.from(data),
    });
    return name;
  }
  constInt64(name: string, dims: number[], data: number[]): string {
    this.initializers.push({ name, dims, type: DataType.INT64, data: BigInt64Array.from(data.map((x) => BigInt(x))) });
    return name;
  }
}
