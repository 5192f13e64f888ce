#!/usr/bin/env python3
"""The transformers-on-CPU baseline for serving benchmarks: a small OpenAI-compatible server.

It serves one request at a time, as a plain `model.generate` loop does (requests wait on a lock
in arrival order), with the same weights Tessera loads and `torch.set_num_threads(2)`.

    python3 scripts/bench/hf_baseline_server.py --model fixtures/models/llava-tiny --port 8001

Endpoints: POST /v1/chat/completions (string content or `text` / `image_url` parts with `data:`
URIs), POST /v1/completions (a prompt string), both streaming (SSE, `stream_options.include_usage`)
or not; GET /v1/models and /health. Parameters: max_tokens / max_completion_tokens, temperature,
top_p, seed and ignore_eos (as `min_new_tokens`); others are ignored. It prints
`serving '<name>' on http://HOST:PORT/v1` once it listens.
"""
import argparse
import base64
import io
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch
from PIL import Image
from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor,
                          AutoTokenizer)


class BadRequest(Exception):
    pass


class Backend:
    """The model, its tokenizer (and processor for vision-language models), and the generate lock."""

    def __init__(self, directory, name):
        self.name = name
        config = AutoConfig.from_pretrained(directory)
        self.multimodal = hasattr(config, "vision_config")
        if self.multimodal:
            self.processor = AutoProcessor.from_pretrained(directory)
            if config.model_type == "llava" and getattr(self.processor, "patch_size", None) is None:
                # A folder without processor_config.json: the values LlavaProcessor saves there, from the
                # model config (one extra CLS position from the CLIP tower, which "default" drops).
                self.processor.patch_size = config.vision_config.patch_size
                self.processor.vision_feature_select_strategy = config.vision_feature_select_strategy
                self.processor.num_additional_image_tokens = 1
            self.tokenizer = self.processor.tokenizer
            self.model = AutoModelForImageTextToText.from_pretrained(directory, dtype=torch.float32)
        else:
            self.processor = None
            self.tokenizer = AutoTokenizer.from_pretrained(directory)
            self.model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
        self.model.eval()
        self.context = getattr(config.get_text_config(), "max_position_embeddings", None)
        self.lock = threading.Lock()

    def chat_inputs(self, messages):
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty array")
        images, rendered = [], []
        for message in messages:
            content = message.get("content")
            if isinstance(content, list):
                parts = []
                for part in content:
                    if part.get("type") == "text":
                        parts.append({"type": "text", "text": part.get("text", "")})
                    elif part.get("type") == "image_url":
                        images.append(decode_image(part.get("image_url", {}).get("url", "")))
                        parts.append({"type": "image"})
                    else:
                        raise BadRequest(f"unsupported content part type {part.get('type')!r}")
                content = parts
            rendered.append({"role": message.get("role", "user"), "content": content})
        if images and not self.multimodal:
            raise BadRequest("this model does not accept images")
        prompt = self.tokenizer.apply_chat_template(rendered, add_generation_prompt=True, tokenize=False)
        if self.processor is not None:
            return self.processor(images=images or None, text=prompt, return_tensors="pt")
        return self.tokenizer(prompt, return_tensors="pt")

    def completion_inputs(self, prompt):
        if not isinstance(prompt, str):
            raise BadRequest("'prompt' must be a string")
        return self.tokenizer(prompt, return_tensors="pt")

    def generate(self, inputs, body, on_token):
        """Greedy or sampled generation under the lock; `on_token(id)` sees each new token as it comes."""
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 16
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise BadRequest("max_tokens must be a positive integer")
        if self.context is not None and inputs["input_ids"].shape[1] + max_tokens > self.context:
            raise BadRequest(f"prompt plus max_tokens exceeds the context of {self.context} tokens")
        temperature = float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0)
        options = dict(max_new_tokens=max_tokens, do_sample=temperature > 0, pad_token_id=self.tokenizer.eos_token_id)
        if temperature > 0:
            options.update(temperature=temperature, top_p=float(body.get("top_p") or 1.0), top_k=0)
        if body.get("ignore_eos"):
            options["min_new_tokens"] = max_tokens
        with self.lock:
            if body.get("seed") is not None:
                torch.manual_seed(int(body["seed"]))
            with torch.inference_mode():
                out = self.model.generate(**inputs, **options, streamer=TokenStreamer(on_token))
        return out[0, inputs["input_ids"].shape[1]:].tolist()


def decode_image(url):
    if not url.startswith("data:") or ";base64," not in url:
        raise BadRequest("image_url must be a data: URI with base64 content")
    try:
        return Image.open(io.BytesIO(base64.b64decode(url.split(";base64,", 1)[1], validate=True))).convert("RGB")
    except Exception as error:
        raise BadRequest(f"image_url is not a decodable image: {error}")


class TokenStreamer:
    """A `generate` streamer that hands each new token id to a callback (the first `put` is the prompt)."""

    def __init__(self, on_token):
        self.on_token = on_token
        self.prompt_seen = False

    def put(self, value):
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.on_token(token)

    def end(self):
        pass


class TextDeltas:
    """Incremental detokenization: the text each new token adds, holding back incomplete characters."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids = []
        self.sent = ""

    def add(self, token):
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return ""
        delta, self.sent = text[len(self.sent):], text
        return delta


def make_handler(backend):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send_json(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def send_error_object(self, status, message):
            self.send_json(status, {"error": {"message": message, "type": "invalid_request_error", "code": None}})

        def do_GET(self):
            if self.path == "/health":
                self.send_json(200, {})
            elif self.path == "/v1/models":
                self.send_json(200, {"object": "list", "data": [{"id": backend.name, "object": "model", "owned_by": "hf"}]})
            else:
                self.send_error_object(404, f"no route {self.path}")

        def do_POST(self):
            chat = self.path == "/v1/chat/completions"
            if not chat and self.path != "/v1/completions":
                self.send_error_object(404, f"no route {self.path}")
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                if not isinstance(body, dict):
                    raise BadRequest("the body must be a JSON object")
                inputs = backend.chat_inputs(body.get("messages")) if chat else backend.completion_inputs(body.get("prompt"))
            except (BadRequest, ValueError) as error:
                self.send_error_object(400, str(error))
                return
            try:
                self.respond(chat, body, inputs)
            except BadRequest as error:
                self.send_error_object(400, str(error))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def respond(self, chat, body, inputs):
            created = int(time.time())
            rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
            kind = "chat.completion" if chat else "text_completion"
            prompt_tokens = int(inputs["input_ids"].shape[1])
            deltas = TextDeltas(backend.tokenizer)

            def choice(text, finish):
                if chat:
                    return {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}
                return {"index": 0, "text": text, "finish_reason": finish}

            def usage(completion):
                return {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                        "total_tokens": prompt_tokens + completion}

            if not body.get("stream"):
                ids = backend.generate(inputs, body, lambda _: None)
                text = backend.tokenizer.decode(ids, skip_special_tokens=True)
                finish = "length" if len(ids) >= (body.get("max_completion_tokens") or body.get("max_tokens") or 16) else "stop"
                result = {"index": 0, "finish_reason": finish}
                result.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
                self.send_json(200, {"id": rid, "object": kind, "created": created, "model": backend.name,
                                     "choices": [result], "usage": usage(len(ids))})
                return

            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

            def send(obj):
                self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
                self.wfile.flush()

            chunk = {"id": rid, "object": kind + (".chunk" if chat else ""), "created": created, "model": backend.name}

            def on_token(token):
                text = deltas.add(token)
                if text:
                    send({**chunk, "choices": [choice(text, None)]})

            ids = backend.generate(inputs, body, on_token)
            max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 16
            send({**chunk, "choices": [choice("", "length" if len(ids) >= max_tokens else "stop")]})
            if (body.get("stream_options") or {}).get("include_usage"):
                send({**chunk, "choices": [], "usage": usage(len(ids))})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a Hugging Face model folder")
    ap.add_argument("--served-model-name", help="the model name clients send (default: the folder's name)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    backend = Backend(args.model, args.served_model_name or os.path.basename(os.path.normpath(args.model)))
    server = ThreadingHTTPServer((args.host, args.port), make_handler(backend))
    server.daemon_threads = True
    print(f"serving '{backend.name}' on http://{args.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
