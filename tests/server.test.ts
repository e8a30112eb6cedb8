/**
 * The OpenAI-compatible server, through the official `openai` client (streamed and not) and raw
 * fetch for the error shapes, the queue limit and a client that disconnects mid-stream.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { loadModel, type Model } from "../src/index.ts";
import { createSyntheticModel } from "../src/models/synthetic.ts";
import { serveOpenAI, type OpenAIServer } from "../src/server/openai.ts";
import { runnerPreset } from "./models/runner_support.ts";
import { fixture } from "./support/fixtures.ts";

setDefaultTimeout(180_000);

const synthetic = createSyntheticModel(runnerPreset("llama"));
let model: Model;
let server: OpenAIServer;
let client: OpenAI;
const MODEL = "tiny-llama";

beforeAll(async () => {
  model = await loadModel(synthetic.dir, { device: fixture().device, progress: false });
  server = serveOpenAI({ model, modelId: MODEL, port: 0, maxQueue: 1 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => {
  await server.stop();
  model.dispose();
  synthetic.dispose();
});

const messages = [{ role: "user" as const, content: "Hello there" }];

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
}

describe("through the openai client", () => {
  test("models.list", async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual([MODEL]);
  });

  test("chat completion, not streamed: the text the library generates, usage, and prefix reuse across requests", async () => {
    const expected = await model.chat().respond(messages, { maxTokens: 8, temperature: 0 }).complete();
    const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, temperature: 0 });
    expect(r.object).toBe("chat.completion");
    expect(r.choices[0]!.message.content).toBe(expected.text);
    expect(r.choices[0]!.finish_reason).toBe(expected.stats.finishReason === "length" ? "length" : "stop");
    expect(r.usage!.prompt_tokens).toBe(expected.stats.promptTokens);
    expect(r.usage!.completion_tokens).toBe(expected.tokens.length);
    // The next turn's history starts with this one: its prompt is reused.
    const next = await client.chat.completions.create({
      model: MODEL,
      messages: [...messages, { role: "assistant", content: r.choices[0]!.message.content ?? "" }, { role: "user", content: "More" }],
      max_tokens: 4,
      temperature: 0,
    });
    expect(next.usage!.prompt_tokens_details!.cached_tokens!).toBeGreaterThanOrEqual(r.usage!.prompt_tokens);
  });

  test("chat completion, streamed: the chunks join to the non-streamed text; usage when asked", async () => {
    const whole = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, temperature: 0.7, seed: 3 });
    const stream = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, temperature: 0.7, seed: 3, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? "";
      finish = c.choices[0]?.finish_reason ?? finish;
      usage = c.usage ?? usage;
    }
    expect(text).toBe(whole.choices[0]!.message.content!);
    expect(finish).toBe(whole.choices[0]!.finish_reason);
    expect(usage!.completion_tokens).toBe(whole.usage!.completion_tokens);
    expect(usage!.prompt_tokens_details!.cached_tokens!).toBe(whole.usage!.prompt_tokens - 1);
  });

  test("completions, streamed and not, with a stop string", async () => {
    const prompt = "Once upon a time";
    const expected = await model.generate(prompt, { maxTokens: 6 }).complete();
    const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 6, temperature: 0 });
    expect(r.choices[0]!.text).toBe(expected.text);
    let streamed = "";
    for await (const c of await client.completions.create({ model: MODEL, prompt, max_tokens: 6, temperature: 0, stream: true })) streamed += c.choices[0]!.text;
    expect(streamed).toBe(expected.text);
    const cut = expected.text.slice(2, 3);
    if (cut !== "") {
      const stopped = await client.completions.create({ model: MODEL, prompt, max_tokens: 6, temperature: 0, stop: cut });
      expect(stopped.choices[0]!.text).toBe(expected.text.slice(0, expected.text.indexOf(cut)));
      expect(stopped.choices[0]!.finish_reason).toBe("stop");
    }
  });

  test("logprobs, top_logprobs and logit_bias", async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 3, temperature: 0, logprobs: true, top_logprobs: 2 });
    const content = r.choices[0]!.logprobs!.content!;
    expect(content.length).toBe(r.usage!.completion_tokens);
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs.length).toBe(2);
      expect(t.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(t.top_logprobs[1]!.logprob);
    }
    // Greedy: the chosen token is the most likely one.
    expect(content[0]!.logprob).toBeCloseTo(content[0]!.top_logprobs[0]!.logprob, 4);
    const forced = 70;
    const biased = await client.completions.create({ model: MODEL, prompt: "Once", max_tokens: 3, temperature: 0, logit_bias: { [forced]: 100 }, logprobs: 1 });
    const text = model.tokenizer!.decode([forced]);
    expect(biased.choices[0]!.logprobs!.tokens).toEqual([text, text, text]);
  });

  test("errors reach the client as typed API errors", async () => {
    const failure = async (request: () => PromiseLike<unknown>) => {
      try {
        await request();
      } catch (e) {
        return e;
      }
      throw new Error("the request succeeded");
    };
    const missing = await failure(() => client.chat.completions.create({ model: "nope", messages }));
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    const bad = await failure(() => client.chat.completions.create({ model: MODEL, messages, temperature: 5 }));
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("temperature");
  });
});

describe("raw HTTP", () => {
  const expectError = async (r: Response, status: number, param: string | null) => {
    expect(r.status).toBe(status);
    const body = (await r.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
    expect(typeof body.error.message).toBe("string");
    expect(typeof body.error.type).toBe("string");
    expect(body.error.param).toBe(param);
    return body.error;
  };

  test("400 names the bad field", async () => {
    await expectError(await post("/v1/chat/completions", { model: MODEL, messages, max_tokens: 0 }), 400, "max_tokens");
    await expectError(await post("/v1/chat/completions", { model: MODEL, messages, top_p: 0 }), 400, "top_p");
    await expectError(await post("/v1/chat/completions", { model: MODEL, messages, n: 2 }), 400, "n");
    await expectError(await post("/v1/chat/completions", { model: MODEL, messages, stop: 3 }), 400, "stop");
    await expectError(await post("/v1/chat/completions", { model: MODEL, messages, logit_bias: { x: 1 } }), 400, "logit_bias");
    await expectError(await post("/v1/chat/completions", { model: MODEL, messages, top_logprobs: 2 }), 400, "top_logprobs");
    await expectError(await post("/v1/chat/completions", { model: MODEL, messages, presence_penalty: 3 }), 400, "presence_penalty");
    await expectError(await post("/v1/chat/completions", { model: MODEL, messages, logit_bias: { "999999": 1 } }), 400, "logit_bias");
    await expectError(await post("/v1/chat/completions", { model: MODEL, messages: [] }), 400, "messages");
    await expectError(await post("/v1/chat/completions", { model: MODEL, messages: [{ role: "user", content: [{ type: "image_url" }] }] }), 400, "messages[0].content");
    await expectError(await post("/v1/chat/completions", { messages }), 400, "model");
    await expectError(await post("/v1/completions", { model: MODEL, prompt: "" }), 400, "prompt");
    await expectError(await post("/v1/completions", "{not json"), 400, null);
  });

  test("404 for an unknown model or path, 405 for a wrong method", async () => {
    const e = await expectError(await post("/v1/chat/completions", { model: "gpt-5", messages }), 404, "model");
    expect(e.code).toBe("model_not_found");
    await expectError(await fetch(`${server.url}/v1/nothing`), 404, null);
    await expectError(await fetch(`${server.url}/v1/chat/completions`), 405, null);
  });

  test("a streamed response ends with data: [DONE]", async () => {
    const r = await post("/v1/chat/completions", { model: MODEL, messages, max_tokens: 3, stream: true });
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    const text = await r.text();
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
  });

  test("503 past the queue limit; requests run in arrival order", async () => {
    // maxQueue 1: one running, one waiting, the third refused.
    const body = { model: MODEL, messages, max_tokens: 24 };
    const first = post("/v1/chat/completions", body);
    while (server.pending < 1) await Bun.sleep(1);
    const second = post("/v1/chat/completions", body);
    while (server.pending < 2) await Bun.sleep(1);
    const third = await post("/v1/chat/completions", body);
    await expectError(third, 503, null);
    const [a, b] = await Promise.all([first, second]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
  });

  test("a client that disconnects mid-stream stops its generation; the server goes on serving", async () => {
    const controller = new AbortController();
    const r = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages, max_tokens: 100_000, stream: true }),
      signal: controller.signal,
    });
    const reader = r.body!.getReader();
    await reader.read(); // the role chunk
    await reader.read(); // some text
    controller.abort();
    // The generation stops and gives the queue back (it would otherwise run 100k tokens).
    while (server.pending > 0) await Bun.sleep(5);
    const after = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 2 });
    expect(after.choices[0]!.message.role).toBe("assistant");
  });
});
