/** Loopback helpers for the bench. */
import { createServer } from "node:net";

/** A TCP port that was free a moment ago on 127.0.0.1 (for nng, which is given a URL rather than port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}
