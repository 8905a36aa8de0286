"""The Hugging Face export: a folder ``transformers.pipeline`` loads as is, and its optional push to the Hub.

The token for the Hub is read from an environment variable at push time only; it
is never printed, logged or written to disk, and never appears in an error message.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Sequence

from bertstudio.errors import ConfigError, ModelError
from bertstudio.models.pooling import folder_class, save_classifier
from bertstudio.models.sources import _hub_endpoint, _offline_mode, hub_reachable
from bertstudio.results import Preprocessing

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def set_label_maps(model, label_names: Sequence[str]) -> None:
    """id2label/label2id in the config, so the pipeline names the classes as the user did."""
    model.config.id2label = dict(enumerate(label_names))
    model.config.label2id = {name: i for i, name in enumerate(label_names)}


def save_tokenizer(tokenizer, target: Path, prep: Preprocessing) -> None:
    """The tokenizer files, with model_max_length set to training's max_length.

    ``pipeline(..., truncation=True)`` then cuts texts exactly as training did.
    """
    tokenizer.save_pretrained(target)
    config_file = target / "tokenizer_config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
        config["model_max_length"] = prep.max_length
        if "max_length" in config:
            config["max_length"] = prep.max_length
        config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def export_hf(model, tokenizer, prep: Preprocessing, target: Path) -> None:
    set_label_maps(model, prep.label_names)
    save_classifier(model, target)
    save_tokenizer(tokenizer, target, prep)


def folder_pipeline(folder: Path, **options):
    """``transformers.pipeline("text-classification")`` over an exported folder, as a user would open it.

    A model that pools another way runs the code BERT Studio saved beside its weights (pooled_modeling.py), so
    only such a folder is opened with ``trust_remote_code``."""
    from transformers import pipeline

    return pipeline("text-classification", model=str(folder), device="cpu",
                    trust_remote_code=folder_class(folder) is not None, **options)


def pipeline_inputs(texts: Sequence[str], pairs: Sequence[str] | None) -> list:
    return [{"text": t, "text_pair": p} for t, p in zip(texts, pairs)] if pairs is not None else list(texts)


def pipeline_labels(folder: Path, texts: Sequence[str], pairs: Sequence[str] | None,
                    batch_size: int = 32) -> list[str]:
    """Labels that ``transformers.pipeline("text-classification", model=folder)`` predicts."""
    pipe = folder_pipeline(folder)
    return [out["label"] for out in pipe(pipeline_inputs(texts, pairs), truncation=True, batch_size=batch_size)]


def _read_token(token_env: str) -> str:
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise ConfigError(f"No Hugging Face token in the environment variable {token_env}.",
                          hint=f"Create a write token at huggingface.co/settings/tokens and set it: "
                               f"export {token_env}=hf_... (it is never saved or shown).")
    return token


def push_to_hub(folder: Path, repo_id: str, *, token_env: str = "HF_TOKEN", private: bool = True,
                token: str | None = None) -> str:
    """Upload an hf export folder to ``repo_id`` (private unless told otherwise); returns the repo's URL.

    ``token``: typed by the person (the app's password box); otherwise read from ``token_env``.  Either way it
    is used for this upload only.
    """

    if not REPO_ID.match(repo_id):
        raise ConfigError(f"'{repo_id}' is not a Hugging Face repository name.",
                          hint="Write it as your-user-name/model-name.")
    token = (token or "").strip() or _read_token(token_env)
    if _offline_mode() or not hub_reachable():
        raise ModelError("Cannot reach the Hugging Face Hub, so the model was not uploaded.",
                         hint=f"The export itself is saved in {folder}. Connect to the internet "
                              "(and unset HF_HUB_OFFLINE) and run the export again with --push-to-hub.")
    from huggingface_hub import HfApi

    # The endpoint is read now, not when huggingface_hub was imported, so HF_ENDPOINT (a mirror, a test server)
    # applies to a process that is already running.
    api = HfApi(endpoint=_hub_endpoint(), token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="Upload from BERT Studio")
    except Exception as exc:  # the hub client raises many kinds; none may leak the token
        detail = str(exc).replace(token, "***").splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"Uploading to {repo_id} failed: {detail}",
                         hint="Check that the token can write to this repository.") from None
    return str(url)
