/**
 * An OpenAI-compatible HTTP server on `Bun.serve`: `GET /v1/models`, `POST /v1/chat/completions`
 * and `POST /v1/completions`, streamed (server-sent events ending with `data: [DONE]`) or not.
 *
 * Requests to the model run one at a time, in arrival order: a single device pass cannot be
 * shared, and one session keeps one KV cache, so the prompt prefix a request shares with the
 * previous one (a chat history growing turn by turn) is not computed again; the reuse is reported
 * as `usage.prompt_tokens_details.cached_tokens`. At most `maxQueue` requests wait behind the
 * running one; more are refused with 503. A client that disconnects (or cancels its stream) stops
 * its generation within one token.
 *
 * Errors use OpenAI's shape, `{ "error": { "message", "type", "param", "code" } }`: 400 naming the
 * bad field, 404 for an unknown model or path, 405 for a wrong method, 503 past the queue limit.
 *
 * @example
 * await using model = await loadModel("models/Qwen3-0.6B-4bit");
 * const server = serveOpenAI({ model, modelId: "qwen3", port: 8080 });
 * console.log(`listening on ${server.url}`);
 */
import { ArgumentError } from "../errors.ts";
import type { ChatSession } from "../models/chat.ts";
import type { FinishReason, GeneratedToken, GenerateOptions, Generation, Model } from "../models/model.ts";
import type { ChatMessage } from "../models/tokenizer.ts";

export interface ServeOptions {
  model: Model;
  /** The name clients pass as `model` (default: "default"). */
  modelId?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Most requests waiting behind the running one before 503 (default 16). */
  maxQueue?: number;
  /** `max_tokens` when a request gives none (default 512). */
  defaultMaxTokens?: number;
}

export interface OpenAIServer {
  /** Base URL, e.g. http://127.0.0.1:8080 (append /v1 for an OpenAI client's baseURL). */
  readonly url: string;
  readonly port: number;
  /** Requests waiting or running. */
  readonly pending: number;
  /** Stop listening and abort generations in flight. */
  stop(): Promise<void>;
}

/** A request the server refuses, with its HTTP status and OpenAI error fields. */
class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = status === 503 ? "server_error" : "invalid_request_error",
  ) {
    super(message);
  }
}

function errorResponse(e: RequestError): Response {
  return Response.json({ error: { message: e.message, type: e.type, param: e.param, code: e.code } }, { status: e.status });
}

/** The request field behind a library argument name ("options.logitBias[7]" -> "logit_bias"). */
function requestField(argument: string): string {
  const fields: Record<string, string> = {
    "options.logitBias": "logit_bias",
    "options.minP": "min_p",
    "options.topK": "top_k",
    "options.repetitionPenalty": "repetition_penalty",
    "options.seed": "seed",
    messages: "messages",
    prompt: "prompt",
    tokens: "prompt",
  };
  const base = argument.replace(/\[.*$/, "");
  return fields[base] ?? argument;
}

/** OpenAI's finish reasons from ours. */
function finishReason(reason: FinishReason | undefined): "stop" | "length" {
  return reason === "length" || reason === "context" ? "length" : "stop";
}

interface SamplingRequest {
  /** Options beyond the basic ones, as `generate` takes them. */
  controls: Pick<GenerateOptions, "minP" | "topK" | "repetitionPenalty" | "presencePenalty" | "frequencyPenalty" | "logitBias" | "logprobs">;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number | undefined;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
}

type Body = Record<string, unknown>;

function isObject(v: unknown): v is Body {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function numberField(body: Body, name: string, check: (n: number) => boolean, rule: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || !check(v)) throw new RequestError(400, `${name} must be ${rule} (got ${JSON.stringify(v)})`, name, "invalid_value");
  return v;
}

/** The sampling fields every completion endpoint shares, checked. */
function samplingFields(body: Body, defaultMaxTokens: number, kind: "chat" | "text"): SamplingRequest {
  const controls: SamplingRequest["controls"] = {};
  const presence = numberField(body, "presence_penalty", (n) => n >= -2 && n <= 2, "a number in [-2, 2]");
  if (presence !== undefined) controls.presencePenalty = presence;
  const frequency = numberField(body, "frequency_penalty", (n) => n >= -2 && n <= 2, "a number in [-2, 2]");
  if (frequency !== undefined) controls.frequencyPenalty = frequency;
  // Extensions other OpenAI-compatible servers (vLLM, llama.cpp) accept too.
  const minP = numberField(body, "min_p", (n) => n >= 0 && n < 1, "a number in [0, 1)");
  if (minP !== undefined) controls.minP = minP;
  const repetition = numberField(body, "repetition_penalty", (n) => n > 0, "a number > 0");
  if (repetition !== undefined) controls.repetitionPenalty = repetition;
  const topK = numberField(body, "top_k", (n) => Number.isSafeInteger(n) && n >= 0, "a non-negative integer");
  if (topK !== undefined) controls.topK = topK;
  const bias = body.logit_bias;
  if (bias !== undefined && bias !== null) {
    if (!isObject(bias)) throw new RequestError(400, "logit_bias must be an object of token id -> bias", "logit_bias", "invalid_value");
    const out: Record<number, number> = {};
    for (const [k, v] of Object.entries(bias)) {
      if (!/^\d+$/.test(k) || typeof v !== "number" || !(v >= -100 && v <= 100)) throw new RequestError(400, `logit_bias entry ${JSON.stringify(k)} must map a token id to a number in [-100, 100]`, "logit_bias", "invalid_value");
      out[Number(k)] = v;
    }
    controls.logitBias = out;
  }
  if (kind === "chat") {
    const on = body.logprobs;
    if (on !== undefined && on !== null && typeof on !== "boolean") throw new RequestError(400, "logprobs must be a boolean", "logprobs", "invalid_value");
    const top = numberField(body, "top_logprobs", (n) => Number.isSafeInteger(n) && n >= 0 && n <= 20, "an integer in [0, 20]");
    if (top !== undefined && on !== true) throw new RequestError(400, "top_logprobs needs logprobs: true", "top_logprobs", "invalid_value");
    if (on === true) controls.logprobs = top ?? 0;
  } else {
    const n = numberField(body, "logprobs", (x) => Number.isSafeInteger(x) && x >= 0 && x <= 5, "an integer in [0, 5]");
    if (n !== undefined) controls.logprobs = n;
  }
  const maxTokens =
    numberField(body, "max_completion_tokens", (n) => Number.isSafeInteger(n) && n >= 1, "a positive integer") ??
    numberField(body, "max_tokens", (n) => Number.isSafeInteger(n) && n >= 1, "a positive integer") ??
    defaultMaxTokens;
  const temperature = numberField(body, "temperature", (n) => n >= 0 && n <= 2, "a number in [0, 2]") ?? 1;
  const topP = numberField(body, "top_p", (n) => n > 0 && n <= 1, "a number in (0, 1]") ?? 1;
  // OpenAI takes any integer seed; the device stream takes a u32, so larger ones wrap.
  const seed = numberField(body, "seed", (n) => Number.isSafeInteger(n), "an integer");
  const n = numberField(body, "n", (x) => x === 1, "1 (one choice per request is supported)");
  void n;
  let stop: string[] = [];
  const s = body.stop;
  if (typeof s === "string") stop = [s];
  else if (Array.isArray(s) && s.length <= 4 && s.every((x) => typeof x === "string")) stop = s as string[];
  else if (s !== undefined && s !== null) throw new RequestError(400, "stop must be a string or an array of up to 4 strings", "stop", "invalid_value");
  stop = stop.filter((x) => x !== "");
  const stream = body.stream ?? false;
  if (typeof stream !== "boolean") throw new RequestError(400, "stream must be a boolean", "stream", "invalid_value");
  const options = body.stream_options;
  if (options !== undefined && options !== null && !isObject(options)) throw new RequestError(400, "stream_options must be an object", "stream_options", "invalid_value");
  const includeUsage = isObject(options) && options.include_usage === true;
  return { controls, maxTokens, temperature, topP, seed: seed === undefined ? undefined : ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32, stop, stream, includeUsage };
}

/** Chat messages from OpenAI's shapes: content as a string or as text parts. */
function chatMessages(body: Body): ChatMessage[] {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw new RequestError(400, "messages must be a non-empty array", "messages", "invalid_value");
  return messages.map((m, i): ChatMessage => {
    const param = `messages[${i}]`;
    if (!isObject(m) || typeof m.role !== "string") throw new RequestError(400, `${param} must be an object with a string role`, param, "invalid_value");
    const content = m.content;
    if (typeof content === "string") return { role: m.role, content };
    if (content === null || content === undefined) return { role: m.role, content: "" };
    if (Array.isArray(content)) {
      const parts = content.map((p, j) => {
        if (isObject(p) && p.type === "text" && typeof p.text === "string") return p.text;
        throw new RequestError(400, `${param}.content[${j}] must be a text part ({ "type": "text", "text": ... }); other parts are not supported`, `${param}.content`, "invalid_value");
      });
      return { role: m.role, content: parts.join("") };
    }
    throw new RequestError(400, `${param}.content must be a string or an array of text parts`, `${param}.content`, "invalid_value");
  });
}

/** Runs tasks one at a time in arrival order, refusing more than `limit` waiting. */
class RequestQueue {
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  constructor(readonly limit: number) {}

  get pending(): number {
    return this.#pending;
  }

  /** Wait for the slot; the returned function gives it back. Throws 503 past the limit. */
  async acquire(): Promise<() => void> {
    if (this.#pending > this.limit) throw new RequestError(503, `the server is busy: ${this.#pending - 1} requests are waiting (limit ${this.limit}); retry later`, null, "queue_full");
    this.#pending++;
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#pending--;
      release();
    };
  }
}

/**
 * Start an OpenAI-compatible server for one model (see the module comment).
 *
 * @example
 * const server = serveOpenAI({ model, port: 0 });
 * const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused" });
 */
export function serveOpenAI(options: ServeOptions): OpenAIServer {
  const { model } = options;
  const modelId = options.modelId ?? "default";
  const maxQueue = options.maxQueue ?? 16;
  const defaultMaxTokens = options.defaultMaxTokens ?? 512;
  if (!Number.isSafeInteger(maxQueue) || maxQueue < 0) throw new ArgumentError("options.maxQueue", `must be a non-negative integer (got ${maxQueue})`);
  if (!Number.isSafeInteger(defaultMaxTokens) || defaultMaxTokens < 1) throw new ArgumentError("options.defaultMaxTokens", `must be a positive integer (got ${defaultMaxTokens})`);
  if (model.tokenizer === undefined) throw new ArgumentError("options.model", "serving needs a model directory with a tokenizer");
  const session: ChatSession = model.chat();
  const queue = new RequestQueue(maxQueue);
  const created = Math.floor(Date.now() / 1000);
  const inFlight = new Set<AbortController>();
  let counter = 0;

  const checkModel = (body: Body) => {
    if (typeof body.model !== "string") throw new RequestError(400, "model must be a string", "model", "invalid_value");
    if (body.model !== modelId) throw new RequestError(404, `The model '${body.model}' does not exist (this server serves '${modelId}')`, "model", "model_not_found");
  };

  const tokenText = (id: number) => model.tokenizer!.decode([id]);
  const bytes = (text: string) => [...new TextEncoder().encode(text)];
  /** Chat-completions logprobs of some chunks: `{ content: [{ token, logprob, bytes, top_logprobs }] }`. */
  const chatLogprobs = (chunks: readonly GeneratedToken[]) => ({
    content: chunks.map((c) => {
      const text = tokenText(c.token);
      return { token: text, logprob: c.logprob ?? 0, bytes: bytes(text), top_logprobs: (c.topLogprobs ?? []).map((t) => ({ token: tokenText(t.token), logprob: t.logprob, bytes: bytes(tokenText(t.token)) })) };
    }),
    refusal: null,
  });
  /** Legacy completions logprobs: parallel arrays. */
  const textLogprobs = (chunks: readonly GeneratedToken[]) => ({
    tokens: chunks.map((c) => tokenText(c.token)),
    token_logprobs: chunks.map((c) => c.logprob ?? 0),
    top_logprobs: chunks.map((c) => Object.fromEntries((c.topLogprobs ?? []).map((t) => [tokenText(t.token), t.logprob]))),
    text_offset: [],
  });

  const usage = (g: Generation) => ({
    prompt_tokens: g.stats.promptTokens,
    completion_tokens: g.stats.generatedTokens,
    total_tokens: g.stats.promptTokens + g.stats.generatedTokens,
    prompt_tokens_details: { cached_tokens: g.stats.cachedTokens },
  });

  /** Run one completion in the queue: non-streamed as one JSON body, streamed as SSE. */
  const complete = async (req: Request, kind: "chat" | "text", body: Body): Promise<Response> => {
    checkModel(body);
    const sampling = samplingFields(body, defaultMaxTokens, kind);
    let prompt: ChatMessage[] | number[];
    if (kind === "chat") prompt = chatMessages(body);
    else {
      let p = body.prompt;
      if (Array.isArray(p) && p.length === 1 && typeof p[0] === "string") p = p[0];
      if (typeof p !== "string" || p === "") throw new RequestError(400, "prompt must be a non-empty string", "prompt", "invalid_value");
      prompt = model.promptTokens(p);
    }
    const release = await queue.acquire();
    const controller = new AbortController();
    inFlight.add(controller);
    const onDisconnect = () => controller.abort();
    req.signal.addEventListener("abort", onDisconnect);
    const done = () => {
      req.signal.removeEventListener("abort", onDisconnect);
      inFlight.delete(controller);
      release();
    };
    let gen: Generation;
    try {
      if (req.signal.aborted) throw new RequestError(499, "client disconnected");
      const generateOptions = {
        maxTokens: sampling.maxTokens,
        temperature: sampling.temperature,
        topP: sampling.topP,
        stop: sampling.stop,
        signal: controller.signal,
        ...sampling.controls,
        ...(sampling.seed !== undefined && { seed: sampling.seed }),
      };
      gen = kind === "chat" ? session.respond(prompt as ChatMessage[], generateOptions) : session.continueFrom(prompt as number[], generateOptions);
    } catch (e) {
      done();
      throw e;
    }
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${created.toString(36)}${(++counter).toString(36)}`;
    const object = kind === "chat" ? "chat.completion" : "text_completion";
    const base = { id, created: Math.floor(Date.now() / 1000), model: modelId };

    const wantLogprobs = sampling.controls.logprobs !== undefined;
    const logprobs = (chunks: readonly GeneratedToken[]) => (!wantLogprobs ? null : kind === "chat" ? chatLogprobs(chunks) : textLogprobs(chunks));
    if (!sampling.stream) {
      try {
        const chunks: GeneratedToken[] = [];
        for await (const c of gen) chunks.push(c);
        const text = gen.text;
        const reason = finishReason(gen.stats.finishReason);
        const choice =
          kind === "chat"
            ? { index: 0, message: { role: "assistant", content: text, refusal: null }, finish_reason: reason, logprobs: logprobs(chunks) }
            : { index: 0, text, finish_reason: reason, logprobs: logprobs(chunks) };
        return Response.json({ ...base, object, choices: [choice], usage: usage(gen) });
      } finally {
        done();
      }
    }

    const encoder = new TextEncoder();
    const event = (data: unknown) => encoder.encode(`data: ${JSON.stringify(data)}\n\n`);
    const chunkObject = kind === "chat" ? "chat.completion.chunk" : "text_completion";
    const chunk = (content: string | null, reason: string | null, role = false, from: GeneratedToken | undefined = undefined) => {
      const lp = from === undefined ? null : logprobs([from]);
      return kind === "chat"
        ? { ...base, object: chunkObject, choices: [{ index: 0, delta: { ...(role && { role: "assistant" }), ...(content !== null && { content }) }, finish_reason: reason, logprobs: lp }] }
        : { ...base, object: chunkObject, choices: [{ index: 0, text: content ?? "", finish_reason: reason, logprobs: lp }] };
    };
    const stream = new ReadableStream<Uint8Array>({
      async start(sink) {
        try {
          if (kind === "chat") sink.enqueue(event(chunk("", null, true)));
          for await (const c of gen) {
            if (c.text !== "" || wantLogprobs) sink.enqueue(event(chunk(c.text, null, false, c)));
          }
          if (controller.signal.aborted) return;
          sink.enqueue(event(chunk(kind === "chat" ? null : "", finishReason(gen.stats.finishReason))));
          if (sampling.includeUsage) sink.enqueue(event({ ...base, object: chunkObject, choices: [], usage: usage(gen) }));
          sink.enqueue(encoder.encode("data: [DONE]\n\n"));
          sink.close();
        } catch (e) {
          if (!controller.signal.aborted) sink.error(e);
        } finally {
          done();
        }
      },
      cancel() {
        controller.abort();
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" } });
  };

  const route = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname.replace(/\/+$/, "");
    const post = async (kind: "chat" | "text") => {
      if (req.method !== "POST") throw new RequestError(405, `${path} takes POST`, null, "method_not_allowed");
      let body: unknown;
      try {
        body = await req.json();
      } catch {
        throw new RequestError(400, "the request body must be a JSON object", null, "invalid_json");
      }
      if (!isObject(body)) throw new RequestError(400, "the request body must be a JSON object", null, "invalid_json");
      return complete(req, kind, body);
    };
    switch (path) {
      case "/v1/models":
        if (req.method !== "GET") throw new RequestError(405, "/v1/models takes GET", null, "method_not_allowed");
        return Response.json({ object: "list", data: [{ id: modelId, object: "model", created, owned_by: "bun-mlx-native" }] });
      case "/v1/chat/completions":
        return post("chat");
      case "/v1/completions":
        return post("text");
      default:
        throw new RequestError(404, `no route ${req.method} ${path}`, null, "not_found");
    }
  };

  const server = Bun.serve({
    hostname: options.host ?? "127.0.0.1",
    port: options.port ?? 8080,
    // Generation streams can outlast Bun's default 10 s idle timeout between chunks (a long prefill).
    idleTimeout: 0,
    async fetch(req) {
      try {
        return await route(req);
      } catch (e) {
        if (e instanceof RequestError) return errorResponse(e);
        if (e instanceof ArgumentError) return errorResponse(new RequestError(400, e.message, requestField(e.argument), "invalid_value"));
        return errorResponse(new RequestError(500, `internal error: ${(e as Error).message}`, null, null, "server_error"));
      }
    },
  });

  return {
    url: `http://${server.hostname}:${server.port}`,
    port: server.port!,
    get pending() {
      return queue.pending;
    },
    async stop() {
      for (const c of inFlight) c.abort();
      await server.stop(true);
      // Let aborted generations finish their pass before the session's cache goes.
      while (queue.pending > 0) await Bun.sleep(1);
      session.dispose();
    },
  };
}
