"""The client formats of `bertft serve` against a real server subprocess: bertft's JSON, the
Hugging Face inference format, TEI's, JSON Lines, CSV and plain text; every content type and
Accept; the bodies the SageMaker SDK's serializers send; an OpenAPI document that tells the
truth."""

from __future__ import annotations

import csv
import io
import json

import httpx
import jsonschema
import numpy as np
import pytest
from serve_helpers import running_server

from bertft.inference.classifier import Classifier

pytestmark = [pytest.mark.subprocess, pytest.mark.serves]

TEXTS = ["goal team win", "rain snow storm", "cheese bread soup", "the match and a cold wind"]
LIMITS = ["--max_text_chars", "200", "--max_batch_texts", "8"]
LABELS = ["food", "sports", "weather"]


@pytest.fixture(scope="module")
def server(tiny_trained):
    with running_server(tiny_trained, *LIMITS) as url:
        yield url


@pytest.fixture(scope="module")
def reference(tiny_trained):
    return Classifier.from_pretrained(tiny_trained)


def post(url: str, body, content_type="application/json", accept=None, path="/invocations"):
    headers = {"content-type": content_type}
    if accept:
        headers["accept"] = accept
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(url + path, content=content, headers=headers)


def ranked_by_reference(reference, text: str, scores=None) -> list[tuple[str, float]]:
    row = reference.predict_proba([text])[0] if scores is None else scores
    order = np.argsort(-row, kind="stable")
    return [(reference.labels[j], float(row[j])) for j in order]


def assert_ranked(got: list[dict], want: list[tuple[str, float]]) -> None:
    assert [g["label"] for g in got] == [label for label, _ in want]
    assert [g["score"] for g in got] == pytest.approx([s for _, s in want], abs=1e-5)


def test_hugging_face_format_one_list_per_input(server, reference):
    for path in ("/predict", "/invocations", "/"):
        reply = post(server, {"inputs": TEXTS[1], "parameters": {"top_k": 2}}, path=path)
        assert reply.status_code == 200
        [one] = reply.json()  # one input, one list: what the Inference API answers
        assert_ranked(one, ranked_by_reference(reference, TEXTS[1])[:2])
    many = post(server, {"inputs": TEXTS, "parameters": {}}).json()
    assert len(many) == len(TEXTS)
    for got, text in zip(many, TEXTS, strict=True):
        assert_ranked(got, ranked_by_reference(reference, text))  # every label by default


def test_function_to_apply_and_raw_scores_give_the_logits_or_sigmoid(server, reference):
    logits = reference.predict_logits(TEXTS[:1])[0]
    none = post(server, {"inputs": TEXTS[0], "parameters": {"function_to_apply": "none"}})
    assert_ranked(none.json()[0], ranked_by_reference(reference, TEXTS[0], logits))
    sigmoid = 1 / (1 + np.exp(-logits))
    got = post(server, {"inputs": TEXTS[0], "parameters": {"function_to_apply": "sigmoid"}})
    assert_ranked(got.json()[0], ranked_by_reference(reference, TEXTS[0], sigmoid))
    raw = post(server, {"inputs": [[TEXTS[0]]], "raw_scores": True}).json()
    assert_ranked(raw[0], ranked_by_reference(reference, TEXTS[0], logits))


def test_tei_format(server, reference):
    one = post(server, {"inputs": TEXTS[2]}, path="/predict").json()
    assert_ranked(one, ranked_by_reference(reference, TEXTS[2]))  # one input: a flat list
    nested = post(server, {"inputs": [[t] for t in TEXTS], "truncate": True}).json()
    flat = post(server, {"inputs": TEXTS}).json()  # a flat list of texts is a batch here
    assert nested == flat and len(flat) == len(TEXTS)
    assert [r[0]["label"] for r in flat] == reference.predict(TEXTS)


def test_a_pair_to_a_one_text_model_is_refused(server):
    for body in (
        {"text": "goal", "text_pair": "rain"},
        {"inputs": {"text": "goal", "text_pair": "rain"}},
        {"inputs": [["goal", "rain"]]},
    ):
        reply = post(server, body)
        assert reply.status_code == 422 and "this model reads one text" in reply.json()["error"]


def test_json_lines_one_answer_a_line_in_order(server, reference):
    body = "\n".join(
        [json.dumps(TEXTS[0]), json.dumps({"text": TEXTS[1]}), "", json.dumps({"inputs": TEXTS[2]})]
        + [json.dumps([TEXTS[3]])]
    )
    reply = post(server, body, "application/jsonlines")
    assert reply.headers["content-type"].startswith("application/jsonlines")
    lines = [json.loads(line) for line in reply.text.splitlines()]
    assert [a["label"] for a in lines] == reference.predict(TEXTS)
    as_json = post(server, body, "application/jsonlines", accept="application/json").json()
    assert [a["label"] for a in as_json["predictions"]] == reference.predict(TEXTS)
    bad = post(server, '"goal"\n{"text": ', "application/jsonlines")
    assert bad.status_code == 400 and "line 2 is not valid JSON" in bad.json()["error"]
    extra = post(server, '{"inputs": "goal", "parameters": {}}', "application/jsonlines")
    assert extra.status_code == 422 and "line 1: unknown field(s) parameters" in extra.text


def test_csv_one_text_a_row_and_answers_by_accept(server, reference):
    texts = [*TEXTS, "rain, snow and wind"]  # a comma: quoted by any CSV writer
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[t] for t in texts])
    reply = post(server, buffer.getvalue(), "text/csv")
    assert reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert [r[0] for r in rows] == reference.predict(texts)
    want = reference.predict_proba(texts).max(axis=1)
    assert [float(r[1]) for r in rows] == pytest.approx(want.tolist(), abs=1e-5)
    lines = post(server, buffer.getvalue(), "text/csv", accept="application/jsonlines").text
    assert [json.loads(x)["label"] for x in lines.splitlines()] == reference.predict(texts)
    unquoted = post(server, "goal\nrain, snow\n", "text/csv")
    assert unquoted.status_code == 400
    assert "row 2 has 2 columns" in unquoted.json()["error"]


def test_json_request_answered_as_csv_or_json_lines(server, reference):
    body = {"texts": TEXTS, "top_k": 2}
    as_csv = post(server, body, accept="text/csv").text
    rows = list(csv.reader(io.StringIO(as_csv)))
    want = reference.top_k(TEXTS, k=2)
    assert [[r[0], r[2]] for r in rows] == [[w[0][0], w[1][0]] for w in want]
    as_lines = post(server, body, accept="application/jsonlines, */*").text.splitlines()
    assert [json.loads(x)["top_k"][1]["label"] for x in as_lines] == [w[1][0] for w in want]
    default = post(server, body, accept="*/*").json()  # anything: the request's own type
    assert [p["label"] for p in default["predictions"]] == reference.predict(TEXTS)
    refused = post(server, body, accept="application/xml")
    assert refused.status_code == 406 and "text/csv" in refused.json()["error"]


def test_plain_text_one_text_a_line(server, reference):
    reply = post(server, "\n".join(TEXTS) + "\n", "text/plain; charset=utf-8")
    assert [p["label"] for p in reply.json()["predictions"]] == reference.predict(TEXTS)


def test_unsupported_content_type_is_415(server):
    for path in ("/invocations", "/predict"):
        reply = post(server, b"<texts/>", "application/xml", path=path)
        assert reply.status_code == 415
        assert reply.json()["error_type"] == "unsupported_media_type"
        assert "application/jsonlines" in reply.json()["error"]


def test_sagemaker_sdk_serializer_bodies(server, reference):
    """The exact bodies sagemaker's serializers send (sagemaker-core 2.x,
    serializers/base.py; the SDK itself is not installed: it needs a newer boto3 and a dozen
    packages the project has no other use for)."""
    labels = reference.predict(TEXTS[:2])
    bodies = [
        # JSONSerializer().serialize(TEXTS[:2]) and .serialize({"inputs": ...}): json.dumps
        (
            "application/json",
            json.dumps(TEXTS[:2]),
            lambda r: [p["label"] for p in r.json()["predictions"]],
        ),
        (
            "application/json",
            json.dumps({"inputs": TEXTS[0]}),
            lambda r: [r.json()[0]["label"]] + labels[1:],
        ),
        # CSVSerializer().serialize(TEXTS[:2]): one string a line, unquoted
        (
            "text/csv",
            "\n".join(TEXTS[:2]),
            lambda r: [row.split(",")[0] for row in r.text.splitlines()],
        ),
        # JSONLinesSerializer().serialize([{"text": a}, b]): json.dumps per element, "\n"-joined
        (
            "application/jsonlines",
            "\n".join(json.dumps(e) for e in [{"text": TEXTS[0]}, TEXTS[1]]),
            lambda r: [json.loads(x)["label"] for x in r.text.splitlines()],
        ),
    ]
    for content_type, body, labels_of in bodies:
        reply = post(server, body, content_type)
        assert reply.status_code == 200, reply.text
        assert labels_of(reply) == labels
    # JSONSerializer().serialize(TEXTS[0]): a bare JSON string
    assert post(server, json.dumps(TEXTS[0])).json()["label"] == labels[0]
    # CSVSerializer().serialize([["rain, snow"]]): a row, quoted
    assert post(server, '"rain, snow"', "text/csv").status_code == 200


def test_truncation_off_refuses_what_the_model_would_cut(server):
    long = "a " * 99  # 99 tokens; the tiny model reads 64 with [CLS] and [SEP], so 62 of a text
    cut = post(server, {"inputs": long, "parameters": {}})
    assert cut.status_code == 200
    for body in (
        {"inputs": long, "parameters": {"truncation": False}},
        {"inputs": long, "truncate": False},
    ):
        refused = post(server, body)
        assert refused.status_code == 413
        assert "is 99 tokens long" in refused.json()["error"]
        assert "at most 62 (64 with its special tokens)" in refused.json()["error"]


def test_truncation_off_states_the_limit_in_the_length_units(server):
    """63 tokens is refused by a 64-token window: the message's limit must be below 63."""
    fits = post(server, {"inputs": "a " * 62, "truncate": False})
    assert fits.status_code == 200, fits.text
    refused = post(server, {"inputs": "a " * 63, "truncate": False})
    assert refused.status_code == 413
    error = refused.json()["error"]
    assert "is 63 tokens long (special tokens not counted)" in error
    assert "reads at most 62 (64 with its special tokens)" in error


SCHEMA_PROBES = [
    {},
    {"text": "rain"},
    {"text": "   "},
    {"text": "rain", "top_k": 9},
    {"text": "rain", "top_k": 0},
    {"text": "rain", "lang": "en"},
    {"text": "a" * 201},
    {"texts": []},
    {"texts": ["rain", ["goal"]]},
    {"texts": ["rain"] * 9},
    {"top_k": 1},
    {"text": "rain", "texts": ["goal"]},
    {"inputs": "rain", "parameters": {"top_k": 5, "function_to_apply": "sigmoid"}},
    {"inputs": "rain", "parameters": {"temperature": 1}},
    {"inputs": ["rain", "goal"], "parameters": {"truncation": "only_first"}},
    {"inputs": "rain"},
    {"inputs": [["rain"], ["goal"]], "raw_scores": True},
    {"inputs": {"text": "rain", "text_pair": "goal"}},
    {"inputs": "rain", "raw_scores": "yes"},
    "rain",
    ["rain", "goal"],
    [],
    5,
]


def test_openapi_valid_requests_are_accepted_and_invalid_ones_refused(server):
    document = httpx.get(server + "/openapi.json").json()
    operation = document["paths"]["/predict"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"200", "400", "401", "406", "413", "415", "422", "429", "503"} <= set(
        operation["responses"]
    )
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    validator = jsonschema.Draft202012Validator(schema)
    outcomes = []
    for body in SCHEMA_PROBES:
        valid = validator.is_valid(body)
        status = post(server, json.dumps(body), path="/predict").status_code
        outcomes.append((json.dumps(body)[:40], valid, status))
        assert (status == 200) == valid, outcomes[-1]
    assert sum(valid for _, valid, _ in outcomes) >= 8  # not a schema that refuses everything
    for name, example in operation["requestBody"]["content"]["application/json"][
        "examples"
    ].items():
        assert validator.is_valid(example["value"]), name
        assert post(server, example["value"], path="/predict").status_code == 200, name
