import { z } from 'zod';
import {
  ContaminationMatch,
  ContaminationReport,
  Message,
  PlanSettings,
  RunConfig,
  RunDetail,
  RunProgress,
  RunSummary,
  SelectionSummary,
} from '@rds/schemas';

/** Request and response shapes of the HTTP API that are not already boundary schemas in @rds/schemas. */

export const ErrorBody = z.object({
  error: z.string(),
  /** Field paths (dotted, `[i]` for array items) with their messages, for 400s. */
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  requestId: z.string().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const RunIdParams = z.object({ id: z.string().min(1).max(200) });

export const SelectionQuery = z.object({
  offset: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(200).default(20),
});

export const StartedRun = z.object({ runId: z.string() });

/** A listed run with its live progress (null once it has finished or before it reports any). */
export const RunListItem = RunSummary.extend({ progress: RunProgress.nullable() });

export const RunList = z.object({ runs: z.array(RunListItem) });

/** An artifact file of the run that exists on disk (path relative to the run directory). */
export const Artifact = z.object({ name: z.string(), file: z.string(), bytes: z.number().int().nonnegative() });

export const RunDetailResponse = RunDetail.extend({ artifacts: z.array(Artifact) });

export const Histogram = z.object({
  bins: z.number().int().positive(),
  min: z.number().nullable(),
  max: z.number().nullable(),
  /** Per task: counts per bin over the shared [min, max] axis. */
  counts: z.record(z.string(), z.array(z.number().int().nonnegative())),
});

export const SelectedExample = z.object({
  rank: z.number().int().nonnegative(),
  id: z.string(),
  task: z.string().nullable(),
  score: z.number().nullable(),
  source: z.string(),
  /** The pool example's messages (null if its pool shard no longer holds it). */
  messages: z.array(Message).nullable(),
  /** The query that picked this row (round-robin over queries), with its messages. */
  query: z
    .object({ task: z.string(), index: z.number().int().nonnegative(), messages: z.array(Message).nullable() })
    .nullable(),
});

export const SelectionPage = z.object({
  summary: SelectionSummary,
  offset: z.number().int().nonnegative(),
  limit: z.number().int().positive(),
  total: z.number().int().nonnegative(),
  histogram: Histogram,
  examples: z.array(SelectedExample),
});
export type SelectionPage = z.infer<typeof SelectionPage>;

/** A flagged pool row with its messages and, per match, the matching example's messages. */
export const ContaminatedExample = z.object({
  row: z.number().int().nonnegative(),
  id: z.string(),
  source: z.string(),
  messages: z.array(Message).nullable(),
  matches: z.array(ContaminationMatch.extend({ example: z.array(Message).nullable() })),
});

/** GET /v1/runs/{id}/contamination: the report's totals and a page of its flagged rows. */
export const ContaminationPage = ContaminationReport.omit({ rows: true }).extend({
  offset: z.number().int().nonnegative(),
  limit: z.number().int().positive(),
  total: z.number().int().nonnegative(),
  rows: z.array(ContaminatedExample),
});
export type ContaminationPage = z.infer<typeof ContaminationPage>;

/** POST /v1/plan: the run config the form would submit, and how much of the pool to tokenise / how long to calibrate. */
export const PlanRequest = PlanSettings.extend({ config: RunConfig });
