/**
 * The admin API's view of HTTP: the few request fields a route needs and the reply it gives.
 * The admin listener of the transport satisfies these shapes structurally, so the API never
 * imports the server that serves it.
 */

export interface AdminRequest {
  /** Upper case (GET, HEAD, POST...). */
  readonly method: string;
  readonly path: string;
  /** The Authorization header, '' when absent. */
  readonly authorization: string;
  /** The query string without '?' ('' or absent when none). */
  readonly query?: string;
  /** The client address (the real one behind a trusted proxy); absent in unit tests. */
  readonly remoteAddress?: string;
  /** The X-Ferry-Operator header: the operator's name for the audit log ('' or absent: "admin"). */
  readonly operator?: string;
  /** The body of POST and DELETE requests (JSON or empty). */
  readonly body?: string;
}

export interface AdminReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  /** More response headers (lower-case names): x-next-cursor, content-disposition. */
  readonly headers?: Readonly<Record<string, string>>;
}

export type AdminHandler = (req: AdminRequest) => AdminReply | Promise<AdminReply>;
