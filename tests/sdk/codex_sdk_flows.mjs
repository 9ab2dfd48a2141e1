// Drives an agent's `exec` through the TypeScript SDK, `@openai/codex-sdk` (from .sdk-node/), as a user of the SDK
// would: a thread run, a streamed run, a resume by id, a run with an output schema, and aborts (a signal aborted
// before the run, and one aborted while the answer is held), then a run after the abort. The binary comes in through
// the SDK's `codexPathOverride`. Prints one JSON document of what each flow got; the Rust test
// (tests/tests/sdk_typescript.rs) asserts on it and on the requests its scripted server received.

import path from "node:path";
import { pathToFileURL } from "node:url";

// ES modules do not look at NODE_PATH: the SDK is imported from the folder install-test-deps.sh installed it in.
const modules = process.env.PARITY_SDK_NODE_MODULES;
const { Codex } = await import(pathToFileURL(path.join(modules, "@openai/codex-sdk/dist/index.js")).href);

const BIN = process.env.PARITY_SDK_BIN;
const SERVER = process.env.PARITY_SDK_SERVER.replace(/\/$/, "");
const WORKSPACE = process.env.PARITY_SDK_WORKSPACE ?? process.cwd();
const WAIT_MS = Number(process.env.PARITY_SDK_WAIT_S ?? "30") * 1000;

// Every wait is bounded; the Rust test bounds the whole run too.
setTimeout(() => {
  process.stderr.write("driver: still running after 150 s\n");
  process.exit(3);
}, 150_000).unref();

const flows = {};
async function flow(name, run) {
  const started = Date.now();
  try {
    const result = await run();
    flows[name] = { ok: true, result: result ?? null, seconds: (Date.now() - started) / 1000 };
    return result;
  } catch (error) {
    flows[name] = {
      ok: false,
      error: `${error?.name ?? "Error"}: ${error?.message ?? error}`,
      trace: String(error?.stack ?? ""),
      seconds: (Date.now() - started) / 1000,
    };
    return undefined;
  }
}

async function waitForHold(name) {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const answer = await fetch(`${SERVER}/_parity/holds`);
    const { holds } = await answer.json();
    if (holds.some((h) => h.name === name)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no stream reached the hold ${name} within ${WAIT_MS} ms`);
}

const codex = new Codex({ codexPathOverride: BIN });
const options = { workingDirectory: WORKSPACE, skipGitRepoCheck: true };
const state = {};

await flow("run", async () => {
  const thread = codex.startThread(options);
  const result = await thread.run("Say hello.");
  state.thread = thread;
  return { thread_id: thread.id, final_response: result.finalResponse, items: result.items, usage: result.usage };
});

if (state.thread) {
  await flow("streamed", async () => {
    const { events } = await state.thread.runStreamed("What do my notes say?");
    const seen = [];
    for await (const event of events) seen.push(event);
    return { events: seen };
  });

  await flow("resume", async () => {
    const resumed = codex.resumeThread(state.thread.id, options);
    const result = await resumed.run("What was my first request?");
    return { thread_id: resumed.id, final_response: result.finalResponse, items: result.items };
  });

  await flow("output_schema", async () => {
    const schema = {
      type: "object",
      properties: { answer: { type: "string" } },
      required: ["answer"],
      additionalProperties: false,
    };
    const result = await state.thread.run("Answer in JSON.", { outputSchema: schema });
    return { final_response: result.finalResponse, parsed: JSON.parse(result.finalResponse) };
  });

  await flow("abort_before", async () => {
    const controller = new AbortController();
    controller.abort("not now");
    try {
      await state.thread.run("This never runs.", { signal: controller.signal });
      return { rejected: false };
    } catch (error) {
      return { rejected: true, name: error?.name ?? null, message: String(error?.message ?? error) };
    }
  });

  await flow("abort_while_held", async () => {
    const controller = new AbortController();
    const running = state.thread.run("Count slowly to a thousand.", { signal: controller.signal });
    // The rejection is awaited below; until then it must not count as unhandled.
    running.catch(() => {});
    await waitForHold("counting");
    controller.abort();
    try {
      await running;
      return { rejected: false };
    } catch (error) {
      return { rejected: true, name: error?.name ?? null, message: String(error?.message ?? error) };
    }
  });

  await flow("after_abort", async () => {
    const result = await state.thread.run("Never mind. Say done.");
    return { thread_id: state.thread.id, final_response: result.finalResponse };
  });
}

process.stdout.write(`${JSON.stringify({ flows })}\n`);
