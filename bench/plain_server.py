"""The baseline: a FastAPI endpoint over `transformers.pipeline`, written the way its tutorials
write it: one pipeline call per request, in FastAPI's thread pool, no batching.

    MODEL_DIR=runs/trec uvicorn plain_server:app --app-dir bench --port 8000
"""

import os

from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline

app = FastAPI()
classifier = pipeline("text-classification", model=os.environ["MODEL_DIR"])


class Request(BaseModel):
    text: str


@app.post("/predict")
def predict(request: Request):
    return classifier(request.text)[0]


@app.get("/health")
def health():
    return {"status": "ok"}
