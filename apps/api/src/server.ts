import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { runLayout } from '@rds/artifacts';
import { RunConflictError, RunNotFoundError, type RunBackend } from '@rds/runner';
import { planRun } from '@rds/planner';
import { RunConfig, ValidationError, parseOrThrow, runConfigJsonSchema } from '@rds/schemas';
import { PlanRequest, RunIdParams, SelectionQuery, type ErrorBody } from './api-schemas.js';
import { bearerToken, type TokenSet } from './auth.js';
import { openApiDocument } from './openapi.js';
import type { PathPolicy } from './paths.js';
import { SelectionReader } from './selection.js';
import { triggerIssues, type TriggerPolicy } from './trigger-policy.js';

export const API_VERSION = '0.1.0';
export const DEFAULT_BODY_LIMIT = 256 * 1024;
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../ui/', import.meta.url));

export interface ApiOptions {
  backend: RunBackend;
  tokens: TokenSet;
  paths: PathPolicy;
  /** Largest accepted request body in bytes (413 above). */
  bodyLimit?: number;
  /** The one origin allowed to call the API from a browser; CORS stays off without it. */
  corsOrigin?: string;
  /** What submitted handoff triggers may do (default: no commands run). */
  triggers?: TriggerPolicy;
  /** Directory of the web UI's static files. */
  uiDir?: string;
  logger?: FastifyServerOptions['logger'];
}

/** Static files of the UI, by URL (a fixed list: nothing in a URL ever becomes a file path). */
const UI_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/ui/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Artifacts listed on a run's detail (present ones only). */
function artifactFiles(runDir: string): [string, string][] {
  const l = runLayout(runDir);
  return [
    ['config', l.config],
    ['status', l.status],
    ['pool-manifest', l.pool.manifest],
    ['rejected-rows', l.pool.rejected],
    ['selection', l.selection.rows],
    ['selection-summary', l.selection.summary],
    ['contamination', l.selection.contamination],
    ['handoff-receipt', l.handoff.receipt],
  ];
}

/** Route config marking a route that needs no token; every other matched route needs one. */
const PUBLIC = { config: { public: true } };
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function sendError(reply: FastifyReply, status: number, body: ErrorBody): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Client errors Fastify raises itself (body parsing and limits), with fixed messages. */
const CLIENT_ERRORS: Record<number, string> = {
  400: 'malformed request',
  404: 'not found',
  405: 'method not allowed',
  413: 'request body too large',
  415: 'unsupported media type (send application/json)',
};

/**
 * The HTTP API and web UI over one RunBackend. Every /v1 route except the run-config schema needs a
 * bearer token; mutations need a read-write one. Paths in submitted configs are confined to the
 * configured roots. Errors: 400 with field issues, 401/403/404/409/413 with fixed messages, and a
 * generic 500 whose details go only to the server log.
 */
export async function buildServer(options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
  });
  // JSON only: Fastify's built-in text/plain parser would hand strings to the routes.
  app.removeContentTypeParser('text/plain');
  const { backend, tokens, paths } = options;
  const uiDir = options.uiDir ?? DEFAULT_UI_DIR;
  const selections = new SelectionReader();
  const openapi = openApiDocument(API_VERSION);
  const runConfigSchema = runConfigJsonSchema();

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    reply.header(
      'content-security-policy',
      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    );
    reply.header('cache-control', 'no-store');
    return payload;
  });

  const cors = options.corsOrigin;
  if (cors) {
    app.addHook('onRequest', async (req, reply) => {
      if (req.headers.origin !== cors) return;
      reply.header('access-control-allow-origin', cors);
      reply.header('vary', 'Origin');
      if (req.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET, POST');
        reply.header('access-control-allow-headers', 'authorization, content-type');
        reply.header('access-control-max-age', '600');
        return reply.code(204).send();
      }
    });
  }

  app.addHook('onRequest', async (req, reply) => {
    // Decided by the route the router matched, not by the raw URL: a percent-encoded path
    // (`/%761/runs`) reaches the same route as `/v1/runs` and must meet the same check.
    if (req.is404 || (req.routeOptions.config as { public?: boolean }).public) return;
    const token = bearerToken(req.headers.authorization);
    const access = token === null ? null : tokens.check(token);
    if (access === null) {
      reply.header('www-authenticate', 'Bearer');
      return sendError(reply, 401, { error: 'unauthorized' });
    }
    if (access !== 'write' && !READ_METHODS.has(req.method)) return sendError(reply, 403, { error: 'forbidden' });
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof ValidationError) return sendError(reply, 400, { error: 'invalid request', issues: err.issues });
    if (err instanceof RunNotFoundError) return sendError(reply, 404, { error: 'run not found' });
    if (err instanceof RunConflictError) return sendError(reply, 409, { error: paths.relativise(err.message) });
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500)
      return sendError(reply, status, { error: CLIENT_ERRORS[status] ?? 'bad request' });
    req.log.error({ err }, 'request failed');
    return sendError(reply, 500, { error: 'internal error', requestId: req.id });
  });
  app.setNotFoundHandler((_req, reply) => sendError(reply, 404, { error: 'not found' }));

  for (const [url, { file, type }] of Object.entries(UI_FILES)) {
    app.get(url, PUBLIC, async (_req, reply) => reply.type(type).send(await fs.readFile(path.join(uiDir, file))));
  }
  app.get('/openapi.json', PUBLIC, async () => openapi);
  app.get('/v1/schema/run-config', PUBLIC, async () => runConfigSchema);
  app.get('/healthz', PUBLIC, async () => ({ ok: true, backend: backend.kind }));

  app.post('/v1/runs', async (req, reply) => {
    const parsed = parseOrThrow(RunConfig, req.body, 'request body');
    // Path and trigger issues are reported together, each on its field.
    const policyIssues = triggerIssues(parsed, options.triggers ?? { allowCommands: false });
    const config = await paths.confineConfig(parsed).catch((err: unknown) => {
      if (err instanceof ValidationError) throw new ValidationError(err.message, [...err.issues, ...policyIssues]);
      throw err;
    });
    if (policyIssues.length) throw new ValidationError('invalid request body', policyIssues);
    const { runId } = await backend.start(config);
    req.log.info({ runId, runDir: config.runDir }, 'run started');
    return reply.code(201).send({ runId });
  });

  // A plan tokenises the pool and runs the model in this process: one at a time, so a burst of
  // clicks cannot take every core from the runs the server is also hosting.
  let planning = false;
  app.post('/v1/plan', async (req, reply) => {
    // Settings first, then the config on its own: its issues carry the same field paths as POST /v1/runs.
    const body = parseOrThrow(PlanRequest.extend({ config: z.unknown() }), req.body, 'request body');
    const config = await paths.confineConfig(parseOrThrow(RunConfig, body.config, 'config'));
    if (planning)
      return sendError(reply, 429, { error: 'a plan is already being computed; try again when it has finished' });
    planning = true;
    try {
      const abort = new AbortController();
      req.raw.once('close', () => abort.abort(new Error('client went away')));
      return await planRun(config, {
        sampleRows: body.sampleRows,
        calibrateTokens: body.calibrateTokens,
        signal: abort.signal,
      });
    } catch (err) {
      // What the plan could not read (a missing model file, an unreadable pool file) is the request's fault; named relative to the roots.
      if (err instanceof ValidationError)
        throw new ValidationError(
          err.message,
          err.issues.length ? err.issues : [{ path: 'config', message: paths.relativise(err.message) }],
        );
      throw err;
    } finally {
      planning = false;
    }
  });

  const LIVE_STATES = new Set(['queued', 'running', 'paused']);
  app.get('/v1/runs', async () => {
    const runs = await backend.list();
    // Progress lives in each run's detail; only live runs have any, so only they are looked up. Their
    // state and stage come from the detail too: a Temporal listing (visibility) knows neither a pause
    // nor the stage, only that the workflow is open.
    const live = await Promise.all(
      runs.map(async (r) => (LIVE_STATES.has(r.state) ? await backend.get(r.runId) : null)),
    );
    return {
      runs: runs.map((r, i) => {
        const d = live[i];
        return d ? { ...r, state: d.state, stage: d.stage, progress: d.progress ?? null } : { ...r, progress: null };
      }),
    };
  });

  const runIdOf = (req: FastifyRequest) => parseOrThrow(RunIdParams, req.params, 'path').id;

  app.get('/v1/runs/:id', async (req) => {
    const detail = await backend.get(runIdOf(req));
    if (!detail) throw new RunNotFoundError(runIdOf(req));
    const artifacts = [];
    if (await paths.isRunDirAllowed(detail.runDir)) {
      const root = runLayout(detail.runDir).root;
      for (const [name, file] of artifactFiles(detail.runDir)) {
        const stat = await fs.stat(file).catch(() => null);
        if (stat?.isFile()) artifacts.push({ name, file: path.relative(root, file), bytes: stat.size });
      }
    }
    // A run's error names files by absolute path: shown relative to the roots.
    const error = detail.status?.error;
    const status = error
      ? {
          ...detail.status!,
          error: {
            ...error,
            message: paths.relativise(error.message),
            ...(error.issues
              ? { issues: error.issues.map((i) => ({ ...i, message: paths.relativise(i.message) })) }
              : {}),
          },
        }
      : detail.status;
    return { ...detail, status, artifacts };
  });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    app.post(`/v1/runs/:id/${action}`, async (req, reply) => {
      const id = runIdOf(req);
      await backend[action](id);
      req.log.info({ runId: id }, `run ${action}`);
      return reply.code(202).send({ runId: id });
    });
  }

  /**
   * A paged read of a run's artifacts. A run directory outside the runs root (a Temporal run started
   * elsewhere) is not served. The run's own files failing validation is the server's fault, not the
   * request's: a 500, not a 400.
   */
  const pagedRoute = <P>(
    route: string,
    what: string,
    missing: string,
    read: (runDir: string, offset: number, limit: number) => Promise<P | null>,
  ) =>
    app.get(route, async (req, reply) => {
      const id = runIdOf(req);
      const { offset, limit } = parseOrThrow(SelectionQuery, req.query, 'query string');
      const detail = await backend.get(id);
      if (!detail) throw new RunNotFoundError(id);
      const page = (await paths.isRunDirAllowed(detail.runDir))
        ? await read(detail.runDir, offset, limit).catch((err: unknown) => {
            throw err instanceof ValidationError
              ? new Error(`run ${id}: unreadable ${what}: ${err.message}`, { cause: err })
              : err;
          })
        : null;
      if (!page) return sendError(reply, 404, { error: missing });
      return page;
    });
  pagedRoute('/v1/runs/:id/selection', 'selection artifacts', 'no selection for this run yet', (dir, o, l) =>
    selections.page(dir, o, l),
  );
  pagedRoute(
    '/v1/runs/:id/contamination',
    'contamination report',
    'no contamination report for this run (not selected yet, or selected before the check existed)',
    (dir, o, l) => selections.contamination(dir, o, l),
  );

  return app;
}
