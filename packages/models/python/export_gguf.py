"""Export a GGUF checkpoint to the model directory rds-select reads, with the tools users use.

transformers loads the GGUF (gguf_file=, dequantised to float32) and optimum exports the base model as
`feature-extraction` (output last_hidden_state, no LM head, no KV cache). Usage:

    python export_gguf.py --gguf-dir DIR --gguf-file NAME --out OUT

Prints one JSON line with the tool versions. Writes OUT/model.onnx, tokenizer.json, tokenizer_config.json,
config.json (and special_tokens_map.json).
"""
import argparse
import json
import os
import sys
import tempfile


def gguf_special_tokens(path):
    """BOS/EOS ids and add_bos/add_eos flags exactly as the GGUF's tokenizer metadata states them."""
    from gguf import GGUFReader

    reader = GGUFReader(path)

    def scalar(key):
        field = reader.fields.get(key)
        return None if field is None else field.parts[field.data[0]][0].item()

    return {
        "bos_id": scalar("tokenizer.ggml.bos_token_id"),
        "eos_id": scalar("tokenizer.ggml.eos_token_id"),
        "add_bos": scalar("tokenizer.ggml.add_bos_token"),
        "add_eos": scalar("tokenizer.ggml.add_eos_token"),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf-dir", required=True)
    ap.add_argument("--gguf-file", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    from importlib.metadata import version

    import torch
    from optimum.exporters.onnx import main_export
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(0)
    special = gguf_special_tokens(os.path.join(args.gguf_dir, args.gguf_file))
    with tempfile.TemporaryDirectory(prefix="rds-gguf-") as hf_dir:
        tok = AutoTokenizer.from_pretrained(args.gguf_dir, gguf_file=args.gguf_file)
        # transformers 4.46's GGUF tokenizer converter treats every llama-architecture file as a SentencePiece
        # Llama tokenizer: it sets eos to the BOS token and always adds BOS. Restore what the GGUF metadata says
        # (SmolLM2: BOS <|im_start|>, EOS <|im_end|>, add_bos_token false) through the tokenizer's own setters.
        if special["eos_id"] is not None:
            tok.eos_token = tok.convert_ids_to_tokens(special["eos_id"])
        if special["bos_id"] is not None:
            tok.bos_token = tok.convert_ids_to_tokens(special["bos_id"])
        tok.add_bos_token = bool(special["add_bos"])
        tok.add_eos_token = bool(special["add_eos"])
        model = AutoModel.from_pretrained(args.gguf_dir, gguf_file=args.gguf_file, torch_dtype=torch.float32)
        model.save_pretrained(hf_dir)
        tok.save_pretrained(hf_dir)
        # The slow-tokenizer "vocab file" transformers saves here is a copy of the whole GGUF; tokenizer.json is
        # the tokenizer, so drop it before the export copies it along.
        slow = os.path.join(hf_dir, "tokenizer.model")
        if os.path.exists(slow):
            os.remove(slow)
        main_export(hf_dir, output=args.out, task="feature-extraction", opset=17, device="cpu", do_validation=False)
    for extra in ("tokenizer.model",):
        p = os.path.join(args.out, extra)
        if os.path.exists(p):
            os.remove(p)
    # config.json records where optimum loaded from (the temporary directory above): name the GGUF instead,
    # so a rebuild writes byte-identical files.
    config_path = os.path.join(args.out, "config.json")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    config["_name_or_path"] = args.gguf_file
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    tools = ["torch", "transformers", "optimum", "onnx", "onnxruntime", "gguf", "numpy", "accelerate"]
    versions = {"python": sys.version.split()[0], **{t: version(t) for t in tools}}
    print(json.dumps({"versions": versions, "special_tokens": special}))


if __name__ == "__main__":
    main()
