#!/usr/bin/env node
// The command npm links. It lives in the repository (not dist/) because npm
// links bins before `prepare` builds dist/: on a fresh clone a bin pointing
// into dist/ would not be linked at all, and `npx spcat` would fail.
import "../dist/cli/spcat.js";
