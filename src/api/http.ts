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
}

export interface AdminReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export type AdminHandler = (req: AdminRequest) => AdminReply | Promise<AdminReply>;
