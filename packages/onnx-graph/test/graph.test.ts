import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, encodeModel, GraphBuilder } from '../src/index.js';

const { onnx } = onnxProto;

/**
 * x [batch, 3] -> MatMul w [3, 2] -> LeakyRelu (float alpha) -> ReduceMax (ints axes, int keepdims 0)
 * -> Add a Constant (floats) -> Reshape to [-1, 1] (int64 initializer); d [1, 8, 1, 1] -> DepthToSpace
 * (string mode); a Constant (ints, one beyond int32) as an output of its own.
 */
function smallGraph(): Uint8Array {
  const g = new GraphBuilder();
  const y = g.op('MatMul', ['x', g.constFloat('w', [3, 2], [1, -1, 2, 0, 0, 1])]);
  const z = g.op('LeakyRelu', [y], { alpha: { float: 0.5 } });
  const m = g.op('ReduceMax', [z], { axes: [1], keepdims: 0 });
  const shifted = g.op('Add', [m, g.op('Constant', [], { value_floats: { floats: [10, 20] } })]);
  g.op('Reshape', [shifted, g.constInt64('shape', [2], [-1, 1])], undefined, 'out');
  g.op('DepthToSpace', ['d'], { blocksize: 2, mode: 'CRD' }, 'space');
  g.op('Constant', [], { value_ints: { ints: [-3, 2 ** 40] } }, 'ints');
  return encodeModel({
    name: 'small',
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [
      { name: 'x', type: DataType.FLOAT, shape: ['batch', 3] },
      { name: 'd', type: DataType.FLOAT, shape: [1, 8, 1, 1] },
    ],
    outputs: [
      { name: 'out', type: DataType.FLOAT, shape: ['batch', 1] },
      { name: 'space', type: DataType.FLOAT, shape: [1, 2, 2, 2] },
      { name: 'ints', type: DataType.INT64, shape: [2] },
    ],
  });
}

describe('encodeModel in onnxruntime', () => {
  let session: ort.InferenceSession;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(smallGraph());
  });
  afterAll(async () => {
    await session.release();
  });

  it('computes what the graph says, every attribute kind and the int64 initializer included', async () => {
    const r = await session.run({
      x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, -1, 0, -2]), [2, 3]),
      d: new ort.Tensor('float32', Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), [1, 8, 1, 1]),
    });
    // Row 0: MatMul [5, 2], max 5, + 10. Row 1: MatMul [-1, -1], LeakyRelu halves it, max -0.5, + 20.
    expect(r.out!.dims).toEqual([2, 1]);
    expect(Array.from(r.out!.data as Float32Array)).toEqual([15, 19.5]);
    // CRD takes each output channel's 2x2 block from consecutive input channels (DCR would interleave them).
    expect(Array.from(r.space!.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(r.ints!.data as BigInt64Array)).toEqual([-3n, 2n ** 40n]);
  });
});

describe('encodeModel bytes', () => {
  const decoded = () =>
    onnx.ModelProto.toObject(onnx.ModelProto.decode(smallGraph()), { longs: Number, enums: String, bytes: String });

  it('decode back to the names, shapes, attributes and opset written', () => {
    const m = decoded();
    expect(m.irVersion).toBe(8);
    expect(m.producerName).toBe('rds-select');
    expect(m.opsetImport).toEqual([{ domain: '', version: 17 }]);
    const g = m.graph;
    expect(g.name).toBe('small');
    expect(g.node.map((n: { name: string }) => n.name)).toEqual([
      'MatMul_0',
      'LeakyRelu_1',
      'ReduceMax_2',
      'Constant_3',
      'Add_4',
      'Reshape_5',
      'DepthToSpace_6',
      'Constant_7',
    ]);
    expect(g.node[5].input).toEqual(['add_4', 'shape']);
    expect(g.node[5].output).toEqual(['out']);
    expect(g.node[2].attribute).toEqual([
      { name: 'axes', type: 'INTS', ints: [1] },
      { name: 'keepdims', type: 'INT', i: 0 },
    ]);
    expect(g.node[1].attribute).toEqual([{ name: 'alpha', type: 'FLOAT', f: 0.5 }]);
    expect(g.node[3].attribute).toEqual([{ name: 'value_floats', type: 'FLOATS', floats: [10, 20] }]);
    expect(g.node[6].attribute[1]).toEqual({ name: 'mode', type: 'STRING', s: Buffer.from('CRD').toString('base64') });
    expect(g.node[7].attribute).toEqual([{ name: 'value_ints', type: 'INTS', ints: [-3, 2 ** 40] }]);
    expect(
      g.initializer.map((t: { name: string; dims: number[]; dataType: number }) => [t.name, t.dims, t.dataType]),
    ).toEqual([
      ['w', [3, 2], onnx.TensorProto.DataType.FLOAT],
      ['shape', [2], onnx.TensorProto.DataType.INT64],
    ]);
    expect(Buffer.from(g.initializer[1].rawData, 'base64')).toEqual(Buffer.from(BigInt64Array.from([-1n, 1n]).buffer));
    expect(g.input[0]).toEqual({
      name: 'x',
      type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 3 }] } } },
    });
    expect(g.output.map((v: { name: string }) => v.name)).toEqual(['out', 'space', 'ints']);
  });

  it('writes dims beyond int32 as int64', () => {
    const bytes = encodeModel({
      name: 'big',
      nodes: [],
      initializers: [{ name: 'e', dims: [0, 2 ** 33], type: DataType.FLOAT, data: new Float32Array(0) }],
      inputs: [{ name: 'x', type: DataType.INT64, shape: [2 ** 33 + 1] }],
      outputs: [],
      opset: 13,
      producer: 'test',
    });
    const m = onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), { longs: Number });
    expect(m.graph.initializer[0].dims).toEqual([0, 2 ** 33]);
    expect(m.graph.input[0].type.tensorType.shape.dim).toEqual([{ dimValue: 2 ** 33 + 1 }]);
    expect(m.opsetImport).toEqual([{ domain: '', version: 13 }]);
    expect(m.producerName).toBe('test');
  });

  it('uses the onnx.TensorProto.DataType codes', () => {
    for (const [name, code] of Object.entries(DataType))
      expect(onnx.TensorProto.DataType[name as keyof typeof onnx.TensorProto.DataType]).toBe(code);
  });

  it('refuses a non-integer number attribute', () => {
    const g = new GraphBuilder();
    g.op('LeakyRelu', ['x'], { alpha: 0.5 });
    expect(() => encodeModel({ name: 'bad', nodes: g.nodes, initializers: [], inputs: [], outputs: [] })).toThrow(
      /attribute alpha: use \{float: x\} for non-integers/,
    );
  });
});
