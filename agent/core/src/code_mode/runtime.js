// One code-mode cell: the model's JavaScript, evaluated as an ES module named `exec_main.mjs` in a fresh V8
// context of its own process, with upstream's globals (tools, ALL_TOOLS, text, image, audio, generatedImage, store,
// load, notify, setTimeout, clearTimeout, yield_control, exit) and without console, Atomics, SharedArrayBuffer and
// WebAssembly.
//
// It speaks JSON lines with rcodex (agent/core/src/code_mode/cell.rs). In on stdin: one `start`
// {source, tools: [{name, description}], stored}, then `tool_result` {id, ok, value | error}. Out on stdout:
// `item` {item}, `yield`, `tool_call` {id, name, input?}, `notify` {text}, and last `done` {error, writes}.
//
// Node's `vm` is no security boundary, so rcodex runs this process in its read-only sandbox without network.
'use strict';

const vm = require('vm');
const readline = require('readline');

const EXIT_SENTINEL = '__codex_code_mode_exit__';
const IMAGE_EXPECTS =
  'image expects a non-empty image URL string, an object with image_url and optional detail, or a raw MCP image block';
const AUDIO_EXPECTS = 'audio expects a non-empty audio URL string, an object with audio_url, or a raw MCP audio block';

const send = (message) => process.stdout.write(JSON.stringify(message) + '\n');

let finished = false;
let exitRequested = false;
const pendingTools = new Map();
let nextToolId = 1;
const timers = new Map();
let nextTimerId = 1;
const stored = new Map();
const writes = {};

// What a thrown value says to the model: its stack when it has one (frames of this host dropped), else its text.
function errorText(value) {
  if (value !== null && (typeof value === 'object' || typeof value === 'function')) {
    let stack;
    try {
      stack = value.stack;
    } catch {}
    if (typeof stack === 'string') {
      return stack
        .split('\n')
        .filter((line) => !/^\s+at .*(node:|\[eval\]|processTicksAndRejections)/.test(line))
        .join('\n');
    }
  }
  return String(value);
}

function finish(error) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify({ type: 'done', error, writes }) + '\n', () => process.exit(0));
}

function start({ source, tools, stored: initial }) {
  for (const [key, value] of Object.entries(initial || {})) stored.set(key, JSON.stringify(value));
  const context = vm.createContext({});
  vm.runInContext(
    'delete globalThis.console; delete globalThis.Atomics; delete globalThis.SharedArrayBuffer; ' +
      'delete globalThis.WebAssembly;',
    context,
  );
  const ContextPromise = vm.runInContext('Promise', context);
  const contextJson = vm.runInContext('JSON', context);
  const parse = (json) => contextJson.parse(json);
  const stringify = (value) => {
    try {
      return contextJson.stringify(value);
    } catch (e) {
      throw errorText(e);
    }
  };
  const serialize = (value) => {
    const kind = typeof value;
    if (value == null || kind === 'boolean' || kind === 'number' || kind === 'bigint' || kind === 'string') {
      return String(value);
    }
    const json = stringify(value);
    return json === undefined ? String(value) : json;
  };
  const toJson = (value) => {
    const json = stringify(value);
    return json === undefined ? undefined : JSON.parse(json);
  };

  const toolsObject = {};
  for (const tool of tools) {
    toolsObject[tool.name] = function (input) {
      const message = { type: 'tool_call', id: `tool-${nextToolId++}`, name: tool.name };
      if (arguments.length > 0) {
        const json = toJson(input);
        if (json !== undefined) message.input = json;
      }
      return new ContextPromise((resolve, reject) => {
        pendingTools.set(message.id, { resolve, reject, parse });
        send(message);
      });
    };
  }
  const allTools = parse(JSON.stringify(tools.map(({ name, description }) => ({ name, description }))));

  const mediaItem = (value, key, expects, remoteMessage) => {
    let url;
    if (typeof value === 'string') {
      url = value;
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      if (value[key] !== undefined) {
        if (typeof value[key] !== 'string') throw expects;
        url = value[key];
      } else {
        const block = toJson(value);
        const blockType = key === 'image_url' ? 'image' : 'audio';
        if (!block || typeof block.type !== 'string') throw expects;
        if (block.type !== blockType) throw `${blockType} only accepts MCP ${blockType} blocks, got "${block.type}"`;
        if (typeof block.data !== 'string' || block.data === '') throw `${blockType} expected MCP ${blockType} data`;
        const mime = block.mimeType || block.mime_type || 'application/octet-stream';
        url = block.data.toLowerCase().startsWith('data:') ? block.data : `data:${mime};base64,${block.data}`;
      }
    } else {
      throw expects;
    }
    if (url === '') throw expects;
    const colon = url.indexOf(':');
    const scheme = colon < 0 ? '' : url.slice(0, colon).toLowerCase();
    if (remoteMessage && (scheme === 'http' || scheme === 'https')) throw remoteMessage;
    if (scheme !== 'data') {
      throw `Tool call failed: invalid ${key === 'image_url' ? 'image' : 'audio'} output. Pass a base64 data URI instead`;
    }
    return url;
  };
  const imageItem = (value) => ({
    type: 'input_image',
    image_url: mediaItem(
      value,
      'image_url',
      IMAGE_EXPECTS,
      'Tool call failed: remote image URLs are not supported in tool outputs. Pass a base64 data URI instead',
    ),
  });

  const globals = {
    tools: toolsObject,
    ALL_TOOLS: allTools,
    text(value) {
      send({ type: 'item', item: { type: 'input_text', text: serialize(value) } });
    },
    image(value) {
      send({ type: 'item', item: imageItem(value) });
    },
    audio(value) {
      send({ type: 'item', item: { type: 'input_audio', audio_url: mediaItem(value, 'audio_url', AUDIO_EXPECTS) } });
    },
    generatedImage(value) {
      if (value === null || typeof value !== 'object') throw 'generatedImage expects an image generation result object';
      const hint = value.output_hint;
      if (hint !== undefined && typeof hint !== 'string') throw 'generatedImage output_hint must be a string when provided';
      send({ type: 'item', item: imageItem(value) });
      if (hint !== undefined) send({ type: 'item', item: { type: 'input_text', text: hint } });
    },
    store(key, value) {
      key = String(key);
      const json = stringify(value);
      if (json === undefined) {
        throw `Unable to store ${JSON.stringify(key)}. Only plain serializable objects can be stored.`;
      }
      stored.set(key, json);
      writes[key] = JSON.parse(json);
    },
    load(key) {
      const json = stored.get(String(key));
      return json === undefined ? undefined : parse(json);
    },
    notify(value) {
      const text = serialize(value);
      if (text.trim() === '') throw 'notify expects non-empty text';
      send({ type: 'notify', text });
    },
    setTimeout(callback, delayMs) {
      if (typeof callback !== 'function') throw 'setTimeout expects a function callback';
      const id = nextTimerId++;
      const delay = Number.isFinite(Number(delayMs)) ? Math.max(0, Number(delayMs)) : 0;
      timers.set(
        id,
        setTimeout(() => {
          timers.delete(id);
          try {
            callback();
          } catch (e) {
            finish(exitRequested && e === EXIT_SENTINEL ? null : errorText(e));
          }
        }, delay),
      );
      return id;
    },
    clearTimeout(id) {
      const timer = timers.get(Number(id));
      if (timer !== undefined) {
        clearTimeout(timer);
        timers.delete(Number(id));
      }
    },
    yield_control() {
      send({ type: 'yield' });
    },
    exit() {
      exitRequested = true;
      throw EXIT_SENTINEL;
    },
  };
  for (const [name, value] of Object.entries(globals)) context[name] = value;

  const refuseImport = (specifier) => {
    throw `Unsupported import in exec: ${specifier}`;
  };
  let module;
  try {
    module = new vm.SourceTextModule(source, {
      identifier: 'exec_main.mjs',
      context,
      importModuleDynamically: refuseImport,
    });
  } catch (e) {
    return finish(errorText(e));
  }
  module
    .link(refuseImport)
    .then(() => module.evaluate())
    .then(
      () => finish(null),
      (e) => finish(exitRequested && e === EXIT_SENTINEL ? null : errorText(e)),
    );
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const message = JSON.parse(line);
  if (message.type === 'start') {
    start(message);
  } else if (message.type === 'tool_result') {
    const pending = pendingTools.get(message.id);
    if (pending === undefined) return;
    pendingTools.delete(message.id);
    if (message.ok) {
      // The value is made in the script's own realm, so that `instanceof Array` and the like hold.
      pending.resolve(message.value === undefined ? undefined : pending.parse(JSON.stringify(message.value)));
    } else {
      pending.reject(message.error);
    }
  }
});
