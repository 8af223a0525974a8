"""Inference: a trained model answering texts, in memory, over a file, or exported.

The user-facing `Classifier` with its PyTorch and ONNX Runtime backends (`classifier`),
resumable labelling of a file in chunks (`predict_file`) and ONNX export with its
equivalence gates (`export`). Import the modules themselves: this package re-exports
nothing, so that importing one stage never pulls in another.
"""
