"""report.html, its plots, the model card and TensorBoard logs of a real tiny training run."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import tiny_train_args, topic_frame

from bertft.cli import main
from bertft.metrics import probability_report
from bertft.reporting import plots
from bertft.reporting.report import ReportData, write_report
from bertft.tasks import SingleLabel

pytestmark = pytest.mark.unit

LABELS = ["food", "sports", "weather"]


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """Three topics; 2 epochs so that the model still makes mistakes for the report to show."""
    root = tmp_path_factory.mktemp("report")
    data = root / "topics.csv"
    topic_frame(240).to_csv(data, index=False)
    out = root / "run"
    args = tiny_train_args(tiny_model, data, out, "--epochs", "2", "--report_to", "tensorboard")
    assert main(args) == 0
    return out


class _Page(HTMLParser):
    """Collects what the tests look at; raises on the first unbalanced tag."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []
        self.scripts = 0
        self.external = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if attrs.get(key, "data:").split(":")[0] not in ("data",):
                self.external.append(attrs[key])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.stack == [], f"unclosed tags {page.stack}"
    return page


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.trains
def test_report_is_self_contained_html_with_the_plots_and_every_label(trained):
    page = _parse(trained / "report.html")
    assert page.scripts == 0 and page.external == []  # opens offline, no JS, no CDN
    prefix = "data:image/png;base64,"
    assert len(page.images) >= 4 and all(src.startswith(prefix) for src in page.images)
    sizes = {_png_size(base64.b64decode(src[len(prefix) :])) for src in page.images}
    expected = {(int(w * plots.DPI), int(h * plots.DPI)) for w, h in plots.SIZES.values()}
    assert sizes <= expected and len(sizes) >= 3
    text = " ".join(page.text)
    for label in LABELS:
        assert label in text
    for heading in ("Training curves", "Confusion matrix", "Per class", "Most confident mistakes"):
        assert heading in text
    metrics = json.loads((trained / "metrics.json").read_text())
    assert f"{metrics['validation']['accuracy']:.4f}" in text


@pytest.mark.trains
def test_plots_beside_the_report_are_images_of_the_stated_size(trained):
    import matplotlib.image

    for name in ("training_curves", "confusion_matrix", "per_class", "label_distribution"):
        path = trained / "plots" / f"{name}.png"
        width, height = (int(x * plots.DPI) for x in plots.SIZES[name])
        assert _png_size(path.read_bytes()) == (width, height), name
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[:2] == (height, width)
        # Drawn on: far from a single flat colour.
        assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50, name


@pytest.mark.trains
@pytest.mark.serves
def test_report_renders_in_headless_chromium_with_the_plots_visible(trained, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium); cannot render")
    from PIL import Image

    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,2000",
            f"--screenshot={shot}",
            (trained / "report.html").resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[:2] == (2000, 1200)
    colours = len(np.unique(image.reshape(-1, 3), axis=0))
    ink = (image.min(axis=-1) < 200).mean()  # text, lines, bars: neither white nor light grey
    # The plots' own blue (train bars, loss curve), as rendered: the images did show.
    blue = np.array([int(plots.COLORS[0][i : i + 2], 16) for i in (1, 3, 5)])
    plot_blue = (np.abs(image - blue).sum(axis=-1) < 40).mean()
    # A blank page has one colour, an unstyled one a handful; the plots bring thousands.
    assert colours > 500, colours
    assert ink > 0.04, ink
    assert plot_blue > 0.01, plot_blue


@pytest.mark.trains
@pytest.mark.parametrize(
    ("model_id", "base_model"),
    [
        ("minilm", "sentence-transformers/all-MiniLM-L6-v2"),
        ("mpnet", "sentence-transformers/all-mpnet-base-v2"),
        ("FacebookAI/roberta-base", "FacebookAI/roberta-base"),
    ],
)
def test_the_card_names_the_hub_model_a_bundled_one_is_a_copy_of(trained, model_id, base_model):
    from transformers import AutoConfig

    from bertft.config import DataConfig, TrainConfig
    from bertft.reporting.model_card import card_metadata
    from bertft.tasks import task_from_config

    cfg = TrainConfig(model_id=model_id, data=DataConfig(data="trec"))
    metrics = json.loads((trained / "metrics.json").read_text())
    task = task_from_config(AutoConfig.from_pretrained(trained))
    meta = card_metadata(trained, cfg, metrics, task)
    assert meta["base_model"] == base_model
    assert meta["datasets"] == ["CogComp/trec"]


@pytest.mark.trains
def test_model_card_yaml_parses_and_its_results_match_metrics_json(trained):
    text = (trained / "README.md").read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    metrics = json.loads((trained / "metrics.json").read_text())
    validation = metrics["validation"]
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-classification"
    assert "base_model" not in meta  # a local folder means nothing on the hub
    assert {f"label:{x}" for x in LABELS} <= set(meta["tags"])
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"]["split"] == "validation"
    by_name = {m["name"]: m for m in result["metrics"]}
    assert by_name["accuracy"]["value"] == round(validation["accuracy"], 4)
    assert by_name["macro F1"] == {
        "type": "f1",
        "value": round(validation["f1_macro"], 4),
        "name": "macro F1",
        "args": {"average": "macro"},
    }
    # The markdown results table says the same as metrics.json.
    table = {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in body.splitlines()
        if line.startswith("| ") and line.count("|") == 3
    }
    assert table["accuracy"] == f"{validation['accuracy']:.4f}"
    assert table["macro F1"] == f"{validation['f1_macro']:.4f}"
    assert table["weighted F1"] == f"{validation['f1_weighted']:.4f}"
    for label in LABELS:
        row = validation["per_class"][label]
        assert f"| {label} | {row['precision']:.4f} | {row['recall']:.4f} |" in body
    assert "## Training procedure" in body and "- learning_rate: 0.005" in body


@pytest.mark.trains
def test_metrics_json_keeps_the_run_summary(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["data"]["label_counts"]["train"] == {"food": 64, "sports": 64, "weather": 64}
    assert metrics["data"]["samples"] == {"train": 192, "validation": 48}
    assert metrics["class_weights"] is None
    assert "cpu" in metrics["hardware"]


@pytest.mark.trains
def test_tensorboard_event_files_hold_the_loss(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = list((trained / "runs").glob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file in OUTPUT_DIR/runs"
    acc = EventAccumulator(str(trained / "runs"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "eval/loss", "eval/accuracy", "train/learning_rate"} <= tags
    history = json.loads((trained / "metrics.json").read_text())["history"]
    logged = [round(h["loss"], 4) for h in history if "loss" in h]
    written = [round(e.value, 4) for e in acc.Scalars("train/loss")]
    assert written == logged and len(written) >= 2


@pytest.mark.trains
def test_evaluate_writes_a_report_too(trained, tmp_path):
    data = tmp_path / "holdout.jsonl"
    topic_frame(60, seed=7).to_json(data, orient="records", lines=True)
    assert main(["evaluate", "--model", str(trained), "--data", str(data)]) == 0
    out = trained / "evaluation" / "holdout"
    page = _parse(out / "report.html")
    assert len(page.images) >= 3
    assert "holdout" in " ".join(page.text)
    assert (out / "plots" / "confusion_matrix.png").is_file()
    row = json.loads((out / "predictions.jsonl").read_text().splitlines()[0])
    # The same answer `bertft predict --top_k 3` gives, every label's probability in it.
    probabilities = {d["label"]: d["score"] for d in row["predicted"]["top_k"]}
    assert set(probabilities) == set(LABELS) and row["true"] in LABELS
    assert row["predicted"]["label"] == max(probabilities, key=probabilities.get)
    assert abs(sum(probabilities.values()) - 1) < 1e-4


def test_user_text_and_labels_are_escaped(tmp_path):
    """A text or label holding HTML must show as text, never become markup."""
    names = ["<b>bold</b>", "plain & simple"]
    texts = ['<script>alert("x")</script>', "fine", "<img src=x onerror=alert(1)>", "ok"]
    y_true = [0, 1, 0, 1]
    probs = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]], dtype=np.float32)
    evaluation = probability_report(y_true, probs, names)
    path = write_report(
        tmp_path,
        ReportData(
            title="<i>run</i>",
            task=SingleLabel(names),
            evaluation=evaluation,
            texts=texts,
            labels=[names[i] for i in y_true],
            scores=probs,
            summary=[("data", "<file>.csv")],
        ),
    )
    html = path.read_text()
    assert "<script" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "plain &amp; simple" in html
    page = _parse(path)
    assert page.scripts == 0
    # Both mistakes are listed, the surer one first.
    text = " ".join(page.text)
    assert text.index('<script>alert("x")</script>') < text.index("<img src=x onerror=alert(1)>")


@pytest.mark.trains
def test_mistakes_in_the_training_report_belong_to_their_texts(trained):
    """Validation runs in length order; each listed mistake must carry its own text's
    prediction, as the model gives it for that text alone."""
    import html
    import re

    from bertft.inference.classifier import Classifier

    page = (trained / "report.html").read_text()
    rows = re.findall(
        r'<tr><td class="text">(.*?)</td><td>(.*?)</td><td class="wrong">(.*?)</td>'
        r"<td>([0-9.]+)</td></tr>",
        page,
    )
    assert rows, "the 2-epoch tiny model should still make mistakes"
    clf = Classifier.from_pretrained(trained, precision="fp32")
    for text, _, predicted, score in rows:
        label, p = clf.top_k([html.unescape(text)], 1)[0][0]
        assert label == html.unescape(predicted)
        assert p == pytest.approx(float(score), abs=2e-3)
