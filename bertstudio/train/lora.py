"""LoRA (Hu et al. 2021) through ``peft``: small trainable matrices beside the frozen encoder's own, plus a fully
trained classifier head.

The adapters are injected into the model in place (``peft.inject_adapter_in_model``), so the loop, checkpoints and
the best-weights copy see an ordinary classifier with a few extra parameters.  When the run's model is saved the
adapters are first written on their own (``adapter/``, a folder ``peft.PeftModel.from_pretrained`` loads, with the
head) and then merged into the weights: the saved model is a plain classifier, so every export format, ``predict``
and ``transformers.pipeline`` work unchanged and run as fast as a fully fine-tuned one.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from bertstudio.errors import ConfigError
from bertstudio.models import pooled_modeling
from bertstudio.models.pooled_modeling import CLASS_NAMES, POOLING_KEY
from bertstudio.models.pooling import POOLING_IN_WORDS, folder_class, model_pooling, pooled_class
from bertstudio.runs import atomic_directory

# Which linear layers of one transformer block LoRA adapts, by family (their module names differ), as regular
# expressions peft matches against the full module name, so BERT's pooler (also named "dense") is never adapted.
_ATTENTION = {"bert": r".*encoder\.layer\.\d+\.attention\.self\.(query|value)",
              "distilbert": r".*transformer\.layer\.\d+\.attention\.(q_lin|v_lin)"}
_EVERY_LINEAR = {"bert": r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense"
                         r"|intermediate\.dense|output\.dense)",
                 "distilbert": r".*transformer\.layer\.\d+\.(attention\.(q_lin|k_lin|v_lin|out_lin)|ffn\.(lin1|lin2))"}
# The head modules trained in full (and saved with the adapter): new weights, with no pre-trained values to keep.
HEAD_MODULES = {"bert": ("classifier", "pooler"), "distilbert": ("pre_classifier", "classifier")}
# Below this hidden size (the bundled 384-wide MiniLM, 256-wide small BERTs) every linear layer of a block gets an
# adapter: a small model has little spare capacity, and adapting query and value alone (LoRA's own default, enough
# for BERT-base and larger) leaves it too little to learn with.
SMALL_HIDDEN = 512


@dataclass(frozen=True)
class LoraChoice:
    rank: int
    targets: str  # the regular expression of adapted module names
    describe: str  # in words, for the plan and the model card


def lora_targets(model_type: str, hidden: int) -> tuple[str, str]:
    """(module-name pattern, what it covers in words) for a model of this family and width."""
    if model_type not in _ATTENTION:
        raise ConfigError(
            f"LoRA cannot be applied to this {model_type or 'unknown'} model: BERT Studio knows where the attention "
            "layers of BERT and DistilBERT models are, not of this architecture.",
            "Turn LoRA off (lora_rank 0) and use full fine-tuning or the head-only preset, or pick a BERT or "
            "DistilBERT model.")
    if hidden < SMALL_HIDDEN:
        return _EVERY_LINEAR[model_type], "every linear layer of each block (attention and feed-forward)"
    return _ATTENTION[model_type], "the query and value projections of each attention layer"


def add_lora(model, rank: int) -> LoraChoice:
    """Inject rank-``rank`` adapters into ``model`` (in place); a clear error when its layers cannot be targeted."""
    from peft import LoraConfig, inject_adapter_in_model

    config = model.config
    hidden = getattr(config, "hidden_size", None) or getattr(config, "dim", 0)
    targets, covered = lora_targets(config.model_type, hidden)
    # alpha = 2 x rank: the adapters' updates are scaled by alpha / rank = 2 whatever the rank, so the learning
    # rate that suits one rank suits the others.
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.1, target_modules=targets, task_type="SEQ_CLS",
                      modules_to_save=list(HEAD_MODULES[config.model_type]))
    try:
        # Injected without modules_to_save: the head is trained in place (see ``trainable``) and saved beside the
        # adapters by ``save_adapter``; the config still names it, so peft's own loader restores it.
        inject_adapter_in_model(dataclasses.replace(lora, modules_to_save=None), model)
    except ValueError as exc:  # peft found none of the target modules
        raise ConfigError(f"LoRA found no layer to adapt in this {config.model_type} model ({exc}).",
                          "Turn LoRA off (lora_rank 0) for this model.") from None
    model.bertstudio_lora = lora
    return LoraChoice(rank, targets, covered)


def has_lora(model) -> bool:
    return getattr(model, "bertstudio_lora", None) is not None


def is_lora_parameter(name: str) -> bool:
    return ".lora_" in name


def base_class(model) -> type | None:
    """The pooled class that rebuilds ``model``'s base for its adapters; None where the family's plain class does.

    Needed for a classifier trained on another pooling than its family's own (the plain class would read [CLS]
    through the pooler and predict other labels without a word), and for a base that is itself a pooled BERT
    Studio folder (transformers opens that only with its own code)."""
    config = model.config
    pooled = pooled_class(config.model_type, model_pooling(config))
    base = getattr(config, "_name_or_path", "")
    if pooled is None and base and folder_class(Path(base)) is not None:
        pooled = getattr(pooled_modeling, CLASS_NAMES[config.model_type])
    return pooled


def adapter_card(model, folder: Path, pooled: type | None) -> str:
    """The adapter folder's README: the merged ``model/`` is what to use, and the code that applies the adapters
    with peft (run as written in a test); ``pooled``: ``base_class(model)``."""
    config = model.config
    base = getattr(config, "_name_or_path", "") or "<the base model's folder or Hub name>"
    pooling = model_pooling(config)
    where = f"adapters = {str(folder)!r}  # this folder, where it was saved: change it if the run folder moves\n"
    if pooled is None:
        load = ("from peft import PeftModel\nfrom transformers import AutoModelForSequenceClassification\n\n" + where +
                f"base = AutoModelForSequenceClassification.from_pretrained({base!r}, "
                f"num_labels={config.num_labels})\n")
        warning = ""
    else:
        # A pooled base folder's own config class is in its own code: reading it needs trust_remote_code.
        trust = ", trust_remote_code=True" if folder_class(Path(base)) is not None else ""
        load = ("import sys\n\nfrom peft import PeftModel\nfrom transformers import AutoConfig\n\n" + where +
                "sys.path.insert(0, adapters)  # pooled_modeling.py, saved beside the adapters\n"
                f"from pooled_modeling import {pooled.__name__}\n\n"
                f"config = AutoConfig.from_pretrained({base!r}, num_labels={config.num_labels}{trust})\n"
                f"config.{POOLING_KEY} = {pooling!r}\n"
                f"base = {pooled.__name__}.from_pretrained({base!r}, config=config)\n")
        warning = (f"\nThis classifier reads a text as {POOLING_IN_WORDS[pooling]} (`{pooling}` pooling): build the "
                   f"base with `{pooled.__name__}` as below, not with the plain `AutoModelForSequenceClassification`, "
                   "or its predictions will be wrong without any error.\n")
    return ("# LoRA adapters of a BERT Studio run\n\n"
            "`../model/` holds the same classifier with these adapters merged into its weights: `bertstudio "
            "predict`, every export and `transformers.pipeline` use that folder. This one keeps the adapters and the "
            "trained head on their own, for peft.\n" + warning +
            f"\n```python\n{load}model = PeftModel.from_pretrained(base, adapters).eval()\n```\n\n"
            "Label names: `id2label` in `../model/config.json`.\n")


def save_adapter(model, target: Path, is_head_parameter) -> Path:
    """The adapters and the head as a peft adapter folder (adapter_config.json + adapter_model.safetensors), with
    a README that says how to load them (and, for a pooled classifier, the class that pools as it was trained)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = {f"base_model.model.{name}": tensor.detach().cpu().contiguous()
             for name, tensor in get_peft_model_state_dict(model).items()}
    state.update({f"base_model.model.{name}": param.detach().cpu().contiguous()
                  for name, param in model.named_parameters()
                  if is_head_parameter(name, model) and not is_lora_parameter(name)})

    pooled = base_class(model)

    def fill(tmp: Path) -> None:
        model.bertstudio_lora.save_pretrained(str(tmp))
        save_file(state, str(tmp / "adapter_model.safetensors"))
        (tmp / "README.md").write_text(adapter_card(model, target.resolve(), pooled), encoding="utf-8")
        if pooled is not None:
            shutil.copy(pooled_modeling.__file__, tmp / "pooled_modeling.py")

    return atomic_directory(target, fill)


def merge_lora(model) -> None:
    """Fold every adapter into the weight it sits beside and put the plain layer back (in place)."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, module.get_base_layer())
    model.bertstudio_lora = None
    if hasattr(model, "peft_config"):
        del model.peft_config
