import { z } from 'zod';

/** Roles RDS+ renders (Tulu chat format). Anything else is rejected at ingestion. */
export const Role = z.enum(['system', 'user', 'assistant']);
export type Role = z.infer<typeof Role>;

export const Message = z.object({
  role: Role,
  content: z.string(),
});
export type Message = z.infer<typeof Message>;

/**
 * The canonical example every pool and query file is normalised to.
 * `source` is the dataset the row came from (the `dataset`/`source` field, else the file name).
 */
export const Example = z.object({
  id: z.string().min(1),
  source: z.string().min(1),
  messages: z
    .array(Message)
    .min(1, 'messages must not be empty')
    .refine((m) => m.some((x) => x.role === 'assistant'), { message: 'no assistant turn' }),
});
export type Example = z.infer<typeof Example>;

/** A task name as used in file names and task lists: letters, digits, '.', '_' and '-'. */
export const TaskName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'task names use letters, digits, ".", "_" and "-" (max 64)');
export type TaskName = z.infer<typeof TaskName>;
