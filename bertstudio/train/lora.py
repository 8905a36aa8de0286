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
from dataclasses import dataclass
from pathlib import Path

from bertstudio.errors import ConfigError
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


def save_adapter(model, target: Path, is_head_parameter) -> Path:
    """The adapters and the head as a peft adapter folder (adapter_config.json + adapter_model.safetensors)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = {f"base_model.model.{name}": tensor.detach().cpu().contiguous()
             for name, tensor in get_peft_model_state_dict(model).items()}
    state.update({f"base_model.model.{name}": param.detach().cpu().contiguous()
                  for name, param in model.named_parameters()
                  if is_head_parameter(name, model) and not is_lora_parameter(name)})

    def fill(tmp: Path) -> None:
        model.bertstudio_lora.save_pretrained(str(tmp))
        save_file(state, str(tmp / "adapter_model.safetensors"))

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
