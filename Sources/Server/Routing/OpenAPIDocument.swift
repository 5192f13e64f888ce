import Foundation
import Hummingbird
import NIOCore

/// The OpenAPI 3.1 document of Tessera's own API, served at `GET /openapi.json`: every route of
/// ``APIRoutes`` with its request and answer schemas (`OpenAPIDocumentTests` keeps the two lists
/// equal, and the test command runs schemathesis against the served document).
///
/// ```sh
/// curl -s http://127.0.0.1:8000/openapi.json | jq '.paths | keys'
/// ```
enum OpenAPIDocument {
    /// The document with `info.version` set to this build's version and, once the model has loaded,
    /// its name as the one value of `ModelName` and in the examples (the document says `MODEL`).
    static func data(modelName: String?) -> Data {
        let text = modelName.map { name in
            Self.text.replacingOccurrences(of: #""MODEL""#, with: String(decoding: (try? JSONEncoder().encode(name)) ?? Data(), as: UTF8.self))
        } ?? Self.text
        guard var object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              var info = object["info"] as? [String: Any],
              var components = object["components"] as? [String: Any],
              var schemas = components["schemas"] as? [String: Any],
              var nameSchema = schemas["ModelName"] as? [String: Any] else { return Data(text.utf8) }
        info["version"] = TesseraVersion.current
        object["info"] = info
        if let modelName {
            nameSchema["enum"] = [modelName]
            schemas["ModelName"] = nameSchema
            components["schemas"] = schemas
            object["components"] = components
        }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data(text.utf8)
    }

    static func response(modelName: String?) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data(modelName: modelName))))
    }

    static let text = #"""
{
 "openapi": "3.1.0",
 "info": {
  "title": "Tessera",
  "version": "VERSION",
  "description": "Tessera's OpenAI-compatible API with vLLM's extensions. Every route also answers HEAD (for GET) and OPTIONS; an unknown path is a 404 and a known path with another method a 405, both with an error object."
 },
 "paths": {
  "/v1/chat/completions": {"post": \#(operation("createChatCompletion", "Chat completion (OpenAI), text and image input.",
   body: jsonRequest(ref("ChatCompletionRequest"), examples: #"""
    {
     "text": {"value": {"model": "MODEL", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}], "max_tokens": 8, "temperature": 0}},
     "image": {
      "value": {
       "model": "MODEL",
       "max_tokens": 4,
       "messages": [
        {
         "role": "user",
         "content": [
          {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DA8J+BkYHh////DAAe9gT9Ce00PgAAAABJRU5ErkJggg=="}},
          {"type": "text", "text": "What is in this picture?"}
         ]
        }
       ]
      }
     },
     "stream": {"value": {"model": "MODEL", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "stream": true, "stream_options": {"include_usage": true}}},
     "json_schema": {
      "value": {
       "model": "MODEL", "messages": [{"role": "user", "content": "A person"}], "max_tokens": 40,
       "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}}}
      }
     },
     "tools": {
      "value": {
       "model": "MODEL", "messages": [{"role": "user", "content": "Weather in Paris?"}], "max_tokens": 30, "tool_choice": "required",
       "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
      }
     },
     "logprobs": {"value": {"model": "MODEL", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "logprobs": true, "top_logprobs": 2, "seed": 7, "n": 2}}
    }
    """#),
   answers: streamedAnswer("ChatCompletion", streamed: "`chat.completion.chunk` events ending in `data: [DONE]`."), modelRequestErrors))},
  "/v1/completions": {"post": \#(operation("createCompletion", "Text completion (OpenAI).",
   body: jsonRequest(ref("CompletionRequest"), examples: #"""
    {
     "text": {"value": {"model": "MODEL", "prompt": "Once upon a time", "max_tokens": 8, "temperature": 0, "stop": ["."]}},
     "batch": {"value": {"model": "MODEL", "prompt": ["Hello", "World"], "max_tokens": 4}},
     "tokens": {"value": {"model": "MODEL", "prompt": [1, 450, 1483], "max_tokens": 4, "logprobs": 2}},
     "echo": {"value": {"model": "MODEL", "prompt": "Hello there", "max_tokens": 0, "echo": true, "logprobs": 1}},
     "regex": {"value": {"model": "MODEL", "prompt": "Answer:", "max_tokens": 8, "guided_regex": "(yes|no)"}}
    }
    """#),
   answers: streamedAnswer("Completion", streamed: "`text_completion` chunks ending in `data: [DONE]`."), modelRequestErrors))},
  "/v1/responses": {"post": \#(operation("createResponse", "Responses API (OpenAI): text and image input, function tools.",
   body: jsonRequest(ref("ResponsesRequest"), examples: #"""
    {
     "text": {"value": {"model": "MODEL", "input": "Hello", "max_output_tokens": 8, "instructions": "Be brief."}},
     "messages": {"value": {"model": "MODEL", "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}], "max_output_tokens": 4, "stream": true}}
    }
    """#),
   answers: streamedAnswer("Response", streamed: "`response.*` events."), modelRequestErrors))},
  "/v1/models": {"get": \#(operation("listModels", "The served model.", answers: jsonAnswer("A list with the served model.", list(of: ref("Model"))), readErrors))},
  "/v1/models/{model}": {"get": \#(operation("retrieveModel", "The served model by name.",
   parameters: #"[{"name": "model", "in": "path", "required": true, "schema": \#(ref("ModelName")), "description": "The model's name (it may contain `/`)."}]"#,
   answers: jsonAnswer("The model.", ref("Model")), sharedAnswers([(401, "Unauthorized"), (404, "ModelNotFound"), (503, "Unavailable")])))},
  "/v1/images/generations": {"post": \#(operation("createImage",
   "Generate images with the diffusion model of --image-model (OpenAI's images API, with diffusers' arguments as extension fields).",
   body: jsonRequest(#"""
    {
     "type": "object",
     "required": ["prompt"],
     "properties": {
      "model": {"type": "string", "description": "The image model's name (default: it)."},
      "prompt": {"type": "string"},
      "n": {"type": "integer", "minimum": 1, "maximum": 10, "description": "Images; image i uses seed + i."},
      "size": {"type": "string", "description": "WIDTHxHEIGHT (multiples of 8 on SD) or auto."},
      "response_format": {"type": "string", "enum": ["b64_json", "url"], "description": "url is refused: there is no output store."},
      "stream": {"type": "boolean", "description": "SSE progress events per denoising step, then the images."},
      "preview_interval": {"type": "integer", "minimum": 1, "description": "With stream: true, every this many steps (at most num_inference_steps) a progress event carries preview: {b64_json, size}, a PNG of the latents mapped to RGB by linear factors, one pixel per latent pixel (1/8 of the image's size on SD and SDXL)."},
      "quality": {"type": "string", "enum": ["auto"]}, "background": {"type": "string", "enum": ["auto", "opaque"]},
      "output_format": {"type": "string", "enum": ["png"]}, "partial_images": {"type": "integer", "enum": [0]},
      "user": {"type": "string"}, "negative_prompt": {"type": "string"},
      "prompt_2": {"type": "string", "description": "SDXL: the prompt for the second text encoder (default: prompt); a 400 on SD 1.x/2.x."},
      "negative_prompt_2": {"type": "string", "description": "SDXL: the negative prompt for the second text encoder (default: negative_prompt); a 400 on SD 1.x/2.x."},
      "num_inference_steps": {"type": "integer", "minimum": 1}, "guidance_scale": {"type": "number"}, "seed": {"type": "integer", "minimum": 0},
      "scheduler": {"type": "string", "enum": ["ddim", "euler", "euler-a", "dpmpp-2m", "pndm"]},
      "use_karras_sigmas": {"type": "boolean", "description": "Karras sigmas on or off over the folder's scheduler config (diffusers' use_karras_sigmas); true is a 400 unless the scheduler is euler or dpmpp-2m."},
      "timestep_spacing": {"type": "string", "enum": ["leading", "trailing", "linspace"], "description": "diffusers' timestep_spacing over the folder's scheduler config (default: the folder's, else the scheduler's own)."},
      "image": {"type": "string", "description": "Image-to-image: a data: URI (or an allowed URL) of a PNG or JPEG."},
      "strength": {"type": "number", "minimum": 0, "maximum": 1},
      "loras": {
       "type": "array",
       "description": "Registered LoRAs (GET /v1/adapters) applied together, each with its scale; an unknown name is a 404 (`code: adapter_not_found`).",
       "items": \#(closedObject(#""name": {"type": "string"}, "scale": {"type": "number", "description": "Default 1."}"#, required: #""name""#))
      },
      "controlnets": {
       "type": "array",
       "description": "Registered ControlNets (GET /v1/adapters), several forming a MultiControlNet; SD 1.x/2.x and SDXL, text-to-image and image-to-image.",
       "items": \#(closedObject(#"""
        "name": {"type": "string"},
        "image": {"type": "string", "description": "The control image: a data: URI (or an allowed URL) of a PNG or JPEG, at most 4x the pixels of --max-image-pixels."},
        "scale": {"type": "number", "description": "controlnet_conditioning_scale, default 1."},
        "start": {"type": "number", "minimum": 0, "maximum": 1, "description": "control_guidance_start, default 0."},
        "end": {"type": "number", "minimum": 0, "maximum": 1, "description": "control_guidance_end, default 1."}
        """#, required: #""name", "image""#))
      }
     },
     "additionalProperties": false
    }
    """#, examples: #"""
    {
     "text-to-image": {"value": {"prompt": "a red cube", "size": "64x64", "seed": 7, "num_inference_steps": 20}},
     "with-add-ons": {"value": {"prompt": "a red cube", "size": "64x64", "seed": 7, "num_inference_steps": 20, "loras": [{"name": "watercolor", "scale": 0.8}]}}
    }
    """#),
   answers: #"""
    "200": {
     "description": "The images as base64 PNGs, or with stream: true an event stream of image_generation.progress events ({index, step, total, elapsed, preview?}) and image_generation.completed images.",
     "content": {
      "application/json": {
       "schema": {
        "type": "object",
        "required": ["created", "data"],
        "properties": {
         "created": {"type": "integer"},
         "data": {"type": "array", "items": {"type": "object", "required": ["b64_json"], "properties": {"b64_json": {"type": "string"}, "revised_prompt": {"type": "null"}}}},
         "size": {"type": "string"}, "output_format": {"type": "string"}, "background": {"type": "string"}, "quality": {"type": "string"}
        }
       }
      },
      "text/event-stream": {"schema": {"type": "string"}}
     }
    }
    """#,
   #""400": \#(errorAnswer("The request is invalid: malformed JSON, an unknown or unsupported field, a size that is not a multiple of 8, too many steps, an unknown scheduler or timestep_spacing, Karras sigmas on a scheduler without them, an undecodable or oversized image or control image, a bad add-on scale or start/end, or the language model's name."))"#,
   #""404": \#(errorAnswer("The server serves no image model, another name was given (`code: model_not_found`), or a LoRA or ControlNet name is not registered (`code: adapter_not_found`)."))"#,
   sharedAnswers([(401, "Unauthorized"), (413, "BodyTooLarge")]),
   #""503": \#(errorAnswer("The model is loading, the server is draining, or the image queue is full (`Retry-After` says when to come back).", retryAfter: true))"#))},
  "/v1/adapters": {"get": \#(operation("listAdapters",
   "The LoRAs and ControlNets registered for the image model (--lora, --controlnet, --adapter-dir), by the names requests use.",
   answers: jsonAnswer("A list of adapters.", list(of: closedObject(#"""
    "id": {"type": "string", "description": "The name requests give in loras[].name or controlnets[].name."},
    "object": {"const": "adapter"},
    "type": {"type": "string", "enum": ["lora", "controlnet"]},
    "model": {"type": "string", "description": "The image model it applies to."},
    "cached": {"type": "boolean", "description": "Loaded in the in-memory adapter cache now."}
    """#, required: #""id", "object", "type", "model", "cached""#))),
   #""404": \#(errorAnswer("The server serves no image model."))"#, readErrors))},
  "/v1/embeddings": {"post": \#(operation("createEmbedding", "Refused: Tessera serves generative models only.",
   body: jsonRequest(#"{"type": "object"}"#), answers: modelRequestErrors))},
  "/tokenize": {"post": \#(operation("tokenize", "Token ids of a prompt or of chat messages (vLLM).",
   body: jsonRequest(ref("TokenizeRequest"), examples: #"""
    {
     "prompt": {"value": {"model": "MODEL", "prompt": "Hello world", "return_token_strs": true}},
     "messages": {"value": {"messages": [{"role": "user", "content": "Hi"}]}}
    }
    """#),
   answers: jsonAnswer("The tokens.", closedObject(#"""
    "count": {"type": "integer"}, "max_model_len": {"type": "integer"},
    "tokens": {"type": "array", "items": {"type": "integer"}}, "token_strs": {"type": "array", "items": {"type": "string"}}
    """#, required: #""count", "max_model_len", "tokens""#)), modelRequestErrors))},
  "/detokenize": {"post": \#(operation("detokenize", "Text of token ids (vLLM).",
   body: jsonRequest(ref("DetokenizeRequest"), examples: #"{"tokens": {"value": {"model": "MODEL", "tokens": [1, 450, 1483]}}}"#),
   answers: jsonAnswer("The text.", closedObject(#""prompt": {"type": "string"}"#, required: #""prompt""#)), modelRequestErrors))},
  "/tokenizer_info": {"get": \#(operation("tokenizerInfo", "The served tokenizer's settings and chat template (vLLM).",
   answers: jsonAnswer("The tokenizer.", closedObject(#"""
    "tokenizer_class": {"type": "string"}, "model_max_length": {"type": "integer"}, "add_bos_token": {"type": "boolean"},
    "bos_token": {"type": "string"}, "eos_token": {"type": "string"}, "chat_template": {"type": "string"}
    """#, required: #""tokenizer_class", "model_max_length", "add_bos_token""#)), readErrors))},
  "/version": {"get": \#(operation("version", "Tessera's version.",
   answers: jsonAnswer("The version.", closedObject(#""version": {"type": "string"}"#, required: #""version""#)), readErrors))},
  "/health": {"get": \#(operation("health", "Liveness: 200 while the server can serve.",
   answers: #""200": {"description": "The server can serve."}"#, sharedAnswers([(401, "Unauthorized"), (503, "NotReady")])))},
  "/ready": {"get": \#(operation("ready", "Readiness, for probes and load balancers.",
   answers: jsonAnswer("Ready.", closedObject(#""status": {"const": "ready"}"#, required: #""status""#)), sharedAnswers([(401, "Unauthorized"), (503, "NotReady")])))},
  "/metrics": {"get": \#(operation("metrics", "Prometheus text, or OpenMetrics when `Accept` asks for it.",
   answers: #"""
    "200": {
     "description": "Every metric, `tessera:` and `vllm:` names.",
     "content": {"text/plain": {"schema": {"type": "string"}}, "application/openmetrics-text": {"schema": {"type": "string"}}}
    }
    """#, readErrors))},
  "/openapi.json": {"get": \#(operation("openapi", "This document.",
   answers: jsonAnswer("The OpenAPI 3.1 document of Tessera's API.", #"{"type": "object"}"#), sharedAnswers([(401, "Unauthorized")])))}
 },
 "components": {
  "responses": {
   "BodyTooLarge": \#(errorAnswer("The body is larger than `--max-body-size`.")),
   "InvalidRequest": \#(errorAnswer("The request is invalid: malformed JSON, an unknown or unsupported field, a value out of range, or a prompt that does not fit the context (`code: context_length_exceeded`).")),
   "ModelNotFound": \#(errorAnswer("The model named is not the one served (`code: model_not_found`).")),
   "NotReady": \#(errorAnswer("Loading, draining, or a group stage without a live worker; the message says which.")),
   "Unauthorized": \#(errorAnswer("An API key is set (`--api-key`) and the request has none or a wrong one.")),
   "Unavailable": \#(errorAnswer("The model is loading, the server is draining, or its queues are full (`Retry-After` says when to come back).", retryAfter: true))
  },
  "schemas": {
   "ChatCompletionRequest": \#(generationRequest(base: "GenerationParameters", #"""
     "messages": {"type": "array", "items": \#(ref("ChatMessage")), "minItems": 1},
     "max_completion_tokens": {"type": ["integer", "null"], "minimum": 0},
     "logprobs": {"type": ["boolean", "null"]},
     "top_logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
     "tools": {
      "type": ["array", "null"],
      "items": \#(closedObject(#"""
       "type": {"const": "function"},
       "function": \#(closedObject(#""name": {"type": "string"}, "description": {"type": "string"}, "parameters": {"type": "object"}, "strict": {"type": "boolean"}"#, required: #""name""#))
       """#, required: #""type", "function""#))
     },
     "tool_choice": \#(toolChoice(named: closedObject(#"""
      "type": {"const": "function"}, "function": \#(closedObject(#""name": {"type": "string"}"#, required: #""name""#))
      """#, required: #""type", "function""#))),
     "parallel_tool_calls": {"type": ["boolean", "null"]}
     """#, required: #""messages""#)),
   "CompletionRequest": \#(generationRequest(base: "GenerationParameters", #"""
     "prompt": {
      "anyOf": [
       {"type": "string"},
       {"type": "array", "items": {"type": "string"}, "minItems": 1},
       {"type": "array", "items": {"type": "integer"}, "minItems": 1},
       {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "minItems": 1}, "minItems": 1}
      ]
     },
     "logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
     "echo": {"type": ["boolean", "null"]},
     "prompt_logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20}
     """#, required: #""prompt""#)),
   "ResponsesRequest": \#(generationRequest(base: "SamplingParameters", #"""
     "input": {
      "anyOf": [
       {"type": "string"},
       {
        "type": "array",
        "items": {
         "anyOf": [
          \#(closedObject(#"""
           "type": {"const": "message"}, "role": {"enum": ["system", "developer", "user", "assistant"]}, "content": \#(textOrParts("ResponsesInputPart"))
           """#, required: #""role", "content""#)),
          \#(closedObject(#"""
           "type": {"const": "function_call"}, "call_id": {"type": "string"}, "name": {"type": "string"}, "arguments": {"type": "string"},
           "id": {"type": "string"}, "status": {"type": "string"}
           """#, required: #""type", "call_id", "name", "arguments""#)),
          \#(closedObject(#"""
           "type": {"const": "function_call_output"}, "call_id": {"type": "string"}, "output": \#(textOrParts("ResponsesInputPart")),
           "id": {"type": "string"}, "status": {"type": "string"}
           """#, required: #""type", "call_id", "output""#))
         ]
        }
       }
      ]
     },
     "instructions": {"type": ["string", "null"]},
     "max_output_tokens": {"type": ["integer", "null"], "minimum": 1},
     "tools": {
      "type": ["array", "null"],
      "items": \#(closedObject(#"""
       "type": {"const": "function"}, "name": {"type": "string"}, "description": {"type": ["string", "null"]},
       "parameters": {"type": ["object", "null"]}, "strict": {"type": ["boolean", "null"]}
       """#, required: #""type", "name""#))
     },
     "tool_choice": \#(toolChoice(named: closedObject(#""type": {"const": "function"}, "name": {"type": "string"}"#, required: #""type", "name""#))),
     "parallel_tool_calls": {"type": ["boolean", "null"]},
     "text": {"type": ["object", "null"], "properties": {"format": \#(ref("ResponseFormat"))}, "additionalProperties": false}
     """#, required: #""input""#)),
   "GenerationParameters": {
    "type": "object",
    "description": "The parameters chat and completion requests share: the sampling parameters, length, penalties, stops, structured outputs and scheduling.",
    "allOf": [\#(ref("SamplingParameters"))],
    "properties": {
     "max_tokens": {"type": ["integer", "null"], "minimum": 0},
     "top_k": {"type": ["integer", "null"], "description": "0 or -1 disables top-k (vLLM)."},
     "min_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
     "presence_penalty": {"type": ["number", "null"], "minimum": -2, "maximum": 2},
     "frequency_penalty": {"type": ["number", "null"], "minimum": -2, "maximum": 2},
     "n": {"type": ["integer", "null"], "minimum": 1},
     "stream_options": {"type": ["object", "null"], "properties": {"include_usage": {"type": ["boolean", "null"]}}, "additionalProperties": false},
     "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 4}, {"type": "null"}]},
     "slo_class": {
      "type": ["string", "null"],
      "description": "A latency class (`interactive`, `standard`, `batch` unless `--slo-class` defines others)."
     },
     "ignore_eos": {"type": ["boolean", "null"]},
     "user": {"type": ["string", "null"]},
     "metadata": {"type": ["object", "null"]},
     "store": {"type": ["boolean", "null"]},
     "response_format": {"anyOf": [\#(ref("ResponseFormat")), {"type": "null"}]},
     "logit_bias": {
      "type": ["object", "null"],
      "additionalProperties": {"type": "number", "minimum": -100, "maximum": 100},
      "description": "Token id (as a string) \u2192 bias added to its logit."
     },
     "guided_json": {"anyOf": [{"type": "object"}, {"type": "string"}, {"type": "null"}]},
     "guided_regex": {"type": ["string", "null"]},
     "guided_choice": {"type": ["array", "null"], "items": {"type": "string"}},
     "guided_grammar": {"type": ["string", "null"]}
    }
   },
   "SamplingParameters": {
    "type": "object",
    "description": "The sampling parameters every generation request takes (chat, completion and responses).",
    "properties": {
     "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
     "top_p": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
     "seed": {"type": ["integer", "null"]}
    }
   },
   "ChatMessage": \#(closedObject(#"""
    "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
    "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": \#(ref("ContentPart"))}, {"type": "null"}]},
    "name": {"type": ["string", "null"]},
    "tool_calls": {"type": ["array", "null"], "items": \#(ref("ToolCall"))},
    "tool_call_id": {"type": ["string", "null"]}
    """#, required: #""role""#)),
   "ContentPart": {
    "oneOf": [
     \#(closedObject(#""type": {"const": "text"}, "text": {"type": "string"}"#, required: #""type", "text""#)),
     \#(closedObject(#"""
      "type": {"const": "image_url"},
      "image_url": {"anyOf": [\#(closedObject(#""url": {"type": "string"}, "detail": {"type": "string"}"#, required: #""url""#)), {"type": "string"}]}
      """#, required: #""type", "image_url""#))
    ]
   },
   "ResponsesInputPart": {
    "oneOf": [
     \#(closedObject(#""type": {"enum": ["input_text", "output_text"]}, "text": {"type": "string"}"#, required: #""type", "text""#)),
     \#(closedObject(#""type": {"const": "input_image"}, "image_url": {"type": "string"}, "detail": {"type": "string"}"#, required: #""type", "image_url""#))
    ]
   },
   "ToolCall": {
    "type": "object",
    "properties": {
     "id": {"type": "string"},
     "type": {"const": "function"},
     "function": \#(closedObject(#""name": {"type": "string"}, "arguments": {"type": "string"}"#, required: #""name", "arguments""#))
    },
    "required": ["id", "type", "function"]
   },
   "ResponseFormat": {
    "oneOf": [
     \#(closedObject(#""type": {"enum": ["text", "json_object"]}"#, required: #""type""#)),
     \#(closedObject(#""type": {"const": "json_schema"}, "json_schema": \#(closedObject(jsonSchemaMembers, required: #""name""#))"#, required: #""type", "json_schema""#)),
     \#(closedObject(#""type": {"const": "json_schema"}, \#(jsonSchemaMembers)"#, required: #""type", "name""#))
    ]
   },
   "TokenizeRequest": {
    "type": "object",
    "properties": {
     "model": \#(ref("ModelName")),
     "prompt": {"type": "string"},
     "messages": {"type": "array", "items": \#(ref("ChatMessage"))},
     "add_special_tokens": {"type": "boolean"},
     "return_token_strs": {"type": "boolean"}
    },
    "additionalProperties": false,
    "oneOf": [{"required": ["prompt"], "not": {"required": ["messages"]}}, {"required": ["messages"], "not": {"required": ["prompt"]}}]
   },
   "DetokenizeRequest": \#(closedObject(#""model": \#(ref("ModelName")), "tokens": {"type": "array", "items": {"type": "integer"}}"#, required: #""tokens""#)),
   "ChatCompletion": \#(completionObject("chat.completion", choice: #"""
    "index": {"type": "integer"}, "finish_reason": \#(ref("FinishReason")), "logprobs": {"type": ["object", "null"]},
    "message": {
     "type": "object",
     "properties": {
      "role": {"const": "assistant"}, "content": {"type": ["string", "null"]}, "refusal": {"type": "null"},
      "tool_calls": {"type": "array", "items": \#(ref("ToolCall"))}
     },
     "required": ["role", "content"]
    }
    """#, choiceRequired: #""index", "message", "finish_reason""#)),
   "Completion": \#(completionObject("text_completion", choice: #"""
    "index": {"type": "integer"}, "text": {"type": "string"}, "finish_reason": \#(ref("FinishReason")),
    "logprobs": {"type": ["object", "null"]}, "prompt_logprobs": {"type": ["array", "null"]}
    """#, choiceRequired: #""index", "text", "finish_reason""#)),
   "Response": {
    "type": "object",
    "properties": {
     "id": {"type": "string"}, "object": {"const": "response"}, "created_at": {"type": "integer"}, "model": {"type": "string"},
     "status": {"enum": ["completed", "incomplete", "in_progress"]},
     "output": {"type": "array", "items": {"type": "object"}}, "output_text": {"type": "string"}, "usage": {"type": ["object", "null"]}
    },
    "required": ["id", "object", "status", "output"]
   },
   "Usage": {
    "type": "object",
    "properties": {
     "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"},
     "prompt_tokens_details": {"type": "object", "properties": {"cached_tokens": {"type": "integer"}}}
    },
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"]
   },
   "FinishReason": {"anyOf": [{"enum": ["stop", "length", "tool_calls"]}, {"type": "null"}]},
   "Model": {
    "type": "object",
    "properties": {
     "id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"}, "owned_by": {"type": "string"},
     "root": {"type": "string"}, "max_model_len": {"type": "integer"}
    },
    "required": ["id", "object", "created", "owned_by"]
   },
   "ErrorResponse": {
    "type": "object",
    "properties": {
     "error": {
      "type": "object",
      "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": ["string", "null"]}, "code": {"type": ["string", "integer", "null"]}},
      "required": ["message", "type"]
     }
    },
    "required": ["error"]
   },
   "ServerSentEvent": {
    "type": "object",
    "properties": {
     "event": {"type": "string"}, "data": {"type": "string", "description": "A JSON chunk, or `[DONE]` last."},
     "id": {"type": "string"}, "retry": {"type": "integer"}
    },
    "required": ["data"],
    "description": "One event of a streamed answer."
   },
   "ModelName": {
    "type": "string",
    "description": "The served model's name (`--served-model-name`, else the model folder's name); the served document lists it as the one value."
   }
  }
 }
}
"""#
}
