/** No run with this id is known to the backend (HTTP 404). */
export class RunNotFoundError extends Error {
  override readonly name = 'RunNotFoundError';
  constructor(readonly runId: string) {
    super(`no run with id "${runId}"`);
  }
}

/** The request conflicts with the run's state or the backend's capacity (HTTP 409). */
export class RunConflictError extends Error {
  override readonly name = 'RunConflictError';
}
