"""Export a trained model: Hugging Face folder, ONNX, ONNX INT8 and TorchScript, each checked for parity.

``export_run(run_dir, "all", out_dir)`` is the entry point; importing this package is cheap
(torch, onnx and transformers load when an export runs).
"""
