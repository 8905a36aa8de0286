"""Latency benchmark: how fast each model runs with each backend (PyTorch fp32/bf16, ONNX Runtime fp32/INT8).

Importing this package is cheap (no torch, no onnxruntime): those load when a benchmark runs.

* :mod:`.timing`: percentiles, throughput, the adaptive repetition loop (pure).
* :mod:`.models`: what to time (registry model, bundled model, run or export folder).
* :mod:`.backends`: the four backends (the prediction backends, with timing on top), and the cached ONNX export.
* :mod:`.plan`: what to measure (models, backends, shapes, threads) and its validation.
* :mod:`.cells`: one cell timed, measured again while the machine was disturbed, and made a table row.
* :mod:`.parity`: whether each backend gives PyTorch fp32's answers on real texts.
* :mod:`.runner`: the grid, with progress and a stop button.
* :mod:`.job`: the benchmark as a background job for the app, and the snapshot its page draws.
* :mod:`.report`: JSON, markdown table, headline sentence, recommended backend (pure).
* :mod:`.chart`: the grouped bar chart (plotly).
"""
