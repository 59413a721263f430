"""Hugging Face / PyTorch reference for rds-select's tests (not used by the pipeline itself).

    python reference.py tokenize --model-dir DIR          stdin: JSONL {"text"}  stdout: JSONL {"ids"}
    python reference.py embed --model-dir DIR --gguf-dir G --gguf-file F --max-tokens N
                                                           stdin: JSONL {"text"}  stdout: JSONL {"n", "embedding"}

tokenize: AutoTokenizer on the exported model directory (BOS/EOS as its tokenizer config says).
embed: the same tokenizer, truncated to N tokens; PyTorch float32 last_hidden_state of the GGUF's weights
(transformers, gguf_file=, dequantised), one row at a time (no padding), RDS+ weighted-mean pooling
w_t = t / sum(s), L2-normalised -- the formula the project implements, computed independently here.
"""
import argparse
import json
import sys


def read_texts():
    return [json.loads(line)["text"] for line in sys.stdin if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["tokenize", "embed"])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--gguf-dir")
    ap.add_argument("--gguf-file")
    ap.add_argument("--max-tokens", type=int, default=2048)
    args = ap.parse_args()

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model_dir)
    texts = read_texts()
    out = sys.stdout
    if args.mode == "tokenize":
        for ids in tok(texts, add_special_tokens=True)["input_ids"]:
            out.write(json.dumps({"ids": ids}) + "\n")
        return

    import torch
    from transformers import AutoModel

    torch.set_grad_enabled(False)
    model = AutoModel.from_pretrained(args.gguf_dir, gguf_file=args.gguf_file, torch_dtype=torch.float32)
    model.eval()
    for text in texts:
        ids = tok(text, add_special_tokens=True)["input_ids"][: args.max_tokens]
        hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0].double()  # [n, H]
        n = hidden.shape[0]
        w = torch.arange(1, n + 1, dtype=torch.float64) / (n * (n + 1) / 2)
        pooled = (w[:, None] * hidden).sum(0)
        pooled = pooled / pooled.norm()
        out.write(json.dumps({"n": n, "embedding": pooled.tolist()}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
