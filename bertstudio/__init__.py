"""BERT Studio engine: from a spreadsheet of texts and labels to a fine-tuned classifier.

Importing the package is cheap and never imports gradio; heavy modules (torch,
transformers) load when the function that needs them is called.
"""

__version__ = "0.1.0"
