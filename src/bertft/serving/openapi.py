"""The OpenAPI description of the prediction routes, built from the same limits the codecs
enforce, so that a client generated from /openapi.json sends what the server takes: every
request shape, every content type, every status code with its body.
"""

from __future__ import annotations

from typing import Any

from bertft.serving.codecs import CSV, JSON, JSONLINES, PLAIN

NON_BLANK = "\\S"  # a text must hold something other than white space


def _text(limit: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": NON_BLANK}


def _schemas(max_chars: int, max_texts: int, pairs: bool) -> dict[str, Any]:
    """The JSON request shapes. A model reads either single texts or pairs (`pairs`), never
    both: the inputs the schema allows are the ones this model takes."""
    text = _text(max_chars)
    pair = {
        "type": "object",
        "description": "a pair of texts, for a model trained on pairs",
        "properties": {"text": text, "text_pair": text},
        "required": ["text", "text_pair"],
        "additionalProperties": False,
    }
    size = 2 if pairs else 1
    tei_item = {"type": "array", "items": text, "minItems": size, "maxItems": size}
    one = pair if pairs else text
    many = {
        "type": "array",
        "items": {"oneOf": [one, tei_item]},
        "minItems": 1,
        "maxItems": max_texts,
    }
    top_k = {"type": "integer", "minimum": 1, "description": "labels to rank (more: all)"}
    return {
        "BertftText": {
            "type": "object",
            "title": "bertft: one text",
            "properties": {"text": text, "top_k": {**top_k, "default": 1}}
            | ({"text_pair": text} if pairs else {}),
            "required": ["text", "text_pair"] if pairs else ["text"],
            "additionalProperties": False,
        },
        "BertftTexts": {
            "type": "object",
            "title": "bertft: several texts",
            "properties": {"texts": many, "top_k": {**top_k, "default": 1}},
            "required": ["texts"],
            "additionalProperties": False,
        },
        "HuggingFace": {
            "type": "object",
            "title": "Hugging Face inference (Inference API, toolkit, InferenceClient)",
            "properties": {
                "inputs": {"oneOf": [one, many]},
                "parameters": {
                    "type": "object",
                    "properties": {
                        "top_k": {**top_k, "description": "labels to rank (default: all)"},
                        "function_to_apply": {"enum": ["softmax", "sigmoid", "none"]},
                        "truncation": {
                            "oneOf": [
                                {"type": "boolean"},
                                {
                                    "enum": [
                                        "longest_first",
                                        "only_first",
                                        "only_second",
                                        "do_not_truncate",
                                    ]
                                },
                            ]
                        },
                    },
                    "additionalProperties": False,
                },
            },
            "required": ["inputs", "parameters"],
            "additionalProperties": False,
        },
        "TEI": {
            "type": "object",
            "title": "Text Embeddings Inference /predict",
            "properties": {
                "inputs": {"oneOf": [one, many]},
                "truncate": {"type": "boolean", "default": True},
                "raw_scores": {"type": "boolean", "default": False},
                "truncation_direction": {"enum": ["Right", "right"]},
            },
            "required": ["inputs"],
            "additionalProperties": False,
        },
        "BareTexts": {**many, "title": "a JSON array (SageMaker JSONSerializer)"},
    } | ({} if pairs else {"BareText": {**text, "title": "a JSON string (JSONSerializer)"}})


RANKED = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"label": {"type": "string"}, "score": {"type": "number"}},
        "required": ["label", "score"],
    },
}
ANSWER = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "score": {"type": "number"}, "top_k": RANKED},
    "required": ["label", "score"],
}
ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "error_type": {"type": "string"}},
    "required": ["error", "error_type"],
}
EXAMPLES = {
    "bertft": {"value": {"text": "What is the capital of France?", "top_k": 2}},
    "bertft_batch": {"value": {"texts": ["Who wrote Hamlet?", "How far is the moon?"]}},
    "hugging_face": {"value": {"inputs": "Who wrote Hamlet?", "parameters": {"top_k": 2}}},
    "tei": {"value": {"inputs": [["Who wrote Hamlet?"]], "raw_scores": False}},
}


def prediction_operation(max_chars: int, max_texts: int, pairs: bool = False) -> dict[str, Any]:
    """The OpenAPI operation fields of a prediction route: its request body and its answers."""
    schemas = _schemas(max_chars, max_texts, pairs)
    error = {"application/json": {"schema": ERROR}}
    # A body with no text in it (empty, or blank lines only) is refused with 422: the document
    # says so by asking for one character other than white space.
    lines = {"type": "string", "pattern": NON_BLANK, "description": "one input a line"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {"oneOf": list(schemas.values())},
                    "examples": EXAMPLES,
                },
                JSONLINES: {"schema": {**lines, "example": '"Who wrote Hamlet?"\n'}},
                CSV: {
                    "schema": {
                        "type": "string",
                        "pattern": NON_BLANK,
                        "description": "one text (or pair) a row, RFC 4180 quoting, no header; "
                        "blank rows are skipped, a row with more columns than the model reads "
                        "is refused (400)",
                        "example": "Who wrote Hamlet?\n",
                    }
                },
                PLAIN: {"schema": {**lines, "example": "Who wrote Hamlet?\n"}},
            },
        },
        "responses": {
            "200": {
                "description": "One answer per input, laid out as the request's format does "
                "(Accept picks JSON, JSON Lines or CSV).",
                "content": {
                    JSON: {
                        "schema": {
                            "oneOf": [
                                {**ANSWER, "title": "bertft: one text"},
                                {
                                    "type": "object",
                                    "title": "bertft: several texts",
                                    "properties": {
                                        "predictions": {"type": "array", "items": ANSWER}
                                    },
                                    "required": ["predictions"],
                                },
                                {**RANKED, "title": "TEI: one input"},
                                {
                                    "type": "array",
                                    "items": RANKED,
                                    "title": "Hugging Face, TEI batch: one ranked list per input",
                                },
                            ]
                        }
                    },
                    JSONLINES: {
                        "schema": {"type": "string", "description": "one answer a line, in order"}
                    },
                    CSV: {
                        "schema": {"type": "string", "description": "label,score a row, in order"}
                    },
                },
            },
            "400": {
                "description": "The body is not valid JSON, JSON Lines, CSV or UTF-8.",
                "content": error,
            },
            "401": {"description": "No valid API key (only with --api_key).", "content": error},
            "406": {"description": "Accept names no type the server answers in.", "content": error},
            "413": {
                "description": f"Too large: more than {max_texts} inputs, a text over "
                f"{max_chars} characters, or (truncation off) over the model's tokens.",
                "content": error,
            },
            "415": {"description": "A content type other than those above.", "content": error},
            "422": {
                "description": "Not a request shape above, or a value out of range.",
                "content": error,
            },
            "429": {
                "description": "Overloaded: the queue is full (--max_queue) or the request's "
                "deadline passed (--deadline_ms). Retry after Retry-After seconds.",
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                "content": error,
            },
            "503": {
                "description": "The model is still loading (or failed to load).",
                "content": error,
            },
        },
    }
