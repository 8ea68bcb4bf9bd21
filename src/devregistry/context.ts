/** What a request handler gets: the exchange, the stores, and a byte counter for the log line. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Storage } from "./storage";
import type { Uploads } from "./uploads";

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Who is asking, for per-client caps: `user NAME` when auth is on, else `address IP`. */
  client: string;
  storage: Storage;
  uploads: Uploads;
  /** Request body bytes consumed by the handler. */
  bytesIn: number;
  /** Referrers per page of the referrers API (DevRegistryOptions.referrersPageSize); undefined: all on one page. */
  referrersPageSize?: number;
}
