"""The PyTorch peer of bench/e2e_gpu.ts: transformers' LlamaForCausalLM built from a LlamaConfig of
the same Llama-3.2-1B and Llama-3.1-8B shapes, random weights, bf16, on the GPU (no download),
and the same workload: a prompt of --prompt tokens, then --steps greedy tokens. Also measures the
card's copy bandwidth (bytes read + written, as bench/gpu_peer.py), which bench/e2e_gpu.ts takes
as its limit when no --copy-gbps is given.

  prefill tok/s:      one forward pass over the prompt into a fresh cache (logits of the last
                      position only, as generate computes them), wall time between synchronizes
  decode tok/s:       model.generate (greedy; no EOS token, so exactly N new tokens):
                      N / (time of N + 1 new tokens - time of 1 new token)
  decode loop tok/s:  a plain loop of single-token forward passes with past_key_values and argmax
                      on the device (what generate costs beyond the model)

Best and median of --rounds, after a warm-up. Prints a line per model and writes --out (JSON).

  python3 bench/e2e_peer.py [--models 1b,8b] [--prompt 128] [--steps 64] [--rounds 3] [--out FILE]
"""
import argparse
import inspect
import json
import statistics
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

from gpu_peer import copy_gbps

# The shapes of the llama3-1b / llama3-8b synthetic presets (src/models/synthetic.ts).
SHAPES = {
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, head_dim=64, tie_word_embeddings=True),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, head_dim=128, tie_word_embeddings=False),
}
COMMON = dict(vocab_size=128256, num_attention_heads=32, num_key_value_heads=8, rms_norm_eps=1e-5, max_position_embeddings=131072)
ROPE = dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192)


def llama_config(name):
    kwargs = dict(COMMON, **SHAPES[name])
    # transformers 5 takes RoPE as rope_parameters; 4.x as rope_theta and rope_scaling.
    if "rope_parameters" in inspect.signature(LlamaConfig.__init__).parameters:
        kwargs["rope_parameters"] = dict(ROPE, rope_theta=500000.0)
    else:
        kwargs.update(rope_theta=500000.0, rope_scaling=ROPE)
    config = LlamaConfig(**kwargs)
    config.bos_token_id = None
    config.eos_token_id = None
    config.pad_token_id = 0
    return config


def build(name):
    """The model on the GPU in bf16, constructed there (no fp32 copy, no host round trip)."""
    config = llama_config(name)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda"):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    if any(p.dtype != torch.bfloat16 for p in model.parameters()):
        model = model.to(dtype=torch.bfloat16)
    model.eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def wall(fn):
    """Seconds fn takes, between synchronizes, and its result."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def best_median(xs):
    return {"best": max(xs), "median": statistics.median(xs)}


def measure(name, args):
    t0 = time.perf_counter()
    model = build(name)
    torch.cuda.synchronize()
    init_s = time.perf_counter() - t0
    vocab = model.config.vocab_size
    ids = torch.tensor([[(i * 7919 + 13) % vocab for i in range(args.prompt)]], device="cuda")
    mask = torch.ones_like(ids)
    forward_params = inspect.signature(model.forward).parameters
    keep = {}
    if "logits_to_keep" in forward_params:
        keep = {"logits_to_keep": 1}
    elif "num_logits_to_keep" in forward_params:
        keep = {"num_logits_to_keep": 1}

    def prefill():
        return model(input_ids=ids, attention_mask=mask, use_cache=True, **keep)

    def generate(n):
        return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, do_sample=False, pad_token_id=0)

    def loop():
        out = prefill()
        past = out.past_key_values
        token = out.logits[:, -1:].argmax(-1)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(args.steps):
            out = model(input_ids=token, past_key_values=past, use_cache=True)
            past = out.past_key_values
            token = out.logits[:, -1:].argmax(-1)
        torch.cuda.synchronize()
        return time.perf_counter() - t

    prefills, decodes, loops = [], [], []
    with torch.inference_mode():
        prefill()
        generate(2)
        loop()
        for _ in range(args.rounds):
            prefills.append(args.prompt / wall(prefill)[0])
            one, _ = wall(lambda: generate(1))
            many, out = wall(lambda: generate(args.steps + 1))
            made = out.shape[1] - args.prompt
            if made != args.steps + 1:
                print(f"note: generate made {made} new tokens, asked for {args.steps + 1}")
            decodes.append((made - 1) / (many - one))
            loops.append(args.steps / loop())
    result = {
        "prompt": args.prompt,
        "steps": args.steps,
        "init_s": init_s,
        "parameters": sum(p.numel() for p in model.parameters()),
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "prefill_tok_s": best_median(prefills),
        "decode_tok_s": best_median(decodes),
        "decode_loop_tok_s": best_median(loops),
        "peak_gb": torch.cuda.max_memory_allocated() / 1e9,
    }
    del model
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="1b,8b")
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", help="JSON file for bench/e2e_gpu.ts --peer-json")
    args = parser.parse_args()
    names = [n.strip() for n in args.models.split(",")]
    for n in names:
        if n not in SHAPES:
            parser.error(f"--models: unknown model {n!r} (known: {', '.join(SHAPES)})")

    report = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "copy_gbps": copy_gbps(),
        "models": {},
    }
    print(f"{report['device']}: torch {report['torch']}, transformers {report['transformers']}; copy {report['copy_gbps']:.0f} GB/s (read + written)")
    for name in names:
        r = measure(name, args)
        report["models"][name] = r
        print(
            f"{name}: {r['parameters'] / 1e9:.2f}B parameters bf16 ({r['attn_implementation']}), built in {r['init_s']:.1f} s; "
            f"prefill {args.prompt} tokens {r['prefill_tok_s']['best']:.0f} tok/s; "
            f"decode (generate) {r['decode_tok_s']['best']:.1f} tok/s (median {r['decode_tok_s']['median']:.1f}); "
            f"decode (loop) {r['decode_loop_tok_s']['best']:.1f} tok/s; peak {r['peak_gb']:.1f} GB"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
