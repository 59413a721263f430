import { z } from 'zod';
import { ComputePlan, RunConfig } from '@rds/schemas';
import {
  ContaminationPage,
  ErrorBody,
  PlanRequest,
  RunDetailResponse,
  RunList,
  SelectionPage,
  StartedRun,
} from './api-schemas.js';

type Json = Record<string, unknown>;

/** JSON Schemas of named zod schemas as OpenAPI components (cross-references become `$ref`s). */
function components(io: 'input' | 'output', schemas: Record<string, z.ZodType>): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, {
    io,
    unrepresentable: 'any',
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
  });
  const result: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(out.schemas)) {
    const { $schema: _drop, ...rest } = schema as Json;
    result[id] = rest;
  }
  return result;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, description: string) => ({
  description,
  content: { 'application/json': { schema: ref(name) } },
});
const errors = {
  '400': json('Error', 'invalid request (field paths in `issues`)'),
  '401': json('Error', 'missing or unknown bearer token'),
  '403': json('Error', 'read-only token used for a mutation'),
  '404': json('Error', 'no such run'),
  '409': json('Error', 'the run cannot take this request in its state'),
  '500': json('Error', 'internal error (details in the server log)'),
};
const runId = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const pageParameters = [
  runId,
  { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 20 } },
];
const action = (summary: string) => ({
  summary,
  parameters: [runId],
  responses: { '202': { description: 'accepted' }, ...errors },
});

/** The OpenAPI 3.1 document, generated from the same zod schemas the server validates with. */
export function openApiDocument(version: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'rds-select API',
      version,
      description: 'Start, watch, pause, resume and cancel RDS+ selection runs; browse selections.',
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/runs': {
        post: {
          summary: 'start a run',
          requestBody: { required: true, content: { 'application/json': { schema: ref('RunConfigInput') } } },
          responses: { '201': json('StartedRun', 'the run was accepted'), ...errors },
        },
        get: { summary: 'list runs', responses: { '200': json('RunList', 'runs known to the backend'), ...errors } },
      },
      '/v1/runs/{id}': {
        get: {
          summary: 'one run: config, status, progress, artifacts',
          parameters: [runId],
          responses: { '200': json('RunDetail', 'the run'), ...errors },
        },
      },
      '/v1/runs/{id}/pause': { post: action('pause before the next stage or shard') },
      '/v1/runs/{id}/resume': { post: action('resume a paused run') },
      '/v1/runs/{id}/cancel': { post: action('cancel; finished artifacts are kept') },
      '/v1/runs/{id}/selection': {
        get: {
          summary: 'selection summary and a page of selected examples (with the matching query)',
          parameters: pageParameters,
          responses: { '200': json('SelectionPage', 'a page of the selection'), ...errors },
        },
      },
      '/v1/runs/{id}/contamination': {
        get: {
          summary:
            'contamination report: pool rows that are near-copies of query or evaluation examples, with both texts',
          parameters: pageParameters,
          responses: { '200': json('ContaminationPage', 'the totals and a page of flagged rows'), ...errors },
        },
      },
      '/v1/plan': {
        post: {
          summary:
            'compute plan of a run config before it embeds anything: rows, tokens, FLOPs, time here and on GPU classes, disk, memory',
          requestBody: { required: true, content: { 'application/json': { schema: ref('PlanRequest') } } },
          responses: {
            '200': json('ComputePlan', 'the plan (estimates are labelled)'),
            '429': json('Error', 'another plan is being computed'),
            ...errors,
          },
        },
      },
      '/v1/schema/run-config': {
        get: {
          summary: 'JSON Schema of the run config (input side)',
          security: [],
          responses: { '200': { description: 'JSON Schema' } },
        },
      },
      '/openapi.json': {
        get: { summary: 'this document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        ...components('input', { RunConfigInput: RunConfig, PlanRequest }),
        ...components('output', {
          StartedRun,
          RunList,
          RunDetail: RunDetailResponse,
          SelectionPage,
          ContaminationPage,
          ComputePlan,
          Error: ErrorBody,
        }),
      },
    },
  };
}
