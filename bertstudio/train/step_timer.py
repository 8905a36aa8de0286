"""Measure how fast this computer runs the run's model, for the time estimate.

The chosen architecture is built with random weights (timing does not depend on the values, and nothing needs
downloading) as a run builds it, with one and two of its layers (see ``SpeedProbe``), and timed on a batch of the
run's padded shape with the run's number precision: a training step and forward passes (validation checks,
head-only feature caching, final scoring), plus what grows with the model's size (the word embeddings' update,
copying and saving the weights, building the model). Each is timed in a few rounds and the quietest round is kept:
the estimate is this computer's own speed. Results are cached per model, batch size, precision and pooling, and
reused for nearby lengths, so changing epochs or the preset does not measure again (one measured while other
programs kept the computer busy is not kept).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

from bertstudio.config import TrainConfig
from bertstudio.errors import ModelError
from bertstudio.hardware import detect_device
from bertstudio.models.pooling import own_config, trained_pooling, use_pooling
from bertstudio.models.registry import architecture_config, find_variant
from bertstudio.models.sources import resolve_model_source
from bertstudio.train.auto import ModelShape
from bertstudio.train.model_setup import prepare_model
from bertstudio.train.pipeline import attention_kernel
from bertstudio.train.plan import SpeedProbe, trainable_layers

WARMUP_STEPS = 2  # the first steps pay one-off costs (allocation, kernel selection for this shape)
TIMED_STEPS = 5  # rounds: the quietest of them is kept (a busy machine leaves a quiet moment in a few seconds)


def model_shape(model: str) -> ModelShape:
    """Hidden size and layers of a registry variant or a local model folder (BERT-base's when unknown)."""

    variant = find_variant(model)
    if variant is not None:
        arch = variant.architecture
        return ModelShape(arch.hidden_size, arch.num_layers, arch.intermediate_size, variant.family,
                          trained_pooling(resolve_model_source(model)))
    try:
        return ModelShape.of(_architecture(model), trained_pooling(resolve_model_source(model)))
    except ModelError:
        return ModelShape()


def _architecture(model: str):
    """A transformers config for ``model`` without downloading anything."""

    variant = find_variant(model)
    if variant is not None:
        return architecture_config(variant.key)
    source = resolve_model_source(model)
    if source.kind != "local":
        raise ModelError(f"The size of {source.display_name} is unknown until it is downloaded.",
                         "Pick a built-in model to get an estimate.")
    from transformers import AutoConfig

    own = own_config(source.path_or_id)  # a model BERT Studio saved with another pooling
    return own if own is not None else AutoConfig.from_pretrained(source.path_or_id, trust_remote_code=False,
                                                                  local_files_only=True)


def speed_probe(config: TrainConfig, *, seq_len: int, device: str, bf16: bool) -> SpeedProbe:
    """The probe for ``config``'s model, batch size, pooling and precision (measured once per shape, then cached).

    Freezing is not part of the key: switching between presets never measures again (frozen layers only run
    forward; the word embeddings' update is timed apart and added when they train). A probe timed at a length
    within ``NEARBY_LENGTHS`` of ``seq_len`` is reused, scaled to it: 400 and 2,000 rows of one data set pad their
    batches to 15 and 16 tokens, and two separate probes on a busy machine once put the larger run at a third of
    the smaller one's time.
    """
    precision = config.precision if config.precision != "auto" else ("bf16" if bf16 else "fp32")
    shape = ProbeShape(config.model, int(config.batch_size or 16), precision, device, config.pooling or None)
    nearby = [probe for probe in _PROBES.get(shape, []) if abs(probe.seq_len / max(1, seq_len) - 1) <= NEARBY_LENGTHS]
    if nearby:
        return min(nearby, key=lambda probe: abs(probe.seq_len - seq_len)).at_length(seq_len)
    probe = _measure(shape, int(seq_len))
    # One that met other programs' load is not reused: the next plan measures again, until a quiet one is kept.
    if not probe.measured_while_busy:
        _PROBES.setdefault(shape, []).append(probe)
    return probe.at_length(seq_len)


NEARBY_LENGTHS = 0.15  # a probe timed at most 15% longer or shorter serves, scaled to the length


@dataclass(frozen=True)
class ProbeShape:
    """What a probe's timings depend on, besides the length: the cache key."""

    model: str
    batch_size: int
    precision: str
    device: str
    pooling: str | None


_PROBES: dict[ProbeShape, list[SpeedProbe]] = {}  # the measured probes of this process, per shape


def step_seconds(config: TrainConfig, *, seq_len: int, device: str, bf16: bool) -> float:
    """Seconds for one optimizer step of ``config`` (resolved: batch size and precision known)."""
    probe = speed_probe(config, seq_len=seq_len, device=device, bf16=bf16)
    return probe.step_seconds(trainable_layers(config, probe.layers))


PROBE_DEPTHS = (1, 2)  # the layers the probe builds: the difference is one layer, the rest the fixed part


def _measure(shape: ProbeShape, seq_len: int) -> SpeedProbe:
    import torch

    batch_size, precision, device = shape.batch_size, shape.precision, shape.device
    arch = _architecture(shape.model)
    arch.num_labels = 2
    layers = ModelShape.of(arch).layers
    seq_len = max(8, min(seq_len, int(getattr(arch, "max_position_embeddings", 512))))
    nets = [_ProbeNet(arch, depth, batch_size, seq_len, precision, device, shape.pooling) for depth in PROBE_DEPTHS]
    small, big = nets
    # One layer is the difference of two forward passes; a training step is the whole model's forward pass x the
    # step-to-forward ratio of the 1-layer model, timed in turns with it. Extrapolating the step from the difference
    # of two timed steps (x 6 or 12 layers) put it at 0.5x and at 2x of the run's own steps on a busy machine
    # (sample data, balanced: 2.1 s vs 4.9 s; AG News, small-data: 18.9 s vs 9.3 s), while the forward passes put
    # validation and final scoring within 10-40% in the same runs.
    timings = _interleaved([small.step, small.forward, big.forward], device)
    train1, forward1, forward2 = timings.per_call
    forward = _scaled(forward1, forward2, layers)
    # Per-parameter costs of the whole model, from the 2-layer one: the parameters of one layer are the difference.
    params = small.parameters + (layers - 1) * (big.parameters - small.parameters)
    scale = params / big.parameters
    with torch.no_grad():
        copy = _fastest(big.copy_weights, device) * scale
    return SpeedProbe(layers=layers, batch_size=batch_size, train_step=forward * train1 / forward1,
                      forward_batch=forward, seq_len=seq_len,
                      embedding_update=_fastest(big.embedding_update, device), weights_copy=copy,
                      weights_save=_timed(big.save_weights, device) * scale, model_build=big.build_seconds * scale,
                      slowdown=timings.slowdown, cpu_share=timings.cpu_share)


def _scaled(one_layer: float, two_layers: float, layers: int) -> float:
    """Fixed part + ``layers`` x one layer, one layer being the difference of the two timings, kept between a
    quarter and a half of the 2-layer time (the fixed part, the embeddings' lookup and the head, is never more
    than the two layers it feeds). A busy machine skews the difference of two short timings: once it put one
    layer at 20x the 1-layer model's time, and the estimate of 400 SST-2 rows at 7-13x the run; it can also time
    the 2-layer model faster than the 1-layer one."""
    if two_layers <= one_layer:  # nothing to tell the layer from the rest: a layer counts as half the 2-layer time
        return layers * two_layers / 2
    per_layer = min(max(two_layers - one_layer, two_layers / 4), two_layers / 2)
    fixed = max(0.0, two_layers - 2 * per_layer)
    return fixed + layers * per_layer


class _ProbeNet:
    """The architecture cut to ``depth`` layers, built as a run builds it: the attention kernel a run uses on this
    device (the plain one on a CPU), the run's pooling (mean pooling needs the whole last layer; [CLS] pooling lets
    ``cls_only`` skip most of it: 14% of a step of the bundled model) and the run's CPU speedups (``prepare_model``).
    The word embeddings are frozen, as most presets have them; their update is timed on its own."""

    def __init__(self, arch, depth: int, batch_size: int, seq_len: int, precision: str, device: str,
                 pooling: str | None):
        import copy

        import torch
        from transformers import AutoModelForSequenceClassification

        arch = copy.deepcopy(arch)
        for name in ("num_hidden_layers", "n_layers"):
            if hasattr(arch, name):
                setattr(arch, name, depth)
        kernel = attention_kernel(detect_device(device))
        start = time.perf_counter()
        net = AutoModelForSequenceClassification.from_config(arch, **({"attn_implementation": kernel} if kernel else {}))
        self.build_seconds = time.perf_counter() - start  # a run builds its model the same way, then loads weights
        self.net = use_pooling(net.to(device), pooling)
        prepare_model(self.net, TrainConfig(freeze_embeddings=True), device)
        self.parameters = sum(p.numel() for p in self.net.parameters())
        fused = {"fused": True} if device in ("cpu", "cuda") else {}  # as the engine's optimizer
        self.optimizer = torch.optim.AdamW([p for p in self.net.parameters() if p.requires_grad], lr=1e-5, **fused)
        embeddings = self.net.base_model.embeddings.word_embeddings.weight
        self.embeddings = torch.nn.Parameter(embeddings.detach().clone())
        self.embedding_optimizer = torch.optim.AdamW([self.embeddings], lr=1e-5, **fused)
        self.ids = torch.randint(1000, 2000, (batch_size, seq_len), device=device)
        self.mask = torch.ones_like(self.ids)
        self.labels = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.device = device

    def _autocast(self):
        import torch

        return torch.autocast(device_type=self.device, dtype=self.dtype, enabled=self.dtype is not None)

    def step(self) -> None:
        self.net.train()
        with self._autocast():
            loss = self.net(input_ids=self.ids, attention_mask=self.mask, labels=self.labels).loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def forward(self) -> None:
        import torch

        self.net.eval()
        with torch.no_grad(), self._autocast():
            self.net(input_ids=self.ids, attention_mask=self.mask)

    def embedding_update(self) -> None:
        """The word embeddings' share of a step when they train: a dense gradient as big as the table (the
        lookup's backward writes it whole) and its AdamW update (BERT-base: 23M of its 110M parameters)."""
        import torch

        self.embeddings.grad = torch.zeros_like(self.embeddings)
        self.embeddings.grad.index_add_(0, self.ids.flatten() % self.embeddings.shape[0],
                                        torch.ones(self.ids.numel(), self.embeddings.shape[1], device=self.device))
        self.embedding_optimizer.step()
        self.embedding_optimizer.zero_grad(set_to_none=True)

    def copy_weights(self) -> None:
        {k: v.detach().to("cpu", copy=True) for k, v in self.net.state_dict().items()}

    def save_weights(self) -> None:
        import tempfile

        from safetensors.torch import save_file

        with tempfile.TemporaryDirectory() as folder:
            save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, f"{folder}/model.safetensors")


MIN_TIMING_S = 0.1  # each timing repeats its work for at least this long: a few-millisecond forward pass of a
#                     small model timed once is mostly the scheduler's noise on a machine shared with other work


@dataclass(frozen=True)
class Timings:
    """What a few rounds of timing some works in turns found."""

    per_call: list[float]  # seconds per call of each work, as the quietest round timed them
    slowdown: float  # the middle round's time over the quietest one's: how much other programs slowed the probe
    cpu_share: float = 1.0  # the share of its threads' time the process got while timing (CPU only)


def _interleaved(works, device: str) -> Timings:
    """Seconds per call of each of ``works``, timed in turns in a few rounds, from the round that took least time.

    The quietest round, not the middle timing of each work: the estimate is this computer's own speed, which a
    short probe can measure, not the load of the moment it was asked for, which it cannot (the run meets other
    load, or none). With the middle timing, a German file's 40 steps were estimated at 1 min 18 s (1.68 s a step)
    and took 16 s in all; three probes in a row on a machine at load 6 (2 cores) put the bundled model's step at
    1.5, 4.4 and 1.0 s, their quietest rounds at 1.1, 0.65 and 0.57 s. In a quiet moment both said 0.11 s and the
    run took 0.13 s a step. One round's works share its moment's load, so their ratios, which the probe scales by,
    stay meaningful (the fastest of each work alone mixed moments: 4.2 s).
    """
    calls = []
    for work in works:
        for _ in range(WARMUP_STEPS - 1):
            work()
        calls.append(max(1, math.ceil(MIN_TIMING_S / max(_timed(work, device), 1e-6))))
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    rounds = [[_timed(work, device, repeats) / repeats for work, repeats in zip(works, calls)]
              for _ in range(TIMED_STEPS)]
    cpu_share = _cpu_share(time.process_time() - cpu_start, time.perf_counter() - wall_start, device)
    lengths = [sum(t * repeats for t, repeats in zip(timed, calls)) for timed in rounds]
    quietest = min(range(len(rounds)), key=lengths.__getitem__)
    return Timings(rounds[quietest], statistics.median(lengths) / max(lengths[quietest], 1e-12), cpu_share)


def _cpu_share(cpu_seconds: float, wall_seconds: float, device: str) -> float:
    """The share of the cores its threads asked for that the process got: under an even load every round is slow
    alike (their spread stays near 1) and only this tells (bundled model, 2 threads: 0.83 in a quiet moment, 0.17-0.4
    at load 4-6, when a step took 1.5-8.8 s against 0.11 s). On a GPU the threads wait for it: not a measure there."""
    if device != "cpu" or wall_seconds <= 0:
        return 1.0
    import torch

    return cpu_seconds / wall_seconds / max(1, torch.get_num_threads())


def _timed(work, device: str, repeats: int = 1) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    _sync(device)
    return time.perf_counter() - start


def _fastest(work, device: str) -> float:
    return _interleaved([work], device).per_call[0]


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
