/** The rpc page's entry inside the dashboard app (the page itself is examples/rpc/page.ts): a path under this root, so the dev server serves it as a module too. */
import "../../rpc/page.js";
